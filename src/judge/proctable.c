/*
 * proctable.c - see proctable.h.
 */
#include "proctable.h"

#include <errno.h>

static bool tgid_eq(const struct hnode *n, const void *tgid)
{
	return hashmap_entry(n, struct proc_entry, node)->tgid == *(const unsigned int *)tgid;
}

static uint64_t tgid_hash(unsigned int tgid)
{
	return hashmap_hash(&tgid, sizeof(tgid));
}

int proctable_init(struct proctable *t, size_t max, proctable_release_fn *release)
{
	*t = (struct proctable){ .max = max ? max : PROCTABLE_MAX_DEFAULT, .release = release };
	return hashmap_init(&t->map);
}

static struct proc_entry *find(struct proctable *t, unsigned int tgid)
{
	struct hnode *n = hashmap_find(&t->map, tgid_hash(tgid), tgid_eq, &tgid);

	return n ? hashmap_entry(n, struct proc_entry, node) : NULL;
}

static void unlink_entry(struct proctable *t, struct proc_entry *e)
{
	hashmap_remove(&t->map, &e->node);
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void drop(struct proctable *t, struct proc_entry *e)
{
	unlink_entry(t, e);
	t->release(e);
}

void proctable_fini(struct proctable *t)
{
	while (t->oldest)
		drop(t, t->oldest);
	hashmap_fini(&t->map);
}

void proctable_exec(struct proctable *t, unsigned int tgid, unsigned long long start_time,
		    struct proc_entry *e)
{
	struct proc_entry *old = find(t, tgid);

	if (old) {
		if (old->start_time != start_time)
			t->stale++;
		drop(t, old);
	}
	if (!e)
		return;
	if (t->map.count >= t->max) {
		t->evicted++;
		drop(t, t->oldest);
	}
	e->tgid = tgid;
	e->start_time = start_time;
	e->newer = NULL;
	e->older = t->newest;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
	hashmap_add(&t->map, &e->node, tgid_hash(tgid));
}

struct proc_entry *proctable_exit(struct proctable *t, unsigned int tgid,
				  unsigned long long start_time)
{
	struct proc_entry *e = find(t, tgid);

	if (!e)
		return NULL;
	if (e->start_time != start_time) {
		/* An older process of this pid ended unseen. */
		if (e->start_time < start_time) {
			t->stale++;
			drop(t, e);
		}
		return NULL;
	}
	unlink_entry(t, e);
	return e;
}

struct proc_entry *proctable_find(struct proctable *t, unsigned int tgid,
				  unsigned long long start_time)
{
	struct proc_entry *e = find(t, tgid);

	return e && e->start_time == start_time ? e : NULL;
}
