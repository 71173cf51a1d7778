/*
 * scope.c - see scope.h.
 */
#define _GNU_SOURCE		/* O_PATH */
#include "scope.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hashmap.h"
#include "identity.h"
#include "snapshot.h"

#define SWEEP_MIN_MS 1000
#define SWEEP_MAX_MS 60000

struct member {
	struct hnode node;
	bool fixed;		/* WATCH_STUDENTS: never dropped */
	long long last_ms;	/* its student was last seen */
	char name[];
};

struct scope {
	bool all;
	int rootfd;
	size_t max;
	long long idle_ms;
	size_t learned;		/* members that are not fixed */
	struct hashmap members;	/* struct member by name */
};

static bool name_eq(const struct hnode *n, const void *name)
{
	return strcmp(hashmap_entry(n, struct member, node)->name, name) == 0;
}

static struct member *find(const struct scope *s, const char *name)
{
	struct hnode *n = hashmap_find(&s->members, hashmap_hash_str(name), name_eq, name);

	return n ? hashmap_entry(n, struct member, node) : NULL;
}

static int add(struct scope *s, const char *name, bool fixed, long long now_ms)
{
	struct member *m = malloc(sizeof(*m) + strlen(name) + 1);

	if (!m)
		return -ENOMEM;
	m->fixed = fixed;
	m->last_ms = now_ms;
	strcpy(m->name, name);
	hashmap_add(&s->members, &m->node, hashmap_hash_str(name));
	if (!fixed)
		s->learned++;
	return 0;
}

struct scope *scope_create(const struct scope_config *cfg, int rootfd)
{
	struct scope *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->all = cfg->all;
	s->rootfd = rootfd;
	s->max = cfg->max ? cfg->max : SCOPE_DEFAULT_MAX;
	s->idle_ms = cfg->idle_ms > 0 ? cfg->idle_ms : SCOPE_DEFAULT_IDLE_S * 1000LL;
	if (hashmap_init(&s->members) < 0) {
		free(s);
		return NULL;
	}
	for (size_t i = 0; !s->all && i < cfg->nstudents; i++) {
		if (!identity_is_workspace(cfg->students[i]) ||
		    (!find(s, cfg->students[i]) && add(s, cfg->students[i], true, 0) < 0)) {
			scope_free(s);
			return NULL;
		}
	}
	return s;
}

void scope_free(struct scope *s)
{
	struct hashmap_iter it;

	if (!s)
		return;
	for (struct hnode *n = hashmap_first(&s->members, &it); n; n = hashmap_next(&it))
		free(hashmap_entry(n, struct member, node));
	hashmap_fini(&s->members);
	free(s);
}

bool scope_all(const struct scope *s)
{
	return s->all;
}

void scope_watch_all(struct scope *s)
{
	s->all = true;
}

bool scope_wants(const struct scope *s, const char *name)
{
	return s->all || find(s, name) != NULL;
}

size_t scope_count(const struct scope *s)
{
	return s->all ? 0 : s->members.count;
}

/* A hostname is anyone's to choose: only a directory that is there already,
 * and a real directory (no symlink out of the root), may be watched. */
static bool workspace_exists(const struct scope *s, const char *name)
{
	int fd = snapshot_open_beneath(s->rootfd, name, O_PATH | O_DIRECTORY);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

enum scope_seen scope_seen(struct scope *s, const char *name, long long now_ms)
{
	struct member *m;

	if (s->all)
		return SCOPE_KNOWN;
	/* Every exec of a student comes here: the known are one lookup. */
	m = find(s, name);
	if (m) {
		if (now_ms > m->last_ms)
			m->last_ms = now_ms;
		return SCOPE_KNOWN;
	}
	if (!identity_is_workspace(name))
		return SCOPE_INVALID;
	if (s->learned >= s->max)
		return SCOPE_REFUSED_LIMIT;
	/* Not remembered when refused: a workspace created after its
	 * container started is watched from that student's next exec, at the
	 * price of one openat per exec while it is missing, and nothing a
	 * student makes up for a hostname occupies memory here. */
	if (!workspace_exists(s, name))
		return SCOPE_REFUSED_MISSING;
	/* Out of memory: refused like the limit, and tried at the next exec. */
	return add(s, name, false, now_ms) < 0 ? SCOPE_REFUSED_LIMIT : SCOPE_ADDED;
}

static bool idle(const struct scope *s, const struct member *m, long long now_ms)
{
	return !m->fixed && now_ms - m->last_ms >= s->idle_ms;
}

static bool any_idle(const struct scope *s, long long now_ms)
{
	struct hashmap_iter it;

	for (struct hnode *n = hashmap_first(&s->members, &it); n; n = hashmap_next(&it))
		if (idle(s, hashmap_entry(n, struct member, node), now_ms))
			return true;
	return false;
}

size_t scope_expire(struct scope *s, long long now_ms, scope_live_fn *live, void *live_arg,
		    scope_drop_fn *drop, void *drop_arg)
{
	struct hashmap_iter it;
	size_t dropped = 0;

	if (s->all || !s->learned || !any_idle(s, now_ms))
		return 0;
	/* A student who only edits runs nothing for hours: their container
	 * is still there, and so is their namespace. */
	if (live && live(live_arg) < 0)
		return 0;
	for (struct hnode *n = hashmap_first(&s->members, &it); n; n = hashmap_next(&it)) {
		struct member *m = hashmap_entry(n, struct member, node);

		if (!idle(s, m, now_ms))
			continue;
		if (drop)
			drop(drop_arg, m->name);
		hashmap_remove(&s->members, n);
		s->learned--;
		free(m);
		dropped++;
	}
	return dropped;
}

long long scope_idle_ms(const struct scope *s)
{
	return s->idle_ms;
}

long long scope_sweep_ms(const struct scope *s)
{
	long long q = s->idle_ms / 4;

	return q < SWEEP_MIN_MS ? SWEEP_MIN_MS : q > SWEEP_MAX_MS ? SWEEP_MAX_MS : q;
}
