/*
 * e2e_procmon.c - the real agent on the real kernel against a loopback
 * receiver.
 *
 * A student container is reproduced with namespaces: a UTS namespace named
 * jcode-os-1-202012345 and a mount namespace where the workspace is
 * bind-mounted at /home/coder/project (over a private tmpfs on /home, so the
 * host is left untouched and the path crosses two mounts).  Every field of
 * every payload is asserted.
 *
 * With --hide-lib-modules the whole run happens in a private mount namespace
 * where /lib/modules is an empty read-only tmpfs and /usr/src is read-only,
 * as on a node upgraded without headers under the DaemonSet: the agent must
 * find headers itself, build what it needs under its STATE_DIR only, and
 * every expectation still holds.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "contract.h"
#include "event_id.h"
#include "receiver.h"
#include "student.h"
#include "support.h"
#include "testlib.h"

#define PROJECT "/home/coder/project"
#define EXPECTED_EVENTS 11
#define DEEP "d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/"

static char ws[PATH_MAX];        /* host path of the workspace */
static char gcc_bin[PATH_MAX], gxx_bin[PATH_MAX], py_bin[PATH_MAX];
static time_t started;

static void write_file(const char *rel, const char *text)
{
	support_write_file(ws, rel, text);
}

static void make_workspace(void)
{
	char tmpl[] = "/tmp/jcw-e2e-XXXXXX", cmd[PATH_MAX * 5];

	if (!mkdtemp(tmpl))
		exit(1);
	snprintf(ws, sizeof(ws), "%s/os-1-202012345", tmpl);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/hw1' '%s/hw2' '%s/outside' '%s/hw1/a\nb'",
		 ws, ws, ws, ws);
	if (system(cmd) != 0)
		exit(1);
	/* Deeper than the kernel walks (64 steps): flagged, never silent. */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/hw1/%s'", ws, DEEP);
	if (system(cmd) != 0)
		exit(1);
	write_file("hw1/main.c", "int main(void) { return 3; }\n");
	write_file("hw1/seg.c", "int main(void) { volatile int *p = 0; return *p; }\n");
	write_file("hw1/hello.cpp", "#include <cstdio>\nint main() { std::puts(\"hi\"); }\n");
	/* Threads that end one by one, the leader first; the last one calls
	 * exit(4).  One event, when the last task goes, with the group's code. */
	write_file("hw1/threads.c",
		   "#include <pthread.h>\n#include <stdlib.h>\n#include <unistd.h>\n"
		   "static void *quick(void *a) { return a; }\n"
		   "static void *last(void *a) { usleep(100000); exit(4); return a; }\n"
		   "int main(void) { pthread_t t; for (int i = 0; i < 3; i++) "
		   "{ pthread_create(&t, 0, quick, 0); pthread_detach(t); }\n"
		   "pthread_create(&t, 0, last, 0); pthread_exit(0); }\n");
	write_file("hw2/script.py", "import sys\nsys.exit(5)\n");
	write_file("outside/x.c", "int f(void) { return 1; }\n");
	if (!realpath("/usr/bin/gcc", gcc_bin) || !realpath("/usr/bin/g++", gxx_bin) ||
	    !realpath("/usr/bin/python3", py_bin)) {
		fprintf(stderr, "gcc, g++ and /usr/bin/python3 are needed (scripts/install-deps.sh --test)\n");
		exit(1);
	}
}

static json_t *find_event(struct receiver *r, size_t n, const char *url, const char *key,
			  const char *value)
{
	for (size_t i = 0; i < n; i++) {
		struct received rc;
		json_t *body;

		if (receiver_get(r, i, &rc) < 0)
			continue;
		body = strcmp(rc.url, url) == 0 ? json_loads(rc.body, 0, NULL) : NULL;
		received_free(&rc);
		if (body && strcmp(json_string_value(json_object_get(body, key)) ?: "", value) == 0)
			return body;
		json_decref(body);
	}
	fprintf(stderr, "no event at %s with %s=%s\n", url, key, value);
	return NULL;
}

/* Fields every payload carries, with their exact expected values. */
static void check_common(json_t *ev, int exit_code, const char *cmdline, const char *cwd,
			 const char *signal)
{
	const char *ts = json_string_value(json_object_get(ev, "timestamp"));
	struct tm tm = { 0 };
	double dur = json_real_value(json_object_get(ev, "duration_ms"));

	CHECK_INT(json_integer_value(json_object_get(ev, "exit_code")), exit_code);
	CHECK_STR(json_string_value(json_object_get(ev, "cmdline")), cmdline);
	CHECK_STR(json_string_value(json_object_get(ev, "cwd")), cwd);
	CHECK_STR(json_string_value(json_object_get(ev, "hostname")), "jcode-os-1-202012345");
	if (signal)
		CHECK_STR(json_string_value(json_object_get(ev, "signal")), signal);
	else
		CHECK(json_is_null(json_object_get(ev, "signal")));
	CHECK(json_is_false(json_object_get(ev, "core_dumped")));
	CHECK_INT(json_integer_value(json_object_get(ev, "uid")), 0);
	CHECK(json_integer_value(json_object_get(ev, "pid")) > 1);
	CHECK(json_integer_value(json_object_get(ev, "ppid")) > 1);
	CHECK(json_is_real(json_object_get(ev, "duration_ms")));
	/* boot id, pid, task start time: the same process always has the same id. */
	{
		char want[128];
		const char *id = json_string_value(json_object_get(ev, "event_id"));

		snprintf(want, sizeof(want), "%s-%lld-", event_boot_id(),
			 json_integer_value(json_object_get(ev, "pid")));
		CHECK(id && strncmp(id, want, strlen(want)) == 0 &&
		      strspn(id + strlen(want), "0123456789") == strlen(id + strlen(want)));
	}
	CHECK(dur > 0 && dur < 60000);
	/* ISO 8601 UTC with offset and microseconds, between start and now. */
	CHECK(ts && strlen(ts) == 32 && strcmp(ts + 26, "+00:00") == 0 && ts[19] == '.');
	CHECK(ts && strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) != NULL);
	CHECK(timegm(&tm) >= started - 1 && timegm(&tm) <= time(NULL) + 1);
}

static void check_truncated(json_t *ev, const char *field)
{
	json_t *t = json_object_get(ev, "truncated");

	CHECK(json_is_array(t));
	if (!field) {
		CHECK_INT(json_array_size(t), 0);
		return;
	}
	CHECK_INT(json_array_size(t), 1);
	CHECK_STR(json_string_value(json_array_get(t, 0)), field);
}

static void check_build(struct receiver *r, size_t n, const char *src, const char *cmdline,
			const char *cwd, const char *bin)
{
	char target[PATH_MAX];
	json_t *ev;

	snprintf(target, sizeof(target), PROJECT "/%s", src);
	ev = find_event(r, n, "/api/os-1/hw1/202012345/logs/build", "cmdline", cmdline);
	CHECK(ev != NULL);
	if (!ev)
		return;
	CHECK_INT(contract_fields_before_insight(ev), 16);	/* with "compiler" */
	CHECK_STR(json_string_value(json_object_get(ev, "compiler")), strrchr(bin, '-') - 3);
	CHECK_STR(json_string_value(json_object_get(ev, "target_path")), target);
	check_common(ev, 0, cmdline, cwd, NULL);
	CHECK_STR(json_string_value(json_object_get(ev, "binary_path")), bin);
	check_truncated(ev, NULL);
	json_decref(ev);
}

static json_t *check_run(struct receiver *r, size_t n, const char *url, const char *cmdline,
			 const char *target, const char *type, int exit_code, const char *signal)
{
	json_t *ev = find_event(r, n, url, "cmdline", cmdline);

	CHECK(ev != NULL);
	if (!ev)
		return NULL;
	/* a Python run also carries "python_version" */
	CHECK_INT(contract_fields_before_insight(ev), strcmp(type, "python") == 0 ? 17 : 16);
	CHECK_STR(json_string_value(json_object_get(ev, "target_path")), target);
	CHECK_STR(json_string_value(json_object_get(ev, "process_type")), type);
	check_common(ev, exit_code, cmdline, json_string_value(json_object_get(ev, "cwd")), signal);
	return ev;
}

static const char *student_script =
	"cd " PROJECT "/hw1 && gcc main.c -o a.out && g++ -o hello hello.cpp && "
	"gcc -O0 seg.c -o seg && gcc -pthread threads.c -o threads && ./threads; ./a.out; ./seg; "
	"./a.out \"$(printf \"\\377\")\"; ./a.out \"$(head -c 9000 /dev/zero | tr \"\\0\" x)\"; "
	"cd \"" PROJECT "/hw1/a\nb\" && gcc -c ../main.c -o /dev/null; "
	"cd " PROJECT " && /usr/bin/python3 hw2/script.py arg1; "
	"cd " PROJECT "/outside && gcc -c x.c -o /dev/null; "
	"cd " PROJECT "/hw1/" DEEP " && /bin/true; true";

static void check_events(struct receiver *r)
{
	char long_cmd[9100];
	json_t *ev;
	size_t n = receiver_count(r);

	CHECK_INT(n, EXPECTED_EVENTS);
	check_build(r, n, "hw1/main.c", "gcc main.c -o a.out", PROJECT "/hw1", gcc_bin);
	check_build(r, n, "hw1/hello.cpp", "g++ -o hello hello.cpp", PROJECT "/hw1", gxx_bin);
	check_build(r, n, "hw1/seg.c", "gcc -O0 seg.c -o seg", PROJECT "/hw1", gcc_bin);

	/* A path with a newline is reported as it is, JSON-escaped. */
	ev = find_event(r, n, "/api/os-1/hw1/202012345/logs/build", "cwd", PROJECT "/hw1/a\nb");
	CHECK(ev != NULL);
	if (ev) {
		CHECK_STR(json_string_value(json_object_get(ev, "target_path")), PROJECT "/hw1/main.c");
		json_decref(ev);
	}

	ev = check_run(r, n, "/api/os-1/hw1/202012345/logs/run", "./a.out",
		       PROJECT "/hw1/a.out", "binary", 3, NULL);
	if (ev) {
		CHECK_STR(json_string_value(json_object_get(ev, "cwd")), PROJECT "/hw1");
		CHECK_STR(json_string_value(json_object_get(ev, "binary_path")), PROJECT "/hw1/a.out");
		check_truncated(ev, NULL);
		json_decref(ev);
	}
	check_build(r, n, "hw1/threads.c", "gcc -pthread threads.c -o threads", PROJECT "/hw1",
		    gcc_bin);
	/* One event for five tasks, with the status exit(4) gave the group. */
	ev = check_run(r, n, "/api/os-1/hw1/202012345/logs/run", "./threads",
		       PROJECT "/hw1/threads", "binary", 4, NULL);
	json_decref(ev);
	/* Segfault: 128 + 11, not upstream's 0. */
	ev = check_run(r, n, "/api/os-1/hw1/202012345/logs/run", "./seg",
		       PROJECT "/hw1/seg", "binary", 139, "SIGSEGV");
	json_decref(ev);
	/* A byte that is not UTF-8 becomes U+FFFD instead of losing the event. */
	ev = check_run(r, n, "/api/os-1/hw1/202012345/logs/run", "./a.out \xef\xbf\xbd",
		       PROJECT "/hw1/a.out", "binary", 3, NULL);
	json_decref(ev);
	/* argv beyond 8 KiB: kept up to the limit and flagged. */
	strcpy(long_cmd, "./a.out ");
	memset(long_cmd + 8, 'x', 8192 - 8);
	long_cmd[8192] = '\0';
	ev = check_run(r, n, "/api/os-1/hw1/202012345/logs/run", long_cmd,
		       PROJECT "/hw1/a.out", "binary", 3, NULL);
	if (ev) {
		check_truncated(ev, "argv");
		json_decref(ev);
	}
	ev = check_run(r, n, "/api/os-1/hw2/202012345/logs/run", "/usr/bin/python3 hw2/script.py arg1",
		       PROJECT "/hw2/script.py", "python", 5, NULL);
	if (ev) {
		CHECK_STR(json_string_value(json_object_get(ev, "cwd")), PROJECT);
		CHECK_STR(json_string_value(json_object_get(ev, "binary_path")), py_bin);
		CHECK_STR(json_string_value(json_object_get(ev, "python_version")), strrchr(py_bin, '/') + 7);
		json_decref(ev);
	}
}

static void check_metrics(int port, double other_before)
{
	CHECK_INT(agent_metric(port, "pipeline_events_total{result=\"success\",service=\"procmon\"}"),
		  EXPECTED_EVENTS);
	/* gcc -c x.c outside any homework directory. */
	CHECK_INT(agent_metric(port, "pipeline_events_total{result=\"filtered\",service=\"procmon\"}"), 1);
	CHECK_INT(agent_metric(port, "pipeline_events_total{result=\"failure\",service=\"procmon\"}"), 0);
	/* /bin/true in "jcode-bad": tracked by the kernel, rejected by identity. */
	CHECK_INT(agent_metric(port, "identity_invalid_total{service=\"procmon\"}"), 1);
	CHECK_INT(agent_metric(port, "bpf_events_lost_total{service=\"procmon\"}"), 0);
	CHECK_INT(agent_metric(port, "events_truncated_total{field=\"argv\",service=\"procmon\"}"), 1);
	CHECK_INT(agent_metric(port, "events_truncated_total{field=\"cwd\",service=\"procmon\"}"), 1);
	CHECK_INT(agent_metric(port, "events_truncated_total{field=\"exe\",service=\"procmon\"}"), 0);
	CHECK_INT(agent_metric(port, "active_hosts_current{service=\"procmon\"}"), 1);
	/* Three execs under "lab-server": filtered in the kernel. */
	CHECK(agent_metric(port, "bpf_exec_filtered_total{reason=\"hostname\",service=\"procmon\"}") >=
	      other_before + 3);
}

/* Before any thread: unshare(CLONE_NEWNS) is per thread. */
static int hide_lib_modules(void)
{
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", "/lib/modules", "tmpfs", MS_RDONLY, "mode=755") < 0 ||
	    mount("/usr/src", "/usr/src", NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, "/usr/src", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
		perror("hiding /lib/modules");
		return -1;
	}
	return 0;
}

/* Where the headers came from, as the agent's log says. */
static void check_headers_log(const char *log_path, const char *state)
{
	struct utsname uts;
	char *log = support_slurp(log_path);
	char want[PATH_MAX + 128];

	uname(&uts);
	CHECK(log != NULL);
	if (!log)
		return;
	snprintf(want, sizeof(want), "WARN  headers: /lib/modules/%s/build missing; using /usr/src/linux-headers-",
		 uts.release);
	CHECK(strstr(log, want) != NULL);
	snprintf(want, sizeof(want), "libbcc compiles against %s/kernel-headers/linux-headers-", state);
	CHECK(strstr(log, want) != NULL);
	CHECK(strstr(log, "safe because struct offsets come from BTF") != NULL);
	/* nothing written where the node's headers live */
	CHECK_INT(support_count_entries("/lib/modules"), 0);
	CHECK_INT(support_count_entries(state), 1);
}

/* A copy of the file (support_slurp()'s buffer is reused). */
static char *slurp_copy(const char *path)
{
	char *text = support_slurp(path);

	return text ? strdup(text) : NULL;
}

/* The agent never maps libbcc or LLVM: the loader child compiled and is
 * gone.  And the records come the way asked for. */
static void check_lean(pid_t pid, const char *log_path, bool perf)
{
	char path[64], *maps, *status, *log, *rss;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = slurp_copy(path);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	status = slurp_copy(path);
	log = slurp_copy(log_path);
	CHECK(maps && status && log);
	if (!maps || !status || !log)
		goto out;
	CHECK(strstr(maps, "libbcc") == NULL);
	CHECK(strstr(maps, "LLVM") == NULL);
	CHECK(strstr(maps, "libclang") == NULL);
	rss = strstr(status, "VmRSS:");
	CHECK(rss && strtol(rss + 6, NULL, 10) < 40 * 1024);	/* kB; it was 162 MB */
	CHECK(strstr(log, perf ? "records through the per-CPU perf buffer" :
			   "records through the ring buffer") != NULL);
out:
	free(maps);
	free(status);
	free(log);
}

int main(int argc, char **argv)
{
	int skip = e2e_require_kernel(), port = free_port(), rc;
	char log_path[] = "/tmp/jcw-e2e-agent-XXXXXX", api[64], envp_api[96], envp_port[32];
	char spool[] = "/tmp/jcw-e2e-spool-XXXXXX", envp_spool[64];
	char state[] = "/tmp/jcw-e2e-state-XXXXXX", envp_state[64];
	char *env[] = { envp_api, envp_port, envp_spool, envp_state, "LOG_LEVEL=DEBUG", NULL, NULL };
	bool hidden = argc > 2 && !strcmp(argv[2], "--hide-lib-modules");
	bool perf = argc > 2 && !strcmp(argv[2], "--perf-buffer");
	struct receiver *r;
	double other_before;
	pid_t pid;

	if (skip)
		return skip;
	if (argc < 2) {
		fprintf(stderr, "usage: %s path/to/jcode-watcher [--hide-lib-modules|--perf-buffer]\n",
			argv[0]);
		return 2;
	}
	if (hidden && hide_lib_modules() < 0)
		return 1;
	make_workspace();
	close(mkstemp(log_path));
	r = receiver_start(0);
	CHECK(r != NULL);
	if (!r)
		return TEST_DONE();
	receiver_validate(r, true);	/* as the backend would: 422 when not */
	snprintf(api, sizeof(api), "http://127.0.0.1:%d", receiver_port(r));
	snprintf(envp_api, sizeof(envp_api), "API_SERVER=%s", api);
	snprintf(envp_port, sizeof(envp_port), "METRICS_PORT=%d", port);
	/* A spool of our own: nothing left by another run is replayed here. */
	if (!mkdtemp(spool))
		return 1;
	snprintf(envp_spool, sizeof(envp_spool), "SPOOL_DIR=%s", spool);
	/* And a STATE_DIR: headers it assembles stay out of the host's. */
	if (!mkdtemp(state))
		return 1;
	snprintf(envp_state, sizeof(envp_state), "STATE_DIR=%s", state);
	if (perf)
		env[5] = "RING_BUFFER=off";
	pid = agent_spawn(argv[1], env, NULL, log_path);
	if (agent_wait_ready(pid, port, 60000, log_path) < 0) {
		CHECK(!"agent ready");
		return TEST_DONE();
	}
	started = time(NULL);
	check_lean(pid, log_path, perf);

	other_before = agent_metric(port, "bpf_exec_filtered_total{reason=\"hostname\",service=\"procmon\"}");
	CHECK_INT(student_shell(ws, "jcode-os-1-202012345", student_script), 0);
	/* The same workspace, from a host that is not a student container. */
	setenv("WS", ws, 1);
	CHECK_INT(system("unshare --uts sh -c 'hostname lab-server && /bin/true && /bin/true && "
			 "cd \"$WS/hw1\" && ./a.out; true'"), 0);
	CHECK_INT(system("unshare --uts sh -c 'hostname jcode-bad && /bin/true'"), 0);

	receiver_wait(r, EXPECTED_EVENTS, 20000);
	/* Anything extra would have arrived by now. */
	usleep(1500 * 1000);
	check_events(r);
	check_metrics(port, other_before);
	CHECK_INT(receiver_rejected(r, NULL, 0), 0);

	rc = agent_stop(pid, 0, 20000);
	CHECK_INT(rc, 0);
	if (hidden)
		check_headers_log(log_path, state);
	if (tl_failures)
		dump_file(log_path);
	receiver_stop(r);
	unlink(log_path);
	support_rm_rf(spool);
	support_rm_rf(state);
	return TEST_DONE();
}
