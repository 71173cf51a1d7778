/*
 * test_snapshot.c - path rules, safe reads, no-overwrite writes, records.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot.h"
#include "snapshot_testing.h"
#include "support.h"
#include "testlib.h"

static char tmp[256];

static void put(const char *rel, const char *content)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	f = fopen(path, "w");
	if (!f)
		return;
	fputs(content, f);
	fclose(f);
}

static void mk(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	mkdir(path, 0755);
}

static void test_target_parse(void)
{
	struct snapshot_target t;

	CHECK_INT(snapshot_target_parse("os-1-202012345/hw1/a.c", 20, &t), 0);
	CHECK_STR(t.id.class_div, "os-1");
	CHECK_STR(t.id.student_id, "202012345");
	CHECK_STR(t.hw, "hw1");
	CHECK_STR(t.filename, "a.c");
	CHECK_STR(t.ext, ".c");
	CHECK_INT(snapshot_target_parse("os-1-202012345/hw1/src/util/a.c", 20, &t), 0);
	CHECK_STR(t.filename, "src@util@a.c");
	CHECK_INT(snapshot_target_parse("ds-2-7/hw20/a/b/c/nb.ipynb", 20, &t), 0);
	CHECK_STR(t.filename, "a@b@c@nb.ipynb");
	CHECK_STR(t.ext, ".ipynb");
	CHECK_INT(snapshot_target_parse("os-1-1/hw0/x.hpp", 20, NULL), 0);
	CHECK_INT(snapshot_target_parse("os-1-1/hw0/x.cpp", 20, NULL), 0);
	CHECK_INT(snapshot_target_parse("os-1-1/hw0/x.h", 20, NULL), 0);
	CHECK_INT(snapshot_target_parse("os-1-1/hw0/x.py", 20, NULL), 0);

	/* Depth: 3..6 components. */
	CHECK_INT(snapshot_target_parse("os-1-1/a.c", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/a/b/c/d/e.c", 20, NULL), -EINVAL);
	/* Workspace and homework names. */
	CHECK_INT(snapshot_target_parse("os-1-x/hw1/a.c", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw21/a.c", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw01/a.c", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw21/a.c", 30, NULL), 0);
	CHECK_INT(snapshot_target_parse("os-1-1/lab1/a.c", 20, NULL), -EINVAL);
	/* Ignored directories. */
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/.venv/x.py", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/.cache/x.py", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/env/x.py", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/ENV/x.py", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/v/site-packages/x.py", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/dist-packages/x.py", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/lib/x.c", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/lib64/x.c", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/libs/x.c", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/library/x.c", 20, NULL), 0);
	/* Extensions and editor temp files. */
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/x.txt", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/x.C", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/x.c~", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/.x.c.swp", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/4913", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/.x.c", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/x.c.tmp", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/.c", 20, NULL), -EINVAL);
	/* Malformed. */
	CHECK_INT(snapshot_target_parse("os-1-1//hw1/a.c", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("os-1-1/hw1/a.c/", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse("", 20, NULL), -EINVAL);
	CHECK_INT(snapshot_target_parse(NULL, 20, NULL), -EINVAL);
}

static void test_dir_wanted(void)
{
	CHECK(snapshot_dir_wanted(1, "os-1-202012345", 20));
	CHECK(!snapshot_dir_wanted(1, "lost+found", 20));
	CHECK(snapshot_dir_wanted(2, "hw3", 20));
	CHECK(!snapshot_dir_wanted(2, "hw99", 20));
	CHECK(!snapshot_dir_wanted(2, "notes", 20));
	CHECK(snapshot_dir_wanted(3, "src", 20));
	CHECK(snapshot_dir_wanted(5, "deep", 20));
	CHECK(!snapshot_dir_wanted(6, "deeper", 20));	/* its files would be 7 deep */
	CHECK(!snapshot_dir_wanted(3, ".venv", 20));
	CHECK(snapshot_dir_wanted(3, "__pycache__", 20));	/* not in upstream's list */
	CHECK(!snapshot_dir_wanted(4, "site-packages", 20));
	CHECK(!snapshot_dir_wanted(3, "lib", 20));
	CHECK(!snapshot_dir_wanted(3, "", 20));
}

/* Every byte value: the RFC 3986 unreserved ones as they are, each other
 * one as %XX in upper-case hex, exactly as before libcurl did the work. */
static void test_encode_every_byte(void)
{
	static const char hex[] = "0123456789ABCDEF";
	char in[256], want[256 * 3 + 1], *w = want, *got;

	for (int c = 1; c < 256; c++) {
		bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';

		in[c - 1] = (char)c;
		if (keep) {
			*w++ = (char)c;
			continue;
		}
		*w++ = '%';
		*w++ = hex[c >> 4];
		*w++ = hex[c & 0xf];
	}
	in[255] = '\0';
	*w = '\0';
	got = snapshot_encode_segment(in);
	CHECK_STR(got, want);
	free(got);
	got = snapshot_encode_segment("");
	CHECK_STR(got, "");
	free(got);
}

static void test_naming(void)
{
	char ts[SNAPSHOT_TS_LEN], *s;
	struct snapshot_target t;

	/* 2026-11-23 16:28:46 UTC */
	CHECK_INT(snapshot_timestamp(1795451326, ts, sizeof(ts)), 0);
	CHECK_STR(ts, "20261123_162846");
	CHECK_INT(snapshot_timestamp(0, ts, 8), -EINVAL);

	s = snapshot_encode_segment("src@util@a b%c/ü~-._.c");
	CHECK_STR(s, "src%40util%40a%20b%25c%2F%C3%BC~-._.c");
	free(s);

	snapshot_target_parse("os-1-202012345/hw1/src/util/a.c", 20, &t);
	s = snapshot_record_path(&t, "20261123_162846.1");
	CHECK_STR(s, "/api/os-1/hw1/202012345/src%40util%40a.c/20261123_162846.1");
	free(s);
	s = snapshot_record_body(42, false, "b-a1-7");
	CHECK_STR(s, "{\"bytes\":42,\"event\":\"modified\",\"event_id\":\"b-a1-7\"}");
	free(s);
	s = snapshot_record_body(0, true, "b-a1-8");
	CHECK_STR(s, "{\"bytes\":0,\"event\":\"deleted\",\"event_id\":\"b-a1-8\"}");
	free(s);
}

static enum snapshot_status rd(int rootfd, const char *rel, long long max, char **out)
{
	size_t len;
	enum snapshot_status st = snapshot_read(rootfd, rel, max, out, &len);

	if (st == SNAPSHOT_OK && *out) {
		char *z = realloc(*out, len + 1);

		if (z) {
			z[len] = '\0';
			*out = z;
		}
	}
	return st;
}

static void check_reads(int rootfd)
{
	char *buf = NULL;

	CHECK_INT(rd(rootfd, "w/hw1/a.c", 100, &buf), SNAPSHOT_OK);
	CHECK_STR(buf, "int main;\n");
	free(buf);
	buf = NULL;
	CHECK_INT(rd(rootfd, "w/hw1/empty.c", 100, &buf), SNAPSHOT_OK);
	free(buf);
	CHECK_INT(rd(rootfd, "w/hw1/a.c", 5, &buf), SNAPSHOT_SIZE);
	CHECK_INT(rd(rootfd, "w/hw1/nope.c", 100, &buf), SNAPSHOT_GONE);
	CHECK_INT(rd(rootfd, "w/hw1/fifo.c", 100, &buf), SNAPSHOT_NOT_REGULAR);
	CHECK_INT(rd(rootfd, "w/hw1/dir.c", 100, &buf), SNAPSHOT_NOT_REGULAR);
	CHECK_INT(rd(rootfd, "w/hw1/passwd.c", 100000, &buf), SNAPSHOT_SYMLINK);
	CHECK_INT(rd(rootfd, "w/hw1/rel.c", 100000, &buf), SNAPSHOT_SYMLINK);
	CHECK_INT(rd(rootfd, "w/hw1/up.c", 100000, &buf), SNAPSHOT_SYMLINK);
	CHECK_INT(rd(rootfd, "w/hwlink/a.c", 100000, &buf), SNAPSHOT_SYMLINK);
	/* Not beneath the root: refused like a symlink. */
	CHECK_INT(rd(rootfd, "../etc/passwd", 100000, &buf), SNAPSHOT_SYMLINK);
	/* A file with two names: refused under both, whoever made the link
	 * (test_hardlink_outside shows why). */
	CHECK_INT(rd(rootfd, "w/hw1/hard.c", 100, &buf), SNAPSHOT_HARDLINK);
	CHECK(buf == NULL);
	CHECK_INT(rd(rootfd, "w/hw1/b.c", 100, &buf), SNAPSHOT_HARDLINK);
	CHECK(buf == NULL);
	/* Asked for an O_PATH fd, a trailing symlink is still refused. */
	errno = 0;
	CHECK_INT(snapshot_open_beneath(rootfd, "w/hw1/passwd.c", O_PATH), -ELOOP);
	CHECK_INT(errno, ELOOP);
}

static void test_read(void)
{
	char path[512];
	int rootfd;

	mk("w");
	mk("w/hw1");
	mk("w/hw1/dir.c");
	put("w/hw1/a.c", "int main;\n");
	put("w/hw1/empty.c", "");
	snprintf(path, sizeof(path), "%s/w/hw1/fifo.c", tmp);
	CHECK_INT(mkfifo(path, 0644), 0);
	snprintf(path, sizeof(path), "%s/w/hw1/passwd.c", tmp);
	CHECK_INT(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof(path), "%s/w/hw1/rel.c", tmp);
	CHECK_INT(symlink("a.c", path), 0);	/* even a harmless one */
	snprintf(path, sizeof(path), "%s/w/hw1/up.c", tmp);
	CHECK_INT(symlink("../../w/hw1/a.c", path), 0);
	snprintf(path, sizeof(path), "%s/w/hwlink", tmp);
	CHECK_INT(symlink("hw1", path), 0);	/* a symlinked directory */
	{
		char from[512];

		put("w/hw1/b.c", "int b;\n");
		snprintf(from, sizeof(from), "%s/w/hw1/b.c", tmp);
		snprintf(path, sizeof(path), "%s/w/hw1/hard.c", tmp);
		CHECK_INT(link(from, path), 0);
	}
	rootfd = open(tmp, O_PATH | O_DIRECTORY);
	CHECK(rootfd >= 0);
	check_reads(rootfd);
	/* Same answers from the openat walk (kernels without openat2). */
	snapshot_use_openat2(false);
	check_reads(rootfd);
	snapshot_use_openat2(true);
	close(rootfd);
}

/* ---- nothing but the student's own regular files is opened ------------- */

/* An inotify fd reporting every open and read of path.  fsnotify queues the
 * event before the open() that caused it returns, so an empty queue right
 * after snapshot_read() proves the file was never opened (O_PATH opens make
 * no event: they cannot read). */
static int watch_opens(const char *path)
{
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (ifd >= 0 && inotify_add_watch(ifd, path, IN_OPEN | IN_ACCESS) < 0) {
		close(ifd);
		return -1;
	}
	return ifd;
}

/* Bytes of events queued on ifd: 0 when nothing opened the file. */
static ssize_t opens_seen(int ifd)
{
	char ev[4096] __attribute__((aligned(8)));
	ssize_t n = read(ifd, ev, sizeof(ev));

	return n < 0 && errno == EAGAIN ? 0 : n;
}

static void mkws(const char *top)
{
	char rel[256];

	mk(top);
	snprintf(rel, sizeof(rel), "%s/os-1-1", top);
	mk(rel);
	snprintf(rel, sizeof(rel), "%s/os-1-1/hw1", top);
	mk(rel);
}

static int open_root(const char *top)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp, top);
	return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* `ln /secret hw1/x.c`: a root-only file given a name in a workspace is
 * neither read nor even opened, with either way of opening. */
static void test_hardlink_outside(void)
{
	char secret[512], path[512], *buf;
	int rootfd, ifd;
	size_t len;

	mkws("h");
	put("secret", "root:$6$salt$hash:20000::::::\n");
	snprintf(secret, sizeof(secret), "%s/secret", tmp);
	CHECK_INT(chmod(secret, 0600), 0);
	snprintf(path, sizeof(path), "%s/h/os-1-1/hw1/x.c", tmp);
	CHECK_INT(link(secret, path), 0);
	rootfd = open_root("h");
	ifd = watch_opens(secret);
	CHECK(rootfd >= 0 && ifd >= 0);
	for (int walk = 0; walk < 2; walk++) {
		snapshot_use_openat2(!walk);
		buf = NULL;
		len = 99;
		CHECK_INT(snapshot_read(rootfd, "os-1-1/hw1/x.c", 100000, &buf, &len),
			  SNAPSHOT_HARDLINK);
		CHECK(buf == NULL);
		CHECK_INT(len, 0);
		CHECK_INT(opens_seen(ifd), 0);
		free(buf);
	}
	snapshot_use_openat2(true);

	/* With its other name gone it is the student's own file again. */
	CHECK_INT(unlink(secret), 0);
	buf = NULL;
	CHECK_INT(snapshot_read(rootfd, "os-1-1/hw1/x.c", 100000, &buf, &len), SNAPSHOT_OK);
	CHECK_INT(len, 30);
	CHECK(buf && memcmp(buf, "root:$6$salt$hash:20000::::::\n", 30) == 0);
	free(buf);
	close(ifd);
	close(rootfd);
}

/* The system call pid is blocked in, from /proc/PID/syscall; -1 when it is
 * running or the file cannot be read. */
static long blocked_in(pid_t pid)
{
	char path[64], *s;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	s = support_slurp(path);
	if (!s || *s < '0' || *s > '9')
		return -1;
	return strtol(s, NULL, 10);
}

/* Wait (bounded; set-up, not an assertion) until pid sleeps in openat. */
static bool wait_blocked_in_open(pid_t pid)
{
	for (int i = 0; i < 10000; i++) {
		if (blocked_in(pid) == SYS_openat)
			return true;
		usleep(1000);
	}
	return false;
}

/* A FIFO named x.c whose writer waits in open() for a reader: opening it
 * for reading, even O_NONBLOCK, would release the writer.  The agent must
 * turn it away without opening it, so the writer is still waiting. */
static void test_fifo_not_opened(void)
{
	char path[512], *buf;
	int rootfd, ifd, status;
	size_t len;
	pid_t pid;

	mkws("f");
	snprintf(path, sizeof(path), "%s/f/os-1-1/hw1/x.c", tmp);
	CHECK_INT(mkfifo(path, 0666), 0);
	pid = fork();
	if (pid == 0)
		_exit(open(path, O_WRONLY) >= 0 ? 0 : 1);
	CHECK(pid > 0);
	CHECK(wait_blocked_in_open(pid));
	rootfd = open_root("f");
	ifd = watch_opens(path);
	CHECK(rootfd >= 0 && ifd >= 0);
	for (int walk = 0; walk < 2; walk++) {
		snapshot_use_openat2(!walk);
		buf = NULL;
		CHECK_INT(snapshot_read(rootfd, "os-1-1/hw1/x.c", 100000, &buf, &len),
			  SNAPSHOT_NOT_REGULAR);
		CHECK(buf == NULL);
		CHECK_INT(opens_seen(ifd), 0);
		CHECK_INT(waitpid(pid, &status, WNOHANG), 0);
		CHECK_INT(blocked_in(pid), SYS_openat);
	}
	snapshot_use_openat2(true);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(ifd);
	close(rootfd);
}

/* A device node (a student with CAP_MKNOD): NOT_REGULAR, never opened. */
static void test_device_not_opened(void)
{
	char path[512], *buf;
	int rootfd, ifd;
	size_t len;

	mkws("d");
	snprintf(path, sizeof(path), "%s/d/os-1-1/hw1/null.c", tmp);
	CHECK_INT(mknod(path, S_IFCHR | 0666, makedev(1, 3)), 0);
	rootfd = open_root("d");
	ifd = watch_opens(path);
	CHECK(rootfd >= 0 && ifd >= 0);
	for (int walk = 0; walk < 2; walk++) {
		snapshot_use_openat2(!walk);
		buf = NULL;
		CHECK_INT(snapshot_read(rootfd, "os-1-1/hw1/null.c", 100000, &buf, &len),
			  SNAPSHOT_NOT_REGULAR);
		CHECK(buf == NULL);
		CHECK_INT(opens_seen(ifd), 0);
	}
	snapshot_use_openat2(true);
	close(ifd);
	close(rootfd);
}

static atomic_bool stop_writing;

/* Version k of the churned file: "v%08u\n", then one letter chosen by k,
 * 1024..4023 bytes in all: each version differs from the next in length
 * and content, so a read that mixes two writes, or catches one half done,
 * cannot pass for a whole one. */
static size_t version_len(unsigned k)
{
	return 1024 + (k * 7) % 3000;
}

static void version_fill(unsigned k, char *buf)
{
	size_t len = version_len(k);

	memset(buf, 'a' + k % 26, len);
	snprintf(buf, 11, "v%08u\n", k % 100000000);
	buf[10] = (char)('a' + k % 26);
}

/* Is buf[0..len) exactly one whole version?  Empty is the moment between
 * O_TRUNC and the write: a real state of the file, not a torn read. */
static bool whole_version(const char *buf, size_t len)
{
	char want[4096];
	unsigned k;

	if (len == 0)
		return true;
	if (len < 10 || sscanf(buf, "v%8u\n", &k) != 1 || len != version_len(k))
		return false;
	version_fill(k, want);
	return memcmp(buf, want, len) == 0;
}

/* Keep rewriting a file in place, one whole version per write(), until
 * told to stop. */
static void *churn(void *arg)
{
	const char *path = arg;
	char buf[4096];
	unsigned k = 1;

	while (!atomic_load(&stop_writing)) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0)
			break;
		version_fill(k, buf);
		if (write(fd, buf, version_len(k)) < 0)
			k++;
		k++;
		close(fd);
	}
	return NULL;
}

/* A file changing under the reader is reported unstable, never returned
 * torn: every OK read is exactly one whole write. */
static void test_read_unstable(void)
{
	char path[512], first[4096], *buf;
	int rootfd = open(tmp, O_PATH | O_DIRECTORY), unstable = 0, torn = 0, ok = 0;
	pthread_t th;
	size_t len;

	mk("u");
	snprintf(path, sizeof(path), "%s/u/busy.c", tmp);
	version_fill(0, first);
	first[version_len(0)] = '\0';
	put("u/busy.c", first);
	/* The check itself rejects a torn or mixed version. */
	CHECK(whole_version(first, version_len(0)));
	CHECK(!whole_version(first, version_len(0) - 1));
	first[700] = 'b';
	CHECK(!whole_version(first, version_len(0)));
	atomic_store(&stop_writing, false);
	pthread_create(&th, NULL, churn, path);
	/* At least 2000 reads, so many whole ones are checked too. */
	for (int i = 0; i < 20000 && (unstable == 0 || i < 2000); i++) {
		enum snapshot_status st = snapshot_read(rootfd, "u/busy.c", 100000, &buf, &len);

		if (st == SNAPSHOT_UNSTABLE)
			unstable++;
		if (st == SNAPSHOT_OK) {
			ok++;
			if (!whole_version(buf, len)) {
				torn++;
				fprintf(stderr, "torn read: %zu bytes, starting \"%.10s\"\n", len, buf);
			}
			free(buf);
		}
	}
	atomic_store(&stop_writing, true);
	pthread_join(th, NULL);
	close(rootfd);
	CHECK(unstable > 0);
	CHECK_INT(torn, 0);
	fprintf(stderr, "%d whole reads, %d unstable\n", ok, unstable);
}

static void test_write(void)
{
	struct snapshot_target t;
	char base[300], ts[SNAPSHOT_TS_LEN], path[700], dir[600];
	struct stat st;

	snprintf(base, sizeof(base), "%s/snap/base", tmp);
	snapshot_target_parse("os-1-202012345/hw1/src/util/a.c", 20, &t);
	snprintf(dir, sizeof(dir), "%s/os-1/hw1/202012345/src@util@a.c", base);

	CHECK_INT(snapshot_write(base, &t, "v1", 2, 1795451326, ts, sizeof(ts)), 0);
	CHECK_STR(ts, "20261123_162846");
	snprintf(path, sizeof(path), "%s/20261123_162846.c", dir);
	CHECK_STR(support_slurp(path), "v1");
	CHECK_INT(stat(dir, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0755);

	/* Same second: never overwritten, numbered after a '.'. */
	CHECK_INT(snapshot_write(base, &t, "v2", 2, 1795451326, ts, sizeof(ts)), 0);
	CHECK_STR(ts, "20261123_162846.1");
	CHECK_INT(snapshot_write(base, &t, "", 0, 1795451326, ts, sizeof(ts)), 0);
	CHECK_STR(ts, "20261123_162846.2");
	CHECK_STR(support_slurp(path), "v1");
	snprintf(path, sizeof(path), "%s/20261123_162846.1.c", dir);
	CHECK_STR(support_slurp(path), "v2");
	snprintf(path, sizeof(path), "%s/20261123_162846.2.c", dir);
	CHECK_STR(support_slurp(path), "");
	CHECK_INT(support_count_entries(dir), 3);	/* no temp file left behind */

	CHECK_INT(snapshot_write(base, &t, "v3", 2, 1795451327, ts, sizeof(ts)), 0);
	CHECK_STR(ts, "20261123_162847");

	/* A name that is not one component is refused. */
	snprintf(t.filename, sizeof(t.filename), "..");
	CHECK_INT(snapshot_write(base, &t, "x", 1, 1795451327, ts, sizeof(ts)), -EINVAL);
}

/* Snapshots are not world-readable by default, and take the configured
 * mode and owner (before they get a name, so never visible otherwise). */
static void test_write_mode(void)
{
	struct snapshot_perms perms = { .mode = 0604, .uid = 1234, .gid = 5678 };
	char base[300], ts[SNAPSHOT_TS_LEN], path[700], dir[600];
	struct snapshot_target t;
	mode_t old = umask(0);	/* the mode must not depend on the umask */
	struct stat st;

	snprintf(base, sizeof(base), "%s/snapmode", tmp);
	snapshot_target_parse("os-1-202012345/hw2/m.c", 20, &t);
	snprintf(dir, sizeof(dir), "%s/os-1/hw2/202012345/m.c", base);

	CHECK_INT(snapshot_write(base, &t, "v1", 2, 1795451326, ts, sizeof(ts)), 0);
	snprintf(path, sizeof(path), "%s/20261123_162846.c", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0640);
	CHECK_INT(st.st_uid, getuid());
	CHECK_INT(st.st_gid, getgid());

	CHECK_INT(snapshot_write_perms(base, &t, &perms, "v2", 2, 1795451326, ts, sizeof(ts)), 0);
	CHECK_STR(ts, "20261123_162846.1");
	snprintf(path, sizeof(path), "%s/20261123_162846.1.c", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0604);
	CHECK_INT(st.st_uid, 1234);
	CHECK_INT(st.st_gid, 5678);
	CHECK_STR(support_slurp(path), "v2");

	/* -1 leaves that id as created. */
	perms = (struct snapshot_perms){ .mode = 0600, .uid = -1, .gid = 4321 };
	CHECK_INT(snapshot_write_perms(base, &t, &perms, "v3", 2, 1795451326, ts, sizeof(ts)), 0);
	snprintf(path, sizeof(path), "%s/20261123_162846.2.c", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(st.st_uid, getuid());
	CHECK_INT(st.st_gid, 4321);
	CHECK_INT(support_count_entries(dir), 3);
	umask(old);
}

/* @-joined names longer than a file name may be: a prefix, '~', the
 * FNV-1a 64 hash of the whole name, the extension; exactly 255 bytes or
 * less.  Expected hashes computed independently (Python). */
static void test_long_name(void)
{
	char rel[1024], want[512], base[300], path[1600], ts[SNAPSHOT_TS_LEN], *s;
	char a150[151], b147[148], c150[151], d102[103], ga80[241], na20[61];
	struct snapshot_target t;

	memset(a150, 'a', 150);
	a150[150] = '\0';
	memset(b147, 'b', 147);
	b147[147] = '\0';
	snprintf(rel, sizeof(rel), "os-1-202012345/hw1/%s/%s.c", a150, b147);
	CHECK_INT(snapshot_target_parse(rel, 20, &t), 0);
	snprintf(want, sizeof(want), "%s@%.85s~d53118b77b4d1ec2.c", a150, b147);
	CHECK_INT(strlen(want), 255);
	CHECK_STR(t.filename, want);
	CHECK_STR(t.ext, ".c");

	snprintf(base, sizeof(base), "%s/snaplong", tmp);
	CHECK_INT(snapshot_write(base, &t, "long", 4, 1795451326, ts, sizeof(ts)), 0);
	CHECK_STR(ts, "20261123_162846");
	snprintf(path, sizeof(path), "%s/os-1/hw1/202012345/%s/20261123_162846.c", base, want);
	CHECK_STR(support_slurp(path), "long");
	s = snapshot_record_path(&t, ts);
	snprintf(path, sizeof(path), "/api/os-1/hw1/202012345/%s%%40%.85s~d53118b77b4d1ec2.c/"
		 "20261123_162846", a150, b147);
	CHECK_STR(s, path);
	free(s);

	/* The cut never splits a UTF-8 character (3 bytes each here). */
	ga80[0] = na20[0] = '\0';
	for (int i = 0; i < 80; i++)
		strcat(ga80, "\xea\xb0\x80");	/* U+AC00 */
	for (int i = 0; i < 20; i++)
		strcat(na20, "\xeb\x82\x98");	/* U+B098 */
	snprintf(rel, sizeof(rel), "os-1-202012345/hw1/%s/%s.py", ga80, na20);
	CHECK_INT(snapshot_target_parse(rel, 20, &t), 0);
	snprintf(want, sizeof(want), "%.234s~bcd4e6b95c361654.py", ga80);
	CHECK_STR(t.filename, want);

	/* 255 bytes exactly fits and is kept. */
	memset(c150, 'c', 150);
	c150[150] = '\0';
	memset(d102, 'd', 102);
	d102[102] = '\0';
	snprintf(rel, sizeof(rel), "os-1-202012345/hw1/%s/%s.c", c150, d102);
	CHECK_INT(snapshot_target_parse(rel, 20, &t), 0);
	snprintf(want, sizeof(want), "%s@%s.c", c150, d102);
	CHECK_STR(t.filename, want);
	CHECK_INT(snapshot_write(base, &t, "fits", 4, 1795451326, ts, sizeof(ts)), 0);
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test_snapshot.XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	RUN(test_target_parse);
	RUN(test_dir_wanted);
	RUN(test_naming);
	RUN(test_encode_every_byte);
	RUN(test_read);
	RUN(test_hardlink_outside);
	RUN(test_fifo_not_opened);
	RUN(test_device_not_opened);
	RUN(test_read_unstable);
	RUN(test_write);
	RUN(test_write_mode);
	RUN(test_long_name);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmp);
	}
	return TEST_DONE();
}
