/*
 * filemon.c - inotify watch tree, event handling and the debounce flush.
 *
 * Flow: inotify fd readable -> events -> debounce table (per path) -> flush
 * timer -> snapshot_read() -> snapshot_write() -> sender_post().
 *
 * Every watch remembers the directory's path relative to the root, and a
 * path is only ever opened beneath the root fd with no symlinks, so a
 * student who swaps a directory for a symlink can at worst make us watch
 * the wrong directory, never read outside their workspace.  Watches are
 * added through /proc/self/fd of a directory we opened safely, so even that
 * race lands on the directory we scanned.
 */
#define _GNU_SOURCE		/* asprintf, O_PATH */
#include "filemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "debounce.h"
#include "event_id.h"
#include "log.h"
#include "metrics.h"
#include "metrics_server.h"
#include "snapshot.h"

#define MOD "filemon"

/* IN_EXCL_UNLINK: a file unlinked while an editor holds it open must not
 * keep reporting writes under its old name. */
#define WATCH_MASK (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | \
		    IN_DELETE | IN_DELETE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
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
#define WS_BUCKETS	256
/* Kernel file times come from a coarse clock; a change just before an
 * overflow may carry an mtime a tick older than when we last saw the
 * queue empty. */
#define OVERFLOW_SLACK_NS 1000000000LL
#define WATCH_BUCKETS_MIN 256

/* A student workspace (first component below the root): its watch budget. */
struct wspace {
	char *name;
	size_t nwatches;	/* watches held on it and below */
	size_t nunwatched;	/* its entries in the unwatched table */
	bool budget_logged;
	struct wspace *next;	/* hash chain */
};

struct watch {
	int wd;
	int depth;		/* components below the root; 0 = the root */
	unsigned gen;		/* rescan generation that last saw it */
	char *rel;		/* "" for the root */
	struct wspace *ws;	/* NULL for the root */
	struct watch *next;	/* hash chain */
};

/*
 * A wanted directory we could not watch (the kernel's watch limit, or its
 * student's budget).  Nothing below it is watched or scanned until it is;
 * then its tree is scanned with scan_since, so saves made meanwhile become
 * changes.  mark_since holds the restart marker back: a crash meanwhile
 * must catch those saves up too.
 */
struct unwatched {
	char *rel;
	int depth;
	bool budget;		/* over its student's budget, not the kernel's limit */
	long long scan_since;	/* as scan_dir()'s since_ns: 0 = every file */
	long long mark_since;	/* wall ns */
	struct wspace *ws;
	uint32_t hash;
	struct unwatched *next;
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
	struct watch **buckets;
	size_t nbuckets, nwatches;
	unsigned gen;
	int budget;		/* watches per student, 0 = none */
	struct wspace *ws[WS_BUCKETS];
	struct unwatched **ubuckets;
	size_t nubuckets, nunwatched, nunwatched_limit;
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
	struct debounce *db;
	long long flush_timer;	/* 0 = none */
	long long flush_at;
	bool in_flush;
	long long hb_timer;
	bool limit_logged;
	long long quiet_ns;	/* CLOCK_REALTIME when the queue was last seen empty */
	int alive_fd;		/* SNAPSHOT_BASE/ALIVE_FILE, see mark_alive() */
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

static void filemon_free(struct filemon *fm);

static char *child_rel(const char *parent, const char *name)
{
	char *rel = NULL;

	if (!parent[0])
		return strdup(name);
	if (asprintf(&rel, "%s/%s", parent, name) < 0)
		return NULL;
	return rel;
}

/* ---- metrics ------------------------------------------------------------ */

/* The cause of a failed write, as filemon_snapshot_failures_total says it. */
static enum write_failure fail_reason(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return WFAIL_NO_SPACE;
	case EACCES:
	case EPERM:
		return WFAIL_PERMISSION;
	case EROFS:
		return WFAIL_READ_ONLY;
	case ENOENT:
	case ENOTDIR:
		return WFAIL_MISSING;
	case EIO:
		return WFAIL_IO;
	case ENAMETOOLONG:
		return WFAIL_NAME_TOO_LONG;
	default:
		return WFAIL_OTHER;
	}
}

static const char *fail_name(enum write_failure r)
{
	return metrics_value_name(M_FILEMON_FAILURES, r);
}

/* Count a change we could not capture; returns the reason, for logs. */
static const char *skipped(enum snapshot_status st)
{
	enum skip_reason why;

	switch (st) {
	case SNAPSHOT_SIZE:
		why = SKIP_SIZE;
		break;
	case SNAPSHOT_NOT_REGULAR:
		why = SKIP_NOT_REGULAR;
		break;
	case SNAPSHOT_UNSTABLE:
		why = SKIP_UNSTABLE;
		break;
	case SNAPSHOT_SYMLINK:
		why = SKIP_SYMLINK;
		break;
	case SNAPSHOT_HARDLINK:
		why = SKIP_HARDLINK;
		break;
	default:
		why = SKIP_ERROR;
		break;
	}
	metrics_add(M_FILEMON_SKIPPED, 0, why, 1);
	return metrics_value_name(M_FILEMON_SKIPPED, why);
}

/*
 * Ready while every snapshot can be written and every directory that the
 * node's watch limit allows is watched.  Directories over one student's
 * budget do not count: that student's doing must not take the node out
 * of service for everyone (they show in the gauge, reason="budget").
 */
static void update_ready(struct filemon *fm)
{
	metrics_set_ready(SERVICE_FILEMON, fm->base_ok && fm->nunwatched_limit == 0);
}

static void update_gauges(struct filemon *fm)
{
	metrics_set(M_FILEMON_WATCHES, 0, 0, (double)fm->nwatches);
	metrics_set(M_FILEMON_PENDING, 0, 0, (double)debounce_pending(fm->db));
	metrics_set(M_FILEMON_UNWATCHED, 0, UNWATCHED_LIMIT, (double)fm->nunwatched_limit);
	metrics_set(M_FILEMON_UNWATCHED, 0, UNWATCHED_BUDGET,
		    (double)(fm->nunwatched - fm->nunwatched_limit));
	metrics_set(M_FILEMON_BASE_WRITABLE, 0, 0, fm->base_ok ? 1 : 0);
	update_ready(fm);
}


static long long ts_ns(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* File times come from the kernel's coarse clock; so does the mark, or a
 * file written just after it could carry an earlier time. */
static long long coarse_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts_ns(&ts);
}

/* FNV-1a, as the debounce table. */
static uint32_t hash_mem(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* ---- workspaces (per-student watch budget) ------------------------------ */

/* The workspace rel lies in, made on first use; NULL for the root or ENOMEM. */
static struct wspace *ws_get(struct filemon *fm, const char *rel, int depth)
{
	size_t n = strcspn(rel, "/");
	struct wspace **p, *ws;

	if (depth < 1)
		return NULL;
	p = &fm->ws[hash_mem(rel, n) % WS_BUCKETS];
	for (ws = *p; ws; ws = ws->next)
		if (strlen(ws->name) == n && memcmp(ws->name, rel, n) == 0)
			return ws;
	ws = calloc(1, sizeof(*ws));
	if (!ws || !(ws->name = strndup(rel, n))) {
		free(ws);
		return NULL;
	}
	ws->next = *p;
	*p = ws;
	return ws;
}

/* Forget a workspace nothing refers to any more. */
static void ws_release(struct filemon *fm, struct wspace *ws)
{
	struct wspace **p;

	if (!ws || ws->nwatches || ws->nunwatched)
		return;
	p = &fm->ws[hash_mem(ws->name, strlen(ws->name)) % WS_BUCKETS];
	while (*p != ws)
		p = &(*p)->next;
	*p = ws->next;
	free(ws->name);
	free(ws);
}

static bool over_budget(const struct filemon *fm, const struct wspace *ws)
{
	return fm->budget > 0 && ws && ws->nwatches >= (size_t)fm->budget;
}

/* ---- unwatched directories ---------------------------------------------- */

static struct unwatched **unwatched_slot(struct filemon *fm, const char *rel, uint32_t h)
{
	struct unwatched **p = &fm->ubuckets[h & (fm->nubuckets - 1)];

	while (*p && ((*p)->hash != h || strcmp((*p)->rel, rel) != 0))
		p = &(*p)->next;
	return p;
}

static void unwatched_grow(struct filemon *fm)
{
	size_t n = fm->nubuckets * 2;
	struct unwatched **b = calloc(n, sizeof(*b));

	if (!b)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < fm->nubuckets; i++) {
		while (fm->ubuckets[i]) {
			struct unwatched *u = fm->ubuckets[i];

			fm->ubuckets[i] = u->next;
			u->next = b[u->hash & (n - 1)];
			b[u->hash & (n - 1)] = u;
		}
	}
	free(fm->ubuckets);
	fm->ubuckets = b;
	fm->nubuckets = n;
}

static void unwatched_unlink(struct filemon *fm, struct unwatched **slot)
{
	struct unwatched *u = *slot;

	*slot = u->next;
	fm->nunwatched--;
	if (!u->budget)
		fm->nunwatched_limit--;
	if (u->ws) {
		u->ws->nunwatched--;
		ws_release(fm, u->ws);
	}
	free(u->rel);
	free(u);
}

/* rel is watched now, or gone. */
static void unwatched_remove(struct filemon *fm, const char *rel)
{
	struct unwatched **slot;

	if (!fm->nunwatched)
		return;
	slot = unwatched_slot(fm, rel, hash_mem(rel, strlen(rel)));
	if (*slot)
		unwatched_unlink(fm, slot);
}

/* Every entry at dir or below (moved away). */
static void unwatched_drop(struct filemon *fm, const char *dir);

static void log_unwatched(struct filemon *fm, const struct unwatched *u)
{
	char ebuf[256], wbuf[128];

	if (!u->budget) {
		metrics_inc(M_FILEMON_WATCH_LIMIT);
		if (fm->limit_logged)
			return;
		fm->limit_logged = true;
		log_error(MOD, "inotify watch limit reached at %zu watches: %s and further new "
			  "directories are NOT watched until watches are freed or the limit is "
			  "raised (tried again every %d s; saves made there meanwhile are caught "
			  "up then); raise it on the host with 'sysctl -w "
			  "fs.inotify.max_user_watches=1048576' (and in /etc/sysctl.d); "
			  "filemon_unwatched_dirs_current{reason=\"limit\"}; /readyz fails "
			  "meanwhile; logged once", fm->nwatches,
			  log_escape(u->rel, ebuf, sizeof(ebuf)), UNWATCHED_RETRY_MS / 1000);
		return;
	}
	metrics_inc(M_FILEMON_WATCH_BUDGET);
	if (!u->ws || u->ws->budget_logged)
		return;
	u->ws->budget_logged = true;
	log_warn(MOD, "workspace %s holds %d directories, its WATCHES_PER_STUDENT budget: %s "
		 "and its further new directories are not watched until some are removed "
		 "(filemon_unwatched_dirs_current{reason=\"budget\"}; logged once per student)",
		 log_escape(u->ws->name, wbuf, sizeof(wbuf)), fm->budget,
		 log_escape(u->rel, ebuf, sizeof(ebuf)));
}

/* Remember rel as wanted but unwatched; an entry already there keeps the
 * older times. */
static void unwatched_add(struct filemon *fm, const char *rel, int depth, struct wspace *ws,
			  bool budget, long long since_ns)
{
	uint32_t h = hash_mem(rel, strlen(rel));
	struct unwatched **slot = unwatched_slot(fm, rel, h), *u = *slot;
	long long now = coarse_now_ns() - EVENT_SLACK_NS;
	/* since_ns < 0 (start-up): what changes from now on is a change. */
	long long scan = since_ns < 0 ? now : since_ns, mark = since_ns > 0 ? since_ns : now;
	char ebuf[256];

	if (fm->scan_mark < mark)
		mark = fm->scan_mark;

	if (u) {
		u->scan_since = scan < u->scan_since ? scan : u->scan_since;
		u->mark_since = mark < u->mark_since ? mark : u->mark_since;
		return;
	}
	u = calloc(1, sizeof(*u));
	if (!u || !(u->rel = strdup(rel))) {
		free(u);
		log_error(MOD, "out of memory: %s is not watched and will not be retried",
			  log_escape(rel, ebuf, sizeof(ebuf)));
		return;
	}
	*u = (struct unwatched){ .rel = u->rel, .depth = depth, .budget = budget,
				 .scan_since = scan, .mark_since = mark, .ws = ws, .hash = h,
				 .next = NULL };
	*slot = u;
	fm->nunwatched++;
	if (!budget)
		fm->nunwatched_limit++;
	if (ws)
		ws->nunwatched++;
	log_unwatched(fm, u);
	if (fm->nunwatched > fm->nubuckets)
		unwatched_grow(fm);
}

/* The oldest save an unwatched directory may hold unseen. */
static long long unwatched_oldest(const struct filemon *fm)
{
	long long oldest = LLONG_MAX;

	for (size_t i = 0; fm->nunwatched && i < fm->nubuckets; i++)
		for (const struct unwatched *u = fm->ubuckets[i]; u; u = u->next)
			if (u->mark_since < oldest)
				oldest = u->mark_since;
	return oldest;
}

/* ---- watch table (wd -> directory) ------------------------------------- */

static struct watch **watch_slot(struct filemon *fm, int wd)
{
	struct watch **p = &fm->buckets[(unsigned)wd & (fm->nbuckets - 1)];

	while (*p && (*p)->wd != wd)
		p = &(*p)->next;
	return p;
}

static struct watch *watch_find(struct filemon *fm, int wd)
{
	return *watch_slot(fm, wd);
}

static void watch_grow(struct filemon *fm)
{
	size_t n = fm->nbuckets * 2;
	struct watch **b = calloc(n, sizeof(*b));

	if (!b)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < fm->nbuckets; i++) {
		struct watch *w = fm->buckets[i];

		while (w) {
			struct watch *next = w->next;

			w->next = b[(unsigned)w->wd & (n - 1)];
			b[(unsigned)w->wd & (n - 1)] = w;
			w = next;
		}
	}
	free(fm->buckets);
	fm->buckets = b;
	fm->nbuckets = n;
}

/* Remember wd as rel; inotify hands back the same wd for a directory it
 * already watches (a rescan, a move within the tree), so update in place. */
static int watch_put(struct filemon *fm, int wd, const char *rel, int depth, struct wspace *ws)
{
	struct watch **slot = watch_slot(fm, wd), *w = *slot;
	char *copy = strdup(rel);

	if (!copy)
		return -1;
	if (w) {
		free(w->rel);
		if (w->ws != ws && w->ws) {
			w->ws->nwatches--;
			ws_release(fm, w->ws);
		}
		if (w->ws != ws && ws)
			ws->nwatches++;
	} else {
		w = calloc(1, sizeof(*w));
		if (!w) {
			free(copy);
			return -1;
		}
		w->wd = wd;
		*slot = w;
		fm->nwatches++;
		if (ws)
			ws->nwatches++;
	}
	w->ws = ws;
	w->rel = copy;
	w->depth = depth;
	w->gen = fm->gen;
	if (fm->nwatches > fm->nbuckets)
		watch_grow(fm);
	return 0;
}

static void watch_forget(struct filemon *fm, struct watch *w)
{
	struct watch **slot = watch_slot(fm, w->wd);
	char ebuf[256];

	if (w->depth == 0)
		log_error(MOD, "watch root %s is gone; nothing is watched any more",
			  log_escape(fm->root, ebuf, sizeof(ebuf)));
	*slot = w->next;
	if (w->ws) {
		w->ws->nwatches--;
		ws_release(fm, w->ws);
	}
	free(w->rel);
	free(w);
	fm->nwatches--;
	/* A freed watch may be what an unwatched directory waits for. */
	fm->retry_soon = fm->nunwatched > 0;
}

static bool under(const char *rel, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(rel, dir, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
}

/* Drop every watch that matches: dir and below, or (dir NULL) those the
 * current rescan generation did not see.  The kernel's IN_IGNORED for them
 * then finds no watch and is dropped. */
static void watch_drop(struct filemon *fm, const char *dir)
{
	for (size_t i = 0; i < fm->nbuckets; i++) {
		struct watch *w = fm->buckets[i];

		while (w) {
			struct watch *next = w->next;

			if (dir ? under(w->rel, dir) : w->gen != fm->gen) {
				inotify_rm_watch(fm->ifd, w->wd);
				watch_forget(fm, w);
			}
			w = next;
		}
	}
	if (dir)
		unwatched_drop(fm, dir);
}

static void unwatched_drop(struct filemon *fm, const char *dir)
{
	for (size_t i = 0; fm->nunwatched && i < fm->nubuckets; i++) {
		struct unwatched **p = &fm->ubuckets[i];

		while (*p) {
			if (under((*p)->rel, dir))
				unwatched_unlink(fm, p);
			else
				p = &(*p)->next;
		}
	}
}

/*
 * Watch the directory open as dirfd, known as rel.  -1 when it is not
 * watched; a directory refused by the watch limit or its student's budget
 * is remembered, to be retried (see scan_dir() for since_ns).
 */
static int watch_add(struct filemon *fm, int dirfd, const char *rel, int depth,
		     long long since_ns)
{
	char proc[64], *path = NULL, ebuf[256];
	struct wspace *ws = ws_get(fm, rel, depth);
	int wd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	wd = inotify_add_watch(fm->ifd, proc, WATCH_MASK);
	if (wd < 0 && errno == ENOENT) {
		/* No /proc: by name, and at least not through a final symlink. */
		if (asprintf(&path, "%s/%s", fm->root, rel) < 0)
			return -1;
		wd = inotify_add_watch(fm->ifd, path, WATCH_MASK | IN_DONT_FOLLOW);
		free(path);
	}
	if (wd < 0) {
		if (errno == ENOSPC)
			fm->enospc++;
		if (errno == ENOSPC)
			unwatched_add(fm, rel, depth, ws, false, since_ns);
		else if (errno != ENOENT)
			log_warn(MOD, "cannot watch %s: %s", log_escape(rel, ebuf, sizeof(ebuf)),
				 strerror(errno));
		ws_release(fm, ws);
		return -1;
	}
	/* The same wd for a directory watched already (a rescan): no new
	 * watch, so no budget to check. */
	if (!watch_find(fm, wd) && over_budget(fm, ws)) {
		inotify_rm_watch(fm->ifd, wd);
		unwatched_add(fm, rel, depth, ws, true, since_ns);
		return -1;
	}
	unwatched_remove(fm, rel);
	return watch_put(fm, wd, rel, depth, ws);
}

/* ---- scanning ------------------------------------------------------------ */

/*
 * The restart marker must not pass a waiting change: since is a wall time
 * its file's mtime or ctime is at or after.  For a change found by a scan
 * since a time, that time; else now, less the slack.
 */
static long long change_since(long long since_ns)
{
	long long now = coarse_now_ns() - EVENT_SLACK_NS;

	return since_ns > 0 && since_ns < now ? since_ns : now;
}

static void note_change(struct filemon *fm, const char *rel, long long since_ns)
{
	long long since = change_since(since_ns);

	if (fm->scan_mark < since)
		since = fm->scan_mark;
	if (debounce_change(fm->db, rel, loop_now_ms(), since) < 0)
		log_error(MOD, "out of memory: a change is lost");
}

/* A file met while scanning: a change if modified at or after since_ns.
 * ctime too: a student can set mtime to anything, not ctime. */
static void scan_file(struct filemon *fm, int dirfd, const char *name, const char *rel,
		      long long since_ns)
{
	struct stat st;

	if (snapshot_target_parse(rel, fm->hw_max, NULL) < 0)
		return;
	if (since_ns > 0) {
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return;
		if (ts_ns(&st.st_mtim) < since_ns && ts_ns(&st.st_ctim) < since_ns)
			return;
	}
	note_change(fm, rel, since_ns);
}

static bool entry_is_dir(int dirfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	/* Some file systems leave d_type out; never follow a symlink to ask. */
	return fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static void scan_dir(struct filemon *fm, int dirfd, const char *rel, int depth, long long since_ns);

static void scan_entry(struct filemon *fm, int dirfd, const struct dirent *de, const char *rel,
		       int depth, long long since_ns)
{
	char *crel = child_rel(rel, de->d_name);
	int cfd;

	if (!crel)
		return;
	if (!entry_is_dir(dirfd, de)) {
		if (since_ns >= 0 && depth + 1 >= SNAPSHOT_MIN_DEPTH)
			scan_file(fm, dirfd, de->d_name, crel, since_ns);
	} else if (snapshot_dir_wanted(depth + 1, de->d_name, fm->hw_max)) {
		/* O_NOFOLLOW: a directory symlink is never entered. */
		cfd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd >= 0)
			scan_dir(fm, cfd, crel, depth + 1, since_ns);
	}
	free(crel);
}

/*
 * Watch dirfd (consumed) as rel and everything wanted below it.  The watch
 * goes on before the listing, so a file created meanwhile is either listed
 * or reported, never missed.  since_ns < 0: files are not changes (start-up,
 * like upstream); 0: all files are (a directory that arrived with content);
 * else only those modified since then (an overflow rescan).  Recursion is
 * bounded by SNAPSHOT_MAX_DEPTH.  A directory that cannot be watched is not
 * listed: unwatched_retry() scans it once it is watched.
 */
static void scan_dir(struct filemon *fm, int dirfd, const char *rel, int depth, long long since_ns)
{
	struct dirent *de;
	DIR *dir;

	if (watch_add(fm, dirfd, rel, depth, since_ns) < 0) {
		close(dirfd);
		return;
	}
	dir = fdopendir(dirfd);
	if (!dir) {
		close(dirfd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		scan_entry(fm, dirfd, de, rel, depth, since_ns);
	}
	closedir(dir);
}

static void scan_path(struct filemon *fm, const char *rel, int depth, long long since_ns)
{
	int fd;

	if (rel[0])
		fd = snapshot_open_beneath(fm->rootfd, rel, O_RDONLY | O_DIRECTORY);
	else
		fd = openat(fm->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		scan_dir(fm, fd, rel, depth, since_ns);
}

/* Try one unwatched directory again; scan_dir() forgets it once watched. */
static void retry_one(struct filemon *fm, const char *rel, int depth, long long scan_since,
		      long long mark_since)
{
	int fd = snapshot_open_beneath(fm->rootfd, rel, O_RDONLY | O_DIRECTORY);

	if (fd < 0) {
		/* Gone, or no longer a directory we may enter: nothing to
		 * wait for; its parent's events cover what comes instead. */
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
			unwatched_remove(fm, rel);
		return;
	}
	fm->scan_mark = mark_since;
	scan_dir(fm, fd, rel, depth, scan_since);
	fm->scan_mark = LLONG_MAX;
}

struct retry_item {
	char *rel;
	int depth;
	bool budget;
	long long scan_since, mark_since;
};

/* Copy out the entries worth a try now (the table changes as we go). */
static size_t retry_list(struct filemon *fm, struct retry_item *v)
{
	size_t n = 0;

	for (size_t i = 0; i < fm->nubuckets; i++) {
		for (struct unwatched *u = fm->ubuckets[i]; u; u = u->next) {
			if (u->budget && over_budget(fm, u->ws))
				continue;
			v[n] = (struct retry_item){ .rel = strdup(u->rel), .depth = u->depth,
						    .budget = u->budget,
						    .scan_since = u->scan_since,
						    .mark_since = u->mark_since };
			if (v[n].rel)
				n++;
		}
	}
	return n;
}

/*
 * Watch what could not be watched before, scanning each tree as it gets a
 * watch.  Once the kernel refuses one for its limit, the other limit
 * entries wait for the next round: no point in a syscall each.
 */
static void unwatched_retry(struct filemon *fm)
{
	size_t n, before = fm->nunwatched;
	struct retry_item *v;
	bool limited = false;

	fm->retry_soon = false;
	fm->unwatched_retry_at = loop_now_ms() + UNWATCHED_RETRY_MS;
	if (!before || !(v = calloc(before, sizeof(*v))))
		return;
	n = retry_list(fm, v);
	for (size_t i = 0; i < n; i++) {
		unsigned long long refused = fm->enospc;

		if (!(limited && !v[i].budget))
			retry_one(fm, v[i].rel, v[i].depth, v[i].scan_since, v[i].mark_since);
		limited = limited || fm->enospc != refused;
		free(v[i].rel);
	}
	free(v);
	if (fm->nunwatched < before && fm->nunwatched)
		log_debug(MOD, "%zu directories watched or gone since the last try; %zu still "
			  "unwatched", before - fm->nunwatched, fm->nunwatched);
	if (!fm->nunwatched) {
		log_info(MOD, "every wanted directory is watched again");
		fm->limit_logged = false;	/* a new spell is logged again */
	}
	update_ready(fm);
}

/* Events were lost: watch anything new, forget watches on what is gone,
 * and treat files touched since the queue was last empty as changed. */
static void rescan(struct filemon *fm)
{
	long long since = fm->quiet_ns - OVERFLOW_SLACK_NS;

	metrics_inc(M_FILEMON_OVERFLOWS);
	log_warn(MOD, "inotify queue overflowed; rescanning %s (deletions in the gap are "
		 "not recorded)", fm->root);
	fm->gen++;
	scan_path(fm, "", 0, since > 0 ? since : 1);
	watch_drop(fm, NULL);
}

/* ---- events -------------------------------------------------------------- */

static void dir_event(struct filemon *fm, const struct watch *w, const char *rel,
		      const struct inotify_event *ev)
{
	if (ev->mask & IN_MOVED_FROM) {
		/* The watches travel with the inodes, maybe out of the tree. */
		watch_drop(fm, rel);
		return;
	}
	/* A watched directory says so itself (IN_IGNORED); one we could not
	 * watch has nothing left to wait for. */
	if (ev->mask & IN_DELETE) {
		unwatched_drop(fm, rel);
		return;
	}
	/* Created or moved in: it may already hold files (mkdir -p + write,
	 * a prepared directory renamed in), so scan it and take them as changes. */
	if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
	    snapshot_dir_wanted(w->depth + 1, ev->name, fm->hw_max))
		scan_path(fm, rel, w->depth + 1, 0);
}

static void file_event(struct filemon *fm, const char *rel, uint32_t mask)
{
	if (snapshot_target_parse(rel, fm->hw_max, NULL) < 0) {
		metrics_inc(M_FILEMON_FILTERED);
		return;
	}
	if (mask & (IN_DELETE | IN_MOVED_FROM)) {
		if (debounce_delete(fm->db, rel, loop_now_ms(), change_since(0)) < 0)
			log_error(MOD, "out of memory: a deletion is lost");
		return;
	}
	note_change(fm, rel, 0);
}

static void on_event(struct filemon *fm, const struct inotify_event *ev)
{
	struct watch *w;
	char *rel;

	metrics_inc(M_FILEMON_EVENTS);
	if (ev->mask & IN_Q_OVERFLOW) {
		rescan(fm);
		return;
	}
	w = watch_find(fm, ev->wd);
	if (!w)
		return;		/* already dropped (moved away, rescan) */
	if (ev->mask & IN_IGNORED) {
		watch_forget(fm, w);
		return;
	}
	/* Events about the directory itself: IN_IGNORED follows a deletion. */
	if (!ev->len || !ev->name[0])
		return;
	rel = child_rel(w->rel, ev->name);
	if (!rel)
		return;
	if (ev->mask & IN_ISDIR)
		dir_event(fm, w, rel, ev);
	else
		file_event(fm, rel, ev->mask);
	free(rel);
}

static void read_events(struct filemon *fm)
{
	for (int i = 0; i < READS_PER_TURN; i++) {
		long long before = loop_wall_ns();
		ssize_t n = read(fm->ifd, fm->buf, EVENT_BUF);
		char *p;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EAGAIN)
				fm->quiet_ns = before;
			else
				log_error(MOD, "inotify read: %s", strerror(errno));
			return;
		}
		for (p = fm->buf; p < fm->buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			on_event(fm, ev);
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* ---- SNAPSHOT_BASE health ----------------------------------------------- */

/* Can SNAPSHOT_BASE take a write?  One byte in an unnamed file, fsync'd:
 * a full disk, a read-only mount or a missing directory all fail here.
 * 0, or -1 with errno. */
static int base_probe(const char *base)
{
	int fd, err;

	if (mkdir(base, 0755) < 0 && errno != EEXIST)
		return -1;
	fd = open(base, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char *path;

		/* No O_TMPFILE here: a named file, gone at once. */
		if (asprintf(&path, "%s/.jcode-watcher-probe.%d", base, (int)getpid()) < 0)
			return -1;
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		unlink(path);
		free(path);
	}
	if (fd < 0)
		return -1;
	err = write(fd, "x", 1) == 1 && fsync(fd) == 0 ? 0 : (errno ? errno : EIO);
	close(fd);
	errno = err;
	return err ? -1 : 0;
}

/* Log failure cause r now?  Once, then at most every FAIL_LOG_MS: a
 * failing disk or a hostile file name fails every few seconds. */
static bool fail_log_due(struct filemon *fm, enum write_failure r)
{
	long long now = loop_now_ms();

	if (fm->fail_logged_at[r] && now - fm->fail_logged_at[r] < FAIL_LOG_MS)
		return false;
	fm->fail_logged_at[r] = now;
	return true;
}

/* A write into SNAPSHOT_BASE failed with err (a snapshot or a probe):
 * not ready, and the next probe after a backoff. */
static void base_failed(struct filemon *fm, int err)
{
	enum write_failure r = fail_reason(err);

	if (fm->base_ok) {
		fm->base_ok = false;
		fm->fail_since_ms = loop_now_ms();
		fm->base_backoff_ms = BASE_RETRY_MIN_MS;
	} else {
		fm->base_backoff_ms = fm->base_backoff_ms * 2 < BASE_RETRY_MAX_MS ?
				      fm->base_backoff_ms * 2 : BASE_RETRY_MAX_MS;
	}
	fm->base_retry_at = loop_now_ms() + fm->base_backoff_ms;
	if (fail_log_due(fm, r))
		log_error(MOD, "cannot write snapshots under %s (%s): changes are kept and "
			  "retried (every %d s at most), /readyz fails until a write succeeds; "
			  "filemon_snapshot_failures_total{reason=\"%s\"}; logged once per cause "
			  "every %d min", fm->base, strerror(err), BASE_RETRY_MAX_MS / 1000,
			  fail_name(r), FAIL_LOG_MS / 60000);
	update_ready(fm);
}

static void base_recovered(struct filemon *fm)
{
	char *path;

	log_info(MOD, "snapshots can be written under %s again after %.1f s; %llu changes "
		 "retried", fm->base, (loop_now_ms() - fm->fail_since_ms) / 1000.0, fm->retried);
	fm->base_ok = true;
	fm->retried = 0;
	if (fm->alive_fd < 0 && asprintf(&path, "%s/" ALIVE_FILE, fm->base) >= 0) {
		fm->alive_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		free(path);
	}
	update_ready(fm);
}

/* While SNAPSHOT_BASE fails: true once a probe, due now, succeeds. */
static bool base_usable(struct filemon *fm)
{
	if (fm->base_ok)
		return true;
	if (loop_now_ms() < fm->base_retry_at)
		return false;
	if (base_probe(fm->base) < 0) {
		base_failed(fm, errno);
		return false;
	}
	base_recovered(fm);
	return true;
}

/* ---- flushing ------------------------------------------------------------- */

/* 0, or -1 with errno when the snapshot could not be written. */
static int emit(struct filemon *fm, const struct snapshot_target *t, const char *data,
		size_t len, bool deleted)
{
	char ts[SNAPSHOT_TS_LEN], id[EVENT_ID_LEN];
	char *path, *body;

	if (snapshot_write_perms(fm->base, t, &fm->perms, data, len, time(NULL), ts,
				 sizeof(ts)) < 0)
		return -1;
	metrics_inc(M_FILEMON_SNAPSHOTS);
	path = snapshot_record_path(t, ts);
	event_id_unique(id, sizeof(id));
	body = snapshot_record_body(len, deleted, id);
	if (!path || !body) {
		free(path);
		free(body);
		log_error(MOD, "out of memory: a snapshot record is lost");
		return 0;
	}
	sender_post(fm->sender, SERVICE_FILEMON, ENDPOINT_SNAPSHOT, path, body);
	return 0;
}

/*
 * Snapshot a due change.  final: stopping, so no retry later.  replaced:
 * the file was deleted in this burst and something took its name; when
 * that is not a regular file we may read (a symlink to /etc/passwd, a
 * FIFO), the file we snapshot is gone: say so.  -1 with errno when the
 * snapshot could not be written (the caller keeps the change).
 */
static int flush_change(struct filemon *fm, const struct debounce_item *it, bool final)
{
	struct snapshot_target t;
	struct debounce_item again = *it;
	enum snapshot_status st;
	char *data = NULL, ebuf[256];
	const char *reason;
	size_t len = 0;
	int rc, err;

	if (snapshot_target_parse(it->key, fm->hw_max, &t) < 0)
		return 0;
	st = snapshot_read(fm->rootfd, it->key, fm->max_file_size, &data, &len);
	switch (st) {
	case SNAPSHOT_OK:
		rc = emit(fm, &t, data, len, false);
		err = errno;
		free(data);
		errno = err;	/* the caller reads the write's errno */
		return rc;
	case SNAPSHOT_GONE:
		return 0;	/* its deletion event is on the way */
	case SNAPSHOT_UNSTABLE:
		/* Still being written: look again one window later. */
		again.retries++;
		if (!final && it->retries < UNSTABLE_RETRIES &&
		    debounce_retry(fm->db, &again, loop_now_ms(), fm->window_ms) == 0)
			return 0;
		break;
	case SNAPSHOT_ERROR:
		log_warn(MOD, "cannot read %s: %s", log_escape(it->key, ebuf, sizeof(ebuf)),
			 strerror(errno));
		break;
	default:
		break;
	}
	reason = skipped(st);
	log_debug(MOD, "not captured (%s): %s", reason, log_escape(it->key, ebuf, sizeof(ebuf)));
	if (it->replaced && (st == SNAPSHOT_SYMLINK || st == SNAPSHOT_NOT_REGULAR ||
			     st == SNAPSHOT_HARDLINK))
		return emit(fm, &t, "", 0, true);
	return 0;
}

static int flush_delete(struct filemon *fm, const struct debounce_item *it, bool final)
{
	struct snapshot_target t;
	struct debounce_item change = *it;
	int fd;

	if (snapshot_target_parse(it->key, fm->hw_max, &t) < 0)
		return 0;
	/* Back already: a rename-save whose new file we have not heard of
	 * yet.  It is a change, and its own events will follow.  A symlink
	 * (ELOOP) or an escape (EXDEV) in its place is not the file coming
	 * back: the file we snapshot is gone. */
	fd = snapshot_open_beneath(fm->rootfd, it->key, O_PATH);
	if (fd >= 0 || (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != EXDEV)) {
		if (fd >= 0)
			close(fd);
		change.kind = DEBOUNCE_CHANGE;
		change.retries = 0;
		if (final)
			return flush_change(fm, &change, true);
		if (debounce_change(fm->db, it->key, loop_now_ms(), it->since) < 0)
			log_error(MOD, "out of memory: a change is lost");
		return 0;
	}
	return emit(fm, &t, "", 0, true);
}

/*
 * Only this file's snapshot fails (SNAPSHOT_BASE took the probe): say so
 * (rate-limited per cause), and retry it alone, backing off from 1 s to
 * 30 s; the others go on, and /readyz is not affected.  Returns the delay.
 */
static long file_failed(struct filemon *fm, const struct debounce_item *it, int err)
{
	enum write_failure r = fail_reason(err);
	int shift = it->failures < 5 ? it->failures : 5;
	long delay = (long)BASE_RETRY_MIN_MS << shift;
	char ebuf[256];

	if (fail_log_due(fm, r))
		log_error(MOD, "cannot write the snapshot of %s under %s (%s), though other "
			  "snapshots can be: kept and retried (every %d s at most); "
			  "filemon_snapshot_failures_total{reason=\"%s\"}; logged once per cause "
			  "every %d min", log_escape(it->key, ebuf, sizeof(ebuf)), fm->base,
			  strerror(err), BASE_RETRY_MAX_MS / 1000, fail_name(r),
			  FAIL_LOG_MS / 60000);
	return delay < BASE_RETRY_MAX_MS ? delay : BASE_RETRY_MAX_MS;
}

/* The snapshot of it could not be written (err): count it, and keep the
 * change, for a retry or (stopping) for the next start's catch-up. */
static void write_failed(struct filemon *fm, struct debounce_item *it, int err, bool final)
{
	char ebuf[256];
	long delay;

	metrics_add(M_FILEMON_FAILURES, 0, fail_reason(err), 1);
	log_debug(MOD, "snapshot of %s not written: %s", log_escape(it->key, ebuf, sizeof(ebuf)),
		  strerror(err));
	/* The base itself, or only this file (a name the disk cannot hold, a
	 * file where its directory should be)?  Only the first stops all. */
	if (base_probe(fm->base) < 0) {
		base_failed(fm, errno);
		delay = fm->base_backoff_ms;
	} else {
		delay = file_failed(fm, it, err);
	}
	it->failures++;
	if (final) {
		if (it->since < fm->lost_since)
			fm->lost_since = it->since;
		fm->unsaved++;
		return;
	}
	it->retries = 0;	/* the unstable-read budget starts afresh */
	if (debounce_retry(fm->db, it, loop_now_ms(), delay) < 0) {
		log_error(MOD, "out of memory: a change whose snapshot failed is lost");
		if (it->since < fm->lost_since)
			fm->lost_since = it->since;	/* the next start catches it up */
		fm->unsaved++;
		return;
	}
	fm->retried++;
	metrics_inc(M_FILEMON_RETRIES);
}

/* Flush up to max due entries; returns how many were flushed.  A failure
 * of SNAPSHOT_BASE ends the batch: the rest waits for it to come back. */
static size_t flush_due(struct filemon *fm, long long now, size_t max, bool final)
{
	struct debounce_item it;
	size_t n = 0;
	int rc;

	while (n < max && debounce_pop(fm->db, now, &it) == 1) {
		if (it.kind == DEBOUNCE_DELETE)
			rc = flush_delete(fm, &it, final);
		else
			rc = flush_change(fm, &it, final);
		if (rc < 0)
			write_failed(fm, &it, errno, final);
		free(it.key);
		n++;
		if (!fm->base_ok)
			break;
	}
	return n;
}

static long long on_flush(struct loop *loop, long long id, void *arg)
{
	struct filemon *fm = arg;
	long long now, next;

	fm->in_flush = true;
	/* Read what is queued first: a deletion due now may have been undone
	 * by a re-create that is still in the inotify queue. */
	read_events(fm);
	now = loop_now_ms();
	if (base_usable(fm))
		flush_due(fm, now, FLUSH_BATCH, false);
	fm->in_flush = false;
	update_gauges(fm);
	next = debounce_next(fm->db);
	if (next < 0) {
		fm->flush_timer = 0;
		return -1;
	}
	/* While SNAPSHOT_BASE fails, wait for the next probe. */
	if (!fm->base_ok && next < fm->base_retry_at)
		next = fm->base_retry_at;
	fm->flush_at = next;
	return next > now ? next - now : 0;
}

/* Make sure the flush timer fires by the earliest deadline.  A later timer
 * is moved up; an earlier one is left alone and re-arms itself. */
static void arm(struct filemon *fm)
{
	long long next = debounce_next(fm->db), now = loop_now_ms();

	if (fm->in_flush || next < 0)
		return;
	if (!fm->base_ok && next < fm->base_retry_at)
		next = fm->base_retry_at;
	if (fm->flush_timer > 0 && fm->flush_at <= next)
		return;
	if (fm->flush_timer > 0)
		loop_del_timer(fm->loop, fm->flush_timer);
	fm->flush_timer = loop_add_timer(fm->loop, next > now ? next - now : 0, on_flush, fm);
	fm->flush_at = next;
	if (fm->flush_timer < 0)
		fm->flush_timer = 0;
}

static void on_inotify(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct filemon *fm = arg;

	metrics_heartbeat_poll(SERVICE_FILEMON);
	read_events(fm);
	if (fm->retry_soon)
		unwatched_retry(fm);
	arm(fm);
	update_gauges(fm);
}

/* ---- the restart marker --------------------------------------------------- */

/* Everything changed before `until` has been snapshotted. */
static void mark_alive(struct filemon *fm, long long until)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = until / 1000000000LL, .tv_nsec = until % 1000000000LL },
	};

	if (fm->alive_fd >= 0 && until > 0)
		futimens(fm->alive_fd, ts);
}

/* The marker's time: before `now` (taken before the inotify queue was last
 * read empty, less the slack), and before every change still waiting. */
static long long mark_time(struct filemon *fm, long long now)
{
	long long m = now - EVENT_SLACK_NS, o;

	o = debounce_oldest(fm->db);
	m = o < m ? o : m;
	o = unwatched_oldest(fm);
	m = o < m ? o : m;
	return fm->lost_since < m ? fm->lost_since : m;
}

/* Open the marker; returns the time it holds, or -1 on a first start. */
static long long open_alive(struct filemon *fm)
{
	char *path;
	struct stat st;
	long long since = -1;

	if (asprintf(&path, "%s/" ALIVE_FILE, fm->base) < 0)
		return -1;
	if (stat(path, &st) == 0)
		since = ts_ns(&st.st_mtim);
	mkdir(fm->base, 0755);
	fm->alive_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fm->alive_fd < 0)
		log_warn(MOD, "cannot keep %s (%s): saves made while the agent is down "
			 "will not be caught up", path, strerror(errno));
	free(path);
	return since;
}

/* Heartbeats while nothing happens, a poll of the queue in case a wake-up
 * was missed, the marker, and the retries. */
static long long on_heartbeat(struct loop *loop, long long id, void *arg)
{
	struct filemon *fm = arg;
	long long now = coarse_now_ns();

	metrics_heartbeat_loop(SERVICE_FILEMON);
	if (fm->nunwatched && loop_now_ms() >= fm->unwatched_retry_at)
		fm->retry_soon = true;
	on_inotify(loop, fm->ifd, LOOP_READ, fm);
	/* Nothing waits to show that SNAPSHOT_BASE is back: probe it here. */
	if (!fm->base_ok && !debounce_pending(fm->db))
		base_usable(fm);
	mark_alive(fm, mark_time(fm, now));
	return HEARTBEAT_MS;
}

/* ---- start / stop --------------------------------------------------------- */

static int setup(struct filemon *fm, const struct filemon_config *cfg, char *err, size_t errlen)
{
	fm->root = strdup(cfg->watch_root);
	fm->base = strdup(cfg->snapshot_base);
	fm->buf = malloc(EVENT_BUF);
	fm->nbuckets = WATCH_BUCKETS_MIN;
	fm->buckets = calloc(fm->nbuckets, sizeof(*fm->buckets));
	fm->nubuckets = WATCH_BUCKETS_MIN;
	fm->ubuckets = calloc(fm->nubuckets, sizeof(*fm->ubuckets));
	fm->db = debounce_create(cfg->debounce_window_ms, cfg->debounce_max_wait_ms);
	if (!fm->root || !fm->base || !fm->buf || !fm->buckets || !fm->ubuckets || !fm->db) {
		snprintf(err, errlen, "filemon: out of memory");
		return -1;
	}
	fm->rootfd = open(cfg->watch_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fm->rootfd < 0) {
		snprintf(err, errlen, "filemon: cannot open WATCH_ROOT %s: %s", cfg->watch_root,
			 strerror(errno));
		return -1;
	}
	fm->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fm->ifd < 0) {
		snprintf(err, errlen, "filemon: inotify_init1: %s%s", strerror(errno),
			 errno == EMFILE ? " (raise fs.inotify.max_user_instances)" : "");
		return -1;
	}
	return 0;
}

static int start_watching(struct filemon *fm, char *err, size_t errlen)
{
	long long since = open_alive(fm);
	char when[64];

	fm->quiet_ns = loop_wall_ns();
	if (since > 0) {
		time_t t = (time_t)(since / 1000000000LL);
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		log_info(MOD, "catching up on files changed since %s", when);
	}
	scan_path(fm, "", 0, since);
	if (fm->nwatches == 0) {
		snprintf(err, errlen, "filemon: cannot watch WATCH_ROOT %s%s", fm->root,
			 fm->limit_logged ? " (inotify watch limit reached)" : "");
		return -1;
	}
	if (loop_add_fd(fm->loop, fm->ifd, LOOP_READ, on_inotify, fm) < 0) {
		snprintf(err, errlen, "filemon: cannot poll the inotify fd: %s", strerror(errno));
		return -1;
	}
	fm->hb_timer = loop_add_timer(fm->loop, HEARTBEAT_MS, on_heartbeat, fm);
	fm->unwatched_retry_at = loop_now_ms() + UNWATCHED_RETRY_MS;
	return 0;
}

struct filemon *filemon_start(struct loop *loop, const struct filemon_config *cfg,
			      struct sender *sender, char *err, size_t errlen)
{
	struct filemon *fm;

	if (!loop || !cfg || !cfg->watch_root || !cfg->snapshot_base || !sender) {
		snprintf(err, errlen, "filemon: missing loop, sender, WATCH_ROOT or SNAPSHOT_BASE");
		return NULL;
	}
	fm = calloc(1, sizeof(*fm));
	if (!fm) {
		snprintf(err, errlen, "filemon: out of memory");
		return NULL;
	}
	*fm = (struct filemon){ .loop = loop, .sender = sender, .ifd = -1, .rootfd = -1,
				.alive_fd = -1, .base_ok = true, .lost_since = LLONG_MAX,
				.scan_mark = LLONG_MAX, .budget = cfg->watches_per_student,
				.max_file_size = cfg->max_file_size, .hw_max = cfg->hw_max,
				.window_ms = cfg->debounce_window_ms,
				.perms = { .mode = SNAPSHOT_MODE_DEFAULT, .uid = -1, .gid = -1 } };
	if (cfg->perms)
		fm->perms = *cfg->perms;
	if (setup(fm, cfg, err, errlen) < 0 || start_watching(fm, err, errlen) < 0) {
		filemon_free(fm);
		return NULL;
	}
	/* Ready only if snapshots can be written at all: a SNAPSHOT_BASE on a
	 * full or read-only disk, or under /proc, fails every save. */
	if (base_probe(fm->base) < 0)
		base_failed(fm, errno);
	arm(fm);
	update_gauges(fm);
	update_ready(fm);
	metrics_heartbeat_loop(SERVICE_FILEMON);
	metrics_heartbeat_poll(SERVICE_FILEMON);
	log_info(MOD, "watching %s: %zu directories (%zu not watched yet); snapshots to %s",
		 fm->root, fm->nwatches, fm->nunwatched, fm->base);
	return fm;
}

static void filemon_free(struct filemon *fm)
{
	if (fm->flush_timer > 0)
		loop_del_timer(fm->loop, fm->flush_timer);
	if (fm->hb_timer > 0)
		loop_del_timer(fm->loop, fm->hb_timer);
	if (fm->ifd >= 0) {
		loop_del_fd(fm->loop, fm->ifd);
		close(fm->ifd);
	}
	if (fm->rootfd >= 0)
		close(fm->rootfd);
	if (fm->alive_fd >= 0)
		close(fm->alive_fd);
	for (size_t i = 0; fm->buckets && i < fm->nbuckets; i++) {
		while (fm->buckets[i]) {
			struct watch *w = fm->buckets[i];

			fm->buckets[i] = w->next;
			free(w->rel);
			free(w);
		}
	}
	for (size_t i = 0; fm->ubuckets && i < fm->nubuckets; i++) {
		while (fm->ubuckets[i]) {
			struct unwatched *u = fm->ubuckets[i];

			fm->ubuckets[i] = u->next;
			free(u->rel);
			free(u);
		}
	}
	for (size_t i = 0; i < WS_BUCKETS; i++) {
		while (fm->ws[i]) {
			struct wspace *ws = fm->ws[i];

			fm->ws[i] = ws->next;
			free(ws->name);
			free(ws);
		}
	}
	free(fm->buckets);
	free(fm->ubuckets);
	debounce_destroy(fm->db);
	free(fm->buf);
	free(fm->root);
	free(fm->base);
	free(fm);
}

void filemon_stop(struct filemon *fm)
{
	long long now;
	size_t left;

	if (!fm)
		return;
	/* Take in what happened up to now, then capture everything pending:
	 * a change that waits for its window would otherwise be lost. */
	fm->in_flush = true;
	now = coarse_now_ns();
	read_events(fm);
	fm->base_retry_at = 0;	/* one last probe when failing */
	if (base_usable(fm))
		flush_due(fm, LLONG_MAX, SIZE_MAX, true);
	/* What could not be written stays behind the marker: the next start
	 * catches it up. */
	left = debounce_pending(fm->db) + fm->unsaved;
	mark_alive(fm, mark_time(fm, now + EVENT_SLACK_NS));
	if (left)
		log_error(MOD, "stopping with %zu changes not snapshotted (SNAPSHOT_BASE %s "
			  "fails); the next start catches them up", left, fm->base);
	if (fm->nunwatched)
		log_warn(MOD, "stopping with %zu directories not watched; the next start "
			 "catches up on saves made in them", fm->nunwatched);
	metrics_set_ready(SERVICE_FILEMON, false);
	metrics_set(M_FILEMON_WATCHES, 0, 0, 0);
	metrics_set(M_FILEMON_PENDING, 0, 0, 0);
	metrics_set(M_FILEMON_UNWATCHED, 0, UNWATCHED_LIMIT, 0);
	metrics_set(M_FILEMON_UNWATCHED, 0, UNWATCHED_BUDGET, 0);
	log_info(MOD, "stopped watching %s", fm->root);
	filemon_free(fm);
}

size_t filemon_watch_count(const struct filemon *fm)
{
	return fm ? fm->nwatches : 0;
}

size_t filemon_unwatched_count(const struct filemon *fm)
{
	return fm ? fm->nunwatched : 0;
}
