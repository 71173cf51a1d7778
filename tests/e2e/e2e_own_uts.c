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
 * four runs are A's, and nothing is B's: no run, and no workspace watched
 * (B's exists on the volume), not at A's exec and not at a restart that
 * finds A's renamed process still alive.
 */
#define _GNU_SOURCE
#include <limits.h>
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
 * shell unshare starts, hostname, and ./p. */
static const char *const sessions =
	"exec unshare --pid --fork sh -c '"
	"unshare --uts sh -c \"hostname jcode-" B " && exec ./p renamed\" && "
	"unshare --uts sh -c \"hostname lab-pc && exec ./p hidden\" && "
	"unshare --user --map-root-user --pid --fork --uts "
	"sh -c \"hostname jcode-" B " && exec ./p nested\" && "
	"./p plain'";
#define OWN_UTS_EXECS 9

static const char *const cmdlines[] = { "./p renamed", "./p hidden", "./p nested", "./p plain" };
#define NRUNS (sizeof(cmdlines) / sizeof(cmdlines[0]))

static char root[64], codes[128];
static int port;

static pid_t spawn(const char *bin, int api_port, const char *log_path)
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
	return agent_spawn(bin, env, NULL, log_path);
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

static void check_runs(struct receiver *r)
{
	bool seen[NRUNS] = { false };

	CHECK_INT(receiver_wait(r, NRUNS, 20000), NRUNS);
	usleep(1500 * 1000);	/* anything extra would be here by now */
	CHECK_INT(receiver_count(r), NRUNS);
	for (size_t i = 0; i < receiver_count(r); i++) {
		struct received rc;
		json_t *body;
		const char *cmd;

		if (receiver_get(r, i, &rc) < 0)
			continue;
		CHECK_STR(rc.url, RUN_A);
		body = json_loads(rc.body, 0, NULL);
		cmd = json_string_value(json_object_get(body, "cmdline"));
		for (size_t k = 0; cmd && k < NRUNS; k++)
			if (strcmp(cmd, cmdlines[k]) == 0) {
				CHECK(!seen[k]);
				seen[k] = true;
			}
		CHECK_STR(json_string_value(json_object_get(body, "cwd")),
			  "/home/coder/project/hw1");
		CHECK_INT(json_integer_value(json_object_get(body, "exit_code")), 0);
		json_decref(body);
		received_free(&rc);
	}
	for (size_t k = 0; k < NRUNS; k++) {
		if (!seen[k])
			fprintf(stderr, "  no run \"%s\" for " A "\n", cmdlines[k]);
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

/* The sessions, then a restart that finds A's container alive with a
 * process renamed after B in it. */
static void run(const char *bin, const char *ws, struct receiver *r, const char *log_path)
{
	pid_t pid = spawn(bin, receiver_port(r), log_path), c;
	double before;

	if (agent_wait_ready(pid, port, 60000, log_path) < 0) {
		CHECK(!"agent ready");
		return;
	}
	CHECK_INT(agent_filemon_metric(port, "filemon_workspaces_current", ""), 0);
	before = agent_metric(port, OWN_UTS);
	CHECK_INT(before, 0);
	CHECK_INT(student_shell(ws, "jcode-" A, sessions), 0);
	check_runs(r);
	CHECK_INT(agent_metric(port, OWN_UTS), OWN_UTS_EXECS);
	check_workspaces(1);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);

	c = student_pidns_container(ws, "jcode-" A, "jcode-" B);
	CHECK(c > 0);
	pid = spawn(bin, receiver_port(r), log_path);
	if (agent_wait_ready(pid, port, 60000, log_path) < 0) {
		CHECK(!"agent ready again");
		support_child_stop(c);
		return;
	}
	/* Found at start-up in the node's namespaces: A, and not B. */
	check_workspaces(1);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	support_child_stop(c);
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
	if (r)
		run(argv[1], ws, r, log_path);
	if (tl_failures)
		dump_file(log_path);
	receiver_stop(r);
	unlink(log_path);
	support_rm_rf(root);
	return TEST_DONE();
}
