/*
 * proctable.h - the processes that matter, from their exec record until
 * their exit record, joined by (tgid, start time).
 *
 * The kernel keeps nothing per process but its start time: it emits an
 * exec record at exec and a small exit record when the group's last task
 * exits.  The pipeline judges at exec; only targets (a compile, a run of
 * a student's program or script) are kept here, so the table holds what a
 * node's students are running right now, not every process.  It is
 * bounded: when full, the oldest entry is evicted, and counted.
 *
 * Intrusive: callers embed struct proc_entry in their own record and get
 * it back with hashmap_entry(); release() frees an entry the table drops.
 */
#ifndef JCW_PROCTABLE_H
#define JCW_PROCTABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "hashmap.h"

struct proc_entry {
	struct hnode node;		/* by tgid */
	struct proc_entry *older, *newer;
	unsigned int tgid;
	unsigned long long start_time;
	bool followed;			/* the caller's record goes on after it */
};

typedef void proctable_release_fn(struct proc_entry *e);

struct proctable {
	struct hashmap map;
	struct proc_entry *oldest, *newest;	/* insertion order, for eviction */
	size_t max;
	proctable_release_fn *release;
	unsigned long long stale;	/* dropped: their pid exec'd anew (exit never seen) */
	unsigned long long evicted;	/* dropped: the table was full */
};

#define PROCTABLE_MAX_DEFAULT 65536

/* An empty table of at most max entries.  0, or -ENOMEM. */
int proctable_init(struct proctable *t, size_t max, proctable_release_fn *release);

/* Release every entry and the table's memory. */
void proctable_fini(struct proctable *t);

/*
 * An exec of (tgid, start_time).  Whatever the table held for tgid goes:
 * the same process exec'ing again (`sh -c 'exec gcc ...'`: the record
 * describes the program that finally exits), or, with another start time,
 * a process whose exit was never seen (counted in stale).  Then e, when
 * not NULL (a target), is added; a full table first evicts its oldest.
 */
void proctable_exec(struct proctable *t, unsigned int tgid, unsigned long long start_time,
		    struct proc_entry *e);

/* The entry of this exit, taken out of the table (the caller owns it), or
 * NULL when its exec was not kept (not a target, or never seen). */
struct proc_entry *proctable_exit(struct proctable *t, unsigned int tgid,
				  unsigned long long start_time);

/* The entry of (tgid, start_time), left in the table; NULL when none. */
struct proc_entry *proctable_find(struct proctable *t, unsigned int tgid,
				  unsigned long long start_time);

static inline size_t proctable_count(const struct proctable *t)
{
	return t->map.count;
}

#endif
