/*
 * builds.c - see builds.h.
 */
#include "builds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct build_output {
	struct hnode node;
	struct build_output *older, *newer;
	bool executable;
	char *event_id;
	size_t key_len;
	char key[];		/* host, NUL, path */
};

struct key {
	const char *s;
	size_t len;
};

static bool key_eq(const struct hnode *n, const void *k)
{
	const struct build_output *o = hashmap_entry(n, struct build_output, node);
	const struct key *key = k;

	return o->key_len == key->len && memcmp(o->key, key->s, key->len) == 0;
}

/* host NUL path, malloc'd; its length (without a final NUL) in k->len. */
static char *make_key(const char *host, const char *path, struct key *k)
{
	size_t h = strlen(host), p = strlen(path);
	char *s = malloc(h + 1 + p + 1);

	if (!s)
		return NULL;
	memcpy(s, host, h + 1);
	memcpy(s + h + 1, path, p + 1);
	k->s = s;
	k->len = h + 1 + p;
	return s;
}

int builds_init(struct builds *b, size_t max)
{
	*b = (struct builds){ .max = max ? max : BUILDS_MAX_DEFAULT };
	return hashmap_init(&b->map);
}

static void unlink_output(struct builds *b, struct build_output *o)
{
	hashmap_remove(&b->map, &o->node);
	if (o->older)
		o->older->newer = o->newer;
	else
		b->oldest = o->newer;
	if (o->newer)
		o->newer->older = o->older;
	else
		b->newest = o->older;
	o->older = o->newer = NULL;
}

static void drop(struct builds *b, struct build_output *o)
{
	unlink_output(b, o);
	free(o->event_id);
	free(o);
}

void builds_fini(struct builds *b)
{
	while (b->oldest)
		drop(b, b->oldest);
	hashmap_fini(&b->map);
}

static struct build_output *find(const struct builds *b, const struct key *k)
{
	struct hnode *n = hashmap_find(&b->map, hashmap_hash(k->s, k->len), key_eq, k);

	return n ? hashmap_entry(n, struct build_output, node) : NULL;
}

static void link_newest(struct builds *b, struct build_output *o)
{
	o->older = b->newest;
	o->newer = NULL;
	if (b->newest)
		b->newest->newer = o;
	else
		b->oldest = o;
	b->newest = o;
	hashmap_add(&b->map, &o->node, hashmap_hash(o->key, o->key_len));
}

int builds_record(struct builds *b, const char *host, const char *output, bool executable,
		  const char *event_id)
{
	size_t h = strlen(host), n = h + 1 + strlen(output);
	struct build_output *o = malloc(sizeof(*o) + n + 1), *old;

	if (!o)
		return -ENOMEM;
	*o = (struct build_output){ .executable = executable, .event_id = strdup(event_id),
				    .key_len = n };
	if (!o->event_id) {
		free(o);
		return -ENOMEM;
	}
	memcpy(o->key, host, h + 1);
	memcpy(o->key + h + 1, output, n - h);
	old = find(b, &(struct key){ o->key, o->key_len });
	if (old) {
		drop(b, old);
	} else if (b->map.count >= b->max) {
		b->evicted++;
		drop(b, b->oldest);
	}
	link_newest(b, o);
	return 0;
}

const char *builds_lookup(const struct builds *b, const char *host, const char *path)
{
	struct build_output *o;
	struct key k;
	char *ks = make_key(host, path, &k);

	if (!ks)
		return NULL;
	o = find(b, &k);
	free(ks);
	return o && o->executable ? o->event_id : NULL;
}
