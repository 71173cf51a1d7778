/*
 * snapshot.h - what a snapshot is: which paths are captured, how a student's
 * file is read without trusting it, how the copy is written without ever
 * overwriting an earlier one, and the API record that announces it.
 *
 * Students own everything below WATCH_ROOT: any name may be a symlink to
 * /etc/shadow, a FIFO, or change while we read it.  So files are opened
 * beneath an O_PATH fd of the root with no symlink resolution at all, never
 * block, and are only trusted if they stayed the same during the read.
 */
#ifndef JCW_SNAPSHOT_H
#define JCW_SNAPSHOT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "identity.h"

/* Components below WATCH_ROOT: {ws}/{hw}/{file} .. {ws}/{hw}/a/b/c/{file}. */
#define SNAPSHOT_MIN_DEPTH 3
#define SNAPSHOT_MAX_DEPTH 6

/* "YYYYMMDD_HHMMSS" plus ".N" for later versions in the same second. */
#define SNAPSHOT_TS_LEN 32

/* Permission bits of a snapshot file unless configured (SNAPSHOT_MODE):
 * the backend that serves them, not every local user, may read them. */
#define SNAPSHOT_MODE_DEFAULT 0640

/* A watched file's identity in the API, parsed from its path below the root. */
struct snapshot_target {
	struct identity id;
	char hw[16];			/* "hw1" */
	char filename[PATH_MAX];	/* "src@util@a.c", at most NAME_MAX bytes */
	char ext[8];			/* ".c" */
};

enum snapshot_status {
	SNAPSHOT_OK,
	SNAPSHOT_GONE,		/* no such file (deleted before we got to it) */
	SNAPSHOT_SIZE,		/* larger than the limit */
	SNAPSHOT_NOT_REGULAR,	/* FIFO, socket, device, directory */
	SNAPSHOT_UNSTABLE,	/* changed while being read */
	SNAPSHOT_SYMLINK,	/* a symlink somewhere in the path */
	SNAPSHOT_ERROR,		/* anything else (errno is set) */
	SNAPSHOT_HARDLINK,	/* a regular file with more than one name */
};

/* Mode and owner of written snapshots, for the backend that serves them. */
struct snapshot_perms {
	unsigned mode;		/* permission bits, at most 0777 */
	long uid;		/* -1: as created (the agent's) */
	long gid;		/* -1: as created */
};

/* ---- which paths ------------------------------------------------------ */

/* Parse rel ("os-1-202012345/hw1/src/a.c", relative to WATCH_ROOT) into t
 * (may be NULL).  The upstream rule: 3..6 components, a valid workspace
 * name, a homework component (homework_component(), hw_max), no hidden or
 * ignored directory (env, ENV, site-packages, dist-packages, lib, lib64,
 * libs), a visible file name ending .c .h .py .cpp .hpp .ipynb.  Editor
 * temp files (x.c~, .x.c.swp, 4913) fail the same rule.  Returns 0 or -EINVAL.
 *
 * t->filename is the components below the homework directory joined with
 * '@', the name both of the snapshot directory and of the API path
 * segment.  One longer than NAME_MAX (255 bytes) cannot be a directory,
 * so it becomes: its first bytes (never half a UTF-8 character), '~', the
 * 16 lower-case hex digits of the 64-bit FNV-1a hash of the whole joined
 * name, and the extension, in at most 255 bytes. */
int snapshot_target_parse(const char *rel, int hw_max, struct snapshot_target *t);

/* Is a directory called name, depth components below the root (1 = a
 * workspace), worth an inotify watch, i.e. could a captured file lie in it? */
bool snapshot_dir_wanted(int depth, const char *name, int hw_max);

/* ---- reading ---------------------------------------------------------- */

/* Open rel beneath rootfd with no symlink at any component (ELOOP when there
 * is one, O_PATH included; only O_PATH|O_NOFOLLOW opens a trailing symlink
 * itself) and nothing outside rootfd (EXDEV): openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), or an O_NOFOLLOW openat walk where the kernel lacks
 * openat2.  O_CLOEXEC is added.  Returns the fd, or -errno (errno set too). */
int snapshot_open_beneath(int rootfd, const char *rel, int flags);

/* Read the regular file rel beneath rootfd in full, if it has one name
 * (else SNAPSHOT_HARDLINK: it may be a file from outside the workspace), is
 * at most max_size bytes and did not change during the read.  Only such a
 * file is ever opened for reading: FIFOs, devices and sockets are turned
 * away on an O_PATH fd.  On SNAPSHOT_OK *buf (malloc'd, free it) holds
 * *len bytes. */
enum snapshot_status snapshot_read(int rootfd, const char *rel, long long max_size,
				   char **buf, size_t *len);

/* ---- writing ---------------------------------------------------------- */

/* "YYYYMMDD_HHMMSS" in UTC.  out must hold 16 bytes.  Returns 0 or -EINVAL. */
int snapshot_timestamp(time_t when, char *out, size_t outlen);

/* Write data as a new file base/{class_div}/{hw}/{student_id}/{filename}/
 * {ts}{ext}, directories made 0755 as needed.  The content is complete and
 * fsync'd before the name appears (O_TMPFILE + linkat, or a temp file +
 * link), and an existing name is never replaced: the second version in one
 * second is {ts}.1{ext}, then .2 ...  The stem used ("20261123_162846" or
 * "20261123_162846.1") goes to ts (SNAPSHOT_TS_LEN).  The file has mode
 * SNAPSHOT_MODE_DEFAULT and the agent's ids.  Returns 0, or -errno (errno is
 * set too). */
int snapshot_write(const char *base, const struct snapshot_target *t, const void *data,
		   size_t len, time_t when, char *ts, size_t tslen);
/* The same with the mode and owner in perms (NULL: the defaults), set
 * before the file gets its name, so it never appears with other ones. */
int snapshot_write_perms(const char *base, const struct snapshot_target *t,
			 const struct snapshot_perms *perms, const void *data, size_t len,
			 time_t when, char *ts, size_t tslen);

/* ---- the API record --------------------------------------------------- */

/* Percent-encode one URL path segment (RFC 3986 unreserved bytes kept,
 * every other byte as %XX, upper-case hex).  malloc'd; NULL with errno. */
char *snapshot_encode_segment(const char *s);
/* "/api/{class_div}/{hw}/{student_id}/{encoded filename}/{ts}", malloc'd. */
char *snapshot_record_path(const struct snapshot_target *t, const char *ts);
/* {"bytes":N,"event":"modified","event_id":id} ("deleted", bytes 0), malloc'd. */
char *snapshot_record_body(size_t bytes, bool deleted, const char *event_id);

#endif
