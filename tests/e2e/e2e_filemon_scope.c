/*
 * e2e_filemon_scope.c - a node watches only the workspaces of the students
 * whose containers run on it.  Two students' workspaces are on the shared
 * volume; only A's container (a real unshare'd namespace, idle: it runs
 * nothing) is on this node when the agent starts.  A's saves are
 * snapshotted, B's are not; B's container appears later (an exec procmon
 * sees) and from then B's saves are; B gone for WORKSPACE_IDLE_SECONDS is
 * dropped while idle A, whose namespace lives, is kept; a faked student
 * with no workspace gets none made; and the catch-up after a restart
 * covers A, still here, not B.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "receiver.h"
#include "student.h"
#include "support.h"
#include "testlib.h"

#define A "os-1-202012345"
#define B "os-1-202099999"
#define FAKE "os-1-202077777"
#define SETTLE_US (1500 * 1000)	/* > the debounce window: a stray record shows */

static char root[PATH_MAX], codes[PATH_MAX + 16], snaps[PATH_MAX + 16];
static int port;

static pid_t spawn(const char *bin, int api_port, const char *log_path)
{
	static char env_api[96], env_port[32], env_root[PATH_MAX + 32], env_snap[PATH_MAX + 32],
		env_spool[PATH_MAX + 32], env_state[PATH_MAX + 32];
	char *env[] = { env_api, env_port, env_root, env_snap, env_spool, env_state,
			"MONITORS=procmon,filemon", "DEBOUNCE_WINDOW=0.2", "DEBOUNCE_MAX_WAIT=0.5",
			"WORKSPACE_IDLE_SECONDS=2", "LOG_LEVEL=INFO", NULL };

	snprintf(env_api, sizeof(env_api), "API_SERVER=http://127.0.0.1:%d", api_port);
	snprintf(env_port, sizeof(env_port), "METRICS_PORT=%d", port);
	snprintf(env_root, sizeof(env_root), "WATCH_ROOT=%s", codes);
	snprintf(env_snap, sizeof(env_snap), "SNAPSHOT_BASE=%s", snaps);
	snprintf(env_spool, sizeof(env_spool), "SPOOL_DIR=%s/spool", root);
	/* The node's own restart marker goes here, not to the shared volume. */
	snprintf(env_state, sizeof(env_state), "STATE_DIR=%s/state", root);
	return agent_spawn(bin, env, NULL, log_path);
}

static double metric(const char *name, const char *labels)
{
	return agent_filemon_metric(port, name, labels);
}

static double wait_metric(const char *name, const char *labels, double want, double timeout_s)
{
	return agent_wait_filemon_metric(port, name, labels, want, timeout_s);
}

static void save(const char *rel, const char *text)
{
	char p[PATH_MAX * 2];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", codes, rel);
	f = fopen(p, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static char *ws_path(const char *name)
{
	static char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", codes, name);
	return p;
}

/* Exactly n records arrived in all, the last one's URL starting with prefix. */
static void expect_records(struct receiver *r, size_t n, const char *prefix)
{
	struct received rc;

	CHECK_INT(receiver_wait(r, n, 10000), n);
	usleep(SETTLE_US);
	CHECK_INT(receiver_count(r), n);
	if (!prefix || receiver_get(r, n - 1, &rc) < 0)
		return;
	if (strncmp(rc.url, prefix, strlen(prefix)) != 0)
		fprintf(stderr, "  record %zu: %s, want %s...\n", n - 1, rc.url, prefix);
	CHECK(strncmp(rc.url, prefix, strlen(prefix)) == 0);
	received_free(&rc);
}

/* First start: A idle on the node, B elsewhere; then B arrives, leaves and
 * is dropped.  Returns the records received so far. */
static size_t first_run(const char *bin, struct receiver *r, const char *log_path)
{
	pid_t pid = spawn(bin, receiver_port(r), log_path);
	char marker[PATH_MAX * 2];
	struct stat st;

	if (agent_wait_ready(pid, port, 60000, log_path) < 0) {
		CHECK(!"agent ready");
		return 0;
	}
	/* A was found in the node's namespaces; root, A and A/hw1 are watched. */
	CHECK_INT(metric("filemon_workspaces_current", ""), 1);
	CHECK_INT(metric("filemon_workspaces_added_total", ""), 1);
	CHECK_INT(metric("filemon_workspaces_dropped_total", ""), 0);
	CHECK_INT(metric("filemon_workspaces_refused_total", "reason=\"limit\""), 0);
	CHECK_INT(metric("filemon_workspaces_refused_total", "reason=\"missing\""), 0);
	CHECK_INT(metric("filemon_watches_current", ""), 3);

	save(A "/hw1/a.c", "int a = 1;\n");
	save(B "/hw1/b.c", "int b = 1;\n");	/* B is not on this node */
	expect_records(r, 1, "/api/os-1/hw1/202012345/a.c/");

	/* Old enough not to count as a save of B's first seconds here. */
	sleep(3);
	CHECK_INT(student_shell(ws_path(B), "jcode-" B, "exit 0"), 0);
	CHECK_INT(wait_metric("filemon_workspaces_current", "", 2, 10), 2);
	CHECK_INT(metric("filemon_workspaces_added_total", ""), 2);
	CHECK_INT(metric("filemon_watches_current", ""), 5);
	save(B "/hw1/b2.c", "int b = 2;\n");
	expect_records(r, 2, "/api/os-1/hw1/202099999/b2.c/");

	/* B's container is gone: dropped after 2 s; A is idle as long, but
	 * its namespace lives. */
	CHECK_INT(wait_metric("filemon_workspaces_dropped_total", "", 1, 10), 1);
	CHECK_INT(metric("filemon_workspaces_current", ""), 1);
	CHECK_INT(metric("filemon_watches_current", ""), 3);
	save(B "/hw1/b3.c", "int b = 3;\n");
	save(A "/hw1/a2.c", "int a = 2;\n");
	expect_records(r, 3, "/api/os-1/hw1/202012345/a2.c/");

	/* A hostname anyone could take: no workspace, none made. */
	CHECK_INT(student_shell(ws_path(A), "jcode-" FAKE, "exit 0"), 0);
	CHECK_INT(wait_metric("filemon_workspaces_refused_total", "reason=\"missing\"", 1, 10), 1);
	CHECK_INT(stat(ws_path(FAKE), &st), -1);
	CHECK_INT(metric("filemon_workspaces_current", ""), 1);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	/* SNAPSHOT_BASE is every node's: a marker there would be the last
	 * writer's, past saves this node had not sent yet. */
	snprintf(marker, sizeof(marker), "%s/state/.jcode-watcher-alive", root);
	CHECK_INT(stat(marker, &st), 0);
	snprintf(marker, sizeof(marker), "%s/.jcode-watcher-alive", snaps);
	CHECK_INT(stat(marker, &st), -1);
	return receiver_count(r);
}

/* While the agent is down both students save; at the restart only A,
 * whose container is still here, is caught up. */
static void restart_run(const char *bin, struct receiver *r, const char *log_path, size_t had)
{
	pid_t pid;

	save(A "/hw1/a.c", "int a = 3; /* while down */\n");
	save(B "/hw1/b.c", "int b = 4; /* while down, elsewhere */\n");
	pid = spawn(bin, receiver_port(r), log_path);
	if (agent_wait_ready(pid, port, 60000, log_path) < 0) {
		CHECK(!"agent ready again");
		return;
	}
	expect_records(r, had + 1, "/api/os-1/hw1/202012345/a.c/");
	CHECK_INT(metric("filemon_workspaces_current", ""), 1);
	CHECK_INT(metric("filemon_snapshots_total", ""), 1);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
}

int main(int argc, char **argv)
{
	int skip = e2e_require_kernel();
	char log_path[] = "/tmp/jcw-e2e-scope-XXXXXX", tmpl[] = "/tmp/jcw-e2e-scope-ws-XXXXXX";
	char cmd[PATH_MAX * 4];
	struct receiver *r;
	pid_t a;
	size_t had;

	if (skip || argc < 2)
		return skip ? skip : 2;
	if (!mkdtemp(tmpl))
		return 1;
	port = free_port();
	snprintf(root, sizeof(root), "%s", tmpl);
	snprintf(codes, sizeof(codes), "%s/codes", root);
	snprintf(snaps, sizeof(snaps), "%s/snaps", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/" A "/hw1 %s/" B "/hw1 %s", codes, codes, snaps);
	CHECK_INT(system(cmd), 0);
	close(mkstemp(log_path));
	r = receiver_start(0);
	a = student_container(ws_path(A), "jcode-" A);
	CHECK(a > 0);
	had = first_run(argv[1], r, log_path);
	CHECK_INT(had, 3);
	if (had == 3)
		restart_run(argv[1], r, log_path, had);
	support_child_stop(a);
	if (tl_failures)
		dump_file(log_path);
	receiver_stop(r);
	support_rm_rf(root);
	unlink(log_path);
	return TEST_DONE();
}
