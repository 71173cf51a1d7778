/*
 * e2e_layouts.c - real student images, issue #7: the real agent, real
 * probes, a loopback receiver, one student session per layout.
 *
 * Each session is a UTS namespace named jcode-os-1-202012345 and a mount
 * namespace where the workspace is bind-mounted where an image puts it:
 *   /config/workspace           linuxserver/code-server
 *   /home/coder/project         codercom/code-server
 *   /workspace/os-1-202012345   the host-side volume (a templated root)
 * and where Python lives elsewhere than /usr/bin: copied into
 * /usr/local/bin and /opt/conda/bin (tmpfs over them in the namespace), a
 * venv, a "#!/usr/bin/env python3" script, and the machine's pyenv when it
 * has one.  Compilers: gcc, cc, c++, clang, clang++; gcc's cc1 run by hand
 * is never reported; a program named python3 in hw1 is a student binary;
 * work in another student's templated workspace is never sent, and counted.
 * Every field of every payload is asserted.
 */
#define _GNU_SOURCE
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

#define HOST "jcode-os-1-202012345"
#define ME "os-1-202012345"
#define OTHER "os-1-202099999"
/* A real pyenv install, when the machine has one: its newest CPython 3. */
#define PYENV_GLOB "/root/.pyenv/versions/3.*/bin/python3"
#define PATH_ENV "export PATH=/usr/sbin:/usr/bin:/sbin:/bin; "

static char root[64], ws[PATH_MAX], other_ws[PATH_MAX];
static char gcc_bin[PATH_MAX], gxx_bin[PATH_MAX], clang_bin[PATH_MAX], py_bin[PATH_MAX];
static char cc1[PATH_MAX], gcc_name[64], gxx_name[64], clang_name[64], py_ver[16];
static char local_bin[PATH_MAX], local_cmd[PATH_MAX + 16], conda_bin[PATH_MAX], pyenv_bin[PATH_MAX];
static char pyenv[PATH_MAX], pyenv_cmd[PATH_MAX + 16], pyenv_ver[16];
static bool have_pyenv;
static const char *agent_bin;
static time_t started;

/* What one payload must be, field by field. */
struct want {
	const char *url;
	const char *cmdline;
	const char *cwd;
	const char *target;
	const char *type;	/* "python" / "binary"; NULL for a build */
	const char *binary;
	int exit_code;
	const char *version;	/* compiler or python_version; NULL = null */
};

static void write_file(const char *dir, const char *rel, const char *text, mode_t mode)
{
	char path[2 * PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, mode) < 0) {
		perror(path);
		exit(1);
	}
}

static void resolve(const char *path, char *out)
{
	if (!realpath(path, out)) {
		fprintf(stderr, "%s is needed (scripts/install-deps.sh --test)\n", path);
		exit(1);
	}
}

/* The compiler as the agent names it: from its own name on, the triplet dropped. */
static void name_of(const char *bin, const char *prefix_strip, char *out, size_t len)
{
	const char *b = strrchr(bin, '/') + 1;
	const char *p = strstr(b, prefix_strip);

	snprintf(out, len, "%s", p ? p : b);
}

static void find_pyenv(void)
{
	glob_t g;
	const char *dir;

	if (glob(PYENV_GLOB, 0, NULL, &g) != 0)
		return;
	/* any one will do: the last in glob's order */
	snprintf(pyenv, sizeof(pyenv), "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	if (!realpath(pyenv, pyenv_bin))
		return;
	snprintf(pyenv_cmd, sizeof(pyenv_cmd), "%s s.py", pyenv);
	/* ".../versions/3.12.1/bin/python3" -> "3.12" */
	dir = strstr(pyenv, "/versions/") + strlen("/versions/");
	snprintf(pyenv_ver, sizeof(pyenv_ver), "%.*s", (int)(strchr(dir + 2, '.') ?
		 (size_t)(strchr(dir + 2, '.') - dir) : strcspn(dir, "/")), dir);
	if (strchr(pyenv_ver, '/'))
		*strchr(pyenv_ver, '/') = '\0';
	have_pyenv = true;
}

static void find_tools(void)
{
	FILE *f;

	resolve("/usr/bin/gcc", gcc_bin);
	resolve("/usr/bin/g++", gxx_bin);
	resolve("/usr/bin/clang", clang_bin);
	resolve("/usr/bin/python3", py_bin);
	/* Debian: x86_64-linux-gnu-gcc-12 -> gcc-12, .../llvm-14/bin/clang -> clang-14 */
	name_of(gcc_bin, "gcc", gcc_name, sizeof(gcc_name));
	name_of(gxx_bin, "g++", gxx_name, sizeof(gxx_name));
	snprintf(clang_name, sizeof(clang_name), "clang-%d",
		 atoi(strstr(clang_bin, "llvm-") ? strstr(clang_bin, "llvm-") + 5 : "0"));
	snprintf(py_ver, sizeof(py_ver), "%s", strrchr(py_bin, '/') + 7);	/* "python3.11" */
	f = popen("gcc -print-prog-name=cc1", "r");
	if (!f || !fgets(cc1, sizeof(cc1), f) || cc1[0] != '/') {
		fprintf(stderr, "cannot find gcc's cc1\n");
		exit(1);
	}
	pclose(f);
	cc1[strcspn(cc1, "\n")] = '\0';
	find_pyenv();
	/* the copies keep Debian's name: python3.11 */
	snprintf(local_bin, sizeof(local_bin), "/usr/local/bin/%s", strrchr(py_bin, '/') + 1);
	snprintf(local_cmd, sizeof(local_cmd), "%s s.py", local_bin);
	snprintf(conda_bin, sizeof(conda_bin), "/opt/conda/bin/%s", strrchr(py_bin, '/') + 1);
	fprintf(stderr, "tools: %s (%s), %s (%s), %s (%s), %s (%s), cc1 %s, pyenv %s\n",
		gcc_bin, gcc_name, gxx_bin, gxx_name, clang_bin, clang_name, py_bin, py_ver, cc1,
		have_pyenv ? pyenv : "absent: pyenv layout not tried");
}

static void make_workspaces(void)
{
	char cmd[PATH_MAX * 4];

	snprintf(root, sizeof(root), "/tmp/jcw-layouts-XXXXXX");
	if (!mkdtemp(root))
		exit(1);
	snprintf(ws, sizeof(ws), "%s/" ME, root);
	snprintf(other_ws, sizeof(other_ws), "%s/" OTHER, root);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/hw1' '%s/hw2' '%s/hw1'", ws, ws, other_ws);
	if (system(cmd) != 0)
		exit(1);
	write_file(ws, "hw1/main.c", "int main(void) { return 3; }\n", 0644);
	write_file(ws, "hw1/hello.cpp", "#include <cstdio>\nint main() { std::puts(\"hi\"); }\n", 0644);
	write_file(ws, "hw2/s.py", "import sys\nsys.exit(5)\n", 0644);
	write_file(ws, "hw2/run.py", "#!/usr/bin/env python3\nimport sys\nsys.exit(0)\n", 0755);
	write_file(other_ws, "hw1/main.c", "int main(void) { return 7; }\n", 0644);
	write_file(other_ws, "hw1/s.py", "import sys\nsys.exit(7)\n", 0644);
}

/* linuxserver/code-server: compilers of every name, cc1 by hand, and a
 * student program called python3. */
static int session_config(void)
{
	char script[PATH_MAX * 4];

	snprintf(script, sizeof(script), PATH_ENV
		 "cd /config/workspace/hw1 && gcc main.c -o a.out && ./a.out; "
		 "cc -o c.out main.c && c++ -o cxx.out hello.cpp && "
		 "clang -o clang.out main.c && clang++ -o clangxx.out hello.cpp && "
		 "'%s' -quiet main.c -o /dev/null && "
		 "gcc -o python3 main.c && ./python3 x.py; true", cc1);
	return student_shell_at(ws, HOST, "/config/workspace", script);
}

/* codercom/code-server: a venv and a script run through its shebang. */
static int session_coder(void)
{
	return student_shell_at(ws, HOST, "/home/coder/project", PATH_ENV
		"mount -t tmpfs none /opt && /usr/bin/python3 -m venv --without-pip /opt/venv && "
		"cd /home/coder/project/hw2 && /opt/venv/bin/python run.py && ./run.py");
}

/* The host-side volume as a templated root; Python in /usr/local/bin, in
 * /opt/conda/bin and from pyenv; and another student's workspace. */
static int session_workspace(void)
{
	char script[PATH_MAX * 8];

	snprintf(script, sizeof(script), PATH_ENV
		 "cd /workspace/" ME "/hw1 && gcc -c main.c -o /dev/null && "
		 "mount -t tmpfs none /usr/local/bin && cp '%s' /usr/local/bin/ && "
		 "mount -t tmpfs none /opt && mkdir -p /opt/conda/bin && cp '%s' /opt/conda/bin/ && "
		 "ln -s %s /opt/conda/bin/python3 && cd ../hw2 && "
		 "{ PYTHONHOME=/usr /usr/local/bin/%s s.py; test $? = 5; } && "
		 "{ PYTHONHOME=/usr /opt/conda/bin/python3 s.py; test $? = 5; } && "
		 "{ %s; test $? = 5; } && "
		 "mkdir /workspace/" OTHER " && mount --bind '%s' /workspace/" OTHER " && "
		 "cd /workspace/" OTHER "/hw1 && gcc main.c -o a.out && { ./a.out; python3 s.py; true; }",
		 py_bin, py_bin, strrchr(py_bin, '/') + 1, strrchr(py_bin, '/') + 1,
		 have_pyenv ? pyenv_cmd : "exit 5", other_ws);
	return student_shell_at(ws, HOST, "/workspace/" ME, script);
}

static json_t *find_event(struct receiver *r, size_t n, const char *url, const char *cmdline)
{
	json_t *found = NULL;

	for (size_t i = 0; i < n; i++) {
		struct received rc;
		json_t *body;

		if (receiver_get(r, i, &rc) < 0)
			continue;
		body = strcmp(rc.url, url) == 0 ? json_loads(rc.body, 0, NULL) : NULL;
		received_free(&rc);
		if (body && strcmp(json_string_value(json_object_get(body, "cmdline")) ?: "",
				   cmdline) == 0) {
			CHECK(found == NULL);	/* exactly one */
			json_decref(found);
			found = body;
			continue;
		}
		json_decref(body);
	}
	if (!found)
		fprintf(stderr, "no event at %s with cmdline \"%s\"\n", url, cmdline);
	return found;
}

static void check_str_or_null(json_t *ev, const char *key, const char *want)
{
	json_t *v = json_object_get(ev, key);

	CHECK(v != NULL);
	if (want)
		CHECK_STR(json_string_value(v), want);
	else
		CHECK(json_is_null(v));
}

static void check_common(json_t *ev, const struct want *w)
{
	const char *ts = json_string_value(json_object_get(ev, "timestamp"));
	const char *id = json_string_value(json_object_get(ev, "event_id"));
	double dur = json_real_value(json_object_get(ev, "duration_ms"));
	struct tm tm = { 0 };
	char want_id[128];

	CHECK_INT(json_integer_value(json_object_get(ev, "exit_code")), w->exit_code);
	CHECK_STR(json_string_value(json_object_get(ev, "cmdline")), w->cmdline);
	CHECK_STR(json_string_value(json_object_get(ev, "cwd")), w->cwd);
	CHECK_STR(json_string_value(json_object_get(ev, "target_path")), w->target);
	CHECK_STR(json_string_value(json_object_get(ev, "binary_path")), w->binary);
	CHECK_STR(json_string_value(json_object_get(ev, "hostname")), HOST);
	CHECK(json_is_null(json_object_get(ev, "signal")));
	CHECK(json_is_false(json_object_get(ev, "core_dumped")));
	CHECK_INT(json_integer_value(json_object_get(ev, "uid")), 0);
	CHECK(json_integer_value(json_object_get(ev, "pid")) > 1);
	CHECK(json_integer_value(json_object_get(ev, "ppid")) > 1);
	CHECK(json_is_array(json_object_get(ev, "truncated")));
	CHECK_INT(json_array_size(json_object_get(ev, "truncated")), 0);
	CHECK(json_is_real(json_object_get(ev, "duration_ms")));
	CHECK(dur > 0 && dur < 60000);
	snprintf(want_id, sizeof(want_id), "%s-%lld-", event_boot_id(),
		 json_integer_value(json_object_get(ev, "pid")));
	CHECK(id && strncmp(id, want_id, strlen(want_id)) == 0 &&
	      strspn(id + strlen(want_id), "0123456789") == strlen(id + strlen(want_id)));
	CHECK(ts && strlen(ts) == 32 && strcmp(ts + 26, "+00:00") == 0 && ts[19] == '.');
	CHECK(ts && strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) != NULL);
	CHECK(timegm(&tm) >= started - 1 && timegm(&tm) <= time(NULL) + 1);
}

static void check_event(struct receiver *r, size_t n, const struct want *w)
{
	json_t *ev = find_event(r, n, w->url, w->cmdline);

	CHECK(ev != NULL);
	if (!ev)
		return;
	check_common(ev, w);
	if (!w->type) {
		/* the contract's six, ten extras, and the compiler */
		CHECK_INT(contract_fields_before_insight(ev), 16);
		check_str_or_null(ev, "compiler", w->version);
		CHECK(json_object_get(ev, "process_type") == NULL);
	} else if (strcmp(w->type, "python") == 0) {
		CHECK_INT(contract_fields_before_insight(ev), 17);
		CHECK_STR(json_string_value(json_object_get(ev, "process_type")), "python");
		check_str_or_null(ev, "python_version", w->version);
	} else {
		CHECK_INT(contract_fields_before_insight(ev), 16);
		CHECK_STR(json_string_value(json_object_get(ev, "process_type")), w->type);
		CHECK(json_object_get(ev, "python_version") == NULL);
		CHECK(json_object_get(ev, "compiler") == NULL);
	}
	json_decref(ev);
}

#define CFG "/config/workspace"
#define CODER "/home/coder/project"
#define WSP "/workspace/" ME
#define BUILD1 "/api/os-1/hw1/202012345/logs/build"
#define RUN1 "/api/os-1/hw1/202012345/logs/run"
#define RUN2 "/api/os-1/hw2/202012345/logs/run"

static const struct want wants[] = {
	/* linuxserver/code-server */
	{ BUILD1, "gcc main.c -o a.out", CFG "/hw1", CFG "/hw1/main.c", NULL, gcc_bin, 0, gcc_name },
	{ RUN1, "./a.out", CFG "/hw1", CFG "/hw1/a.out", "binary", CFG "/hw1/a.out", 3, NULL },
	{ BUILD1, "cc -o c.out main.c", CFG "/hw1", CFG "/hw1/main.c", NULL, gcc_bin, 0, gcc_name },
	{ BUILD1, "c++ -o cxx.out hello.cpp", CFG "/hw1", CFG "/hw1/hello.cpp", NULL, gxx_bin, 0,
	  gxx_name },
	{ BUILD1, "clang -o clang.out main.c", CFG "/hw1", CFG "/hw1/main.c", NULL, clang_bin, 0,
	  clang_name },
	{ BUILD1, "clang++ -o clangxx.out hello.cpp", CFG "/hw1", CFG "/hw1/hello.cpp", NULL,
	  clang_bin, 0, clang_name },
	{ BUILD1, "gcc -o python3 main.c", CFG "/hw1", CFG "/hw1/main.c", NULL, gcc_bin, 0, gcc_name },
	/* a student program named python3: a binary, not Python */
	{ RUN1, "./python3 x.py", CFG "/hw1", CFG "/hw1/python3", "binary", CFG "/hw1/python3", 3,
	  NULL },
	/* codercom/code-server: a venv's python resolves to its base interpreter */
	{ RUN2, "/opt/venv/bin/python run.py", CODER "/hw2", CODER "/hw2/run.py", "python", py_bin, 0,
	  py_ver },
	/* "#!/usr/bin/env python3": env execs python3, whose argv is reported */
	{ RUN2, "python3 ./run.py", CODER "/hw2", CODER "/hw2/run.py", "python", py_bin, 0, py_ver },
	/* the templated root, this student's own */
	{ BUILD1, "gcc -c main.c -o /dev/null", WSP "/hw1", WSP "/hw1/main.c", NULL, gcc_bin, 0,
	  gcc_name },
	{ RUN2, local_cmd, WSP "/hw2", WSP "/hw2/s.py", "python", local_bin, 5, py_ver },
	{ RUN2, "/opt/conda/bin/python3 s.py", WSP "/hw2", WSP "/hw2/s.py", "python", conda_bin, 5,
	  py_ver },
	{ RUN2, pyenv_cmd, WSP "/hw2", WSP "/hw2/s.py", "python", pyenv_bin, 5, pyenv_ver },
};

#define NWANTS (sizeof(wants) / sizeof(wants[0]))

static size_t expected_events(void)
{
	return have_pyenv ? NWANTS : NWANTS - 1;
}

/* Nothing from another student's workspace, nothing from cc1, and nothing
 * beyond the table. */
static void check_nothing_else(struct receiver *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct received rc;

		if (receiver_get(r, i, &rc) < 0)
			continue;
		CHECK(strstr(rc.body, OTHER) == NULL);
		CHECK(strstr(rc.body, "202099999") == NULL);
		CHECK(strstr(rc.body, "\"binary_path\":\"" ) != NULL);
		CHECK(strstr(rc.body, "/cc1\"") == NULL);
		CHECK(strstr(rc.body, "-m venv") == NULL);
		received_free(&rc);
	}
}

static double metric(int port, const char *series)
{
	return agent_metric(port, series);
}

static void check_metrics(int port)
{
	CHECK_INT(metric(port, "pipeline_events_total{result=\"success\",service=\"procmon\"}"),
		  expected_events());
	/* python3 -m venv, and gcc, ./a.out and python3 in the other workspace */
	CHECK_INT(metric(port, "pipeline_events_total{result=\"filtered\",service=\"procmon\"}"), 4);
	CHECK_INT(metric(port, "pipeline_events_total{result=\"failure\",service=\"procmon\"}"), 0);
	CHECK_INT(metric(port, "pipeline_dropped_total{reason=\"no_source\",service=\"procmon\"}"), 1);
	CHECK_INT(metric(port, "pipeline_dropped_total{reason=\"other_student\",service=\"procmon\"}"), 3);
	CHECK_INT(metric(port, "pipeline_dropped_total{reason=\"outside_homework\",service=\"procmon\"}"),
		  0);
	CHECK_INT(metric(port, "identity_invalid_total{service=\"procmon\"}"), 0);
	CHECK_INT(metric(port, "bpf_events_lost_total{service=\"procmon\"}"), 0);
}

/* One agent run: a receiver, a spool and a log of its own.  args are the
 * agent's flags (NULL for none). */
struct run {
	struct receiver *r;
	int port;
	pid_t pid;
	char log_path[32];
	char spool[32];
};

static int run_start(struct run *x, const char *bin, char *const args[])
{
	char envp_api[96], envp_port[32], envp_spool[64];
	char *env[] = { envp_api, envp_port, envp_spool, "LOG_LEVEL=DEBUG", NULL };

	snprintf(x->log_path, sizeof(x->log_path), "/tmp/jcw-e2e-layouts-XXXXXX");
	snprintf(x->spool, sizeof(x->spool), "/tmp/jcw-e2e-spool-XXXXXX");
	/* The receiver first: its ephemeral port must not be the one that
	 * free_port() just saw free for the agent's metrics. */
	x->r = receiver_start(0);
	x->port = free_port();
	CHECK(x->r != NULL);
	if (!x->r || !mkdtemp(x->spool) || mkstemp(x->log_path) < 0)
		return -1;
	receiver_validate(x->r, true);	/* as the backend would: 422 when not */
	snprintf(envp_api, sizeof(envp_api), "API_SERVER=http://127.0.0.1:%d", receiver_port(x->r));
	snprintf(envp_port, sizeof(envp_port), "METRICS_PORT=%d", x->port);
	snprintf(envp_spool, sizeof(envp_spool), "SPOOL_DIR=%s", x->spool);
	x->pid = agent_spawn(bin, env, args, x->log_path);
	if (agent_wait_ready(x->pid, x->port, 60000, x->log_path) < 0) {
		CHECK(!"agent ready");
		return -1;
	}
	started = time(NULL);
	return 0;
}

static void run_stop(struct run *x)
{
	CHECK_INT(agent_stop(x->pid, 0, 20000), 0);
	if (tl_failures)
		dump_file(x->log_path);
	receiver_stop(x->r);
	unlink(x->log_path);
	support_rm_rf(x->spool);
}

/* The default roots, every layout above. */
static void test_default_roots(void)
{
	struct run x;
	size_t n;

	if (run_start(&x, agent_bin, NULL) < 0)
		return;
	CHECK_INT(session_config(), 0);
	CHECK_INT(session_coder(), 0);
	CHECK_INT(session_workspace(), 0);

	receiver_wait(x.r, expected_events(), 20000);
	/* Anything extra would have arrived by now. */
	usleep(1500 * 1000);
	n = receiver_count(x.r);
	CHECK_INT(n, expected_events());
	for (size_t i = 0; i < NWANTS; i++) {
		if (wants[i].binary == pyenv_bin && !have_pyenv)
			continue;
		check_event(x.r, n, &wants[i]);
	}
	check_nothing_else(x.r, n);
	check_metrics(x.port);
	CHECK_INT(receiver_rejected(x.r, NULL, 0), 0);
	run_stop(&x);
}

/* --workspace-root replaces the defaults: a custom image's layout is
 * reported, /config/workspace no longer is (and says why). */
static void test_configured_root(void)
{
	char *args[] = { "--workspace-root", "/srv/lab/{student_id}/code", NULL };
	const struct want w = {
		BUILD1, "gcc main.c -o /dev/null", "/srv/lab/202012345/code/hw1",
		"/srv/lab/202012345/code/hw1/main.c", NULL, gcc_bin, 0, gcc_name,
	};
	struct run x;

	if (run_start(&x, agent_bin, args) < 0)
		return;
	CHECK_INT(student_shell_at(ws, HOST, "/srv/lab/202012345/code", PATH_ENV
				   "cd hw1 && gcc main.c -o /dev/null"), 0);
	CHECK_INT(student_shell_at(ws, HOST, "/config/workspace", PATH_ENV
				   "cd hw1 && gcc -c main.c -o /dev/null"), 0);
	receiver_wait(x.r, 1, 20000);
	usleep(1500 * 1000);
	CHECK_INT(receiver_count(x.r), 1);
	check_event(x.r, receiver_count(x.r), &w);
	CHECK_INT(metric(x.port, "pipeline_events_total{result=\"success\",service=\"procmon\"}"), 1);
	CHECK_INT(metric(x.port, "pipeline_events_total{result=\"filtered\",service=\"procmon\"}"), 1);
	CHECK_INT(metric(x.port, "pipeline_dropped_total{reason=\"outside_homework\",service=\"procmon\"}"),
		  1);
	run_stop(&x);
}

int main(int argc, char **argv)
{
	int skip = e2e_require_kernel();

	if (skip)
		return skip;
	if (argc < 2) {
		fprintf(stderr, "usage: %s path/to/jcode-watcher\n", argv[0]);
		return 2;
	}
	/* the defaults: /home/coder/project, /config/workspace, /workspace/{...} */
	unsetenv("WORKSPACE_ROOTS");
	find_tools();
	make_workspaces();
	agent_bin = argv[1];
	RUN(test_default_roots);
	RUN(test_configured_root);
	support_rm_rf(root);
	return TEST_DONE();
}
