/*
 * filemon.c - inotify watch tree: start and stop, the inotify reader, the
 * restart marker (the files beside this one do the rest, see
 * filemon_internal.h).
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
#define _GNU_SOURCE		/* O_PATH */
#include "filemon_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "metrics_server.h"

static void filemon_free(struct filemon *fm);

/* ---- metrics ------------------------------------------------------------ */

/* The cause of a failed write, as filemon_snapshot_failures_total says it. */
enum write_failure fail_reason(int err)
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

const char *fail_name(enum write_failure r)
{
	return metrics_value_name(M_FILEMON_FAILURES, r);
}

/* Count a change we could not capture; returns the reason, for logs. */
const char *skipped(enum snapshot_status st)
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
void update_ready(struct filemon *fm)
{
	metrics_set_ready(SERVICE_FILEMON, fm->base_ok && fm->nunwatched_limit == 0);
}

void update_gauges(struct filemon *fm)
{
	metrics_set(M_FILEMON_WATCHES, 0, 0, (double)fm->watches.count);
	metrics_set(M_FILEMON_PENDING, 0, 0, (double)debounce_pending(fm->db));
	metrics_set(M_FILEMON_UNWATCHED, 0, UNWATCHED_LIMIT, (double)fm->nunwatched_limit);
	metrics_set(M_FILEMON_UNWATCHED, 0, UNWATCHED_BUDGET,
		    (double)(fm->unwatched.count - fm->nunwatched_limit));
	metrics_set(M_FILEMON_BASE_WRITABLE, 0, 0, fm->base_ok ? 1 : 0);
	metrics_set(M_FILEMON_WORKSPACES, 0, 0, (double)scope_count(fm->scope));
	update_ready(fm);
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
	if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && dir_wanted(fm, w->depth + 1, ev->name))
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

void read_events(struct filemon *fm)
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

/* The time a marker holds, or -1 when there is none. */
static long long marker_time(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? ts_ns(&st.st_mtim) : -1;
}

/*
 * Open the marker; returns the time it holds, or -1 on a first start.  A
 * node's own marker (marker_dir) starts from the shared one in
 * SNAPSHOT_BASE the first time, so an upgrade still catches up.
 */
static long long open_alive(struct filemon *fm)
{
	char *shared = NULL;
	long long since = marker_time(fm->marker);

	if (since < 0 && asprintf(&shared, "%s/" ALIVE_FILE, fm->base) >= 0 &&
	    strcmp(shared, fm->marker) != 0)
		since = marker_time(shared);
	free(shared);
	mkdir(fm->base, 0755);
	fm->alive_fd = open(fm->marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fm->alive_fd < 0)
		log_warn(MOD, "cannot keep %s (%s): saves made while the agent is down "
			 "will not be caught up", fm->marker, strerror(errno));
	return since;
}

/* Heartbeats while nothing happens, a poll of the queue in case a wake-up
 * was missed, the marker, and the retries. */
static long long on_heartbeat(struct loop *loop, long long id, void *arg)
{
	struct filemon *fm = arg;
	long long now = coarse_now_ns();

	metrics_heartbeat_loop(SERVICE_FILEMON);
	if (fm->unwatched.count && loop_now_ms() >= fm->unwatched_retry_at)
		fm->retry_soon = true;
	scope_tick(fm);
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
	fm->db = debounce_create(cfg->debounce_window_ms, cfg->debounce_max_wait_ms);
	if (asprintf(&fm->marker, "%s/" ALIVE_FILE,
		     cfg->marker_dir ? cfg->marker_dir : cfg->snapshot_base) < 0)
		fm->marker = NULL;
	if (!fm->root || !fm->base || !fm->buf || !fm->marker || watches_init(fm) < 0 || !fm->db) {
		snprintf(err, errlen, "filemon: out of memory");
		return -ENOMEM;
	}
	fm->rootfd = open(cfg->watch_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fm->rootfd < 0) {
		snprintf(err, errlen, "filemon: cannot open WATCH_ROOT %s: %s", cfg->watch_root,
			 strerror(errno));
		return -errno;
	}
	fm->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fm->ifd < 0) {
		snprintf(err, errlen, "filemon: inotify_init1: %s%s", strerror(errno),
			 errno == EMFILE ? " (raise fs.inotify.max_user_instances)" : "");
		return -errno;
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
	fm->started = true;
	if (fm->watches.count == 0) {
		snprintf(err, errlen, "filemon: cannot watch WATCH_ROOT %s%s", fm->root,
			 fm->limit_logged ? " (inotify watch limit reached)" : "");
		return -ENOSPC;
	}
	if (loop_add_fd(fm->loop, fm->ifd, LOOP_READ, on_inotify, fm) < 0) {
		snprintf(err, errlen, "filemon: cannot poll the inotify fd: %s", strerror(errno));
		return -errno;
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
	if (setup(fm, cfg, err, errlen) < 0 || scope_setup(fm, cfg, err, errlen) < 0 ||
	    start_watching(fm, err, errlen) < 0) {
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
		 fm->root, fm->watches.count, fm->unwatched.count, fm->base);
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
	watches_free(fm);
	scope_free(fm->scope);
	free(fm->host_prefix);
	free(fm->proc);
	free(fm->marker);
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
	if (fm->unwatched.count)
		log_warn(MOD, "stopping with %zu directories not watched; the next start "
			 "catches up on saves made in them", fm->unwatched.count);
	metrics_set_ready(SERVICE_FILEMON, false);
	metrics_set(M_FILEMON_WATCHES, 0, 0, 0);
	metrics_set(M_FILEMON_PENDING, 0, 0, 0);
	metrics_set(M_FILEMON_UNWATCHED, 0, UNWATCHED_LIMIT, 0);
	metrics_set(M_FILEMON_UNWATCHED, 0, UNWATCHED_BUDGET, 0);
	metrics_set(M_FILEMON_WORKSPACES, 0, 0, 0);
	log_info(MOD, "stopped watching %s", fm->root);
	filemon_free(fm);
}

size_t filemon_watch_count(const struct filemon *fm)
{
	return fm ? fm->watches.count : 0;
}

size_t filemon_workspace_count(const struct filemon *fm)
{
	return fm ? scope_count(fm->scope) : 0;
}

size_t filemon_unwatched_count(const struct filemon *fm)
{
	return fm ? fm->unwatched.count : 0;
}
