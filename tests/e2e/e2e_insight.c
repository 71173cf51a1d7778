/*
 * e2e_insight.c - what instructors see of a student's trial and error, on
 * the real kernel with the real compilers: a session of failed and passing
 * compiles and runs in a student container, every stderr, diagnostic,
 * exception, built_by and resource field asserted; then the same agent
 * with CAPTURE= sends none of the stderr fields.  Every payload goes
 * through a receiver that validates the contract's required fields.
 *
 * The expected texts are gcc 12's, clang 14's and Python 3.11's (Debian
 * 12, the CI machine), under LC_ALL=C.UTF-8 and with stderr not a terminal
 * (no colours).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "event_id.h"
#include "receiver.h"
#include "student.h"
#include "support.h"
#include "testlib.h"

#define PROJECT "/home/coder/project"
#define HW1 PROJECT "/hw1"
#define BUILD_URL "/api/os-1/hw1/202012345/logs/build"
#define RUN_URL "/api/os-1/hw1/202012345/logs/run"
#define SESSION_EVENTS 23

static char ws[PATH_MAX], top[PATH_MAX];	/* the workspace, and the directory made for it */

static void write_file(const char *rel, const char *text)
{
	support_write_file(ws, rel, text);
}

static void make_workspace(void)
{
	char tmpl[] = "/tmp/jcw-e2e-insight-XXXXXX", cmd[PATH_MAX + 32];

	if (!mkdtemp(tmpl))
		exit(1);
	snprintf(top, sizeof(top), "%s", tmpl);
	snprintf(ws, sizeof(ws), "%s/os-1-202012345", tmpl);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/hw1'", ws);
	if (system(cmd) != 0)
		exit(1);
	write_file("hw1/semi.c", "int main(void)\n{\n\tint x = 1\n\treturn x;\n}\n");
	write_file("hw1/unused.c", "int main(void)\n{\n\tint unused;\n\treturn 0;\n}\n");
	write_file("hw1/undef.c", "void missing(void);\nint main(void)\n{\n\tmissing();\n\treturn 0;\n}\n");
	write_file("hw1/div.py", "x = 0\nprint(1 / x)\n");
	write_file("hw1/syn.py", "def f(:\n    pass\n");
	write_file("hw1/assert.c", "#include <assert.h>\nint main(void)\n{\n\tassert(0);\n}\n");
	write_file("hw1/seg.c", "int main(void)\n{\n\tvolatile int *p = 0;\n\treturn *p;\n}\n");
	write_file("hw1/a.c", "int two(void) { return 2; }\n");
	write_file("hw1/b.c", "#include <stdio.h>\nint two(void);\nint main(void)\n{\n"
		   "\tprintf(\"%d\\n\", two());\n\treturn 0;\n}\n");
	/* resources: 300 ms of CPU, 100 MiB touched, 10 MiB written, 5 forks,
	 * 4 threads alive at once */
	write_file("hw1/busy.c", "#include <time.h>\nint main(void)\n{\n\tstruct timespec t;\n"
		   "\tvolatile unsigned long x = 0;\n\tdo {\n"
		   "\t\tfor (int i = 0; i < 100000; i++)\n\t\t\tx += i;\n"
		   "\t\tclock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);\n"
		   "\t} while (t.tv_sec * 1000 + t.tv_nsec / 1000000 < 300);\n\treturn 0;\n}\n");
	write_file("hw1/mem.c", "#include <stdlib.h>\n#include <string.h>\nint main(void)\n{\n"
		   "\tchar *p = malloc(100 << 20);\n\tmemset(p, 1, 100 << 20);\n"
		   "\tfree(p);\n\treturn 0;\n}\n");
	write_file("hw1/wr.c", "#include <fcntl.h>\n#include <unistd.h>\nstatic char b[1 << 20];\n"
		   "int main(void)\n{\n\tint fd = open(\"out.bin\", O_WRONLY | O_CREAT | O_TRUNC, 0600);\n"
		   "\tfor (int i = 0; i < 10; i++)\n\t\tif (write(fd, b, sizeof b) != sizeof b)\n"
		   "\t\t\treturn 1;\n\treturn 0;\n}\n");
	write_file("hw1/forks.c", "#include <sys/wait.h>\n#include <unistd.h>\nint main(void)\n{\n"
		   "\tfor (int i = 0; i < 5; i++)\n\t\tif (fork() == 0)\n\t\t\t_exit(0);\n"
		   "\twhile (wait(NULL) > 0)\n\t\t;\n\treturn 0;\n}\n");
	write_file("hw1/thr.c", "#include <pthread.h>\nstatic pthread_barrier_t b;\n"
		   "static void *run(void *a)\n{\n\tpthread_barrier_wait(&b);\n\treturn a;\n}\n"
		   "int main(void)\n{\n\tpthread_t t[3];\n\tpthread_barrier_init(&b, 0, 4);\n"
		   "\tfor (int i = 0; i < 3; i++)\n\t\tpthread_create(&t[i], 0, run, 0);\n"
		   "\tpthread_barrier_wait(&b);\n\tfor (int i = 0; i < 3; i++)\n"
		   "\t\tpthread_join(t[i], 0);\n\treturn 0;\n}\n");
}

/* stderr to a file, never a terminal: no colours, whoever runs the test;
 * the system's Python, whatever PATH finds first (a pyenv shim). */
static const char *session =
	"export LC_ALL=C.UTF-8; exec 2>/dev/null; cd " HW1 " && "
	"gcc semi.c -o semi; gcc -Wall unused.c -o unused; gcc undef.c -o undef; "
	"clang semi.c -o semic; /usr/bin/python3 div.py; /usr/bin/python3 syn.py; "
	"gcc assert.c -o assert && ./assert; gcc seg.c -o seg && ./seg; "
	"gcc -c a.c && gcc a.o b.c -o prog && ./prog; "
	"gcc busy.c -o busy && ./busy; gcc mem.c -o mem && ./mem; gcc wr.c -o wr && ./wr; "
	"gcc forks.c -o forks && ./forks; gcc -pthread thr.c -o thr && ./thr; true";

static json_t *find(struct receiver *r, const char *url, const char *cmdline)
{
	size_t n = receiver_count(r);

	for (size_t i = 0; i < n; i++) {
		struct received rc;
		json_t *body;

		if (receiver_get(r, i, &rc) < 0)
			continue;
		body = strcmp(rc.url, url) == 0 ? json_loads(rc.body, 0, NULL) : NULL;
		received_free(&rc);
		if (body && strcmp(json_string_value(json_object_get(body, "cmdline")) ?: "",
				   cmdline) == 0)
			return body;
		json_decref(body);
	}
	fprintf(stderr, "no event at %s with cmdline %s\n", url, cmdline);
	CHECK(!"event found");
	return NULL;
}

static const char *str(json_t *ev, const char *key)
{
	return json_string_value(json_object_get(ev, key));
}

static long long num(json_t *ev, const char *key)
{
	json_t *v = json_object_get(ev, key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* The resources every event carries: numbers of the right kind, in range. */
static void check_resources(json_t *ev)
{
	static const char *const counts[] = {
		"max_rss_kb", "minor_faults", "major_faults", "read_bytes", "write_bytes",
		"ctx_switches", "threads", "children",
	};
	static const char *const times[] = { "cpu_ms", "cpu_user_ms", "cpu_sys_ms" };
	size_t i;

	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		json_t *v = json_object_get(ev, times[i]);

		CHECK(json_is_number(v));
		CHECK(json_number_value(v) >= 0 && json_number_value(v) < 60000);
	}
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		CHECK(num(ev, counts[i]) >= 0);
	CHECK(num(ev, "max_rss_kb") > 100 && num(ev, "max_rss_kb") < 4 * 1024 * 1024);
	CHECK(num(ev, "threads") >= 1);
	CHECK(num(ev, "minor_faults") > 0);
	/* the whole is its parts, to the rounding of each */
	CHECK(json_number_value(json_object_get(ev, "cpu_ms")) + 0.003 >=
	      json_number_value(json_object_get(ev, "cpu_user_ms")) +
	      json_number_value(json_object_get(ev, "cpu_sys_ms")) - 1.0);
}

static void check_diag(json_t *ev, size_t i, const char *file, long long line,
		       long long column, const char *severity, const char *message)
{
	json_t *d = json_array_get(json_object_get(ev, "diagnostics"), i);

	CHECK(json_is_object(d));
	if (file)
		CHECK_STR(str(d, "file"), file);
	else
		CHECK(json_is_null(json_object_get(d, "file")));
	if (line)
		CHECK_INT(num(d, "line"), line);
	else
		CHECK(json_is_null(json_object_get(d, "line")));
	if (column)
		CHECK_INT(num(d, "column"), column);
	else
		CHECK(json_is_null(json_object_get(d, "column")));
	CHECK_STR(str(d, "severity"), severity);
	CHECK_STR(str(d, "message"), message);
	CHECK_INT(json_object_size(d), 5);
}

static void check_counts(json_t *ev, int exit_code, long long errors, long long warnings,
			 size_t listed)
{
	CHECK_INT(num(ev, "exit_code"), exit_code);
	CHECK_INT(num(ev, "errors"), errors);
	CHECK_INT(num(ev, "warnings"), warnings);
	CHECK_INT(json_array_size(json_object_get(ev, "diagnostics")), listed);
}

static bool truncated_has(json_t *ev, const char *field)
{
	json_t *t = json_object_get(ev, "truncated");

	for (size_t i = 0; i < json_array_size(t); i++) {
		if (strcmp(json_string_value(json_array_get(t, i)) ?: "", field) == 0)
			return true;
	}
	return false;
}

static void check_build_args(json_t *ev, const char *output, const char *source,
			     const char *flag, bool compile_only, long long children)
{
	json_t *src = json_object_get(ev, "sources"), *flags = json_object_get(ev, "flags");

	CHECK_STR(str(ev, "output"), output);
	CHECK_INT(json_array_size(src), 1);
	CHECK_STR(json_string_value(json_array_get(src, 0)), source);
	CHECK_INT(json_array_size(flags), flag ? 1 : 0);
	if (flag)
		CHECK_STR(json_string_value(json_array_get(flags, 0)), flag);
	CHECK(json_is_boolean(json_object_get(ev, "compile_only")) &&
	      json_is_true(json_object_get(ev, "compile_only")) == compile_only);
	CHECK(!truncated_has(ev, "stderr"));
	check_resources(ev);
	/* the driver's own forks: gcc starts cc1, then as and collect2 as far
	 * as the compile gets; clang runs its -cc1 in a child, then ld */
	CHECK_INT(num(ev, "children"), children);
	CHECK_INT(num(ev, "threads"), 1);
}

static void check_compiles(struct receiver *r)
{
	json_t *ev;

	ev = find(r, BUILD_URL, "gcc semi.c -o semi");
	if (ev) {
		check_counts(ev, 1, 1, 0, 1);
		check_diag(ev, 0, "semi.c", 4, 9, "error",
			   "expected \xE2\x80\x98,\xE2\x80\x99 or \xE2\x80\x98;\xE2\x80\x99 before "
			   "\xE2\x80\x98return\xE2\x80\x99");
		CHECK_STR(str(ev, "stderr"),
			  "semi.c: In function \xE2\x80\x98main\xE2\x80\x99:\n"
			  "semi.c:4:9: error: expected \xE2\x80\x98,\xE2\x80\x99 or \xE2\x80\x98;"
			  "\xE2\x80\x99 before \xE2\x80\x98return\xE2\x80\x99\n"
			  "    4 |         return x;\n"
			  "      |         ^~~~~~\n");
		check_build_args(ev, HW1 "/semi", HW1 "/semi.c", NULL, false, 1);	/* cc1 */
		json_decref(ev);
	}
	ev = find(r, BUILD_URL, "gcc -Wall unused.c -o unused");
	if (ev) {
		check_counts(ev, 0, 0, 1, 1);
		check_diag(ev, 0, "unused.c", 3, 13, "warning",
			   "unused variable \xE2\x80\x98unused\xE2\x80\x99 [-Wunused-variable]");
		check_build_args(ev, HW1 "/unused", HW1 "/unused.c", "-Wall", false, 3);
		json_decref(ev);
	}
	ev = find(r, BUILD_URL, "gcc undef.c -o undef");
	if (ev) {
		const char *err = str(ev, "stderr") ?: "";
		const char *tail = "undef.c:(.text+0x5): undefined reference to `missing'\n"
				   "collect2: error: ld returned 1 exit status\n";

		/* one undefined reference is one error: collect2's line repeats it */
		check_counts(ev, 1, 1, 0, 1);
		check_diag(ev, 0, "undef.c", 0, 0, "error", "undefined reference to `missing'");
		CHECK(strncmp(err, "/usr/bin/ld: /tmp/cc", 20) == 0);
		CHECK(strlen(err) > strlen(tail) && !strcmp(err + strlen(err) - strlen(tail), tail));
		check_build_args(ev, HW1 "/undef", HW1 "/undef.c", NULL, false, 3);
		json_decref(ev);
	}
	ev = find(r, BUILD_URL, "clang semi.c -o semic");
	if (ev) {
		check_counts(ev, 1, 1, 0, 1);
		check_diag(ev, 0, "semi.c", 3, 11, "error", "expected ';' at end of declaration");
		CHECK_STR(str(ev, "stderr"),
			  "semi.c:3:11: error: expected ';' at end of declaration\n"
			  "        int x = 1\n"
			  "                 ^\n"
			  "                 ;\n"
			  "1 error generated.\n");
		check_build_args(ev, HW1 "/semic", HW1 "/semi.c", NULL, false, 1);
		json_decref(ev);
	}
}

static void check_python(struct receiver *r)
{
	json_t *ev = find(r, RUN_URL, "/usr/bin/python3 div.py");

	if (ev) {
		const char *err = str(ev, "stderr") ?: "";
		const char *last = strrchr(err, '\n') && strlen(err) > 1 ?
				   memrchr(err, '\n', strlen(err) - 1) : NULL;

		CHECK_INT(num(ev, "exit_code"), 1);
		CHECK_STR(str(ev, "exception"), "ZeroDivisionError");
		CHECK_STR(last ? last + 1 : NULL, "ZeroDivisionError: division by zero\n");
		CHECK_STR(err, "Traceback (most recent call last):\n"
			  "  File \"" HW1 "/div.py\", line 2, in <module>\n"
			  "    print(1 / x)\n"
			  "          ~~^~~\n"
			  "ZeroDivisionError: division by zero\n");
		CHECK(json_object_get(ev, "diagnostics") == NULL);
		CHECK(json_object_get(ev, "built_by") == NULL);
		check_resources(ev);
		json_decref(ev);
	}
	ev = find(r, RUN_URL, "/usr/bin/python3 syn.py");
	if (ev) {
		CHECK_INT(num(ev, "exit_code"), 1);
		CHECK_STR(str(ev, "exception"), "SyntaxError");
		CHECK_STR(str(ev, "stderr"), "  File \"" HW1 "/syn.py\", line 1\n"
			  "    def f(:\n"
			  "          ^\n"
			  "SyntaxError: invalid syntax\n");
		json_decref(ev);
	}
}

/* The event id of the build with this command line. */
static char *build_id(struct receiver *r, const char *cmdline)
{
	json_t *ev = find(r, BUILD_URL, cmdline);
	char *id = ev && str(ev, "event_id") ? strdup(str(ev, "event_id")) : NULL;

	json_decref(ev);
	return id;
}

static void check_binaries(struct receiver *r)
{
	char *assert_id = build_id(r, "gcc assert.c -o assert");
	char *seg_id = build_id(r, "gcc seg.c -o seg");
	char *prog_id = build_id(r, "gcc a.o b.c -o prog");
	json_t *ev;

	CHECK(assert_id && seg_id && prog_id);
	ev = find(r, RUN_URL, "./assert");
	if (ev) {
		CHECK_INT(num(ev, "exit_code"), 134);
		CHECK_STR(str(ev, "signal"), "SIGABRT");
		CHECK_STR(str(ev, "stderr"), "assert: assert.c:4: main: Assertion `0' failed.\n");
		CHECK_STR(str(ev, "built_by"), assert_id);
		CHECK(json_object_get(ev, "exception") == NULL);
		check_resources(ev);
		CHECK_INT(num(ev, "threads"), 1);
		CHECK_INT(num(ev, "children"), 0);
		json_decref(ev);
	}
	/* Killed with nothing on stderr: the field is there, and empty. */
	ev = find(r, RUN_URL, "./seg");
	if (ev) {
		CHECK_INT(num(ev, "exit_code"), 139);
		CHECK_STR(str(ev, "signal"), "SIGSEGV");
		CHECK_STR(str(ev, "stderr"), "");
		CHECK_STR(str(ev, "built_by"), seg_id);
		json_decref(ev);
	}
	/* gcc -c a.c; gcc a.o b.c -o prog; ./prog: the second build made it. */
	ev = find(r, BUILD_URL, "gcc -c a.c");
	if (ev) {
		check_counts(ev, 0, 0, 0, 0);
		CHECK_STR(str(ev, "stderr"), "");
		check_build_args(ev, HW1 "/a.o", HW1 "/a.c", "-c", true, 2);	/* cc1, as */
		json_decref(ev);
	}
	ev = find(r, BUILD_URL, "gcc a.o b.c -o prog");
	if (ev) {
		check_counts(ev, 0, 0, 0, 0);
		CHECK_STR(str(ev, "target_path"), HW1 "/b.c");
		check_build_args(ev, HW1 "/prog", HW1 "/b.c", NULL, false, 3);
		json_decref(ev);
	}
	ev = find(r, RUN_URL, "./prog");
	if (ev) {
		CHECK_INT(num(ev, "exit_code"), 0);
		CHECK_STR(str(ev, "built_by"), prog_id);
		CHECK(json_object_get(ev, "stderr") == NULL);	/* exited well: its own business */
		check_resources(ev);
		CHECK_INT(num(ev, "write_bytes"), 2);		/* "2\n" */
		CHECK_INT(num(ev, "threads"), 1);
		CHECK_INT(num(ev, "children"), 0);
		json_decref(ev);
	}
	free(assert_id);
	free(seg_id);
	free(prog_id);
}

/* A run of one of the resource programs, its build found and checked. */
static json_t *resource_run(struct receiver *r, const char *build, const char *run)
{
	json_t *ev = find(r, BUILD_URL, build);

	if (ev) {
		CHECK_INT(num(ev, "exit_code"), 0);
		check_resources(ev);
		json_decref(ev);
	}
	ev = find(r, RUN_URL, run);
	if (ev) {
		CHECK_INT(num(ev, "exit_code"), 0);
		check_resources(ev);
	}
	return ev;
}

static double ms(json_t *ev, const char *key)
{
	return json_number_value(json_object_get(ev, key));
}

/* The kernel's resource fields, against programs that use a known amount. */
static void check_resource_runs(struct receiver *r)
{
	json_t *ev = resource_run(r, "gcc busy.c -o busy", "./busy");

	if (ev) {
		/* 300 ms of its own CPU, with exec and the shell's fork around it */
		CHECK(ms(ev, "cpu_ms") >= 250 && ms(ev, "cpu_ms") <= 450);
		if (ms(ev, "cpu_user_ms") < 200)
			fprintf(stderr, "busy: cpu %.3f user %.3f sys %.3f ms\n", ms(ev, "cpu_ms"),
				ms(ev, "cpu_user_ms"), ms(ev, "cpu_sys_ms"));
		CHECK(ms(ev, "cpu_user_ms") >= 200);	/* a loop in user space */
		CHECK(ms(ev, "cpu_ms") + 0.003 >= ms(ev, "cpu_user_ms") + ms(ev, "cpu_sys_ms"));
		CHECK(ms(ev, "cpu_ms") - 0.003 <= ms(ev, "cpu_user_ms") + ms(ev, "cpu_sys_ms"));
		CHECK(ms(ev, "duration_ms") >= 250);
		CHECK_INT(num(ev, "children"), 0);
		json_decref(ev);
	}
	ev = resource_run(r, "gcc mem.c -o mem", "./mem");
	if (ev) {
		CHECK(num(ev, "max_rss_kb") >= 100000);
		CHECK(num(ev, "max_rss_kb") < 200000);
		CHECK(num(ev, "minor_faults") >= 100 * 256 / 2);	/* 4 KiB pages, or THP halves */
		json_decref(ev);
	}
	ev = resource_run(r, "gcc wr.c -o wr", "./wr");
	if (ev) {
		CHECK_INT(num(ev, "write_bytes"), 10 << 20);
		CHECK(num(ev, "max_rss_kb") < 100000);
		json_decref(ev);
	}
	ev = resource_run(r, "gcc forks.c -o forks", "./forks");
	if (ev) {
		CHECK_INT(num(ev, "children"), 5);
		CHECK_INT(num(ev, "threads"), 1);
		json_decref(ev);
	}
	ev = resource_run(r, "gcc -pthread thr.c -o thr", "./thr");
	if (ev) {
		CHECK_INT(num(ev, "threads"), 4);
		CHECK_INT(num(ev, "children"), 0);
		json_decref(ev);
	}
}

/* The agent's attached tracepoints, as the kernel has them: perf events
 * among its open files (the ring buffer is a map, not a perf event). */
static int perf_event_fds(pid_t pid)
{
	char dir[64], link[PATH_MAX + 96], target[64];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	dp = opendir(dir);
	if (!dp)
		return -1;
	while ((d = readdir(dp))) {
		ssize_t len;

		snprintf(link, sizeof(link), "%s/%s", dir, d->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, "anon_inode:[perf_event]") == 0;
	}
	closedir(dp);
	return n;
}

/*
 * What the kernel bounds, with CAPTURE=binary alone: one write past 4 KiB
 * is cut; a writev is read iovec by iovec; a program that floods stderr
 * spends its root's 64 KiB budget and the rest is dropped, counted and
 * flagged.  Compilers are not captured then.
 */
/* stderr to a file here, not /dev/null: /dev/null takes a writev without
 * reading it, so iovecs of string literals no one touched are not even
 * paged in when the probe reads them (counted as dropped then). */
static const char *hostile =
	"export LC_ALL=C.UTF-8; cd " HW1 " && exec 2>err.txt; "
	"gcc big.c -o big && ./big; gcc wv.c -o wv && ./wv; gcc flood.c -o flood && ./flood; "
	"ls /nonexistent; true";

static void write_hostile(void)
{
	write_file("hw1/big.c", "#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n"
		   "int main(void)\n{\n\tstatic char b[6000];\n\tmemset(b, 'x', sizeof b);\n"
		   "\tif (write(2, b, sizeof b) < 0)\n\t\treturn 1;\n\tabort();\n}\n");
	write_file("hw1/wv.c", "#include <stdlib.h>\n#include <sys/uio.h>\nint main(void)\n{\n"
		   "\tstruct iovec v[] = { { \"ab\", 2 }, { \"c\\n\", 2 }, { \"d\", 1 } };\n"
		   "\tif (writev(2, v, 3) < 0)\n\t\treturn 1;\n\tabort();\n}\n");
	write_file("hw1/flood.c", "#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n"
		   "int main(void)\n{\n\tchar b[1000];\n\tfor (int i = 0; i < 100; i++) {\n"
		   "\t\tmemset(b, '0' + i % 10, sizeof b - 1);\n\t\tb[sizeof b - 1] = '\\n';\n"
		   "\t\tif (write(2, b, sizeof b) < 0)\n\t\t\treturn 1;\n\t}\n\tabort();\n}\n");
}

static void check_hostile(struct receiver *r, int port)
{
	char want[4097];
	json_t *ev = find(r, RUN_URL, "./big");

	if (ev) {
		memset(want, 'x', 4096);
		want[4096] = '\0';
		CHECK_STR(str(ev, "stderr"), want);	/* 4 records of 1 KiB, the last flagged */
		CHECK(truncated_has(ev, "stderr"));
		json_decref(ev);
	}
	ev = find(r, RUN_URL, "./wv");
	if (ev) {
		CHECK_STR(str(ev, "stderr"), "abc\nd");
		CHECK(!truncated_has(ev, "stderr"));
		json_decref(ev);
	}
	ev = find(r, RUN_URL, "./flood");
	if (ev) {
		const char *err = str(ev, "stderr") ?: "";

		/* 65 of the 100 writes fit 64 KiB; the run keeps the last 4 KiB
		 * of them: write 64 ("4" x 999) at the end */
		CHECK_INT(strlen(err), 4096);
		memset(want, '4', 999);
		want[999] = '\n';
		want[1000] = '\0';
		CHECK(strlen(err) >= 1000 && !strcmp(err + strlen(err) - 1000, want));
		CHECK(truncated_has(ev, "stderr"));
		json_decref(ev);
	}
	ev = find(r, BUILD_URL, "gcc flood.c -o flood");
	if (ev) {
		CHECK(json_object_get(ev, "stderr") == NULL);	/* builds not captured */
		json_decref(ev);
	}
	/* big 4 + wv 3 + flood 65; ls is the system's, not marked */
	CHECK_INT(agent_metric(port, "bpf_stderr_records_total{service=\"procmon\"}"), 72);
	CHECK_INT(agent_metric(port, "bpf_stderr_cut_total{service=\"procmon\"}"), 1);
	CHECK_INT(agent_metric(port, "bpf_stderr_dropped_total{service=\"procmon\"}"), 35);
	CHECK_INT(agent_metric(port, "capture_dropped_total{reason=\"budget\",service=\"procmon\"}"), 1);
	CHECK_INT(agent_metric(port, "capture_dropped_total{reason=\"cut\",service=\"procmon\"}"), 1);
}

/* No body carries a stderr field, or what is read from one. */
static void check_no_stderr_fields(struct receiver *r, size_t want)
{
	size_t n = receiver_count(r);

	CHECK_INT(n, want);
	for (size_t i = 0; i < n; i++) {
		struct received rc;
		json_t *ev;

		if (receiver_get(r, i, &rc) < 0)
			continue;
		ev = json_loads(rc.body, 0, NULL);
		CHECK(ev != NULL);
		CHECK(json_object_get(ev, "stderr") == NULL);
		CHECK(json_object_get(ev, "diagnostics") == NULL);
		CHECK(json_object_get(ev, "errors") == NULL);
		CHECK(json_object_get(ev, "exception") == NULL);
		CHECK(json_object_get(ev, "cpu_ms") != NULL);	/* resources stay */
		json_decref(ev);
		received_free(&rc);
	}
}

struct agent_run {
	struct receiver *r;
	pid_t pid;
	int port;
	char log_path[64], spool[64];
};

static int start(struct agent_run *a, const char *bin, const char *capture)
{
	char envp_api[96], envp_port[32], envp_spool[80], envp_capture[64];
	char *env[] = { envp_api, envp_port, envp_spool, envp_capture, NULL };

	snprintf(a->log_path, sizeof(a->log_path), "/tmp/jcw-e2e-insight-log-XXXXXX");
	snprintf(a->spool, sizeof(a->spool), "/tmp/jcw-e2e-insight-spool-XXXXXX");
	a->r = receiver_start(0);
	a->port = free_port();
	if (!a->r || !mkdtemp(a->spool) || mkstemp(a->log_path) < 0)
		return -1;
	receiver_validate(a->r, true);
	snprintf(envp_api, sizeof(envp_api), "API_SERVER=http://127.0.0.1:%d", receiver_port(a->r));
	snprintf(envp_port, sizeof(envp_port), "METRICS_PORT=%d", a->port);
	snprintf(envp_spool, sizeof(envp_spool), "SPOOL_DIR=%s", a->spool);
	snprintf(envp_capture, sizeof(envp_capture), "CAPTURE=%s", capture);
	a->pid = agent_spawn(bin, env, NULL, a->log_path);
	return agent_wait_ready(a->pid, a->port, 60000, a->log_path);
}

static void stop(struct agent_run *a)
{
	CHECK_INT(receiver_rejected(a->r, NULL, 0), 0);
	CHECK_INT(agent_stop(a->pid, 0, 20000), 0);
	if (tl_failures)
		dump_file(a->log_path);
	receiver_stop(a->r);
	unlink(a->log_path);
	support_rm_rf(a->spool);
}

static double metric(int port, const char *series)
{
	return agent_metric(port, series);
}

int main(int argc, char **argv)
{
	int skip = e2e_require_kernel();
	struct agent_run a;

	if (skip)
		return skip;
	if (argc < 2) {
		fprintf(stderr, "usage: %s path/to/jcode-watcher\n", argv[0]);
		return 2;
	}
	make_workspace();

	if (start(&a, argv[1], "build,python,binary") < 0) {
		CHECK(!"agent ready");
		support_rm_rf(top);	/* the agent's log was printed */
		return TEST_DONE();
	}
	CHECK_INT(student_shell(ws, "jcode-os-1-202012345", session), 0);
	receiver_wait(a.r, SESSION_EVENTS, 30000);
	usleep(1500 * 1000);	/* anything extra would have arrived by now */
	CHECK_INT(receiver_count(a.r), SESSION_EVENTS);
	check_compiles(a.r);
	check_python(a.r);
	check_binaries(a.r);
	check_resource_runs(a.r);
	/* exec, exit, fork; write and writev, at entry and exit */
	CHECK_INT(metric(a.port, "bpf_probes_attached{service=\"procmon\"}"), 7);
	CHECK_INT(perf_event_fds(a.pid), 7);
	CHECK(metric(a.port, "bpf_stderr_records_total{service=\"procmon\"}") > 0);
	CHECK_INT(metric(a.port, "bpf_stderr_cut_total{service=\"procmon\"}"), 0);
	CHECK_INT(metric(a.port, "bpf_stderr_dropped_total{service=\"procmon\"}"), 0);
	CHECK_INT(metric(a.port, "capture_dropped_total{reason=\"budget\",service=\"procmon\"}"), 0);
	CHECK_INT(metric(a.port, "capture_dropped_total{reason=\"cut\",service=\"procmon\"}"), 0);
	CHECK_INT(metric(a.port, "capture_bytes_current{service=\"procmon\"}"), 0);
	stop(&a);

	/* CAPTURE= : the same compile error, traceback and crash, no stderr. */
	if (start(&a, argv[1], "") < 0) {
		CHECK(!"agent ready");
		support_rm_rf(top);	/* the agent's log was printed */
		return TEST_DONE();
	}
	CHECK_INT(student_shell(ws, "jcode-os-1-202012345",
				"exec 2>/dev/null; cd " HW1 " && gcc semi.c -o semi; "
				"/usr/bin/python3 div.py; ./seg; true"), 0);
	receiver_wait(a.r, 3, 30000);
	usleep(1000 * 1000);
	check_no_stderr_fields(a.r, 3);
	/* no write probe at all: exec, exit and fork only */
	CHECK_INT(metric(a.port, "bpf_probes_attached{service=\"procmon\"}"), 3);
	CHECK_INT(perf_event_fds(a.pid), 3);
	CHECK_INT(metric(a.port, "bpf_stderr_records_total{service=\"procmon\"}"), 0);
	stop(&a);

	write_hostile();
	if (start(&a, argv[1], "binary") < 0) {
		CHECK(!"agent ready");
		support_rm_rf(top);	/* the agent's log was printed */
		return TEST_DONE();
	}
	CHECK_INT(student_shell(ws, "jcode-os-1-202012345", hostile), 0);
	receiver_wait(a.r, 6, 30000);
	usleep(1000 * 1000);
	CHECK_INT(receiver_count(a.r), 6);
	check_hostile(a.r, a.port);
	stop(&a);
	support_rm_rf(top);
	return TEST_DONE();
}
