/*
 * debounce.h - per-path debounce table for filemon.
 *
 * An editor save is a burst of inotify events (create, a few modifies,
 * close-write, sometimes a rename), and a student typing with autosave on
 * produces a burst every second.  One snapshot per burst is what the backend
 * wants, so each path waits here until it has been quiet for window_ms, or at
 * most max_wait_ms after its first change so a file that never stops
 * changing is still captured.
 *
 * Deletions wait one window too: vim saves by renaming x.c away and writing
 * a new x.c, and that must read as one change, not a deletion and a change.
 * A change arriving while a deletion waits turns it back into a change.
 *
 * The clock is the caller's (every call takes now_ms), so tests are
 * deterministic.  Entries live in a hash table for lookup and a binary heap
 * ordered by deadline, so both touching a path and finding the next due one
 * stay cheap with thousands pending (an overflow rescan).
 */
#ifndef JCW_DEBOUNCE_H
#define JCW_DEBOUNCE_H

#include <stdbool.h>
#include <stddef.h>

enum debounce_kind {
	DEBOUNCE_CHANGE,	/* snapshot the file's content */
	DEBOUNCE_DELETE,	/* record a deletion */
};

/* A due entry handed back by debounce_pop(). */
struct debounce_item {
	char *key;		/* malloc'd; the caller frees it */
	enum debounce_kind kind;
	int retries;		/* how often debounce_retry() brought it back */
	bool replaced;		/* a change that followed a deletion in this burst */
	long long since;	/* the caller's time stamp, see debounce_change() */
	int failures;		/* the caller's count of failed attempts, kept by retries */
};

struct debounce;

/* window_ms <= 0 means "flush at once"; max_wait_ms < window_ms is raised to window_ms. */
struct debounce *debounce_create(long window_ms, long max_wait_ms);
void debounce_destroy(struct debounce *d);

/*
 * The path changed at now_ms.  since is opaque here: each entry keeps the
 * smallest since it was given, through merges and retries, and
 * debounce_oldest() returns the smallest of all.  filemon passes a wall
 * time the change is known to be younger than, so its restart marker
 * never passes a change still waiting.  Returns 0, or -ENOMEM on allocation
 * failure.
 */
int debounce_change(struct debounce *d, const char *key, long long now_ms, long long since);
/* The path was deleted or moved away at now_ms. */
int debounce_delete(struct debounce *d, const char *key, long long now_ms, long long since);
/* Bring a popped item back (kind, retry count, replaced and since as in
 * it) after delay_ms: the file was mid-write, or its snapshot could not be
 * written.  An entry touched meanwhile keeps its own kind and deadline. */
int debounce_retry(struct debounce *d, const struct debounce_item *it, long long now_ms,
		   long delay_ms);
/* The smallest since of every pending entry; LLONG_MAX when none. */
long long debounce_oldest(const struct debounce *d);

/* Earliest deadline (ms, the caller's clock), or -1 when nothing is pending. */
long long debounce_next(const struct debounce *d);
/* Remove the earliest entry whose deadline is <= now_ms into out.
 * Returns 1, or 0 when none is due. */
int debounce_pop(struct debounce *d, long long now_ms, struct debounce_item *out);
size_t debounce_pending(const struct debounce *d);

#endif
