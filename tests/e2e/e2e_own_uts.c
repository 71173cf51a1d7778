/*
 * e2e_own_uts.c - a student cannot run under another student's name, or
 * under none: the real agent, real probes, a loopback receiver.
 *
 * Student A's container is made as a runtime makes one, with a PID
 * namespace whose init holds A's hostname.  Inside it A runs a program
 * four times: in a UTS namespace of their own named after student B
 * (`unshare --uts`), in one named like no student container (to hide),
 * in a user, PID and UTS namespace of their own named after B (`unshare
 * -Urpf --uts`: the init of a namespace of their own), and plainly.  All
 * four runs are A's.  Then A, being the container's init, renames the
 * container itself (`exec unshare -Ur --uts`): that run is no one's, and
 * counted.  A container of no student (lab-pc) with a process renamed
 * after A posts nothing.  Nothing is B's: no run, and no workspace watched
 * (B's exists on the volume), not at A's exec and not at a restart that
 * finds both renamings alive.  Last, the node is itself a container named
 * with the prefix (kind, `--name jcode`), the agent in it: A's run there
 * is A's.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "receiver.h"
#include "student.h"
#include "support.h"
#include "testlib.h"

#define A "os-1-202012345"
#define B "os-1-202099999"
#define RUN_A "/api/os-1/hw1/202012345/logs/run"
#define OWN_UTS "bpf_exec_own_uts_total{service=\"procmon\"}"

/* Each renamed session execs three programs in its own namespace: the
 * shell unshare starts, hostname (a program of its own in dash and bash),
 * and ./p.  The last one renames the container's init (pid 1) itself. */
static const char *const sessions =
	"exec unshare --pid --fork sh -c '"
	"unshare --uts sh -c \"hostname jcode-" B " && exec ./p renamed\" && "
	"unshare --uts sh -c \"hostname lab-pc && exec ./p hidden\" && "
	"unshare --user --map-root-user --pid --fork --uts "
	"sh -c \"hostname jcode-" B " && exec ./p nested\" && "
	"./p plain && "
	"exec unshare --user --map-root-user --uts sh -c \"hostname jcode-" B " && exec ./p init\"'";
#define OWN_UTS_EXECS 9
#define RENAMED_INIT_EXECS 3

static const char *const intruder =
	"exec unshare --pid --fork sh -c '"
	"unshare --uts sh -c \"hostname jcode-" A " && exec ./p intruder\"'";

static const char *const runs[] = { "./p renamed", "./p hidden", "./p nested", "./p plain" };
#define NRUNS (sizeof(runs) / sizeof(runs[0]))

#define FILTERED "bpf_exec_filtered_total{reason=\"container\",service=\"procmon\"}"

static char root[64], codes[128];
static int port;

/* The agent (bin, or a wrapper with args that starts it) for this test. */
static pid_t spawn_argv(const char *bin, char *const args[], int api_port, const char *log_path)
{
	static char env_api[96], env_port[32], env_root[PATH_MAX + 32], env_snap[PATH_MAX + 32],
		env_spool[PATH_MAX + 32], env_state[PATH_MAX + 32];
	char *env[] = { env_api, env_port, env_root, env_snap, env_spool, env_state,
			"MONITORS=procmon,filemon", "LOG_LEVEL=INFO", NULL };

	snprintf(env_api, sizeof(env_api), "API_SERVER=http://127.0.0.1:%d", api_port);
	snprintf(env_port, sizeof(env_port), "METRICS_PORT=%d", port);
	snprintf(env_root, sizeof(env_root), "WATCH_ROOT=%s", codes);
	snprintf(env_snap, sizeof(env_snap), "SNAPSHOT_BASE=%s/snaps", root);
	snprintf(env_spool, sizeof(env_spool), "SPOOL_DIR=%s/spool", root);
	snprintf(env_state, sizeof(env_state), "STATE_DIR=%s/state", root);
	return agent_spawn(bin, env, args, log_path);
}

static pid_t spawn(const char *bin, int api_port, const char *log_path)
{
	return spawn_argv(bin, NULL, api_port, log_path);
}

/* A's workspace with p (exits 0) in hw1, and B's beside it, empty. */
static int make_workspaces(char *ws, size_t len)
{
	char *cmd;
	int rc;

	snprintf(root, sizeof(root), "/tmp/jcw-own-uts-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(codes, sizeof(codes), "%s/codes", root);
	snprintf(ws, len, "%s/" A, codes);
	/* The source outside: a save filemon would send is not this test's. */
	if (asprintf(&cmd, "mkdir -p %s/hw1 %s/" B "/hw1 && "
		     "printf 'int main(void){return 0;}' > %s/p.c && "
		     "gcc -O2 -o %s/hw1/p %s/p.c", ws, codes, root, ws, root) < 0)
		return -1;
	rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

/* Records from..: exactly the runs want[n], every one A's. */
static void check_runs(struct receiver *r, size_t from, const char *const want[], size_t n)
{
	bool seen[NRUNS] = { false };

	CHECK_INT(receiver_wait(r, from + n, 20000), from + n);
	usleep(1500 * 1000);	/* anything extra would be here by now */
	CHECK_INT(receiver_count(r), from + n);
	for (size_t i = from; i < receiver_count(r); i++) {
		struct received rc;
		json_t *body;
		const char *cmd;

		if (receiver_get(r, i, &rc) < 0)
			continue;
		CHECK_STR(rc.url, RUN_A);
		body = json_loads(rc.body, 0, NULL);
		cmd = json_string_value(json_object_get(body, "cmdline"));
		if (cmd)
			fprintf(stderr, "  run \"%s\" at %s\n", cmd, rc.url);
		for (size_t k = 0; cmd && k < n; k++)
			if (strcmp(cmd, want[k]) == 0) {
				CHECK(!seen[k]);
				seen[k] = true;
			}
		CHECK_STR(json_string_value(json_object_get(body, "cwd")),
			  "/home/coder/project/hw1");
		CHECK_INT(json_integer_value(json_object_get(body, "exit_code")), 0);
		json_decref(body);
		received_free(&rc);
	}
	for (size_t k = 0; k < n; k++) {
		if (!seen[k])
			fprintf(stderr, "  no run \"%s\" for " A "\n", want[k]);
		CHECK(seen[k]);
	}
}

static void check_workspaces(double added)
{
	CHECK_INT(agent_filemon_metric(port, "filemon_workspaces_current", ""), 1);
	CHECK_INT(agent_filemon_metric(port, "filemon_workspaces_added_total", ""), added);
	CHECK_INT(agent_filemon_metric(port, "filemon_workspaces_refused_total",
				       "reason=\"limit\""), 0);
	CHECK_INT(agent_filemon_metric(port, "filemon_workspaces_refused_total",
				       "reason=\"missing\""), 0);
}

/* The sessions, then a restart that finds A's container alive twice: with
 * a process renamed after B in it, and with its init renamed after B. */
static void test_sessions(const char *bin, const char *ws, struct receiver *r,
			  const char *log_path)
{
	pid_t pid = spawn(bin, receiver_port(r), log_path), c1, c2;

	if (agent_wait_ready(pid, port, 60000, log_path) < 0) {
		CHECK(!"agent ready");
		return;
	}
	CHECK_INT(agent_filemon_metric(port, "filemon_workspaces_current", ""), 0);
	CHECK_INT(agent_metric(port, OWN_UTS), 0);
	CHECK_INT(agent_metric(port, FILTERED), 0);
	CHECK_INT(student_shell(ws, "jcode-" A, sessions), 0);
	CHECK_INT(student_shell(ws, "lab-pc", intruder), 0);
	check_runs(r, 0, runs, NRUNS);
	CHECK_INT(agent_metric(port, OWN_UTS), OWN_UTS_EXECS);
	CHECK_INT(agent_metric(port, FILTERED), RENAMED_INIT_EXECS);
	check_workspaces(1);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);

	c1 = student_pidns_container(ws, "jcode-" A, "jcode-" B, false);
	c2 = student_pidns_container(ws, "jcode-" A, "jcode-" B, true);
	CHECK(c1 > 0 && c2 > 0);
	pid = spawn(bin, receiver_port(r), log_path);
	if (agent_wait_ready(pid, port, 60000, log_path) == 0) {
		/* Found at start-up in the node's namespaces: A, and not B. */
		check_workspaces(1);
		CHECK_INT(agent_stop(pid, 0, 20000), 0);
	} else {
		CHECK(!"agent ready again");
	}
	support_child_stop(c1);
	support_child_stop(c2);
}

/* The first process unshare forked: the agent, pid 1 of the node's
 * namespace.  0 when there is none (yet). */
static pid_t child_of(pid_t parent)
{
	char path[64];
	long child = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent, (int)parent);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &child) != 1)
		child = 0;
	fclose(f);
	return (pid_t)child;
}

/* A node that is a container named with the prefix (a kind cluster named
 * jcode), the agent in it with the node's /proc, as a hostPID DaemonSet
 * is: A's container is the one below the node's PID namespace. */
static void test_kind_node(const char *bin, const char *ws, struct receiver *r,
			   const char *log_path)
{
	static const char *const kind[] = { "./p kind" };
	char *args[] = { "--pid", "--fork", "--mount-proc", "--uts", "--kill-child", "sh", "-c",
			 "hostname jcode-worker && exec \"$0\"", (char *)bin, NULL };
	char script[512];
	size_t had = receiver_count(r);
	pid_t pid = spawn_argv("/usr/bin/unshare", args, receiver_port(r), log_path), node;

	if (agent_wait_ready(pid, port, 60000, log_path) < 0) {
		CHECK(!"agent ready in the node");
		agent_stop(pid, SIGKILL, 5000);
		return;
	}
	node = child_of(pid);
	CHECK(node > 0);
	snprintf(script, sizeof(script), "exec nsenter --target %d --pid -- "
		 "unshare --pid --fork --uts sh -c 'hostname jcode-" A " && exec ./p kind'",
		 (int)node);
	CHECK_INT(student_shell(ws, "jcode-worker", script), 0);
	check_runs(r, had, kind, 1);
	CHECK_INT(agent_metric(port, OWN_UTS), 0);
	CHECK_INT(agent_metric(port, FILTERED), 0);
	/* unshare ignores SIGTERM; --kill-child takes the agent with it. */
	CHECK_INT(agent_stop(pid, SIGKILL, 5000), 128 + SIGKILL);
	/* The agent dies after unshare: gone before the next test starts one. */
	for (int i = 0; i < 500 && node > 0 && kill(node, 0) == 0; i++)
		usleep(10 * 1000);
	CHECK(node <= 0 || kill(node, 0) < 0);
}

int main(int argc, char **argv)
{
	int skip = e2e_require_kernel();
	char log_path[] = "/tmp/jcw-e2e-own-uts-XXXXXX", ws[256];
	struct receiver *r;

	if (skip)
		return skip;
	if (argc < 2) {
		fprintf(stderr, "usage: %s path/to/jcode-watcher\n", argv[0]);
		return 2;
	}
	port = free_port();
	if (make_workspaces(ws, sizeof(ws)) < 0) {
		fprintf(stderr, "cannot make the workspaces below /tmp\n");
		return 1;
	}
	close(mkstemp(log_path));
	r = receiver_start(0);
	CHECK(r != NULL);
	if (r) {
		test_sessions(argv[1], ws, r, log_path);
		test_kind_node(argv[1], ws, r, log_path);
	}
	if (tl_failures)
		dump_file(log_path);
	receiver_stop(r);
	unlink(log_path);
	support_rm_rf(root);
	return TEST_DONE();
}
