/*
 * scan.c - walking a tree into watches and changes: at start-up (catching
 * up since the restart marker), for a directory created or moved in, for
 * a directory watched at last, and after an inotify overflow.
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

char *child_rel(const char *parent, const char *name)
{
	char *rel = NULL;

	if (!parent[0])
		return strdup(name);
	if (asprintf(&rel, "%s/%s", parent, name) < 0)
		return NULL;
	return rel;
}

/* ---- scanning ------------------------------------------------------------ */

bool dir_wanted(const struct filemon *fm, int depth, const char *name)
{
	return snapshot_dir_wanted(depth, name, fm->hw_max) &&
	       (depth != 1 || scope_wants(fm->scope, name));
}

/*
 * The restart marker must not pass a waiting change: since is a wall time
 * its file's mtime or ctime is at or after.  For a change found by a scan
 * since a time, that time; else now, less the slack.
 */
long long change_since(long long since_ns)
{
	long long now = coarse_now_ns() - EVENT_SLACK_NS;

	return since_ns > 0 && since_ns < now ? since_ns : now;
}

void note_change(struct filemon *fm, const char *rel, long long since_ns)
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
	} else if (dir_wanted(fm, depth + 1, de->d_name)) {
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

void scan_path(struct filemon *fm, const char *rel, int depth, long long since_ns)
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

/*
 * Watch what could not be watched before, scanning each tree as it gets a
 * watch.  Once the kernel refuses one for its limit, the other limit
 * entries wait for the next round: no point in a syscall each.
 */
void unwatched_retry(struct filemon *fm)
{
	size_t n, before = fm->unwatched.count;
	struct retry_item *v;
	bool limited = false;

	fm->retry_soon = false;
	fm->unwatched_retry_at = loop_now_ms() + UNWATCHED_RETRY_MS;
	if (!before || !(v = calloc(before, sizeof(*v))))
		return;
	n = unwatched_collect(fm, v, before);
	for (size_t i = 0; i < n; i++) {
		unsigned long long refused = fm->enospc;

		if (!(limited && !v[i].budget))
			retry_one(fm, v[i].rel, v[i].depth, v[i].scan_since, v[i].mark_since);
		limited = limited || fm->enospc != refused;
		free(v[i].rel);
	}
	free(v);
	if (fm->unwatched.count < before && fm->unwatched.count)
		log_debug(MOD, "%zu directories watched or gone since the last try; %zu still "
			  "unwatched", before - fm->unwatched.count, fm->unwatched.count);
	if (!fm->unwatched.count) {
		log_info(MOD, "every wanted directory is watched again");
		fm->limit_logged = false;	/* a new spell is logged again */
	}
	update_ready(fm);
}

/* Events were lost: watch anything new, forget watches on what is gone,
 * and treat files touched since the queue was last empty as changed. */
void rescan(struct filemon *fm)
{
	long long since = fm->quiet_ns - OVERFLOW_SLACK_NS;

	metrics_inc(M_FILEMON_OVERFLOWS);
	log_warn(MOD, "inotify queue overflowed; rescanning %s (deletions in the gap are "
		 "not recorded)", fm->root);
	fm->gen++;
	scan_path(fm, "", 0, since > 0 ? since : 1);
	watch_drop(fm, NULL);
}
