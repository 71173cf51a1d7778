/*
 * flush.c - from the debounce table to snapshot files: SNAPSHOT_BASE's
 * health (probe, back off, recover), and each due change read, written,
 * posted, or kept for a retry when the write fails.
 */
#define _GNU_SOURCE		/* asprintf, O_PATH */
#include "filemon_internal.h"

#include <dirent.h>
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
#include "event_id.h"
#include "metrics_server.h"
#include "sender.h"

/* ---- SNAPSHOT_BASE health ----------------------------------------------- */

/* Can SNAPSHOT_BASE take a write?  One byte in an unnamed file, fsync'd:
 * a full disk, a read-only mount or a missing directory all fail here.
 * 0, or -errno (errno set too). */
int base_probe(const char *base)
{
	int fd, err;

	if (mkdir(base, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = open(base, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char *path;

		/* No O_TMPFILE here: a named file, gone at once. */
		if (asprintf(&path, "%s/.jcode-watcher-probe.%d", base, (int)getpid()) < 0)
			return -ENOMEM;
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		unlink(path);
		free(path);
	}
	if (fd < 0)
		return -errno;
	err = write(fd, "x", 1) == 1 && fsync(fd) == 0 ? 0 : (errno ? errno : EIO);
	close(fd);
	errno = err;
	return -err;
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
void base_failed(struct filemon *fm, int err)
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
	log_info(MOD, "snapshots can be written under %s again after %.1f s; %llu changes "
		 "retried", fm->base, (loop_now_ms() - fm->fail_since_ms) / 1000.0, fm->retried);
	fm->base_ok = true;
	fm->retried = 0;
	if (fm->alive_fd < 0)
		fm->alive_fd = open(fm->marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	update_ready(fm);
}

/* While SNAPSHOT_BASE fails: true once a probe, due now, succeeds. */
bool base_usable(struct filemon *fm)
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
		return -errno;
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
size_t flush_due(struct filemon *fm, long long now, size_t max, bool final)
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
		return LOOP_TIMER_STOP;
	}
	/* While SNAPSHOT_BASE fails, wait for the next probe. */
	if (!fm->base_ok && next < fm->base_retry_at)
		next = fm->base_retry_at;
	fm->flush_at = next;
	return next > now ? next - now : 0;
}

/* Make sure the flush timer fires by the earliest deadline.  A later timer
 * is moved up; an earlier one is left alone and re-arms itself. */
void arm(struct filemon *fm)
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
