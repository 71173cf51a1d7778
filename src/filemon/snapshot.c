/*
 * snapshot.c - path rules, safe reads, no-overwrite writes and records.
 */
#define _GNU_SOURCE		/* O_TMPFILE, O_PATH, asprintf */
#include "snapshot.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fsutil.h"
#include "pathrules.h"
#include "snapshot_testing.h"

/* Versions of one file within one second: more than this is a runaway loop,
 * not a student. */
#define SAME_SECOND_MAX 1000
/* Deepest path the openat walk takes apart; ours are at most 6 deep. */
#define WALK_MAX 64
/* "~" and 16 hex digits of the hash in a shortened name. */
#define HASH_TAG_LEN 17

static const char *const source_exts[] = { ".c", ".h", ".py", ".cpp", ".hpp", ".ipynb" };

/* Directories upstream never looked into: virtualenvs and vendored libraries. */
static const char *const ignored_dirs[] = {
	"env", "ENV", "site-packages", "dist-packages", "lib", "lib64", "libs",
};

static bool use_openat2 = true;

/* ---- which paths ------------------------------------------------------ */

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* A directory below the homework dir that may hold captured files.  Hidden
 * covers .env, .venv, .git, .cache and the like. */
static bool subdir_ok(const char *name)
{
	return name[0] != '.' &&
	       !in_list(name, ignored_dirs, sizeof(ignored_dirs) / sizeof(ignored_dirs[0]));
}

bool snapshot_dir_wanted(int depth, const char *name, int hw_max)
{
	if (!name || !name[0])
		return false;
	if (depth == 1)
		return identity_is_workspace(name);
	if (depth == 2)
		return homework_component(name, strlen(name), hw_max) >= 0;
	/* The deepest directory that can hold a file of SNAPSHOT_MAX_DEPTH. */
	return depth > 2 && depth < SNAPSHOT_MAX_DEPTH && subdir_ok(name);
}

/* The extension, if it is one we capture (the last '.' decides, so x.c~,
 * x.c.swp and x.py.tmp are not sources). */
static const char *source_ext(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (name[0] == '.' || !dot)
		return NULL;
	if (!in_list(dot, source_exts, sizeof(source_exts) / sizeof(source_exts[0])))
		return NULL;
	return dot;
}

/* Split a copy of rel at '/' into comp[]; returns the count or -1 when it has
 * an empty component or too many. */
static int split(char *copy, char **comp, int max)
{
	int n = 0;
	char *p = copy;

	for (;;) {
		char *slash = strchr(p, '/');

		if (n == max || !*p || slash == p)
			return -EINVAL;
		comp[n++] = p;
		if (!slash)
			return n;
		*slash = '\0';
		p = slash + 1;
	}
}

/* FNV-1a, 64 bits: fixed, tiny, and one line for the backend to recompute.
 * Not collision-proof against a student who tries; the worst a collision
 * can do is put two of that student's own files in one directory, where
 * neither overwrites the other. */
static uint64_t fnv1a64(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Fit a joined name of len bytes into one directory entry (see
 * snapshot_target_parse()): ENAMETOOLONG would lose the save.  The prefix
 * keeps it readable, the hash keeps it distinct, the extension says what
 * it is. */
static void shorten(char *name, size_t len, size_t cap, const char *ext)
{
	size_t keep = NAME_MAX - HASH_TAG_LEN - strlen(ext);
	uint64_t h = fnv1a64(name, len);

	/* Never half a UTF-8 character: the backend decodes the name. */
	while (keep > 0 && ((unsigned char)name[keep] & 0xc0) == 0x80)
		keep--;
	snprintf(name + keep, cap - keep, "~%016" PRIx64 "%s", h, ext);
}

static int fill_target(char **comp, int n, int hw_max, struct snapshot_target *t)
{
	const char *ext = source_ext(comp[n - 1]);
	size_t len = 0;

	if (!ext || identity_parse_workspace(comp[0], &t->id) < 0)
		return -EINVAL;
	if (homework_component(comp[1], strlen(comp[1]), hw_max) < 0 ||
	    strlen(comp[1]) >= sizeof(t->hw) || strlen(ext) >= sizeof(t->ext))
		return -EINVAL;
	strcpy(t->hw, comp[1]);
	strcpy(t->ext, ext);
	for (int i = 2; i < n; i++) {
		size_t clen = strlen(comp[i]);

		if (i < n - 1 && !subdir_ok(comp[i]))
			return -EINVAL;
		if (len + clen + 2 > sizeof(t->filename))
			return -EINVAL;
		if (i > 2)
			t->filename[len++] = '@';
		memcpy(t->filename + len, comp[i], clen);
		len += clen;
	}
	t->filename[len] = '\0';
	if (len > NAME_MAX)
		shorten(t->filename, len, sizeof(t->filename), t->ext);
	return 0;
}

int snapshot_target_parse(const char *rel, int hw_max, struct snapshot_target *t)
{
	struct snapshot_target scratch;
	char *comp[SNAPSHOT_MAX_DEPTH];
	char *copy;
	int n, ret = -EINVAL;

	if (!rel)
		return -EINVAL;
	if (!t)
		t = &scratch;
	copy = strdup(rel);
	if (!copy)
		return -ENOMEM;
	n = split(copy, comp, SNAPSHOT_MAX_DEPTH);
	if (n >= SNAPSHOT_MIN_DEPTH)
		ret = fill_target(comp, n, hw_max, t);
	free(copy);
	return ret;
}

/* ---- reading ---------------------------------------------------------- */

void snapshot_use_openat2(bool on)
{
	use_openat2 = on;
}

/* O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR; report it as the
 * symlink it is, as openat2 would. */
static int symlink_errno(int dirfd, const char *name, int err)
{
	struct stat st;

	if (err == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return ELOOP;
	return err;
}

/* O_PATH|O_NOFOLLOW, which the walk uses, opens a symlink itself; openat2
 * with RESOLVE_NO_SYMLINKS says ELOOP unless the caller asked for that. */
static bool trailing_symlink(int fd, int flags)
{
	struct stat st;

	if (!(flags & O_PATH) || (flags & O_NOFOLLOW))
		return false;
	return fstat(fd, &st) == 0 && S_ISLNK(st.st_mode);
}

/* One component at a time with O_NOFOLLOW: what openat2 does for us, for
 * kernels before 5.6 (or a seccomp profile that hides it). */
static int walk_open(int rootfd, const char *rel, int flags)
{
	char *copy = strdup(rel), *comp[WALK_MAX];
	int n, fd = rootfd, next = -1, err = 0;

	if (!copy)
		return -ENOMEM;
	n = split(copy, comp, (int)(sizeof(comp) / sizeof(comp[0])));
	for (int i = 0; i < n && !err; i++) {
		bool last = i == n - 1;

		if (strcmp(comp[i], ".") == 0 || strcmp(comp[i], "..") == 0) {
			err = EXDEV;	/* as RESOLVE_BENEATH would say */
			break;
		}
		next = openat(fd, comp[i], last ? flags | O_NOFOLLOW | O_CLOEXEC :
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			err = symlink_errno(fd, comp[i], errno);
		if (fd != rootfd)
			close(fd);
		fd = next;
	}
	free(copy);
	if (n < 1)
		err = ENOENT;
	if (!err && trailing_symlink(fd, flags))
		err = ELOOP;
	if (err) {
		if (fd >= 0 && fd != rootfd)
			close(fd);
		errno = err;
		return -err;
	}
	return fd;
}

int snapshot_open_beneath(int rootfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (use_openat2) {
		fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return -errno;
		use_openat2 = false;
	}
	return walk_open(rootfd, rel, flags);
}

static enum snapshot_status open_status(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return SNAPSHOT_GONE;
	case ELOOP:
	case EXDEV:
		return SNAPSHOT_SYMLINK;
	case ENXIO:		/* a socket, or a device with nothing behind it */
	case ENODEV:
	case EISDIR:
		return SNAPSHOT_NOT_REGULAR;
	default:
		return SNAPSHOT_ERROR;
	}
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * May a file in this state be read?  Only a regular file with exactly one
 * name.  A second name is how `ln /secret hw1/x.c` (same file system, no
 * symlink anywhere) would hand us a file the student cannot read; whether
 * the other name is inside the workspace cannot be told from the inode, so
 * every hard-linked file is refused (a student's own `ln a.c b.c` too:
 * counted and logged, never silently).
 */
static enum snapshot_status readable(const struct stat *st, long long max_size)
{
	if (S_ISLNK(st->st_mode))
		return SNAPSHOT_SYMLINK;
	if (!S_ISREG(st->st_mode))
		return SNAPSHOT_NOT_REGULAR;
	if (st->st_nlink > 1)
		return SNAPSHOT_HARDLINK;
	if (st->st_size > max_size)
		return SNAPSHOT_SIZE;
	return SNAPSHOT_OK;
}

/* fd is the inode checked as *checked: look again now that it is open
 * (a link may have been added since), then read it whole. */
static enum snapshot_status read_open(int fd, const struct stat *checked, long long max_size,
				      char **buf, size_t *len)
{
	struct stat before, after;
	enum snapshot_status st;
	size_t size;
	ssize_t got;
	char *data;

	if (fstat(fd, &before) < 0)
		return SNAPSHOT_ERROR;
	if (before.st_dev != checked->st_dev || before.st_ino != checked->st_ino) {
		errno = ESTALE;	/* /proc/self/fd gave another file: never */
		return SNAPSHOT_ERROR;
	}
	st = readable(&before, max_size);
	if (st != SNAPSHOT_OK)
		return st;
	size = (size_t)before.st_size;
	data = malloc(size + 1);
	if (!data)
		return SNAPSHOT_ERROR;
	got = fs_read_full(fd, data, size + 1);	/* one more: did it grow? */
	if (got < 0 || fstat(fd, &after) < 0) {
		free(data);
		return SNAPSHOT_ERROR;
	}
	if ((size_t)got != size || !same_file_state(&before, &after)) {
		free(data);
		return SNAPSHOT_UNSTABLE;
	}
	*buf = data;
	*len = size;
	return SNAPSHOT_OK;
}

/* Open for reading the very inode an O_PATH fd holds: its /proc/self/fd
 * magic link leads there whatever has happened to the name since (no
 * O_NOFOLLOW: the magic link is the way in).  O_NONBLOCK and O_NOCTTY
 * are belt and braces: only regular files get here. */
static int reopen_read(int pathfd)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
	return open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

enum snapshot_status snapshot_read(int rootfd, const char *rel, long long max_size,
				   char **buf, size_t *len)
{
	enum snapshot_status st;
	struct stat checked;
	int pathfd, fd, err;

	*buf = NULL;
	*len = 0;
	/* An O_PATH open runs no open of the file itself: no FIFO writer is
	 * released, no device driver's open() runs.  The type and links are
	 * checked on it first. */
	pathfd = snapshot_open_beneath(rootfd, rel, O_PATH);
	if (pathfd < 0)
		return open_status(errno);
	if (fstat(pathfd, &checked) < 0) {
		err = errno;
		close(pathfd);
		errno = err;
		return SNAPSHOT_ERROR;
	}
	st = readable(&checked, max_size);
	if (st != SNAPSHOT_OK) {
		close(pathfd);
		return st;
	}
	fd = reopen_read(pathfd);
	err = errno;
	close(pathfd);
	if (fd < 0) {
		errno = err;
		return SNAPSHOT_ERROR;	/* it exists: no /proc is not "gone" */
	}
	st = read_open(fd, &checked, max_size, buf, len);
	err = errno;
	close(fd);
	errno = err;
	return st;
}

/* ---- writing ---------------------------------------------------------- */

int snapshot_timestamp(time_t when, char *out, size_t outlen)
{
	struct tm tm;

	if (!gmtime_r(&when, &tm) || strftime(out, outlen, "%Y%m%d_%H%M%S", &tm) == 0)
		return -EINVAL;
	return 0;
}

/* mkdir -p path below atfd (or from "/" when absolute), returning an fd of
 * the last directory.  nofollow refuses symlinked components: the base is
 * the operator's and may be a symlink, the names below it come from
 * students and never are. */
static int dir_open_p(int atfd, const char *path, int nofollow)
{
	char *copy = strdup(path), *save = NULL, *comp;
	int fd, next, err;

	if (!copy)
		return -ENOMEM;
	fd = path[0] == '/' ? open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
			      fcntl(atfd, F_DUPFD_CLOEXEC, 0);
	for (comp = strtok_r(copy, "/", &save); comp && fd >= 0;
	     comp = strtok_r(NULL, "/", &save)) {
		next = -1;
		if (mkdirat(fd, comp, 0755) == 0 || errno == EEXIST)
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | nofollow);
		err = errno;
		close(fd);
		fd = next;
		errno = err;
	}
	free(copy);
	return fd;
}

/* Owner first: chown may clear mode bits, chmod then sets them exactly
 * (whatever the umask). */
static int set_perms(int fd, const struct snapshot_perms *p)
{
	if ((p->uid != -1 || p->gid != -1) &&
	    fchown(fd, p->uid == -1 ? (uid_t)-1 : (uid_t)p->uid,
		   p->gid == -1 ? (gid_t)-1 : (gid_t)p->gid) < 0)
		return -errno;
	return fchmod(fd, (mode_t)p->mode);
}

/* An unnamed file in dirfd holding data with perms, fsync'd; *tmpname is
 * set when the file system lacks O_TMPFILE and a named temp file had to be
 * made.  Created 0600: a named temp file is readable by no one else before
 * set_perms. */
static int temp_file(int dirfd, const struct snapshot_perms *perms, const void *data,
		     size_t len, char *tmpname, size_t tmplen)
{
	static unsigned long counter;
	int fd;

	tmpname[0] = '\0';
	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* Hidden, so no reader of the snapshot tree mistakes it for one. */
		snprintf(tmpname, tmplen, ".tmp.%ld.%lu", (long)getpid(), counter++);
		fd = openat(dirfd, tmpname, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return -errno;
	if (fs_write_all(fd, data, len) < 0 || set_perms(fd, perms) < 0 || fsync(fd) < 0) {
		int err = errno;

		close(fd);
		if (tmpname[0])
			unlinkat(dirfd, tmpname, 0);
		errno = err;
		return -err;
	}
	return fd;
}

/* Give the temp file a name; EEXIST when that name is taken (link never
 * replaces, which is the whole point). */
static int link_name(int fd, int dirfd, const char *tmpname, const char *name)
{
	char proc[64];

	if (tmpname[0])
		return linkat(dirfd, tmpname, dirfd, name, 0) < 0 ? -errno : 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno == EEXIST)
		return -EEXIST;
	/* No /proc: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, which the agent has. */
	return linkat(fd, "", dirfd, name, AT_EMPTY_PATH) < 0 ? -errno : 0;
}

/* The file inside a (possibly shortened) snapshot directory is
 * "{stem}[.N]{ext}": at most 15 + 4 + 7 bytes, far below NAME_MAX, so it
 * never needs shortening itself. */
_Static_assert(SNAPSHOT_TS_LEN + sizeof(((struct snapshot_target *)0)->ext) < NAME_MAX,
	       "a snapshot file name always fits one directory entry");

static int link_unique(int fd, int dirfd, const char *tmpname, const char *stem,
		       const char *ext, char *ts, size_t tslen)
{
	char name[SNAPSHOT_TS_LEN * 2], cand[SNAPSHOT_TS_LEN + 16];

	for (int n = 0; n < SAME_SECOND_MAX; n++) {
		if (n == 0)
			snprintf(cand, sizeof(cand), "%s", stem);
		else
			snprintf(cand, sizeof(cand), "%s.%d", stem, n);
		snprintf(name, sizeof(name), "%s%s", cand, ext);
		int err = link_name(fd, dirfd, tmpname, name);

		if (err == 0) {
			snprintf(ts, tslen, "%s", cand);
			return 0;
		}
		if (err != -EEXIST)
			return err;
	}
	errno = EEXIST;
	return -EEXIST;
}

/* The snapshot directory of t, made as needed. */
static int target_dir(const char *base, const struct snapshot_target *t)
{
	char *rel = NULL;
	int basefd, fd;

	/* filename comes from a real directory entry, but be explicit: it
	 * must stay one component. */
	if (!t->filename[0] || strchr(t->filename, '/') || strcmp(t->filename, ".") == 0 ||
	    strcmp(t->filename, "..") == 0) {
		errno = EINVAL;
		return -EINVAL;
	}
	basefd = dir_open_p(AT_FDCWD, base, 0);
	if (basefd < 0)
		return -errno;
	if (asprintf(&rel, "%s/%s/%s/%s", t->id.class_div, t->hw, t->id.student_id,
		     t->filename) < 0) {
		close(basefd);
		errno = ENOMEM;
		return -ENOMEM;
	}
	fd = dir_open_p(basefd, rel, O_NOFOLLOW);
	free(rel);
	close(basefd);
	return fd;
}

int snapshot_write_perms(const char *base, const struct snapshot_target *t,
			 const struct snapshot_perms *perms, const void *data, size_t len,
			 time_t when, char *ts, size_t tslen)
{
	static const struct snapshot_perms defaults = {
		.mode = SNAPSHOT_MODE_DEFAULT, .uid = -1, .gid = -1,
	};
	char stem[SNAPSHOT_TS_LEN], tmpname[64];
	int dirfd, fd, ret, err;

	if (!perms)
		perms = &defaults;
	if (perms->mode > 0777 || snapshot_timestamp(when, stem, sizeof(stem)) < 0) {
		errno = EINVAL;
		return -EINVAL;
	}
	dirfd = target_dir(base, t);
	if (dirfd < 0)
		return -errno;
	fd = temp_file(dirfd, perms, data, len, tmpname, sizeof(tmpname));
	if (fd < 0) {
		err = errno;
		close(dirfd);
		errno = err;
		return -err;
	}
	ret = link_unique(fd, dirfd, tmpname, stem, t->ext, ts, tslen);
	err = errno;
	if (tmpname[0])
		unlinkat(dirfd, tmpname, 0);
	/* The new name must survive a crash as surely as the content. */
	if (ret == 0)
		fsync(dirfd);
	close(fd);
	close(dirfd);
	errno = err;
	return ret;
}

int snapshot_write(const char *base, const struct snapshot_target *t, const void *data,
		   size_t len, time_t when, char *ts, size_t tslen)
{
	return snapshot_write_perms(base, t, NULL, data, len, when, ts, tslen);
}

/* ---- the API record --------------------------------------------------- */

/* libcurl's escape keeps exactly RFC 3986's unreserved bytes and writes
 * upper-case hex; copied so callers free() as before, not curl_free(). */
char *snapshot_encode_segment(const char *s)
{
	size_t len = strlen(s);
	char *esc, *out;

	if (len > INT_MAX) {
		errno = EOVERFLOW;
		return NULL;
	}
	/* No handle: since libcurl 7.82 it is ignored, and escaping needs none. */
	esc = curl_easy_escape(NULL, s, (int)len);
	if (!esc) {
		errno = ENOMEM;
		return NULL;
	}
	out = strdup(esc);
	curl_free(esc);
	return out;
}

char *snapshot_record_path(const struct snapshot_target *t, const char *ts)
{
	char *enc = snapshot_encode_segment(t->filename), *path = NULL;

	if (!enc)
		return NULL;
	if (asprintf(&path, "/api/%s/%s/%s/%s/%s", t->id.class_div, t->hw, t->id.student_id,
		     enc, ts) < 0)
		path = NULL;
	free(enc);
	return path;
}

char *snapshot_record_body(size_t bytes, bool deleted, const char *event_id)
{
	json_t *o = json_pack("{s:I,s:s,s:s}", "bytes", (json_int_t)bytes,
			      "event", deleted ? "deleted" : "modified", "event_id", event_id);
	char *s;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}
