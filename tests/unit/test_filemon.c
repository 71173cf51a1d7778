/*
 * test_filemon.c - filemon end to end on real files and real inotify: a
 * workspace tree in a temp dir, filemon on an in-process loop, the real
 * sender POSTing to a loopback receiver.  Every case checks the exact URL,
 * body and snapshot file, and that nothing else arrived.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "event_id.h"
#include "filemon.h"
#include "identity.h"
#include "log.h"
#include "loop.h"
#include "metrics_testing.h"
#include "receiver.h"
#include "sender.h"
#include "support.h"
#include "testlib.h"

#define WS "os-1-202012345"
#define API "/api/os-1/hw1/202012345/"
#define WINDOW_MS 100
#define MAX_WAIT_MS 500
#define SETTLE_MS 400		/* > window: long enough for a stray record to show */

static char tmp[200], root[256], snap[256];
static struct loop *loop;
static struct receiver *rx;
static struct sender *snd;
static struct filemon *fm;
static size_t seen;		/* records already checked */

/* ---- helpers ------------------------------------------------------------ */

static void pump(int ms)
{
	double until = support_now() + ms / 1000.0;

	while (support_now() < until)
		loop_run_once(loop, 10);
}

/* Turn the loop until n more records arrived (or 5 s), then SETTLE_MS more
 * so an extra record would be noticed.  Returns how many new ones came. */
static size_t expect(size_t n)
{
	double until = support_now() + 5.0;

	while (receiver_count(rx) < seen + n && support_now() < until)
		loop_run_once(loop, 10);
	pump(SETTLE_MS);
	if (receiver_count(rx) - seen != n) {
		for (size_t i = seen; i < receiver_count(rx); i++) {
			struct received rc;

			if (receiver_get(rx, i, &rc) == 0)
				fprintf(stderr, "  got %s %s\n", rc.url, rc.body);
			received_free(&rc);
		}
	}
	return receiver_count(rx) - seen;
}

static void path_of(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", root, rel);
}

static void put(const char *rel, const char *content)
{
	char p[512];
	int fd;

	path_of(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", p, strerror(errno));
		return;
	}
	if (write(fd, content, strlen(content)) < 0)
		fprintf(stderr, "write %s: %s\n", p, strerror(errno));
	close(fd);
}

static void mkdirs(const char *rel)
{
	char p[512], *s;

	path_of(p, sizeof(p), rel);
	for (s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
}

static void ren(const char *from, const char *to)
{
	char a[512], b[512];

	path_of(a, sizeof(a), from);
	path_of(b, sizeof(b), to);
	if (rename(a, b) < 0)
		fprintf(stderr, "rename %s: %s\n", a, strerror(errno));
}

static void rm(const char *rel)
{
	char p[512];

	path_of(p, sizeof(p), rel);
	unlink(p);
}

/* "YYYYMMDD_HHMMSS" before the first '.', as the backend parses it. */
static int ts_parseable(const char *ts)
{
	char head[32];
	struct tm tm;
	const char *end;

	snprintf(head, sizeof(head), "%.*s", (int)strcspn(ts, "."), ts);
	memset(&tm, 0, sizeof(tm));
	end = strptime(head, "%Y%m%d_%H%M%S", &tm);
	return end && *end == '\0' && strlen(head) == 15;
}

/*
 * Check record i (relative to seen): URL is api + filename + "/" + ts (the
 * receiver sees the path percent-decoded; test_snapshot checks the wire
 * encoding), body is
 * body, and the snapshot file {filename}/{ts}{ext} holds content.  The
 * timestamp goes to ts_out (may be NULL).
 */
/* The body minus its event_id, which must be a fresh id of this boot; the
 * rest is compared exactly. */
static char *body_sans_id(const char *body)
{
	static char *last;
	static char prev_id[EVENT_ID_LEN];
	json_t *o = json_loads(body, 0, NULL);
	const char *id = json_string_value(json_object_get(o, "event_id"));

	CHECK(id && strncmp(id, event_boot_id(), strlen(event_boot_id())) == 0);
	CHECK(id && strcmp(id, prev_id) != 0);
	snprintf(prev_id, sizeof(prev_id), "%s", id ? id : "");
	json_object_del(o, "event_id");
	free(last);
	last = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return last;
}

static void check_record(size_t i, const char *api, const char *filename, const char *ext,
			 const char *body, const char *content, char *ts_out)
{
	struct received rc;
	char prefix[512], file[1024];
	const char *ts;

	CHECK_INT(receiver_get(rx, seen + i, &rc), 0);
	if (!rc.url)
		return;
	snprintf(prefix, sizeof(prefix), "%s%s/", api, filename);
	CHECK_STR(rc.method, "POST");
	CHECK_INT(strncmp(rc.url, prefix, strlen(prefix)), 0);
	if (strncmp(rc.url, prefix, strlen(prefix)) != 0)
		fprintf(stderr, "  url %s, want prefix %s\n", rc.url, prefix);
	ts = rc.url + strlen(prefix);
	CHECK(ts_parseable(ts));
	CHECK_STR(body_sans_id(rc.body), body);
	CHECK_STR(rc.content_type, "application/json");
	/* api is "/api/{class_div}/{hw}/{id}/": the same directories on disk. */
	snprintf(file, sizeof(file), "%s/%s%s/%s%s", snap, api + strlen("/api/"), filename, ts,
		 ext);
	CHECK_STR(support_slurp(file), content);
	if (ts_out)
		snprintf(ts_out, 32, "%s", ts);
	received_free(&rc);
}

static double skipped(const char *reason)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
	return metrics_sample(SERVICE_FILEMON, "filemon_skipped_total", labels);
}

/* ---- cases --------------------------------------------------------------- */

static void test_save(void)
{
	put(WS "/hw1/main.c", "int main(void) { return 0; }\n");
	CHECK_INT(expect(1), 1);
	check_record(0, API, "main.c", ".c", "{\"bytes\":29,\"event\":\"modified\"}",
		     "int main(void) { return 0; }\n", NULL);
	seen = receiver_count(rx);
}

static void test_rapid_saves(void)
{
	char v[32];

	/* Five saves 20 ms apart: one window, one snapshot, the last content. */
	for (int i = 1; i <= 5; i++) {
		snprintf(v, sizeof(v), "version %d\n", i);
		put(WS "/hw1/rapid.py", v);
		pump(20);
	}
	CHECK_INT(expect(1), 1);
	check_record(0, API, "rapid.py", ".py", "{\"bytes\":10,\"event\":\"modified\"}",
		     "version 5\n", NULL);
	seen = receiver_count(rx);

	/* Never quiet for 1.2 s: the max wait (500 ms) still captures it. */
	for (int i = 0; i < 24; i++) {
		snprintf(v, sizeof(v), "busy %02d\n", i);
		put(WS "/hw1/busy.py", v);
		pump(50);
	}
	pump(SETTLE_MS);
	CHECK(receiver_count(rx) - seen >= 2);
	CHECK(receiver_count(rx) - seen <= 4);
	seen = receiver_count(rx);
}

static void test_rename_saves(void)
{
	/* vim (backupcopy=no): probe 4913, x.c -> x.c~, write x.c, drop x.c~. */
	put(WS "/hw1/vim.c", "old\n");
	CHECK_INT(expect(1), 1);
	seen = receiver_count(rx);
	put(WS "/hw1/4913", "");
	rm(WS "/hw1/4913");
	ren(WS "/hw1/vim.c", WS "/hw1/vim.c~");
	put(WS "/hw1/vim.c", "new from vim\n");
	rm(WS "/hw1/vim.c~");
	CHECK_INT(expect(1), 1);
	check_record(0, API, "vim.c", ".c", "{\"bytes\":13,\"event\":\"modified\"}",
		     "new from vim\n", NULL);
	seen = receiver_count(rx);

	/* VS Code / code-server: write a hidden temp file, rename it over. */
	put(WS "/hw1/code.c", "v1\n");
	CHECK_INT(expect(1), 1);
	seen = receiver_count(rx);
	put(WS "/hw1/.code.c.tmp", "v2 from code\n");
	ren(WS "/hw1/.code.c.tmp", WS "/hw1/code.c");
	CHECK_INT(expect(1), 1);
	check_record(0, API, "code.c", ".c", "{\"bytes\":13,\"event\":\"modified\"}",
		     "v2 from code\n", NULL);
	seen = receiver_count(rx);
}

static void test_new_directories(void)
{
	char a[512], b[512];
	size_t watches = filemon_watch_count(fm);

	/* mkdir -p and write at once: the file exists before the watch does. */
	mkdirs(WS "/hw1/new/sub");
	put(WS "/hw1/new/sub/f.c", "fresh\n");
	CHECK_INT(expect(1), 1);
	check_record(0, API, "new@sub@f.c", ".c",
		     "{\"bytes\":6,\"event\":\"modified\"}", "fresh\n", NULL);
	seen = receiver_count(rx);
	CHECK_INT(filemon_watch_count(fm), watches + 2);

	/* A prepared directory renamed into hw1. */
	snprintf(a, sizeof(a), "%s/prep", tmp);
	mkdir(a, 0755);
	snprintf(b, sizeof(b), "%s/prep/g.c", tmp);
	FILE *f = fopen(b, "w");

	if (f) {
		fputs("moved in\n", f);
		fclose(f);
	}
	path_of(b, sizeof(b), WS "/hw1/moved");
	CHECK_INT(rename(a, b), 0);
	CHECK_INT(expect(1), 1);
	check_record(0, API, "moved@g.c", ".c",
		     "{\"bytes\":9,\"event\":\"modified\"}", "moved in\n", NULL);
	seen = receiver_count(rx);

	/* A whole new student workspace appearing in one go. */
	mkdirs("ds-2-555/hw2");
	put("ds-2-555/hw2/z.py", "print(1)\n");
	CHECK_INT(expect(1), 1);
	check_record(0, "/api/ds-2/hw2/555/", "z.py", ".py",
		     "{\"bytes\":9,\"event\":\"modified\"}", "print(1)\n", NULL);
	seen = receiver_count(rx);
}

static void test_nested(void)
{
	mkdirs(WS "/hw1/src/util");
	pump(50);
	put(WS "/hw1/src/util/a.c", "nested\n");
	CHECK_INT(expect(1), 1);
	check_record(0, API, "src@util@a.c", ".c",
		     "{\"bytes\":7,\"event\":\"modified\"}", "nested\n", NULL);
	seen = receiver_count(rx);
	/* Six components is the deepest captured; seven is not. */
	mkdirs(WS "/hw1/a/b/c/d");
	pump(50);
	put(WS "/hw1/a/b/c/six.c", "6\n");
	put(WS "/hw1/a/b/c/d/seven.c", "7\n");
	CHECK_INT(expect(1), 1);
	check_record(0, API, "a@b@c@six.c", ".c",
		     "{\"bytes\":2,\"event\":\"modified\"}", "6\n", NULL);
	seen = receiver_count(rx);
}

static void test_delete(void)
{
	rm(WS "/hw1/main.c");
	CHECK_INT(expect(1), 1);
	check_record(0, API, "main.c", ".c", "{\"bytes\":0,\"event\":\"deleted\"}", "",
		     NULL);
	seen = receiver_count(rx);

	/* Moving a file away is a deletion too; moving it in, a change. */
	ren(WS "/hw1/rapid.py", WS "/hw1/renamed.py");
	CHECK_INT(expect(2), 2);
	{
		struct received r0, r1;
		int del_first;

		receiver_get(rx, seen, &r0);
		receiver_get(rx, seen + 1, &r1);
		del_first = r0.url && strstr(r0.url, "/rapid.py/") != NULL;
		check_record(del_first ? 0 : 1, API, "rapid.py", ".py",
			     "{\"bytes\":0,\"event\":\"deleted\"}", "", NULL);
		check_record(del_first ? 1 : 0, API, "renamed.py", ".py",
			     "{\"bytes\":10,\"event\":\"modified\"}", "version 5\n", NULL);
		received_free(&r0);
		received_free(&r1);
	}
	seen = receiver_count(rx);

	/* Replaced by a symlink: the file we snapshot is gone, and the link
	 * is never followed. */
	{
		char p[512];

		put(WS "/hw1/swap.c", "int swap;\n");
		CHECK_INT(expect(1), 1);
		seen = receiver_count(rx);
		path_of(p, sizeof(p), WS "/hw1/swap.c");
		CHECK_INT(unlink(p), 0);
		CHECK_INT(symlink("/etc/passwd", p), 0);
		CHECK_INT(expect(1), 1);
		check_record(0, API, "swap.c", ".c", "{\"bytes\":0,\"event\":\"deleted\"}", "",
			     NULL);
		seen = receiver_count(rx);
	}
}

static void test_size_limit(void)
{
	char big[2100];
	double before = skipped("size");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(WS "/hw1/big.c", big);
	CHECK_INT(expect(0), 0);
	CHECK_DBL(skipped("size") - before, 1, 0);
}

static void test_ignored(void)
{
	size_t watches = filemon_watch_count(fm);
	double filtered = metrics_sample(SERVICE_FILEMON, "filemon_filtered_total", "");

	mkdirs(WS "/hw1/.venv/lib");
	mkdirs(WS "/hw1/.cache");
	mkdirs(WS "/hw1/venv/site-packages");
	mkdirs(WS "/hw1/lib");
	mkdirs(WS "/hw1/env");
	mkdirs(WS "/notes");
	pump(50);
	put(WS "/hw1/.venv/x.py", "x\n");
	put(WS "/hw1/.venv/lib/x.py", "x\n");
	put(WS "/hw1/.cache/x.py", "x\n");
	put(WS "/hw1/venv/site-packages/x.py", "x\n");
	put(WS "/hw1/lib/x.c", "x\n");
	put(WS "/hw1/env/x.py", "x\n");
	put(WS "/notes/x.c", "x\n");
	put(WS "/hw1/notes.txt", "x\n");
	put(WS "/hw1/x.c~", "x\n");
	put(WS "/hw1/.x.c.swp", "x\n");
	put(WS "/x.c", "x\n");
	put("not-a-workspace.c", "x\n");
	CHECK_INT(expect(0), 0);
	/* Only venv/ is a directory worth watching; the rest cost nothing. */
	CHECK_INT(filemon_watch_count(fm), watches + 1);
	CHECK(metrics_sample(SERVICE_FILEMON, "filemon_filtered_total", "") > filtered);
}

static void test_symlinks(void)
{
	char p[512], other[512];
	double before = skipped("symlink");

	path_of(p, sizeof(p), WS "/hw1/evil.c");
	CHECK_INT(symlink("/etc/passwd", p), 0);
	mkdirs("os-1-202099999/hw1");
	put("os-1-202099999/hw1/secret.c", "other student's work\n");
	CHECK_INT(expect(1), 1);	/* the other student's own save */
	seen = receiver_count(rx);
	path_of(other, sizeof(other), "os-1-202099999/hw1/secret.c");
	path_of(p, sizeof(p), WS "/hw1/steal.c");
	CHECK_INT(symlink(other, p), 0);
	/* A directory symlink: never followed, never watched. */
	path_of(p, sizeof(p), WS "/hw2");
	path_of(other, sizeof(other), "os-1-202099999/hw1");
	CHECK_INT(symlink(other, p), 0);
	CHECK_INT(expect(0), 0);
	CHECK_DBL(skipped("symlink") - before, 2, 0);
}

static void test_fifo(void)
{
	char p[512];
	double before = skipped("not_regular");

	path_of(p, sizeof(p), WS "/hw1/pipe.c");
	CHECK_INT(mkfifo(p, 0644), 0);
	CHECK_INT(expect(0), 0);	/* and we got here: no hang */
	CHECK_DBL(skipped("not_regular") - before, 1, 0);
}

/* ln /secret hw1/x.c: the root-only file is never copied out. */
static void test_hardlink(void)
{
	char secret[512], p[512];
	double before = skipped("hardlink");

	put("../secret", "root only\n");	/* beside the root, not below it */
	snprintf(secret, sizeof(secret), "%s/secret", tmp);
	CHECK_INT(chmod(secret, 0600), 0);
	path_of(p, sizeof(p), WS "/hw1/x.c");
	CHECK_INT(link(secret, p), 0);
	CHECK_INT(expect(0), 0);
	CHECK_DBL(skipped("hardlink") - before, 1, 0);
	CHECK_INT(unlink(p), 0);
	CHECK_INT(expect(1), 1);	/* the deletion of x.c, which was never read */
	seen = receiver_count(rx);
}

static void test_same_second(void)
{
	char ts1[32], ts2[32], dir[512];
	struct timespec now;

	/* Start early in a second so both saves land in it. */
	do {
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_nsec > 100000000L)
			usleep((useconds_t)((1000000000L - now.tv_nsec) / 1000));
		clock_gettime(CLOCK_REALTIME, &now);
	} while (now.tv_nsec > 100000000L);
	put(WS "/hw1/twice.c", "first\n");
	pump(WINDOW_MS + 60);
	put(WS "/hw1/twice.c", "second\n");
	CHECK_INT(expect(2), 2);
	check_record(0, API, "twice.c", ".c", "{\"bytes\":6,\"event\":\"modified\"}",
		     "first\n", ts1);
	check_record(1, API, "twice.c", ".c", "{\"bytes\":7,\"event\":\"modified\"}",
		     "second\n", ts2);
	CHECK(strcmp(ts1, ts2) != 0);
	CHECK(ts_parseable(ts1) && ts_parseable(ts2));
	if (strncmp(ts1, ts2, 15) == 0) {
		char want[40];

		snprintf(want, sizeof(want), "%.15s.1", ts1);
		CHECK_STR(ts2, want);
	} else {
		fprintf(stderr, "  (saves crossed a second: %s %s)\n", ts1, ts2);
	}
	snprintf(dir, sizeof(dir), "%s/os-1/hw1/202012345/twice.c", snap);
	{
		char f1[600], f2[600];

		snprintf(f1, sizeof(f1), "%s/%s.c", dir, ts1);
		snprintf(f2, sizeof(f2), "%s/%s.c", dir, ts2);
		CHECK_STR(support_slurp(f1), "first\n");
		CHECK_STR(support_slurp(f2), "second\n");
	}
	seen = receiver_count(rx);
}

static void test_dir_removed(void)
{
	size_t watches = filemon_watch_count(fm);
	char cmd[600];
	FILE *f;

	/* rm -rf: the file in it is a deletion, its watches go. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/" WS "/hw1/a'", root);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(expect(1), 1);
	check_record(0, API, "a@b@c@six.c", ".c",
		     "{\"bytes\":0,\"event\":\"deleted\"}", "", NULL);
	seen = receiver_count(rx);
	CHECK_INT(filemon_watch_count(fm), watches - 3);	/* a, a/b, a/b/c */

	/* A directory moved out of the tree takes its watches along, and
	 * what is written there afterwards is none of our business. */
	snprintf(cmd, sizeof(cmd), "mv '%s/" WS "/hw1/new' '%s/gone'", root, tmp);
	CHECK_INT(system(cmd), 0);
	pump(50);
	CHECK_INT(filemon_watch_count(fm), watches - 5);
	snprintf(cmd, sizeof(cmd), "%s/gone/sub/f.c", tmp);
	f = fopen(cmd, "w");
	if (f) {
		fputs("outside\n", f);
		fclose(f);
	}
	CHECK_INT(expect(0), 0);
	seen = receiver_count(rx);
}

static long read_long(const char *path)
{
	char *s = support_slurp(path);

	return s ? atol(s) : 16384;
}

static void test_overflow(void)
{
	long limit = read_long("/proc/sys/fs/inotify/max_queued_events");
	char a[512], b[512];
	int fa, fb;

	/* Alternate two files so inotify cannot merge the events, without
	 * turning the loop: the queue overflows. */
	pump(1200);	/* older saves are outside the rescan's slack */
	path_of(a, sizeof(a), WS "/hw1/ov_a.c");
	path_of(b, sizeof(b), WS "/hw1/ov_b.c");
	fa = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	fb = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fa >= 0 && fb >= 0);
	for (long i = 0; i < limit / 2 + 1000; i++) {
		if (pwrite(fa, "a", 1, 0) < 0 || pwrite(fb, "b", 1, 0) < 0)
			break;
	}
	close(fa);
	close(fb);
	CHECK_INT(expect(2), 2);
	CHECK(metrics_sample(SERVICE_FILEMON, "filemon_queue_overflows_total", "") >= 1);
	for (size_t i = 0; i < 2; i++) {
		struct received rc;

		if (receiver_get(rx, seen + i, &rc) < 0)
			continue;
		CHECK_STR(body_sans_id(rc.body), "{\"bytes\":1,\"event\":\"modified\"}");
		CHECK(strstr(rc.url, "/ov_a.c/") || strstr(rc.url, "/ov_b.c/"));
		received_free(&rc);
	}
	seen = receiver_count(rx);
	/* Still watching afterwards. */
	put(WS "/hw1/after.c", "ok\n");
	CHECK_INT(expect(1), 1);
	check_record(0, API, "after.c", ".c", "{\"bytes\":3,\"event\":\"modified\"}",
		     "ok\n", NULL);
	seen = receiver_count(rx);
}

static void test_stop_flushes(void)
{
	put(WS "/hw1/last.c", "pending at stop\n");
	pump(40);	/* inside the window, but a clock tick or more before the stop */
	filemon_stop(fm);
	fm = NULL;
	sender_drain(snd, 5000);
	CHECK_INT(receiver_count(rx) - seen, 1);
	check_record(0, API, "last.c", ".c", "{\"bytes\":16,\"event\":\"modified\"}",
		     "pending at stop\n", NULL);
	seen = receiver_count(rx);
}

/* The filemon every test here runs: short windows, a 2000-byte limit. */
static struct filemon_config test_config(void)
{
	return (struct filemon_config){
		.watch_root = root, .snapshot_base = snap, .max_file_size = 2000,
		.debounce_window_ms = WINDOW_MS, .debounce_max_wait_ms = MAX_WAIT_MS, .hw_max = 20,
	};
}

/* Saved while the agent was down: caught up at the next start, and only
 * that file (the others were snapshotted before the stop). */
static void test_catch_up(void)
{
	struct filemon_config cfg = test_config();
	char err[256];

	put(WS "/hw1/offline.c", "written while down\n");
	fm = filemon_start(loop, &cfg, snd, err, sizeof(err));
	CHECK(fm != NULL);
	if (!fm)
		return;
	CHECK_INT(expect(1), 1);
	check_record(0, API, "offline.c", ".c", "{\"bytes\":19,\"event\":\"modified\"}",
		     "written while down\n", NULL);
	seen = receiver_count(rx);
	filemon_stop(fm);
	fm = NULL;
}

/* The snapshot file's mode and owner are the configured ones, set before
 * the file had its name (umask 0 would otherwise leave it wider). */
static void test_perms(void)
{
	struct filemon_config cfg = test_config();
	char err[256], ts[32], file[1024];
	struct stat st;
	mode_t old = umask(0);

	cfg.perms = &(struct snapshot_perms){ .mode = 0604, .uid = 1234, .gid = 5678 };
	fm = filemon_start(loop, &cfg, snd, err, sizeof(err));
	CHECK(fm != NULL);
	if (!fm)
		return;
	put(WS "/hw1/perm.c", "mode\n");
	CHECK_INT(expect(1), 1);
	check_record(0, API, "perm.c", ".c", "{\"bytes\":5,\"event\":\"modified\"}", "mode\n",
		     ts);
	snprintf(file, sizeof(file), "%s/os-1/hw1/202012345/perm.c/%s.c", snap, ts);
	CHECK_INT(stat(file, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0604);
	CHECK_INT(st.st_uid, 1234);
	CHECK_INT(st.st_gid, 5678);
	seen = receiver_count(rx);
	filemon_stop(fm);
	fm = NULL;
	umask(old);
}

#define OTHER "os-1-202099999"
#define OTHER_API "/api/os-1/hw1/202099999/"

static double ws_metric(const char *name, const char *labels)
{
	return metrics_sample(SERVICE_FILEMON, name, labels);
}

/*
 * A node watching its own students: WS listed, OTHER not until procmon
 * says it runs here.  The node's marker is its own (marker_dir); the first
 * time it starts from the shared one, and the catch-up covers WS only.
 */
static void test_scoped(void)
{
	struct filemon_config cfg = test_config();
	char *students[] = { WS };
	char state[300], marker[400], err[256];
	struct identity id;
	struct stat st;
	size_t before;

	snprintf(state, sizeof(state), "%s/state", tmp);
	mkdir(state, 0755);
	snprintf(marker, sizeof(marker), "%s/.jcode-watcher-alive", state);
	cfg.scoped = true;
	cfg.students = students;
	cfg.nstudents = 1;
	cfg.marker_dir = state;
	mkdirs(OTHER "/hw1");
	put(WS "/hw1/down.c", "saved while down\n");
	put(OTHER "/hw1/other.c", "saved on another node\n");
	metrics_reset();
	fm = filemon_start(loop, &cfg, snd, err, sizeof(err));
	CHECK(fm != NULL);
	if (!fm)
		return;
	before = filemon_watch_count(fm);	/* root and WS's tree (earlier tests grew it) */
	CHECK_INT(filemon_workspace_count(fm), 1);
	CHECK_DBL(ws_metric("filemon_workspaces_current", ""), 1, 0);
	CHECK_INT(expect(1), 1);
	check_record(0, API, "down.c", ".c", "{\"bytes\":17,\"event\":\"modified\"}",
		     "saved while down\n", NULL);
	seen = receiver_count(rx);
	put(OTHER "/hw1/unseen.c", "not watched yet\n");
	/* Older than the seconds a newly seen workspace takes as changes. */
	pump(2200);
	CHECK_INT(receiver_count(rx) - seen, 0);

	CHECK_INT(identity_parse_workspace(OTHER, &id), 0);
	filemon_student_seen(fm, &id);
	filemon_student_seen(fm, &id);	/* once is enough */
	CHECK_INT(filemon_watch_count(fm) - before, 2);	/* OTHER, OTHER/hw1 */
	CHECK_INT(filemon_workspace_count(fm), 2);
	CHECK_DBL(ws_metric("filemon_workspaces_added_total", ""), 1, 0);
	put(OTHER "/hw1/seen.c", "watched\n");
	CHECK_INT(expect(1), 1);
	check_record(0, OTHER_API, "seen.c", ".c", "{\"bytes\":8,\"event\":\"modified\"}",
		     "watched\n", NULL);
	seen = receiver_count(rx);

	/* A student with no workspace here: none is made. */
	CHECK_INT(identity_parse_workspace("os-1-404", &id), 0);
	filemon_student_seen(fm, &id);
	CHECK_DBL(ws_metric("filemon_workspaces_refused_total", "reason=\"missing\""), 1, 0);
	CHECK_DBL(ws_metric("filemon_workspaces_refused_total", "reason=\"limit\""), 0, 0);
	CHECK_INT(filemon_workspace_count(fm), 2);
	filemon_stop(fm);
	fm = NULL;
	CHECK_INT(stat(marker, &st), 0);
	CHECK_DBL(ws_metric("filemon_workspaces_current", ""), 0, 0);
}

/*
 * A learned workspace whose student is gone (no process in this test's
 * empty /proc) is dropped after WORKSPACE_IDLE_SECONDS; a save still in its
 * debounce window then is snapshotted all the same, and later saves are not.
 */
static void test_scoped_drop(void)
{
	struct filemon_config cfg = test_config();
	char proc[300], err[256];
	struct identity id;
	size_t before;
	double until;

	snprintf(proc, sizeof(proc), "%s/empty-proc", tmp);
	mkdir(proc, 0755);
	cfg.scoped = true;
	cfg.proc = proc;
	cfg.workspace_idle_ms = 1000;
	cfg.debounce_window_ms = cfg.debounce_max_wait_ms = 5000;
	cfg.marker_dir = tmp;
	mkdirs("os-1-202088888/hw1");	/* a student no other test saved for */
	metrics_reset();
	fm = filemon_start(loop, &cfg, snd, err, sizeof(err));
	CHECK(fm != NULL);
	if (!fm)
		return;
	before = filemon_watch_count(fm);	/* the root alone */
	CHECK_INT(before, 1);
	CHECK_INT(identity_parse_workspace("os-1-202088888", &id), 0);
	filemon_student_seen(fm, &id);
	CHECK_INT(filemon_watch_count(fm), 1 + 2);
	pump(100);
	put("os-1-202088888/hw1/last.c", "saved as the student left\n");
	pump(200);
	CHECK_DBL(ws_metric("filemon_pending_current", ""), 1, 0);
	/* Dropped within two heartbeats of the idle time. */
	until = support_now() + 3.5;
	while (support_now() < until && filemon_workspace_count(fm))
		loop_run_once(loop, 10);
	CHECK_INT(filemon_workspace_count(fm), 0);
	CHECK_INT(filemon_watch_count(fm), 1);
	CHECK_DBL(ws_metric("filemon_workspaces_dropped_total", ""), 1, 0);
	CHECK_INT(receiver_count(rx) - seen, 0);	/* still in its window */
	put("os-1-202088888/hw1/after.c", "not watched any more\n");
	CHECK_INT(expect(1), 1);
	check_record(0, "/api/os-1/hw1/202088888/", "last.c", ".c", "{\"bytes\":26,\"event\":\"modified\"}",
		     "saved as the student left\n", NULL);
	seen = receiver_count(rx);
	filemon_stop(fm);
	fm = NULL;
	CHECK_INT(receiver_count(rx) - seen, 0);
}

/*
 * The child of test_watch_limit: in a user namespace of its own, where the
 * inotify watch limit is ours to lower, start filemon on a tree that needs
 * more watches than allowed.  Exit status = failed checks; 77 = cannot.
 */
static int watch_limit_child(const char *dir)
{
	struct filemon_config cfg = {
		.watch_root = dir, .snapshot_base = snap, .max_file_size = 2000,
		.debounce_window_ms = 50, .debounce_max_wait_ms = 100, .hw_max = 20,
	};
	FILE *out = tmpfile(), *f;
	struct sender_config sc = { .out = out };
	char err[256], line[512], p[512];
	struct filemon *m;
	int fd, got = 0;

	if (!out || unshare(CLONE_NEWUSER) < 0)
		return 77;
	fd = open("/proc/sys/user/max_inotify_watches", O_WRONLY);
	if (fd < 0 || write(fd, "4", 1) != 1)
		return 77;
	close(fd);
	loop = loop_create();
	snd = sender_create(loop, &sc);
	m = filemon_start(loop, &cfg, snd, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "child: %s\n", err);
		return 1;
	}
	CHECK_INT(filemon_watch_count(m), 4);	/* root, workspace, two hw of five */
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "filemon_watch_limit_total", ""), 3, 0);
	/* The other three are remembered, to be retried, and shown. */
	CHECK_INT(filemon_unwatched_count(m), 3);
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "filemon_unwatched_dirs_current",
				"reason=\"limit\""), 3, 0);
	/* Still working where it does watch: the two hw dirs that got one
	 * (readdir order decides which). */
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s/" WS "/hw%d/ok.c", dir, i);
		f = fopen(p, "w");
		if (f) {
			fputs("ok\n", f);
			fclose(f);
		}
	}
	pump(300);
	filemon_stop(m);
	rewind(out);
	while (fgets(line, sizeof(line), out))
		got += strstr(line, "/202012345/ok.c/") != NULL;
	CHECK_INT(got, 2);
	return tl_failures;
}

static void test_watch_limit(void)
{
	char dir[300], p[400];
	int status = -1;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/limit", tmp);
	mkdir(dir, 0755);
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s/" WS, dir);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/" WS "/hw%d", dir, i);
		mkdir(p, 0755);
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(watch_limit_child(dir));
	CHECK(pid > 0);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "  (skipped: no user namespace to lower the limit in)\n");
		return;
	}
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
}

/* ---- setup --------------------------------------------------------------- */

static int setup(void)
{
	struct filemon_config cfg = test_config();
	struct sender_config sc = { .timeout_ms = 5000 };
	char url[64], err[256];

	mkdirs(WS "/hw1");
	loop = loop_create();
	rx = receiver_start(0);
	if (!loop || !rx)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", receiver_port(rx));
	sc.api_server = url;
	snd = sender_create(loop, &sc);
	if (!snd)
		return -1;
	CHECK(filemon_start(loop, &(struct filemon_config){ .watch_root = "/nonexistent/x",
			    .snapshot_base = snap }, snd, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/x") != NULL);
	fm = filemon_start(loop, &cfg, snd, err, sizeof(err));
	if (!fm) {
		fprintf(stderr, "filemon_start: %s\n", err);
		return -1;
	}
	CHECK_INT(filemon_watch_count(fm), 3);	/* root, workspace, hw1 */
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "filemon_watches_current", ""), 3, 0);
	return 0;
}

int main(void)
{

	log_set_level(LOG_WARN);
	metrics_reset();
	snprintf(tmp, sizeof(tmp), "/tmp/test_filemon.XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(root, sizeof(root), "%s/codes", tmp);
	snprintf(snap, sizeof(snap), "%s/snapshots", tmp);
	mkdir(root, 0755);
	/* First, while this process has no threads yet to fork with. */
	RUN(test_watch_limit);
	if (setup() < 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	RUN(test_save);
	RUN(test_rapid_saves);
	RUN(test_rename_saves);
	RUN(test_new_directories);
	RUN(test_nested);
	RUN(test_delete);
	RUN(test_size_limit);
	RUN(test_ignored);
	RUN(test_symlinks);
	RUN(test_fifo);
	RUN(test_hardlink);
	RUN(test_same_second);
	RUN(test_dir_removed);
	RUN(test_overflow);
	RUN(test_stop_flushes);
	RUN(test_catch_up);
	RUN(test_perms);
	RUN(test_scoped);
	RUN(test_scoped_drop);
	sender_destroy(snd);
	receiver_stop(rx);
	loop_destroy(loop);
	support_rm_rf(tmp);
	return TEST_DONE();
}
