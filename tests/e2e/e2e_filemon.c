/*
 * e2e_filemon.c - one agent running both monitors: a student saves a file
 * and compiles it inside a container-like namespace; the receiver gets the
 * snapshot record and the build log, and the snapshot lands on disk.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "receiver.h"
#include "student.h"
#include "support.h"
#include "testlib.h"

static char root[PATH_MAX], codes[PATH_MAX + 16], snaps[PATH_MAX + 16];

/* The received request whose URL starts with prefix, or -1 with *out
 * zeroed: when nothing arrived the caller must not read what the stack
 * happened to hold. */
static long find(struct receiver *r, const char *prefix, struct received *out)
{
	for (size_t i = 0; i < receiver_count(r); i++) {
		if (receiver_get(r, i, out) < 0)
			continue;
		if (strncmp(out->url, prefix, strlen(prefix)) == 0)
			return (long)i;
		received_free(out);
	}
	memset(out, 0, sizeof(*out));
	return -1;
}

static void check_snapshot(struct receiver *r)
{
	const char *prefix = "/api/os-1/hw1/202012345/main.c/";
	struct received rc;
	char file[PATH_MAX * 2];
	json_t *body;
	long found = find(r, prefix, &rc);

	CHECK(found >= 0);
	if (found < 0)
		return;
	body = json_loads(rc.body, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(body, "bytes")), 29);
	CHECK_STR(json_string_value(json_object_get(body, "event")), "modified");
	CHECK(json_is_string(json_object_get(body, "event_id")));
	/* YYYYMMDD_HHMMSS, the same name on disk with the file's extension. */
	CHECK_INT(strlen(rc.url + strlen(prefix)), 15);
	snprintf(file, sizeof(file), "%s/os-1/hw1/202012345/main.c/%s.c", snaps,
		 rc.url + strlen(prefix));
	CHECK_STR(support_slurp(file), "int main(void) { return 7; }\n");
	json_decref(body);
	received_free(&rc);
}

static void check_build(struct receiver *r)
{
	struct received rc;
	json_t *body;
	long found = find(r, "/api/os-1/hw1/202012345/logs/build", &rc);

	CHECK(found >= 0);
	if (found < 0)
		return;
	body = json_loads(rc.body, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(body, "target_path")),
		  "/home/coder/project/hw1/main.c");
	CHECK_STR(json_string_value(json_object_get(body, "cmdline")), "gcc -c main.c -o main.o");
	CHECK_INT(json_integer_value(json_object_get(body, "exit_code")), 0);
	json_decref(body);
	received_free(&rc);
}

int main(int argc, char **argv)
{
	int skip = e2e_require_kernel(), port = free_port();
	char log_path[] = "/tmp/jcw-e2e-fm-XXXXXX", tmpl[] = "/tmp/jcw-e2e-fm-ws-XXXXXX";
	char env_api[96], env_port[32], env_root[PATH_MAX + 32], env_snap[PATH_MAX + 32];
	char env_spool[PATH_MAX + 32];
	/* The save comes before the container's first exec: a single server
	 * watching every workspace (e2e_filemon_scope tests the scoped node). */
	char *env[] = { env_api, env_port, env_root, env_snap, env_spool, "MONITORS=procmon,filemon",
			"DEBOUNCE_WINDOW=0.2", "WATCH_ALL=1", NULL };
	char cmd[PATH_MAX * 4];
	struct receiver *r;
	pid_t pid;
	FILE *f;

	if (skip || argc < 2)
		return skip ? skip : 2;
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(root, sizeof(root), "%s", tmpl);
	snprintf(codes, sizeof(codes), "%s/codes", root);
	snprintf(snaps, sizeof(snaps), "%s/snaps", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/os-1-202012345/hw1 %s", codes, snaps);
	CHECK_INT(system(cmd), 0);
	close(mkstemp(log_path));
	r = receiver_start(0);
	snprintf(env_api, sizeof(env_api), "API_SERVER=http://127.0.0.1:%d", receiver_port(r));
	snprintf(env_port, sizeof(env_port), "METRICS_PORT=%d", port);
	snprintf(env_root, sizeof(env_root), "WATCH_ROOT=%s", codes);
	snprintf(env_snap, sizeof(env_snap), "SNAPSHOT_BASE=%s", snaps);
	/* A spool of our own: nothing left by another run is replayed here. */
	snprintf(env_spool, sizeof(env_spool), "SPOOL_DIR=%s/spool", root);
	pid = agent_spawn(argv[1], env, NULL, log_path);
	if (agent_wait_ready(pid, port, 60000, log_path) < 0) {
		CHECK(!"agent ready with both monitors");
		return TEST_DONE();
	}

	/* The student saves (as the host sees the volume), then compiles in
	 * the container. */
	snprintf(cmd, sizeof(cmd), "%s/os-1-202012345/hw1/main.c", codes);
	f = fopen(cmd, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("int main(void) { return 7; }\n", f);
		fclose(f);
	}
	snprintf(cmd, sizeof(cmd), "%s/os-1-202012345", codes);
	CHECK_INT(student_shell(cmd, "jcode-os-1-202012345", "gcc -c main.c -o main.o"), 0);
	CHECK_INT(receiver_wait(r, 2, 20000), 2);
	usleep(1000 * 1000);
	CHECK_INT(receiver_count(r), 2);
	check_snapshot(r);
	check_build(r);
	CHECK_INT(agent_metric(port, "filemon_snapshots_total{service=\"filemon\"}"), 1);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	if (tl_failures)
		dump_file(log_path);
	receiver_stop(r);
	support_rm_rf(root);
	unlink(log_path);
	return TEST_DONE();
}
