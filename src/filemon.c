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
#include "event.h"
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
/* Kernel file times come from a coarse clock; a change just before an
 * overflow may carry an mtime a tick older than when we last saw the
 * queue empty. */
#define OVERFLOW_SLACK_NS 1000000000LL
#define WATCH_BUCKETS_MIN 256

struct watch {
	int wd;
	int depth;		/* components below the root; 0 = the root */
	unsigned gen;		/* rescan generation that last saw it */
	char *rel;		/* "" for the root */
	struct watch *next;	/* hash chain */
};

struct filemon {
	struct loop *loop;
	struct sender *sender;
	char *root;
	char *base;
	long long max_file_size;
	long window_ms;
	int hw_max;
	int ifd;
	int rootfd;		/* O_PATH: every student path is opened beneath it */
	struct watch **buckets;
	size_t nbuckets, nwatches;
	unsigned gen;
	struct debounce *db;
	long long flush_timer;	/* 0 = none */
	long long flush_at;
	bool in_flush;
	long long hb_timer;
	bool limit_logged;
	long long quiet_ns;	/* CLOCK_REALTIME when the queue was last seen empty */
	long long settle_ns;	/* longest a change may stay pending (debounce, retries) */
	int alive_fd;		/* SNAPSHOT_BASE/ALIVE_FILE, see mark_alive() */
	char *buf;
};

/*
 * Changes pending in the debounce table live only in memory, and nothing
 * watches while the agent is down.  So the agent keeps, as the mtime of
 * this file, a time before which every change has been snapshotted; the
 * next start treats files changed since then as changes.  A few saves may
 * be snapshotted twice around a restart; none is missed.
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

static void describe_metrics(void)
{
	metrics_describe("filemon_events_total", "counter", "inotify events read");
	metrics_describe("filemon_snapshots_total", "counter", "snapshot files written");
	metrics_describe("filemon_skipped_total", "counter",
			 "changes not captured, by reason");
	metrics_describe("filemon_filtered_total", "counter",
			 "events on paths that are not captured source files");
	metrics_describe("filemon_queue_overflows_total", "counter",
			 "inotify queue overflows (each triggers a rescan)");
	metrics_describe("filemon_watch_limit_total", "counter",
			 "directories left unwatched: fs.inotify.max_user_watches reached");
	metrics_describe("filemon_watches_current", "gauge", "inotify watches held");
	metrics_describe("filemon_pending_current", "gauge", "paths waiting in the debounce table");
}

/* Zero increments make every series visible from the start, so a dashboard
 * shows 0 rather than "no data". */
static void init_metrics(void)
{
	describe_metrics();
	metrics_counter_add(SERVICE_FILEMON, "filemon_events_total", "", 0);
	metrics_counter_add(SERVICE_FILEMON, "filemon_snapshots_total", "", 0);
	metrics_counter_add(SERVICE_FILEMON, "filemon_skipped_total", "reason=\"size\"", 0);
	metrics_counter_add(SERVICE_FILEMON, "filemon_skipped_total", "reason=\"not_regular\"", 0);
	metrics_counter_add(SERVICE_FILEMON, "filemon_skipped_total", "reason=\"unstable\"", 0);
	metrics_counter_add(SERVICE_FILEMON, "filemon_skipped_total", "reason=\"symlink\"", 0);
	metrics_counter_add(SERVICE_FILEMON, "filemon_skipped_total", "reason=\"error\"", 0);
	metrics_counter_add(SERVICE_FILEMON, "filemon_filtered_total", "", 0);
	metrics_counter_add(SERVICE_FILEMON, "filemon_queue_overflows_total", "", 0);
	metrics_counter_add(SERVICE_FILEMON, "filemon_watch_limit_total", "", 0);
}

/* Count a change we could not capture; returns the label, for logs. */
static const char *skipped(enum snapshot_status st)
{
	const char *labels;

	switch (st) {
	case SNAPSHOT_SIZE:
		labels = "reason=\"size\"";
		break;
	case SNAPSHOT_NOT_REGULAR:
		labels = "reason=\"not_regular\"";
		break;
	case SNAPSHOT_UNSTABLE:
		labels = "reason=\"unstable\"";
		break;
	case SNAPSHOT_SYMLINK:
		labels = "reason=\"symlink\"";
		break;
	default:
		labels = "reason=\"error\"";
		break;
	}
	metrics_counter_add(SERVICE_FILEMON, "filemon_skipped_total", labels, 1);
	return labels;
}

static void update_gauges(struct filemon *fm)
{
	metrics_gauge_set(SERVICE_FILEMON, "filemon_watches_current", "", (double)fm->nwatches);
	metrics_gauge_set(SERVICE_FILEMON, "filemon_pending_current", "",
			  (double)debounce_pending(fm->db));
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
static int watch_put(struct filemon *fm, int wd, const char *rel, int depth)
{
	struct watch **slot = watch_slot(fm, wd), *w = *slot;
	char *copy = strdup(rel);

	if (!copy)
		return -1;
	if (w) {
		free(w->rel);
	} else {
		w = calloc(1, sizeof(*w));
		if (!w) {
			free(copy);
			return -1;
		}
		w->wd = wd;
		*slot = w;
		fm->nwatches++;
	}
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
	free(w->rel);
	free(w);
	fm->nwatches--;
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
}

static void watch_limit(struct filemon *fm, const char *rel)
{
	char ebuf[256];

	metrics_counter_add(SERVICE_FILEMON, "filemon_watch_limit_total", "", 1);
	if (fm->limit_logged)
		return;
	fm->limit_logged = true;
	log_error(MOD, "inotify watch limit reached at %zu watches: %s and further new "
		  "directories are NOT watched; raise it on the host with "
		  "'sysctl -w fs.inotify.max_user_watches=1048576' (and in /etc/sysctl.d) "
		  "(counted in filemon_watch_limit_total; logged once)",
		  fm->nwatches, log_escape(rel, ebuf, sizeof(ebuf)));
}

/* Watch the directory open as dirfd, known as rel. */
static int watch_add(struct filemon *fm, int dirfd, const char *rel, int depth)
{
	char proc[64], *path = NULL, ebuf[256];
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
			watch_limit(fm, rel);
		else if (errno != ENOENT)
			log_warn(MOD, "cannot watch %s: %s", log_escape(rel, ebuf, sizeof(ebuf)),
				 strerror(errno));
		return -1;
	}
	return watch_put(fm, wd, rel, depth);
}

/* ---- scanning ------------------------------------------------------------ */

static void note_change(struct filemon *fm, const char *rel)
{
	if (debounce_change(fm->db, rel, loop_now_ms()) < 0)
		log_error(MOD, "out of memory: a change is lost");
}

static long long ts_ns(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
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
	note_change(fm, rel);
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
 * bounded by SNAPSHOT_MAX_DEPTH.
 */
static void scan_dir(struct filemon *fm, int dirfd, const char *rel, int depth, long long since_ns)
{
	struct dirent *de;
	DIR *dir;

	if (watch_add(fm, dirfd, rel, depth) < 0 && depth == 0) {
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

/* Events were lost: watch anything new, forget watches on what is gone,
 * and treat files touched since the queue was last empty as changed. */
static void rescan(struct filemon *fm)
{
	long long since = fm->quiet_ns - OVERFLOW_SLACK_NS;

	metrics_counter_add(SERVICE_FILEMON, "filemon_queue_overflows_total", "", 1);
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
	/* Created or moved in: it may already hold files (mkdir -p + write,
	 * a prepared directory renamed in), so scan it and take them as changes. */
	if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
	    snapshot_dir_wanted(w->depth + 1, ev->name, fm->hw_max))
		scan_path(fm, rel, w->depth + 1, 0);
}

static void file_event(struct filemon *fm, const char *rel, uint32_t mask)
{
	if (snapshot_target_parse(rel, fm->hw_max, NULL) < 0) {
		metrics_counter_add(SERVICE_FILEMON, "filemon_filtered_total", "", 1);
		return;
	}
	if (mask & (IN_DELETE | IN_MOVED_FROM)) {
		if (debounce_delete(fm->db, rel, loop_now_ms()) < 0)
			log_error(MOD, "out of memory: a deletion is lost");
		return;
	}
	note_change(fm, rel);
}

static void on_event(struct filemon *fm, const struct inotify_event *ev)
{
	struct watch *w;
	char *rel;

	metrics_counter_add(SERVICE_FILEMON, "filemon_events_total", "", 1);
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

/* ---- flushing ------------------------------------------------------------- */

static void emit(struct filemon *fm, const struct snapshot_target *t, const char *data,
		 size_t len, bool deleted)
{
	char ts[SNAPSHOT_TS_LEN], ebuf[256], id[EVENT_ID_LEN];
	char *path, *body;

	if (snapshot_write(fm->base, t, data, len, time(NULL), ts, sizeof(ts)) < 0) {
		log_error(MOD, "cannot write the snapshot of %s/%s/%s/%s under %s: %s",
			  t->id.class_div, t->hw, t->id.student_id,
			  log_escape(t->filename, ebuf, sizeof(ebuf)), fm->base, strerror(errno));
		skipped(SNAPSHOT_ERROR);
		return;
	}
	metrics_counter_add(SERVICE_FILEMON, "filemon_snapshots_total", "", 1);
	path = snapshot_record_path(t, ts);
	event_id_unique(id, sizeof(id));
	body = snapshot_record_body(len, deleted, id);
	if (!path || !body) {
		free(path);
		free(body);
		log_error(MOD, "out of memory: a snapshot record is lost");
		return;
	}
	sender_post(fm->sender, SERVICE_FILEMON, ENDPOINT_SNAPSHOT, path, body);
}

/* final: stopping, so no retry later. */
/*
 * replaced: the file was deleted in this burst and something took its
 * name.  When that something is not a regular file we may read (a symlink
 * to /etc/passwd, a FIFO), the file we snapshot is gone: say so.
 */
static void flush_change(struct filemon *fm, const char *rel, int retries, bool final,
			 bool replaced)
{
	struct snapshot_target t;
	enum snapshot_status st;
	char *data = NULL, ebuf[256];
	const char *reason;
	size_t len = 0;

	if (snapshot_target_parse(rel, fm->hw_max, &t) < 0)
		return;
	st = snapshot_read(fm->rootfd, rel, fm->max_file_size, &data, &len);
	switch (st) {
	case SNAPSHOT_OK:
		emit(fm, &t, data, len, false);
		free(data);
		return;
	case SNAPSHOT_GONE:
		return;		/* its deletion event is on the way */
	case SNAPSHOT_UNSTABLE:
		/* Still being written: look again one window later. */
		if (!final && retries < UNSTABLE_RETRIES &&
		    debounce_retry(fm->db, rel, retries + 1, loop_now_ms(), fm->window_ms) == 0)
			return;
		break;
	case SNAPSHOT_ERROR:
		log_warn(MOD, "cannot read %s: %s", log_escape(rel, ebuf, sizeof(ebuf)),
			 strerror(errno));
		break;
	default:
		break;
	}
	reason = skipped(st);
	log_debug(MOD, "not captured (%s): %s", reason, log_escape(rel, ebuf, sizeof(ebuf)));
	if (replaced && (st == SNAPSHOT_SYMLINK || st == SNAPSHOT_NOT_REGULAR))
		emit(fm, &t, "", 0, true);
}

static void flush_delete(struct filemon *fm, const char *rel, bool final)
{
	struct snapshot_target t;
	int fd;

	if (snapshot_target_parse(rel, fm->hw_max, &t) < 0)
		return;
	/* Back already: a rename-save whose new file we have not heard of
	 * yet.  It is a change, and its own events will follow.  A symlink
	 * (ELOOP) or an escape (EXDEV) in its place is not the file coming
	 * back: the file we snapshot is gone. */
	fd = snapshot_open_beneath(fm->rootfd, rel, O_PATH);
	if (fd >= 0 || (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != EXDEV)) {
		if (fd >= 0)
			close(fd);
		if (final)
			flush_change(fm, rel, 0, true, false);
		else
			note_change(fm, rel);
		return;
	}
	emit(fm, &t, "", 0, true);
}

/* Flush up to max due entries; returns how many were flushed. */
static size_t flush_due(struct filemon *fm, long long now, size_t max, bool final)
{
	struct debounce_item it;
	size_t n = 0;

	while (n < max && debounce_pop(fm->db, now, &it) == 1) {
		if (it.kind == DEBOUNCE_DELETE)
			flush_delete(fm, it.key, final);
		else
			flush_change(fm, it.key, it.retries, final, it.replaced);
		free(it.key);
		n++;
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
	flush_due(fm, now, FLUSH_BATCH, false);
	fm->in_flush = false;
	update_gauges(fm);
	next = debounce_next(fm->db);
	if (next < 0) {
		fm->flush_timer = 0;
		return -1;
	}
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
	arm(fm);
	update_gauges(fm);
}

/* Heartbeats while nothing happens, and a poll of the queue in case a
 * wake-up was missed. */
/* File times come from the kernel's coarse clock; so does the mark, or a
 * file written just after it could carry an earlier time. */
static long long coarse_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts_ns(&ts);
}

/* Everything changed before `until` has been snapshotted. */
static void mark_alive(struct filemon *fm, long long until)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = until / 1000000000LL, .tv_nsec = until % 1000000000LL },
	};

	if (fm->alive_fd >= 0)
		futimens(fm->alive_fd, ts);
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

static long long on_heartbeat(struct loop *loop, long long id, void *arg)
{
	struct filemon *fm = arg;

	metrics_heartbeat_loop(SERVICE_FILEMON);
	mark_alive(fm, coarse_now_ns() - fm->settle_ns);
	on_inotify(loop, fm->ifd, LOOP_READ, fm);
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
	fm->db = debounce_create(cfg->debounce_window_ms, cfg->debounce_max_wait_ms);
	if (!fm->root || !fm->base || !fm->buf || !fm->buckets || !fm->db) {
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
				.alive_fd = -1,
				.max_file_size = cfg->max_file_size, .hw_max = cfg->hw_max,
				.window_ms = cfg->debounce_window_ms };
	/* The longest a change can wait: the debounce cap, then the unstable
	 * retries, with a second to spare for a busy loop. */
	fm->settle_ns = (cfg->debounce_max_wait_ms + (UNSTABLE_RETRIES + 1) *
			 cfg->debounce_window_ms + 1000) * 1000000LL;
	init_metrics();
	if (setup(fm, cfg, err, errlen) < 0 || start_watching(fm, err, errlen) < 0) {
		filemon_free(fm);
		return NULL;
	}
	update_gauges(fm);
	metrics_heartbeat_loop(SERVICE_FILEMON);
	metrics_heartbeat_poll(SERVICE_FILEMON);
	metrics_set_ready(SERVICE_FILEMON, true);
	log_info(MOD, "watching %s: %zu directories; snapshots to %s", fm->root, fm->nwatches,
		 fm->base);
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
	free(fm->buckets);
	debounce_destroy(fm->db);
	free(fm->buf);
	free(fm->root);
	free(fm->base);
	free(fm);
}

void filemon_stop(struct filemon *fm)
{
	if (!fm)
		return;
	/* Take in what happened up to now, then capture everything pending:
	 * a change that waits for its window would otherwise be lost. */
	fm->in_flush = true;
	read_events(fm);
	flush_due(fm, LLONG_MAX, SIZE_MAX, true);
	/* Nothing is pending now: a restart catches up from here. */
	mark_alive(fm, coarse_now_ns());
	metrics_set_ready(SERVICE_FILEMON, false);
	metrics_gauge_set(SERVICE_FILEMON, "filemon_watches_current", "", 0);
	metrics_gauge_set(SERVICE_FILEMON, "filemon_pending_current", "", 0);
	log_info(MOD, "stopped watching %s", fm->root);
	filemon_free(fm);
}

size_t filemon_watch_count(const struct filemon *fm)
{
	return fm ? fm->nwatches : 0;
}
