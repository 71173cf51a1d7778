/*
 * debounce.c - per-path debounce table: hash for lookup, heap for deadlines.
 */
#include "debounce.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "heap.h"

struct entry {
	struct hnode node;	/* in the table, by key */
	char *key;
	enum debounce_kind kind;
	bool replaced;		/* deleted, then something came back */
	int retries;
	int failures;		/* as the last retry gave it */
	long long since;	/* smallest since given, see debounce.h */
	long long first_ms;	/* first change of this burst */
	long long deadline_ms;
	unsigned long long seq;	/* ties in the heap pop in arrival order */
	size_t heap_pos;
};

struct debounce {
	long window_ms;
	long max_wait_ms;
	struct hashmap table;	/* entries by key */
	struct heap heap;	/* entries by deadline */
	unsigned long long next_seq;
};

/* ---- deadline order -------------------------------------------------- */

static bool earlier(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->deadline_ms != y->deadline_ms)
		return x->deadline_ms < y->deadline_ms;
	return x->seq < y->seq;
}

static void moved(void *item, size_t i)
{
	((struct entry *)item)->heap_pos = i;
}

struct debounce *debounce_create(long window_ms, long max_wait_ms)
{
	struct debounce *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->window_ms = window_ms > 0 ? window_ms : 0;
	d->max_wait_ms = max_wait_ms > d->window_ms ? max_wait_ms : d->window_ms;
	heap_init(&d->heap, earlier, moved);
	if (hashmap_init(&d->table) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

void debounce_destroy(struct debounce *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->heap.n; i++) {
		struct entry *e = d->heap.v[i];

		free(e->key);
		free(e);
	}
	heap_free(&d->heap);
	hashmap_fini(&d->table);
	free(d);
}

/* ---- lookup ---------------------------------------------------------- */

static bool key_eq(const struct hnode *n, const void *key)
{
	return strcmp(hashmap_entry(n, struct entry, node)->key, key) == 0;
}

static struct entry *entry_find(struct debounce *d, const char *key, uint64_t h)
{
	struct hnode *n = hashmap_find(&d->table, h, key_eq, key);

	return n ? hashmap_entry(n, struct entry, node) : NULL;
}

static struct entry *entry_add(struct debounce *d, const char *key, uint64_t h)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e || !(e->key = strdup(key)) || heap_push(&d->heap, e) < 0) {
		if (e)
			free(e->key);
		free(e);
		return NULL;
	}
	hashmap_add(&d->table, &e->node, h);
	return e;
}

/* The entry for key, created (as a change first seen at now_ms) when absent;
 * *fresh tells which. */
static struct entry *entry_get(struct debounce *d, const char *key, long long now_ms,
			       long long since, bool *fresh)
{
	uint64_t h = hashmap_hash_str(key);
	struct entry *e = entry_find(d, key, h);

	*fresh = false;
	if (e) {
		if (since < e->since)
			e->since = since;
		return e;
	}
	e = entry_add(d, key, h);
	if (!e)
		return NULL;
	e->kind = DEBOUNCE_CHANGE;
	e->since = since;
	e->first_ms = now_ms;
	e->seq = d->next_seq++;
	*fresh = true;
	return e;
}

/* ---- public ---------------------------------------------------------- */

int debounce_change(struct debounce *d, const char *key, long long now_ms, long long since)
{
	bool fresh;
	struct entry *e = entry_get(d, key, now_ms, since, &fresh);
	long long quiet, cap;

	if (!e)
		return -ENOMEM;
	if (e->kind == DEBOUNCE_DELETE) {
		/* Deleted then re-created inside a window: a rename-save.  The
		 * new file's burst starts now. */
		e->kind = DEBOUNCE_CHANGE;
		e->replaced = true;
		e->first_ms = now_ms;
		e->retries = 0;
	}
	quiet = now_ms + d->window_ms;
	cap = e->first_ms + d->max_wait_ms;
	e->deadline_ms = quiet < cap ? quiet : cap;
	heap_fix(&d->heap, e->heap_pos);
	return 0;
}

int debounce_delete(struct debounce *d, const char *key, long long now_ms, long long since)
{
	bool fresh;
	struct entry *e = entry_get(d, key, now_ms, since, &fresh);

	if (!e)
		return -ENOMEM;
	/* A pending change's content went with the file: nothing is left to
	 * read, so the deletion stands for both.  It waits one window in case
	 * this is the first half of a rename-save. */
	e->kind = DEBOUNCE_DELETE;
	e->first_ms = now_ms;
	e->retries = 0;
	e->deadline_ms = now_ms + d->window_ms;
	heap_fix(&d->heap, e->heap_pos);
	return 0;
}

int debounce_retry(struct debounce *d, const struct debounce_item *it, long long now_ms,
		   long delay_ms)
{
	bool fresh;
	struct entry *e = entry_get(d, it->key, now_ms, it->since, &fresh);

	if (!e)
		return -ENOMEM;
	/* Only a fresh entry is ours to set: one that exists already was
	 * touched meanwhile and its own deadline is the better one. */
	if (!fresh) {
		if (e->kind == DEBOUNCE_CHANGE && e->retries < it->retries)
			e->retries = it->retries;
		if (e->failures < it->failures)
			e->failures = it->failures;
		return 0;
	}
	e->failures = it->failures;
	e->kind = it->kind;
	e->replaced = it->replaced;
	e->retries = it->retries;
	e->deadline_ms = now_ms + (delay_ms > 0 ? delay_ms : 0);
	heap_fix(&d->heap, e->heap_pos);
	return 0;
}

/* A walk over every entry: called once a second by filemon, and cheap
 * next to the snapshots that each entry costs anyway. */
long long debounce_oldest(const struct debounce *d)
{
	long long oldest = LLONG_MAX;

	for (size_t i = 0; i < d->heap.n; i++) {
		const struct entry *e = d->heap.v[i];

		if (e->since < oldest)
			oldest = e->since;
	}
	return oldest;
}

long long debounce_next(const struct debounce *d)
{
	const struct entry *e = heap_top(&d->heap);

	return e ? e->deadline_ms : -1;
}

int debounce_pop(struct debounce *d, long long now_ms, struct debounce_item *out)
{
	struct entry *e;

	memset(out, 0, sizeof(*out));
	e = heap_top(&d->heap);
	if (!e || e->deadline_ms > now_ms)
		return 0;
	hashmap_remove(&d->table, &e->node);
	heap_pop(&d->heap);
	out->key = e->key;	/* ownership moves to the caller */
	out->kind = e->kind;
	out->retries = e->retries;
	out->replaced = e->replaced;
	out->since = e->since;
	out->failures = e->failures;
	free(e);
	return 1;
}

size_t debounce_pending(const struct debounce *d)
{
	return d->heap.n;
}
