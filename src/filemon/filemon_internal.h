/*
 * filemon_internal.h - what filemon's files share; not for other modules.
 *
 *   filemon.c   start/stop, the inotify reader and its events, the restart marker
 *   watches.c   the watch table, per-student budgets, unwatched directories
 *   scan.c      scanning a tree into watches and changes; retries and rescans
 *   flush.c     SNAPSHOT_BASE health and the debounce flush into snapshots
 *   scoping.c   which workspaces: students seen, live namespaces, idle drops
 */
#ifndef JCW_FILEMON_INTERNAL_H
#define JCW_FILEMON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "debounce.h"
#include "filemon.h"
#include "hashmap.h"
#include "metrics.h"
#include "scope.h"
#include "snapshot.h"

#define MOD "filemon"

#define EVENT_BUF	(64 * 1024)
#define READS_PER_TURN	16	/* then let the rest of the loop run */
#define FLUSH_BATCH	64	/* snapshots per timer turn (each one fsyncs) */
#define UNSTABLE_RETRIES 5
#define HEARTBEAT_MS	1000
/* A change's mtime/ctime may be older than when we read its event: the
 * kernel's coarse clock, and a writer between updating the times and
 * queueing the event.  The restart marker stays this far behind. */
#define EVENT_SLACK_NS	2000000000LL
/* SNAPSHOT_BASE failing: probe it after 1 s, doubling up to 30 s. */
#define BASE_RETRY_MIN_MS 1000
#define BASE_RETRY_MAX_MS 30000
/* A failure cause is logged again at most this often. */
#define FAIL_LOG_MS	(10 * 60 * 1000)
/* Directories we could not watch are tried again this often, and at
 * once when watches are freed. */
#define UNWATCHED_RETRY_MS 5000
/* Kernel file times come from a coarse clock; a change just before an
 * overflow may carry an mtime a tick older than when we last saw the
 * queue empty. */
#define OVERFLOW_SLACK_NS 1000000000LL

/* A student workspace (first component below the root): its watch budget. */
struct wspace {
	struct hnode node;
	char *name;
	size_t nwatches;	/* watches held on it and below */
	size_t nunwatched;	/* its entries in the unwatched table */
	bool budget_logged;
};

struct watch {
	struct hnode node;
	int wd;
	int depth;		/* components below the root; 0 = the root */
	unsigned gen;		/* rescan generation that last saw it */
	char *rel;		/* "" for the root */
	struct wspace *ws;	/* NULL for the root */
};

/*
 * A wanted directory we could not watch (the kernel's watch limit, or its
 * student's budget).  Nothing below it is watched or scanned until it is;
 * then its tree is scanned with scan_since, so saves made meanwhile become
 * changes.  mark_since holds the restart marker back: a crash meanwhile
 * must catch those saves up too.
 */
struct unwatched {
	struct hnode node;
	char *rel;
	int depth;
	bool budget;		/* over its student's budget, not the kernel's limit */
	long long scan_since;	/* as scan_dir()'s since_ns: 0 = every file */
	long long mark_since;	/* wall ns */
	struct wspace *ws;
};

/* An unwatched directory copied out for a retry (the table changes meanwhile). */
struct retry_item {
	char *rel;
	int depth;
	bool budget;
	long long scan_since, mark_since;
};

struct filemon {
	struct loop *loop;
	struct sender *sender;
	char *root;
	char *base;
	struct snapshot_perms perms;	/* mode and owner of every snapshot file */
	long long max_file_size;
	long window_ms;
	int hw_max;
	int ifd;
	int rootfd;		/* O_PATH: every student path is opened beneath it */
	struct hashmap watches;		/* struct watch by wd (watches.c) */
	unsigned gen;
	int budget;		/* watches per student, 0 = none */
	struct hashmap workspaces;	/* struct wspace by name */
	struct hashmap unwatched;	/* struct unwatched by rel */
	size_t nunwatched_limit;	/* of those, refused by the kernel's limit */
	bool retry_soon;	/* watches were freed: try the unwatched again */
	long long unwatched_retry_at;	/* loop ms */
	bool base_ok;		/* SNAPSHOT_BASE takes writes */
	long long base_retry_at;	/* loop ms: next probe while !base_ok */
	long base_backoff_ms;
	long long fail_logged_at[WFAIL__COUNT];	/* loop ms, per cause; 0 = never */
	long long fail_since_ms;
	unsigned long long retried;	/* changes put back in this spell */
	long long lost_since;	/* stop: oldest change that could not be written */
	size_t unsaved;		/* stop: changes that could not be written */
	long long scan_mark;	/* LLONG_MAX, or while rescanning an unwatched
				 * directory, the since its finds inherit */
	unsigned long long enospc;	/* watches refused by the kernel's limit */
	struct scope *scope;	/* which workspaces are watched */
	char *host_prefix;
	char *proc;
	bool started;		/* the first scan is done: new workspaces are scanned */
	long long scope_sweep_at;	/* loop ms */
	bool ns_denied_logged;
	struct debounce *db;
	long long flush_timer;	/* 0 = none */
	long long flush_at;
	bool in_flush;
	long long hb_timer;
	bool limit_logged;
	long long quiet_ns;	/* CLOCK_REALTIME when the queue was last seen empty */
	int alive_fd;		/* marker, see mark_alive() */
	char *marker;		/* marker_dir (or SNAPSHOT_BASE)/ALIVE_FILE */
	char *buf;
};


/*
 * Changes pending in the debounce table live only in memory, and nothing
 * watches while the agent is down.  So the agent keeps, as the mtime of
 * this file, a time before which every change has been snapshotted; the
 * next start treats files changed since then as changes.  That time never
 * passes the oldest change still waiting (debounced, retried after a
 * failed write, or in a directory not yet watched), however long it
 * waits.  A few saves may be snapshotted twice around a restart; none is
 * missed.
 */
#define ALIVE_FILE ".jcode-watcher-alive"

static inline long long ts_ns(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* File times come from the kernel's coarse clock; so does the mark, or a
 * file written just after it could carry an earlier time. */
static inline long long coarse_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts_ns(&ts);
}

/* filemon.c */
void update_ready(struct filemon *fm);
void update_gauges(struct filemon *fm);
const char *skipped(enum snapshot_status st);
enum write_failure fail_reason(int err);
const char *fail_name(enum write_failure r);
void read_events(struct filemon *fm);

/* watches.c */
int watches_init(struct filemon *fm);
void watches_free(struct filemon *fm);
bool over_budget(const struct filemon *fm, const struct wspace *ws);
struct watch *watch_find(struct filemon *fm, int wd);
/* Watch the directory open as dirfd, known as rel: 0, or a negative errno
 * when it is not watched; one refused by the watch limit or its student's
 * budget is remembered, to be retried (see scan_dir() for since_ns). */
int watch_add(struct filemon *fm, int dirfd, const char *rel, int depth, long long since_ns);
void watch_forget(struct filemon *fm, struct watch *w);
/* Drop every watch that matches: dir and below, or (dir NULL) those the
 * current rescan generation did not see.  The kernel's IN_IGNORED for them
 * then finds no watch and is dropped. */
void watch_drop(struct filemon *fm, const char *dir);
/* rel is watched now, or gone. */
void unwatched_remove(struct filemon *fm, const char *rel);
/* Every entry at dir or below (moved away). */
void unwatched_drop(struct filemon *fm, const char *dir);
/* The oldest save an unwatched directory may hold unseen. */
long long unwatched_oldest(const struct filemon *fm);
/* Copy out, into v (max entries), those worth a try now. */
size_t unwatched_collect(struct filemon *fm, struct retry_item *v, size_t max);

/* scan.c */
/* snapshot_dir_wanted(), and at depth 1 a workspace in the scope. */
bool dir_wanted(const struct filemon *fm, int depth, const char *name);
char *child_rel(const char *parent, const char *name);
long long change_since(long long since_ns);
void note_change(struct filemon *fm, const char *rel, long long since_ns);
void scan_path(struct filemon *fm, const char *rel, int depth, long long since_ns);
void unwatched_retry(struct filemon *fm);
void rescan(struct filemon *fm);

/* scoping.c */
int scope_setup(struct filemon *fm, const struct filemon_config *cfg, char *err, size_t errlen);
void scope_tick(struct filemon *fm);

/* flush.c */
int base_probe(const char *base);
bool base_usable(struct filemon *fm);
void base_failed(struct filemon *fm, int err);
size_t flush_due(struct filemon *fm, long long now, size_t max, bool final);
void arm(struct filemon *fm);

#endif
