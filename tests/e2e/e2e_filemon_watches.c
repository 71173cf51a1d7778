/*
 * e2e_filemon_watches.c - one student cannot blind filemon for everyone.
 *
 * Each case runs in a child in a user namespace of its own, where the
 * inotify watch limit (/proc/sys/user/max_inotify_watches) is ours to set
 * without touching the host's; the agent it spawns inherits the namespace,
 * so its watches count against that limit.
 *
 * budget:  a greedy student makes many directories; WATCHES_PER_STUDENT
 *          stops them short of the node's limit, so a victim's new hw
 *          directory is still watched and its save snapshotted.
 * limit:   no budget; the greedy student takes the whole limit, the
 *          victim's new directory is unwatched (gauge, /readyz 503), and
 *          is watched as soon as the greedy student removes directories:
 *          the save made meanwhile is snapshotted.  Then a directory
 *          refused again is watched once the limit is raised.
 * restart: a save in a directory that could not be watched, then kill -9:
 *          the restart marker must not have passed it, so the next start
 *          (with a higher limit) catches it up.
 * filemon only (no BPF), in temp dirs of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "support.h"
#include "testlib.h"

#define GREEDY "os-1-202000001"
#define VICTIM "os-1-202000002"

static char root[PATH_MAX], codes[PATH_MAX + 16], snaps[PATH_MAX + 16];
static char log_path[PATH_MAX + 16];
static int port;

static void path_of(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", codes, rel);
}

static void mkdir_rel(const char *rel)
{
	char p[PATH_MAX * 2];

	path_of(p, sizeof(p), rel);
	if (mkdir(p, 0755) < 0)
		fprintf(stderr, "mkdir %s: %s\n", p, strerror(errno));
}

static void put(const char *rel, const char *content)
{
	char p[PATH_MAX * 2];
	FILE *f;

	path_of(p, sizeof(p), rel);
	f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

static int set_limit(int n)
{
	char s[32];
	int fd = open("/proc/sys/user/max_inotify_watches", O_WRONLY), len, ok;

	if (fd < 0)
		return -1;
	len = snprintf(s, sizeof(s), "%d", n);
	ok = write(fd, s, (size_t)len) == len;
	close(fd);
	return ok ? 0 : -1;
}

static pid_t spawn(const char *bin, const char *budget)
{
	char env_port[32], env_root[PATH_MAX + 32], env_snap[PATH_MAX + 32];
	char env_spool[PATH_MAX + 32], env_budget[64];
	char *env[] = { env_port, env_root, env_snap, env_spool, env_budget, "MONITORS=filemon",
			"DEBOUNCE_WINDOW=0.1", "DEBOUNCE_MAX_WAIT=0.2", NULL };

	snprintf(env_port, sizeof(env_port), "METRICS_PORT=%d", port);
	snprintf(env_root, sizeof(env_root), "WATCH_ROOT=%s", codes);
	snprintf(env_snap, sizeof(env_snap), "SNAPSHOT_BASE=%s", snaps);
	snprintf(env_spool, sizeof(env_spool), "SPOOL_DIR=%s/spool", root);
	snprintf(env_budget, sizeof(env_budget), "WATCHES_PER_STUDENT=%s", budget);
	return agent_spawn(bin, env, (char *[]){ "--no-check", NULL }, log_path);
}

static double metric(const char *name, const char *labels)
{
	return agent_filemon_metric(port, name, labels);
}

/* Wait until name{labels} == want (or timeout_s); returns the last value. */
static double wait_metric(const char *name, const char *labels, double want, double timeout_s)
{
	return agent_wait_filemon_metric(port, name, labels, want, timeout_s);
}

static long readyz(void)
{
	long status = 0;

	free(http_get(port, "/readyz", &status));
	return status;
}

/* The one snapshot of {ws}/{hw}/{file}: its content, or NULL. */
static const char *snapshot_of(const char *cls, const char *hw, const char *id,
			       const char *file)
{
	char dir[PATH_MAX * 2];

	snprintf(dir, sizeof(dir), "%s/%s/%s/%s/%s", snaps, cls, hw, id, file);
	return support_only_file(dir);
}

static void tree(void)
{
	char cmd[PATH_MAX * 6];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' && mkdir -p '%s/" GREEDY "/hw1' '%s/" VICTIM
		 "/hw1' '%s'", codes, snaps, codes, codes, snaps);
	CHECK_INT(system(cmd), 0);
}

/* 5 watches at start: root, both workspaces, both hw1. */
static int case_budget(const char *bin)
{
	char rel[64];
	pid_t pid;

	tree();
	if (set_limit(12) < 0)
		return E2E_SKIP;
	pid = spawn(bin, "4");
	if (agent_wait_ready(pid, port, 30000, log_path) < 0)
		return 1;
	CHECK_INT(metric("filemon_watches_current", ""), 5);
	/* The greedy student: ten directories, two of which fit the budget. */
	for (int i = 0; i < 10; i++) {
		snprintf(rel, sizeof(rel), GREEDY "/hw1/d%d", i);
		mkdir_rel(rel);
	}
	CHECK_INT(wait_metric("filemon_unwatched_dirs_current", "reason=\"budget\"", 8, 10), 8);
	CHECK_INT(metric("filemon_watches_current", ""), 7);
	CHECK_INT(metric("filemon_watch_budget_total", ""), 8);
	CHECK_INT(metric("filemon_unwatched_dirs_current", "reason=\"limit\""), 0);
	/* One student's excess is not the node's problem. */
	CHECK_INT(readyz(), 200);

	/* The victim's new homework directory is watched all the same. */
	mkdir_rel(VICTIM "/hw2");
	put(VICTIM "/hw2/main.c", "int victim;\n");
	CHECK_INT(wait_metric("filemon_snapshots_total", "", 1, 10), 1);
	CHECK_STR(snapshot_of("os-1", "hw2", "202000002", "main.c"), "int victim;\n");
	CHECK_INT(metric("filemon_watches_current", ""), 8);
	/* Watched, not just listed once: the next save is seen too. */
	put(VICTIM "/hw2/next.c", "int next;\n");
	CHECK_INT(wait_metric("filemon_snapshots_total", "", 2, 10), 2);
	CHECK_STR(snapshot_of("os-1", "hw2", "202000002", "next.c"), "int next;\n");
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	return 0;
}

static int case_limit(const char *bin)
{
	char cmd[PATH_MAX * 2];
	pid_t pid;

	tree();
	if (set_limit(7) < 0)
		return E2E_SKIP;
	pid = spawn(bin, "0");
	if (agent_wait_ready(pid, port, 30000, log_path) < 0)
		return 1;
	CHECK_INT(metric("filemon_watches_current", ""), 5);
	/* The greedy student takes what is left of the limit, and more. */
	mkdir_rel(GREEDY "/hw1/d0");
	mkdir_rel(GREEDY "/hw1/d1");
	mkdir_rel(GREEDY "/hw1/d2");
	mkdir_rel(GREEDY "/hw1/d3");
	CHECK_INT(wait_metric("filemon_unwatched_dirs_current", "reason=\"limit\"", 2, 10), 2);
	CHECK_INT(metric("filemon_watches_current", ""), 7);
	CHECK_INT(readyz(), 503);

	/* The victim's new directory cannot be watched for now ... */
	mkdir_rel(VICTIM "/hw2");
	put(VICTIM "/hw2/main.c", "int saved_meanwhile;\n");
	CHECK_INT(wait_metric("filemon_unwatched_dirs_current", "reason=\"limit\"", 3, 10), 3);
	usleep(1000 * 1000);
	CHECK_INT(metric("filemon_snapshots_total", ""), 0);
	CHECK_INT(metric("filemon_watch_limit_total", ""), 3);

	/* ... and is as soon as watches are freed, with the save made meanwhile. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/" GREEDY "/hw1/'d*", codes);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(wait_metric("filemon_snapshots_total", "", 1, 10), 1);
	CHECK_STR(snapshot_of("os-1", "hw2", "202000002", "main.c"), "int saved_meanwhile;\n");
	CHECK_INT(wait_metric("filemon_unwatched_dirs_current", "reason=\"limit\"", 0, 10), 0);
	CHECK_INT(metric("filemon_watches_current", ""), 6);
	CHECK_INT(readyz(), 200);

	/* Refused again (6 + 2 > 7); the operator raises the limit, as the
	 * log says: the retry timer watches it, and its file is caught up. */
	mkdir_rel(GREEDY "/hw2");
	mkdir_rel(GREEDY "/hw3");
	CHECK_INT(wait_metric("filemon_unwatched_dirs_current", "reason=\"limit\"", 1, 10), 1);
	put(GREEDY "/hw2/a.py", "a = 2\n");
	put(GREEDY "/hw3/a.py", "a = 3\n");
	CHECK_INT(set_limit(100), 0);
	CHECK_INT(wait_metric("filemon_snapshots_total", "", 3, 15), 3);
	CHECK_STR(snapshot_of("os-1", "hw2", "202000001", "a.py"), "a = 2\n");
	CHECK_STR(snapshot_of("os-1", "hw3", "202000001", "a.py"), "a = 3\n");
	CHECK_INT(metric("filemon_unwatched_dirs_current", "reason=\"limit\""), 0);
	CHECK_INT(metric("filemon_watches_current", ""), 8);
	CHECK_INT(readyz(), 200);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	return 0;
}

static int case_restart(const char *bin)
{
	int status = 0;
	pid_t pid;

	tree();
	if (set_limit(6) < 0)
		return E2E_SKIP;
	pid = spawn(bin, "0");
	if (agent_wait_ready(pid, port, 30000, log_path) < 0)
		return 1;
	mkdir_rel(GREEDY "/hw1/d0");
	mkdir_rel(GREEDY "/hw1/d1");
	CHECK_INT(wait_metric("filemon_unwatched_dirs_current", "reason=\"limit\"", 1, 10), 1);
	/* Which of the two got the last watch is the kernel's order. */
	put(GREEDY "/hw1/d0/x.c", "int x0;\n");
	put(GREEDY "/hw1/d1/x.c", "int x1;\n");
	CHECK_INT(wait_metric("filemon_snapshots_total", "", 1, 10), 1);
	/* Long past the marker's slack and a few heartbeats. */
	usleep(4000 * 1000);
	CHECK_INT(metric("filemon_snapshots_total", ""), 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status));

	CHECK_INT(set_limit(100), 0);
	pid = spawn(bin, "0");
	if (agent_wait_ready(pid, port, 30000, log_path) < 0)
		return 1;
	/* Caught up: both are snapshotted now (the watched one again, as a
	 * save near a crash may be), none missed. */
	CHECK_INT(wait_metric("filemon_snapshots_total", "", 2, 10), 2);
	usleep(500 * 1000);
	CHECK_INT(metric("filemon_snapshots_total", ""), 2);
	CHECK_INT(metric("filemon_unwatched_dirs_current", "reason=\"limit\""), 0);
	CHECK_INT(support_count_entries(snaps), 2);	/* os-1 and the marker */
	{
		char dir[PATH_MAX * 2];
		int n0, n1;

		snprintf(dir, sizeof(dir), "%s/os-1/hw1/202000001/d0@x.c", snaps);
		n0 = support_count_entries(dir);
		snprintf(dir, sizeof(dir), "%s/os-1/hw1/202000001/d1@x.c", snaps);
		n1 = support_count_entries(dir);
		/* Three snapshots over both runs, each file at least one. */
		CHECK_INT(n0 + n1, 3);
		CHECK(n0 >= 1 && n1 >= 1);
	}
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	return 0;
}

/* Run one case in a child with a user namespace of its own; its exit
 * status is the number of failed checks, or E2E_SKIP. */
static int in_userns(int (*fn)(const char *), const char *bin, const char *name)
{
	int status = -1;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int rc;

		if (unshare(CLONE_NEWUSER) < 0) {
			fprintf(stderr, "SKIP %s: no user namespace: %s\n", name, strerror(errno));
			_exit(E2E_SKIP);
		}
		rc = fn(bin);
		if (rc == E2E_SKIP)
			fprintf(stderr, "SKIP %s: cannot set max_inotify_watches\n", name);
		_exit(rc ? rc : (tl_failures ? 1 : 0));
	}
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == E2E_SKIP)
		return E2E_SKIP;
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	fprintf(stderr, "%s %s\n", WIFEXITED(status) && !WEXITSTATUS(status) ? "ok  " : "FAIL",
		name);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		dump_file(log_path);
	return 0;
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/jcw-e2e-fmw-XXXXXX";
	int skip = 0;

	if (argc < 2)
		return 2;
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(root, sizeof(root), "%s", tmpl);
	snprintf(codes, sizeof(codes), "%s/codes", root);
	snprintf(snaps, sizeof(snaps), "%s/snaps", root);
	snprintf(log_path, sizeof(log_path), "%s/agent.log", root);
	port = free_port();
	skip |= in_userns(case_budget, argv[1], "budget") == E2E_SKIP;
	skip |= in_userns(case_limit, argv[1], "limit") == E2E_SKIP;
	skip |= in_userns(case_restart, argv[1], "restart") == E2E_SKIP;
	support_rm_rf(root);
	if (skip && !tl_checks)
		return E2E_SKIP;
	return TEST_DONE();
}
