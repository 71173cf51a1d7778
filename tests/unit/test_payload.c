/* test_payload.c - exact API paths and bodies for build and run events. */
#include <stdbool.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract.h"
#include "payload.h"
#include "event_id.h"
#include "event_id_testing.h"
#include "testlib.h"

/* 2026-11-23T07:19:40.123456789Z */
#define WALL_NS (1795418380LL * 1000000000LL + 123456789LL)

static const struct identity ID = {
	.subject = "os", .division = "1", .student_id = "202012345", .class_div = "os-1",
};

static struct process base_proc(char **argv, int argc)
{
	return (struct process){
		.pid = 4242, .ppid = 4200, .uid = 1000,
		.exec_ns = 1000000000LL, .exit_ns = 1012345678LL,	/* 12.345678 ms */
		.exit_wall_ns = WALL_NS,
		.hostname = "jcode-os-1-202012345",
		.start_time = 987654321ULL,
		.cwd = "/home/coder/project/hw1",
		.argc = argc, .argv = argv,
	};
}

static void build_ok(const struct proc_report *r, const char *want_path, const char *want_body)
{
	char *path = (char *)"unset", *body = (char *)"unset";

	char why[256] = "";

	CHECK_INT(payload_build(r, &path, &body), 0);
	CHECK_STR(path, want_path);
	CHECK_STR(body, want_body);
	/* and the backend would take it, extras and all */
	CHECK_INT(contract_check(path, body, why, sizeof(why)), 0);
	if (why[0])
		fprintf(stderr, "  contract: %s\n", why);
	free(path);
	free(body);
}

static void test_gcc_build(void)
{
	char *argv[] = { "gcc", "-o", "main", "main.c", NULL };
	struct process p = base_proc(argv, 4);
	struct proc_report r = {
		.endpoint = ENDPOINT_BUILD, .type = PROCESS_GCC, .proc = &p, .id = &ID,
		.hw = "hw1", .target_path = "/home/coder/project/hw1/main.c",
	};

	p.exe = "/usr/bin/x86_64-linux-gnu-gcc-12";
	build_ok(&r, "/api/os-1/hw1/202012345/logs/build",
		 "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		 "\"cmdline\":\"gcc -o main main.c\",\"cwd\":\"/home/coder/project/hw1\","
		 "\"binary_path\":\"/usr/bin/x86_64-linux-gnu-gcc-12\","
		 "\"target_path\":\"/home/coder/project/hw1/main.c\",\"compiler\":\"gcc-12\","
		 "\"signal\":null,\"core_dumped\":false,\"duration_ms\":12.346,"
		 "\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"truncated\":[],"
		 "\"hostname\":\"jcode-os-1-202012345\","
		 "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}");
}

static void test_python_run(void)
{
	char *argv[] = { "python3", "solve.py", "--fast", NULL };
	struct process p = base_proc(argv, 3);
	struct proc_report r = {
		.endpoint = ENDPOINT_RUN, .type = PROCESS_PYTHON, .proc = &p, .id = &ID,
		.hw = "hw2", .target_path = "/home/coder/project/hw2/solve.py",
	};

	p.exe = "/usr/bin/python3.11";
	p.cwd = "/home/coder/project/hw2";
	p.exit_status = 1;
	p.exit_code = 1;
	p.exit_ns = p.exec_ns + 2000000000LL;
	p.flags = PROCMON_F_ARGS_TRUNCATED | PROCMON_F_CWD_TRUNCATED;
	build_ok(&r, "/api/os-1/hw2/202012345/logs/run",
		 "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":1,"
		 "\"cmdline\":\"python3 solve.py --fast\",\"cwd\":\"/home/coder/project/hw2\","
		 "\"target_path\":\"/home/coder/project/hw2/solve.py\",\"process_type\":\"python\","
		 "\"binary_path\":\"/usr/bin/python3.11\",\"python_version\":\"3.11\","
		 "\"signal\":null,\"core_dumped\":false,\"duration_ms\":2000.0,"
		 "\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"truncated\":[\"argv\",\"cwd\"],"
		 "\"hostname\":\"jcode-os-1-202012345\","
		 "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}");
}

static void test_segfault_run(void)
{
	char *argv[] = { "./main", NULL };
	struct process p = base_proc(argv, 1);
	struct proc_report r = {
		.endpoint = ENDPOINT_RUN, .type = PROCESS_USER_BINARY, .proc = &p, .id = &ID,
		.hw = "hw1", .target_path = "/home/coder/project/hw1/main",
	};

	p.exe = "/home/coder/project/hw1/main";
	p.signal = 11;
	p.core_dumped = true;
	p.exit_code = 139;
	p.exit_ns = p.exec_ns + 500000;		/* 0.5 ms */
	p.flags = PROCMON_F_EXE_TRUNCATED;
	build_ok(&r, "/api/os-1/hw1/202012345/logs/run",
		 "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":139,"
		 "\"cmdline\":\"./main\",\"cwd\":\"/home/coder/project/hw1\","
		 "\"target_path\":\"/home/coder/project/hw1/main\",\"process_type\":\"binary\","
		 "\"binary_path\":\"/home/coder/project/hw1/main\","
		 "\"signal\":\"SIGSEGV\",\"core_dumped\":true,\"duration_ms\":0.5,"
		 "\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"truncated\":[\"exe\"],"
		 "\"hostname\":\"jcode-os-1-202012345\","
		 "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}");
}

/* Bad bytes become U+FFFD (UTF-8 EF BF BD) instead of losing the event;
 * a newline in a path is escaped, never a raw line break. */
static void test_bad_bytes(void)
{
	char *argv[] = { "./a.out", "\xff\xfe", "ok", NULL };
	struct process p = base_proc(argv, 3);
	struct proc_report r = {
		.endpoint = ENDPOINT_RUN, .type = PROCESS_USER_BINARY, .proc = &p, .id = &ID,
		.hw = "hw1", .target_path = "/home/coder/project/hw1/a\nb/a.out",
	};

	p.exe = "/home/coder/project/hw1/a\nb/a.out";
	p.cwd = "/home/coder/project/hw1/a\nb";
	p.exit_ns = p.exec_ns;
	build_ok(&r, "/api/os-1/hw1/202012345/logs/run",
		 "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		 "\"cmdline\":\"./a.out \xef\xbf\xbd\xef\xbf\xbd ok\","
		 "\"cwd\":\"/home/coder/project/hw1/a\\nb\","
		 "\"target_path\":\"/home/coder/project/hw1/a\\nb/a.out\",\"process_type\":\"binary\","
		 "\"binary_path\":\"/home/coder/project/hw1/a\\nb/a.out\","
		 "\"signal\":null,\"core_dumped\":false,\"duration_ms\":0.0,"
		 "\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"truncated\":[],"
		 "\"hostname\":\"jcode-os-1-202012345\","
		 "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}");
}

/* A process may exec with no argv at all; cmdline is then "". */
static void test_empty_argv(void)
{
	char *argv[] = { NULL };
	struct process p = base_proc(argv, 0);
	struct proc_report r = {
		.endpoint = ENDPOINT_BUILD, .type = PROCESS_CLANG, .proc = &p, .id = &ID,
		.hw = "hw0", .target_path = "/home/coder/project/hw0/x.c",
	};

	p.exe = NULL;	/* PROCMON_F_NO_EXE */
	p.exit_code = 1;
	p.exit_status = 1;
	build_ok(&r, "/api/os-1/hw0/202012345/logs/build",
		 "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":1,"
		 "\"cmdline\":\"\",\"cwd\":\"/home/coder/project/hw1\","
		 "\"binary_path\":\"\",\"target_path\":\"/home/coder/project/hw0/x.c\","
		 "\"compiler\":null,\"signal\":null,\"core_dumped\":false,\"duration_ms\":12.346,"
		 "\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"truncated\":[],"
		 "\"hostname\":\"jcode-os-1-202012345\","
		 "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}");
}

/* Issue #7: the interpreter's or compiler's version rides along as an
 * extra, from the executable's path; null when the path shows none. */
static void test_version_fields(void)
{
	static const struct {
		enum process_type type;
		const char *exe, *field, *want;
	} cases[] = {
		{ PROCESS_GCC, "/usr/bin/x86_64-linux-gnu-gcc-12", "compiler", "\"gcc-12\"" },
		{ PROCESS_GXX, "/usr/bin/aarch64-linux-gnu-g++-13", "compiler", "\"g++-13\"" },
		{ PROCESS_GCC, "/usr/local/bin/gcc", "compiler", "\"gcc\"" },
		{ PROCESS_CLANG, "/usr/lib/llvm-14/bin/clang", "compiler", "\"clang-14\"" },
		{ PROCESS_CLANG, "/usr/bin/clang-16", "compiler", "\"clang-16\"" },
		{ PROCESS_CLANG, "/opt/x/\xff", "compiler", "\"\xef\xbf\xbd\"" },
		{ PROCESS_GCC, "/", "compiler", "null" },
		{ PROCESS_PYTHON, "/usr/local/bin/python3.12", "python_version", "\"3.12\"" },
		{ PROCESS_PYTHON, "/opt/conda/bin/python3.11", "python_version", "\"3.11\"" },
		{ PROCESS_PYTHON, "/root/.pyenv/versions/3.12.1/bin/python3", "python_version", "\"3.12\"" },
		{ PROCESS_PYTHON, "/u/.local/share/uv/python/cpython-3.13.1-linux-x86_64-gnu/bin/python3",
		  "python_version", "\"3.13\"" },
		{ PROCESS_PYTHON, "/opt/conda/bin/python3", "python_version", "null" },
	};
	char *argv[] = { "x", "a.c", NULL };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct process p = base_proc(argv, 2);
		bool build = process_type_is_compiler(cases[i].type);
		struct proc_report r = {
			.endpoint = build ? ENDPOINT_BUILD : ENDPOINT_RUN, .type = cases[i].type,
			.proc = &p, .id = &ID, .hw = "hw1", .target_path = "/t",
		};
		char *path = NULL, *body = NULL, want[256];

		p.exe = (char *)cases[i].exe;
		CHECK_INT(payload_build(&r, &path, &body), 0);
		/* right after the contract's fields, before "signal" */
		snprintf(want, sizeof(want), "%s\"%s\":%s,\"signal\":", build ? "\"target_path\":\"/t\"," : "",
			 cases[i].field, cases[i].want);
		if (!build) {
			char head[160];

			snprintf(head, sizeof(head), "\"process_type\":\"python\",\"binary_path\":\"%s\",",
				 cases[i].exe);
			CHECK(body && strstr(body, head) != NULL);
		}
		CHECK(body && strstr(body, want) != NULL);
		if (!body || !strstr(body, want))
			fprintf(stderr, "  want %s in %s\n", want, body ? body : "(null)");
		free(path);
		free(body);
	}
}

/* A student program's run carries neither field. */
static void test_binary_has_no_version(void)
{
	char *argv[] = { "./python3.12", NULL };
	struct process p = base_proc(argv, 1);
	struct proc_report r = {
		.endpoint = ENDPOINT_RUN, .type = PROCESS_USER_BINARY, .proc = &p, .id = &ID,
		.hw = "hw1", .target_path = "/home/coder/project/hw1/python3.12",
	};
	char *path = NULL, *body = NULL;

	p.exe = "/home/coder/project/hw1/python3.12";
	CHECK_INT(payload_build(&r, &path, &body), 0);
	CHECK(body && !strstr(body, "python_version") && !strstr(body, "compiler"));
	CHECK(body && strstr(body, "\"process_type\":\"binary\",\"binary_path\":"
			       "\"/home/coder/project/hw1/python3.12\",\"signal\":null,") != NULL);
	free(path);
	free(body);
}

static void test_bad_report(void)
{
	char *argv[] = { NULL };
	struct process p = base_proc(argv, 0);
	struct proc_report r = {
		.endpoint = ENDPOINT_SNAPSHOT, .proc = &p, .id = &ID, .hw = "hw1",
	};
	char *path = (char *)"unset", *body = (char *)"unset";

	CHECK_INT(payload_build(&r, &path, &body), -EINVAL);
	CHECK(path == NULL);
	CHECK(body == NULL);
}

static void test_format_time(void)
{
	char buf[64];

	payload_format_time(WALL_NS, buf, sizeof(buf));
	CHECK_STR(buf, "2026-11-23T07:19:40.123456+00:00");
	payload_format_time(0, buf, sizeof(buf));
	CHECK_STR(buf, "1970-01-01T00:00:00.000000+00:00");
	payload_format_time(999, buf, sizeof(buf));	/* below a microsecond: truncated */
	CHECK_STR(buf, "1970-01-01T00:00:00.000000+00:00");
	payload_format_time(-1000, buf, sizeof(buf));
	CHECK_STR(buf, "1969-12-31T23:59:59.999999+00:00");
	payload_format_time(951782400LL * 1000000000LL + 1000, buf, sizeof(buf));
	CHECK_STR(buf, "2000-02-29T00:00:00.000001+00:00");
	payload_format_time(WALL_NS, buf, 11);	/* never overruns */
	CHECK_STR(buf, "2026-11-23");
	payload_format_time(WALL_NS, buf, 1);
	CHECK_STR(buf, "");
	payload_format_time(LLONG_MAX, buf, sizeof(buf));	/* the range's ends */
	CHECK_STR(buf, "2262-04-11T23:47:16.854775+00:00");
	payload_format_time(LLONG_MIN, buf, sizeof(buf));
	CHECK_STR(buf, "1677-09-21T00:12:43.145224+00:00");
}

/* Every day of the clock's range (about 1677-2262), at a second that moves
 * through the day, reads as libc's gmtime_r and strftime read it. */
static void test_format_time_against_libc(void)
{
	long long limit = LLONG_MAX / 1000000000LL - 86400, bad = 0, n = 0;

	for (long long sec = -limit, k = 0; sec < limit; sec += 86400 + 7, k++) {
		time_t t = (time_t)sec;
		struct tm tm;
		char want[64], got[64], base[32];
		long long us = (k * 7919) % 1000000;

		gmtime_r(&t, &tm);
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want, sizeof(want), "%s.%06lld+00:00", base, us);
		payload_format_time(sec * 1000000000LL + us * 1000 + 999, got, sizeof(got));
		n++;
		if (strcmp(want, got) != 0 && bad++ < 3)
			CHECK_STR(got, want);
	}
	CHECK_INT(bad, 0);
	CHECK_INT(n, 213485);
}

static void test_signal_name(void)
{
	char buf[16];

	CHECK_STR(payload_signal_name(11, buf, sizeof(buf)), "SIGSEGV");
	CHECK_STR(payload_signal_name(9, buf, sizeof(buf)), "SIGKILL");
	CHECK_STR(payload_signal_name(6, buf, sizeof(buf)), "SIGABRT");
	CHECK_STR(payload_signal_name(8, buf, sizeof(buf)), "SIGFPE");
	CHECK(payload_signal_name(0, buf, sizeof(buf)) == NULL);
	CHECK_STR(payload_signal_name(42, buf, sizeof(buf)), "SIG42");
	CHECK_STR(payload_signal_name(-3, buf, sizeof(buf)), "SIG-3");
}

static void test_event_ids(void)
{
	struct process p = base_proc(NULL, 0);
	char a[EVENT_ID_LEN], b[EVENT_ID_LEN];

	/* The same process always gets the same id: replays deduplicate. */
	event_id_process(&p, a, sizeof(a));
	event_id_process(&p, b, sizeof(b));
	CHECK_STR(a, "boot-1-4242-987654321");
	CHECK_STR(a, b);
	/* Unique ids never repeat within a run. */
	event_id_unique(a, sizeof(a));
	event_id_unique(b, sizeof(b));
	CHECK(strcmp(a, b) != 0);
	CHECK(strncmp(a, "boot-1-a", 8) == 0);
}

/* The hand-formatted process id reads as snprintf's would, at the limits
 * of both numbers, with the longest boot id, and cut to small buffers. */
static void test_event_id_extremes(void)
{
	static const char longest[] = "0123456789abcdef0123456789abcdef0123456";	/* 39 */
	struct process p = base_proc(NULL, 0);
	char got[EVENT_ID_LEN], want[EVENT_ID_LEN];

	event_set_boot_id(longest);
	p.pid = 4294967295u;
	p.start_time = 18446744073709551615ull;
	event_id_process(&p, got, sizeof(got));
	CHECK_STR(got, "0123456789abcdef0123456789abcdef0123456-4294967295-18446744073709551615");
	snprintf(want, sizeof(want), "%s-%u-%llu", longest, p.pid, p.start_time);
	CHECK_STR(got, want);
	for (size_t len = 1; len <= 12; len++) {
		memset(got, '#', sizeof(got));
		event_id_process(&p, got, len);
		CHECK_INT(strlen(got), len - 1);
		CHECK(strncmp(got, want, len - 1) == 0);
	}
	got[0] = '#';
	event_id_process(&p, got, 0);
	CHECK_INT(got[0], '#');
	event_set_boot_id("boot-1");
	p.pid = 0;
	p.start_time = 0;
	event_id_process(&p, got, sizeof(got));
	CHECK_STR(got, "boot-1-0-0");
}

/* The fields a build's insight adds, after the required six and the
 * extras, in this order. */
static void test_build_insight(void)
{
	char *argv[] = { "gcc", "-Wall", "-c", "a.c", NULL };
	struct process p = base_proc(argv, 4);
	struct insight in = { 0 };
	struct diag d[2] = {
		{ .file = "a.c", .line = 2, .column = 16, .severity = DIAG_WARNING,
		  .message = "unused variable \xE2\x80\x98x\xE2\x80\x99 [-Wunused-variable]" },
		{ .file = NULL, .severity = DIAG_ERROR, .message = "bad \xFF byte" },
	};
	char *sources[] = { "/home/coder/project/hw1/a.c" }, *flags[] = { "-Wall", "-c" };
	char err[] = "a.c:2:16: warning: \033[1mx\033[0m\0!";
	struct proc_report r = {
		.endpoint = ENDPOINT_BUILD, .type = PROCESS_GCC, .proc = &p, .id = &ID,
		.hw = "hw1", .target_path = "/home/coder/project/hw1/a.c", .insight = &in,
	};

	p.exe = "/usr/bin/gcc";
	in.has_args = true;
	in.args = (struct compile_args){ .output = "/home/coder/project/hw1/a.o",
					 .sources = sources, .n_sources = 1,
					 .flags = flags, .n_flags = 2, .compile_only = true };
	in.has_diagnostics = true;
	in.diags = (struct diag_list){ .v = d, .n = 2, .errors = 1, .warnings = 1, .omitted = 3 };
	in.has_stderr = true;
	in.stderr_text = err;
	in.stderr_len = sizeof(err) - 1;
	in.stderr_cut = true;
	build_ok(&r, "/api/os-1/hw1/202012345/logs/build",
		 "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		 "\"cmdline\":\"gcc -Wall -c a.c\",\"cwd\":\"/home/coder/project/hw1\","
		 "\"binary_path\":\"/usr/bin/gcc\","
		 "\"target_path\":\"/home/coder/project/hw1/a.c\",\"compiler\":\"gcc\","
		 "\"signal\":null,\"core_dumped\":false,\"duration_ms\":12.346,"
		 "\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"truncated\":[\"stderr\",\"diagnostics\"],"
		 "\"hostname\":\"jcode-os-1-202012345\","
		 "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0,"
		 "\"output\":\"/home/coder/project/hw1/a.o\","
		 "\"sources\":[\"/home/coder/project/hw1/a.c\"],\"flags\":[\"-Wall\",\"-c\"],"
		 "\"compile_only\":true,\"errors\":1,\"warnings\":1,"
		 "\"diagnostics\":[{\"file\":\"a.c\",\"line\":2,\"column\":16,"
		 "\"severity\":\"warning\",\"message\":\"unused variable \xE2\x80\x98x\xE2\x80\x99 "
		 "[-Wunused-variable]\"},{\"file\":null,\"line\":null,\"column\":null,"
		 "\"severity\":\"error\",\"message\":\"bad \xEF\xBF\xBD byte\"}],"
		 "\"stderr\":\"a.c:2:16: warning: \\u001B[1mx\\u001B[0m\xEF\xBF\xBD!\"}");
	/* No -o for several objects: output null; nothing captured: no stderr fields. */
	in.args.output = NULL;
	in.has_diagnostics = in.has_stderr = false;
	in.diags.omitted = 0;
	build_ok(&r, "/api/os-1/hw1/202012345/logs/build",
		 "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		 "\"cmdline\":\"gcc -Wall -c a.c\",\"cwd\":\"/home/coder/project/hw1\","
		 "\"binary_path\":\"/usr/bin/gcc\","
		 "\"target_path\":\"/home/coder/project/hw1/a.c\",\"compiler\":\"gcc\","
		 "\"signal\":null,\"core_dumped\":false,\"duration_ms\":12.346,"
		 "\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"truncated\":[],"
		 "\"hostname\":\"jcode-os-1-202012345\","
		 "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0,"
		 "\"output\":null,"
		 "\"sources\":[\"/home/coder/project/hw1/a.c\"],\"flags\":[\"-Wall\",\"-c\"],"
		 "\"compile_only\":true}");
}

static void test_run_insight(void)
{
	char *argv[] = { "python3", "div.py", NULL };
	struct process p = base_proc(argv, 2);
	struct insight in = { .has_exception = true, .exception = "ZeroDivisionError",
			      .has_stderr = true, .stderr_text = "ZeroDivisionError: division by zero\n",
			      .stderr_len = 36 };
	struct proc_report r = {
		.endpoint = ENDPOINT_RUN, .type = PROCESS_PYTHON, .proc = &p, .id = &ID,
		.hw = "hw1", .target_path = "/home/coder/project/hw1/div.py", .insight = &in,
	};

	p.exe = "/usr/bin/python3.11";
	p.exit_code = 1;
	build_ok(&r, "/api/os-1/hw1/202012345/logs/run",
		 "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":1,"
		 "\"cmdline\":\"python3 div.py\",\"cwd\":\"/home/coder/project/hw1\","
		 "\"target_path\":\"/home/coder/project/hw1/div.py\",\"process_type\":\"python\","
		 "\"binary_path\":\"/usr/bin/python3.11\",\"python_version\":\"3.11\","
		 "\"signal\":null,\"core_dumped\":false,\"duration_ms\":12.346,"
		 "\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"truncated\":[],"
		 "\"hostname\":\"jcode-os-1-202012345\","
		 "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0,"
		 "\"exception\":\"ZeroDivisionError\","
		 "\"stderr\":\"ZeroDivisionError: division by zero\\n\"}");
	/* A binary: built_by always (null when unknown), stderr when crashed. */
	in = (struct insight){ .is_binary = true, .built_by = "boot-1-77-5" };
	r.type = PROCESS_USER_BINARY;
	r.target_path = p.exe = "/home/coder/project/hw1/prog";
	argv[0] = "./prog";
	p.argc = 1;
	p.signal = 6;
	p.exit_code = 134;
	in.has_stderr = true;
	in.stderr_text = "prog: a.c:2: main: Assertion `0' failed.\n";
	in.stderr_len = strlen(in.stderr_text);
	build_ok(&r, "/api/os-1/hw1/202012345/logs/run",
		 "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":134,"
		 "\"cmdline\":\"./prog\",\"cwd\":\"/home/coder/project/hw1\","
		 "\"target_path\":\"/home/coder/project/hw1/prog\",\"process_type\":\"binary\","
		 "\"binary_path\":\"/home/coder/project/hw1/prog\","
		 "\"signal\":\"SIGABRT\",\"core_dumped\":false,\"duration_ms\":12.346,"
		 "\"pid\":4242,\"ppid\":4200,\"uid\":1000,\"truncated\":[],"
		 "\"hostname\":\"jcode-os-1-202012345\","
		 "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0,"
		 "\"built_by\":\"boot-1-77-5\","
		 "\"stderr\":\"prog: a.c:2: main: Assertion `0' failed.\\n\"}");
}

/* The kernel's usage: ns become ms with 3 decimals, counters as they are,
 * a counter past the JSON range held at its end. */
static void test_usage(void)
{
	char *argv[] = { "./prog", NULL };
	struct process p = base_proc(argv, 1);
	struct proc_report r = {
		.endpoint = ENDPOINT_RUN, .type = PROCESS_USER_BINARY, .proc = &p, .id = &ID,
		.hw = "hw1", .target_path = "/home/coder/project/hw1/prog",
	};
	char *path, *body;

	p.exe = "/home/coder/project/hw1/prog";
	p.usage = (struct proc_usage){ .cpu_ns = 12345678, .utime_ns = 10000000, .stime_ns = 2345499,
				       .max_rss_kb = 5120, .min_flt = 97, .maj_flt = 1,
				       .read_bytes = 832, .write_bytes = 2, .ctx_switches = 3,
				       .threads = 1, .children = ~0ull >> 32 };
	p.usage.read_bytes = ~0ull;
	CHECK_INT(payload_build(&r, &path, &body), 0);
	CHECK(strstr(body, "\"event_id\":\"boot-1-4242-987654321\",\"cpu_ms\":12.346,"
		     "\"cpu_user_ms\":10.0,\"cpu_sys_ms\":2.345,\"max_rss_kb\":5120,"
		     "\"minor_faults\":97,\"major_faults\":1,\"read_bytes\":9223372036854775807,"
		     "\"write_bytes\":2,\"ctx_switches\":3,\"threads\":1,\"children\":4294967295}")
	      != NULL);
	free(path);
	free(body);
}

int main(void)
{
	event_set_boot_id("boot-1");
	RUN(test_event_ids);
	RUN(test_event_id_extremes);
	RUN(test_gcc_build);
	RUN(test_python_run);
	RUN(test_segfault_run);
	RUN(test_bad_bytes);
	RUN(test_empty_argv);
	RUN(test_version_fields);
	RUN(test_binary_has_no_version);
	RUN(test_bad_report);
	RUN(test_format_time);
	RUN(test_format_time_against_libc);
	RUN(test_signal_name);
	RUN(test_build_insight);
	RUN(test_run_insight);
	RUN(test_usage);
	return TEST_DONE();
}
