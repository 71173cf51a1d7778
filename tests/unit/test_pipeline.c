/*
 * test_pipeline.c - the judgement from process to payload, end to end in
 * user space: a process goes in, the exact line the stdout sender prints
 * comes out (or nothing, with the right counter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "config.h"
#include "payload.h"
#include "event_id.h"
#include "event_id_testing.h"
#include "loop.h"
#include "metrics_testing.h"
#include "exec_record.h"
#include "pipeline.h"
#include "sender.h"
#include "identity.h"
#include "processes.h"
#include "testlib.h"

static struct loop *loop;
static struct sender *sender;
static struct classifier *classifier;
static struct pipeline *pipeline;
static FILE *out;

/* 2026-11-23T07:19:40.123456Z */

static void setup(void)
{
	struct sender_config sc = { .api_server = NULL, .queue_max = 100 };
	struct pipeline_config pc = { .host_prefix = "jcode-", .hw_max = 20 };

	metrics_reset();
	event_set_boot_id("b");
	loop = loop_create();
	out = tmpfile();
	sc.out = out;
	sender = sender_create(loop, &sc);
	classifier = classifier_create_default();
	pc.classifier = classifier;
	pc.sender = sender;
	pipeline = pipeline_create(&pc);
}

static void teardown(void)
{
	pipeline_destroy(pipeline);
	classifier_free(classifier);
	sender_destroy(sender);
	loop_destroy(loop);
	fclose(out);
}

/* Everything printed since the last call. */
static char *printed(void)
{
	static long seen;
	long end;
	char *buf;

	sender_drain(sender, 1000);
	fflush(out);
	end = ftell(out);
	buf = calloc(1, end - seen + 1);
	fseek(out, seen, SEEK_SET);
	if (fread(buf, 1, end - seen, out) != (size_t)(end - seen))
		buf[0] = '\0';
	seen = end;
	return buf;
}

static enum pipeline_result run(const char *host, const char *exe, const char *cwd,
				int argc, char **argv, int exit_code, int sig)
{
	return test_process_run(pipeline, host, exe, cwd, argc, argv, exit_code, sig);
}

static void expect_printed(const char *want)
{
	char *got = printed();

	CHECK_STR(got, want);
	free(got);
}

static void test_build(void)
{
	char *argv[] = { "gcc", "-Wall", "-o", "main", "../hw1/./main.c", NULL };

	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/x86_64-linux-gnu-gcc-12",
		      "/home/coder/project/hw1", 5, argv, 0, 0), PIPELINE_SUCCESS);
	expect_printed("{\"endpoint\":\"/api/os-1/hw1/202012345/logs/build\",\"body\":{"
		"\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		"\"cmdline\":\"gcc -Wall -o main ../hw1/./main.c\",\"cwd\":\"/home/coder/project/hw1\","
		"\"binary_path\":\"/usr/bin/x86_64-linux-gnu-gcc-12\","
		"\"target_path\":\"/home/coder/project/hw1/main.c\",\"compiler\":\"gcc-12\",\"signal\":null,"
		"\"core_dumped\":false,\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,\"uid\":1000,"
		"\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\",\"event_id\":\"b-77-0\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}}\n");
}

static void test_python_and_binary(void)
{
	char *py[] = { "python3", "-u", "hw2/script.py", "x", NULL };
	char *bin[] = { "./a.out", NULL };

	CHECK_INT(run("jcode-ai-3-2024001-5f7d9c", "/usr/bin/python3.12", "/home/coder/project",
		      4, py, 1, 0), PIPELINE_SUCCESS);
	expect_printed("{\"endpoint\":\"/api/ai-3/hw2/2024001/logs/run\",\"body\":{"
		"\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":1,"
		"\"cmdline\":\"python3 -u hw2/script.py x\",\"cwd\":\"/home/coder/project\","
		"\"target_path\":\"/home/coder/project/hw2/script.py\",\"process_type\":\"python\","
		"\"binary_path\":\"/usr/bin/python3.12\",\"python_version\":\"3.12\",\"signal\":null,"
		"\"core_dumped\":false,"
		"\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,\"uid\":1000,\"truncated\":[],"
		"\"hostname\":\"jcode-ai-3-2024001-5f7d9c\",\"event_id\":\"b-77-0\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}}\n");

	CHECK_INT(run("jcode-os-1-202012345", "/home/coder/project/hw20/a.out",
		      "/home/coder/project/hw20", 1, bin, 0, 11), PIPELINE_SUCCESS);
	expect_printed("{\"endpoint\":\"/api/os-1/hw20/202012345/logs/run\",\"body\":{"
		"\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":139,"
		"\"cmdline\":\"./a.out\",\"cwd\":\"/home/coder/project/hw20\","
		"\"target_path\":\"/home/coder/project/hw20/a.out\",\"process_type\":\"binary\","
		"\"binary_path\":\"/home/coder/project/hw20/a.out\",\"signal\":\"SIGSEGV\","
		"\"core_dumped\":false,\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,\"uid\":1000,"
		"\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\",\"event_id\":\"b-77-0\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}}\n");
}

static double dropped(const char *reason)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
	return metrics_sample(SERVICE_PROCMON, "pipeline_dropped_total", labels);
}

static void test_filtered_and_nontarget(void)
{
	char *outside[] = { "gcc", "x.c", NULL };
	char *hw21[] = { "gcc", "/home/coder/project/hw21/x.c", NULL };
	char *escape[] = { "gcc", "../../../tmp/x.c", NULL };
	char *nosrc[] = { "gcc", "--version", NULL };
	char *module[] = { "python3", "-m", "pytest", "hw1/t.py", NULL };
	char *ls[] = { "ls", NULL };

	CHECK_INT(run("jcode-os-1-1", "/usr/bin/x86_64-linux-gnu-gcc-12",
		      "/home/coder/project/outside", 2, outside, 0, 0), PIPELINE_FILTERED);
	CHECK_INT(run("jcode-os-1-1", "/usr/bin/x86_64-linux-gnu-gcc-12",
		      "/home/coder/project", 2, hw21, 0, 0), PIPELINE_FILTERED);
	CHECK_INT(run("jcode-os-1-1", "/usr/bin/x86_64-linux-gnu-gcc-12",
		      "/home/coder/project/hw1", 2, escape, 0, 0), PIPELINE_FILTERED);
	CHECK_INT(run("jcode-os-1-1", "/usr/bin/x86_64-linux-gnu-gcc-12",
		      "/home/coder/project/hw1", 2, nosrc, 0, 0), PIPELINE_FILTERED);
	CHECK_INT(run("jcode-os-1-1", "/usr/bin/python3.11", "/home/coder/project",
		      4, module, 0, 0), PIPELINE_FILTERED);
	CHECK_INT(run("jcode-os-1-1", "/usr/bin/ls", "/home/coder/project/hw1", 1, ls, 0, 0),
		  PIPELINE_NONTARGET);
	/* A binary outside the workspace, even one named like a homework dir. */
	CHECK_INT(run("jcode-os-1-1", "/tmp/hw1/a.out", "/tmp/hw1", 1, ls, 0, 0),
		  PIPELINE_NONTARGET);
	/* Empty argv: nothing to find, nothing to crash on. */
	CHECK_INT(run("jcode-os-1-1", "/usr/bin/x86_64-linux-gnu-gcc-12",
		      "/home/coder/project/hw1", 0, (char *[]){ NULL }, 0, 0), PIPELINE_FILTERED);
	expect_printed("");
	/* every filtered record has its reason */
	CHECK_DBL(dropped("outside_homework"), 3, 0);
	CHECK_DBL(dropped("no_source"), 3, 0);
	CHECK_DBL(dropped("other_student"), 0, 0);
}

/* The body of the one event printed since the last call, or NULL. */
static char *one_body(const char *want_endpoint)
{
	char *got = printed(), *body = NULL, head[128];

	snprintf(head, sizeof(head), "{\"endpoint\":\"%s\",\"body\":", want_endpoint);
	CHECK(strncmp(got, head, strlen(head)) == 0);
	CHECK_INT(strchr(got, '\n') - got, strlen(got) - 1);	/* exactly one line */
	if (strncmp(got, head, strlen(head)) == 0)
		body = strdup(got + strlen(head));
	free(got);
	return body;
}

static void expect_body(const char *endpoint, const char *want)
{
	char *body = one_body(endpoint);

	CHECK_STR(body, want);
	free(body);
}

/* Issue #7: real images.  linuxserver/code-server's /config/workspace, and
 * Python and compilers installed outside /usr/bin. */
static void test_layouts(void)
{
	char *gcc[] = { "cc", "main.c", NULL };
	char *py[] = { "python3", "run.py", NULL };
	char *clang[] = { "clang", "-o", "m", "m.c", NULL };

	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/x86_64-linux-gnu-gcc-12",
		      "/config/workspace/hw1", 2, gcc, 1, 0), PIPELINE_SUCCESS);
	expect_body("/api/os-1/hw1/202012345/logs/build",
		"{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":1,"
		"\"cmdline\":\"cc main.c\",\"cwd\":\"/config/workspace/hw1\","
		"\"binary_path\":\"/usr/bin/x86_64-linux-gnu-gcc-12\","
		"\"target_path\":\"/config/workspace/hw1/main.c\",\"compiler\":\"gcc-12\",\"signal\":null,"
		"\"core_dumped\":false,\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,\"uid\":1000,"
		"\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\",\"event_id\":\"b-77-0\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}}\n");

	CHECK_INT(run("jcode-os-1-202012345", "/usr/local/bin/python3.12",
		      "/config/workspace/hw2", 2, py, 0, 0), PIPELINE_SUCCESS);
	expect_body("/api/os-1/hw2/202012345/logs/run",
		"{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		"\"cmdline\":\"python3 run.py\",\"cwd\":\"/config/workspace/hw2\","
		"\"target_path\":\"/config/workspace/hw2/run.py\",\"process_type\":\"python\","
		"\"binary_path\":\"/usr/local/bin/python3.12\",\"python_version\":\"3.12\","
		"\"signal\":null,\"core_dumped\":false,\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,"
		"\"uid\":1000,\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\","
		"\"event_id\":\"b-77-0\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}}\n");

	CHECK_INT(run("jcode-os-1-202012345", "/root/.pyenv/versions/3.12.1/bin/python3.12",
		      "/workspace/os-1-202012345/hw3", 2, py, 0, 0), PIPELINE_SUCCESS);
	expect_body("/api/os-1/hw3/202012345/logs/run",
		"{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		"\"cmdline\":\"python3 run.py\",\"cwd\":\"/workspace/os-1-202012345/hw3\","
		"\"target_path\":\"/workspace/os-1-202012345/hw3/run.py\",\"process_type\":\"python\","
		"\"binary_path\":\"/root/.pyenv/versions/3.12.1/bin/python3.12\",\"python_version\":\"3.12\","
		"\"signal\":null,\"core_dumped\":false,\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,"
		"\"uid\":1000,\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\","
		"\"event_id\":\"b-77-0\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}}\n");

	CHECK_INT(run("jcode-os-1-202012345", "/opt/conda/bin/python3", "/home/coder/project/hw4",
		      2, py, 0, 0), PIPELINE_SUCCESS);
	{
		char *body = one_body("/api/os-1/hw4/202012345/logs/run");

		CHECK(body && strstr(body, "\"binary_path\":\"/opt/conda/bin/python3\","
				     "\"python_version\":null,\"signal\":null,") != NULL);
		free(body);
	}

	CHECK_INT(run("jcode-os-1-202012345", "/usr/lib/llvm-14/bin/clang", "/config/workspace/hw5",
		      4, clang, 0, 0), PIPELINE_SUCCESS);
	{
		char *body = one_body("/api/os-1/hw5/202012345/logs/build");

		CHECK(body && strstr(body, "\"binary_path\":\"/usr/lib/llvm-14/bin/clang\","
				     "\"target_path\":\"/config/workspace/hw5/m.c\","
				     "\"compiler\":\"clang-14\",\"signal\":null,") != NULL);
		free(body);
	}
}

/* A program in a homework directory is the student's, whatever its name. */
static void test_student_binary_named_like_a_tool(void)
{
	char *py[] = { "./python3", "x.py", NULL };
	char *gcc[] = { "./gcc", "x.c", NULL };

	CHECK_INT(run("jcode-os-1-202012345", "/config/workspace/hw1/python3",
		      "/config/workspace/hw1", 2, py, 0, 0), PIPELINE_SUCCESS);
	expect_body("/api/os-1/hw1/202012345/logs/run",
		"{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		"\"cmdline\":\"./python3 x.py\",\"cwd\":\"/config/workspace/hw1\","
		"\"target_path\":\"/config/workspace/hw1/python3\",\"process_type\":\"binary\","
		"\"binary_path\":\"/config/workspace/hw1/python3\",\"signal\":null,"
		"\"core_dumped\":false,\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,\"uid\":1000,"
		"\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\",\"event_id\":\"b-77-0\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0}}\n");
	CHECK_INT(run("jcode-os-1-202012345", "/home/coder/project/hw2/bin/gcc",
		      "/home/coder/project", 2, gcc, 0, 0), PIPELINE_SUCCESS);
	{
		char *body = one_body("/api/os-1/hw2/202012345/logs/run");

		CHECK(body && strstr(body, "\"target_path\":\"/home/coder/project/hw2/bin/gcc\","
				     "\"process_type\":\"binary\",") != NULL);
		free(body);
	}
}

/* Another student's templated root, the compiler's helpers, and every drop
 * counted with its reason. */
static void test_drops_counted(void)
{
	char *other[] = { "gcc", "/workspace/os-1-202099999/hw1/a.c", NULL };
	char *other_py[] = { "python3", "hw1/s.py", NULL };
	char *bin[] = { "./a.out", NULL };
	char *cc1[] = { "clang", "-cc1", "-triple", "x86_64-pc-linux-gnu", "-main-file-name",
			"m.c", "-o", "/tmp/m.o", "-x", "c", "m.c", NULL };
	char *cc1as[] = { "clang", "-cc1as", "m.s", NULL };
	char *nosrc[] = { "gcc", "main.o", "-o", "main", NULL };
	char *repl[] = { "python3", NULL };
	char *outside[] = { "python3", "/tmp/s.py", NULL };
	const char *me = "jcode-os-1-202012345";

	metrics_reset();
	CHECK_INT(run(me, "/usr/bin/x86_64-linux-gnu-gcc-12", "/tmp", 2, other, 0, 0),
		  PIPELINE_FILTERED);
	CHECK_INT(run(me, "/usr/local/bin/python3.12", "/workspace/os-2-202012345", 2, other_py,
		      0, 0), PIPELINE_FILTERED);
	CHECK_INT(run(me, "/workspace/os-1-202099999/hw1/a.out", "/workspace/os-1-202099999/hw1",
		      1, bin, 0, 0), PIPELINE_FILTERED);
	CHECK_INT(run(me, "/usr/lib/llvm-14/bin/clang", "/config/workspace/hw1", 11, cc1, 0, 0),
		  PIPELINE_NONTARGET);
	CHECK_INT(run(me, "/usr/lib/llvm-14/bin/clang", "/config/workspace/hw1", 3, cc1as, 0, 0),
		  PIPELINE_NONTARGET);
	CHECK_INT(run(me, "/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "/config/workspace/hw1", 11, cc1,
		      0, 0), PIPELINE_NONTARGET);
	CHECK_INT(run(me, "/usr/bin/x86_64-linux-gnu-gcc-12", "/config/workspace/hw1", 4, nosrc,
		      0, 0), PIPELINE_FILTERED);
	CHECK_INT(run(me, "/opt/conda/bin/python3.11", "/config/workspace/hw1", 1, repl, 0, 0),
		  PIPELINE_FILTERED);
	CHECK_INT(run(me, "/opt/conda/bin/python3.11", "/config/workspace/hw1", 2, outside, 0, 0),
		  PIPELINE_FILTERED);
	/* The same path from the student it belongs to is reported. */
	CHECK_INT(run("jcode-os-1-202099999-abc", "/usr/bin/x86_64-linux-gnu-gcc-12", "/tmp", 2,
		      other, 0, 0), PIPELINE_SUCCESS);
	{
		char *body = one_body("/api/os-1/hw1/202099999/logs/build");

		CHECK(body && strstr(body, "\"target_path\":\"/workspace/os-1-202099999/hw1/a.c\",") != NULL);
		free(body);
	}
	CHECK_DBL(dropped("other_student"), 3, 0);
	CHECK_DBL(dropped("no_source"), 2, 0);
	CHECK_DBL(dropped("outside_homework"), 1, 0);
	expect_printed("");
}

/* WORKSPACE_ROOTS from the configuration replace the defaults. */
static void test_configured_roots(void)
{
	char *roots[] = { "/srv/{subject}/{student_id}/code", "/opt/lab" };
	struct pipeline_config pc = {
		.host_prefix = "jcode-", .hw_max = 20, .classifier = classifier, .sender = sender,
		.workspace_roots = roots, .n_workspace_roots = 2,
	};
	char *bad_roots[] = { "/srv/{user}" };
	char *gcc[] = { "gcc", "a.c", NULL };
	struct pipeline *saved = pipeline, *custom = pipeline_create(&pc);

	CHECK(custom != NULL);
	if (!custom)
		return;
	pipeline = custom;
	metrics_reset();
	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/gcc", "/srv/os/202012345/code/hw1", 2, gcc,
		      0, 0), PIPELINE_SUCCESS);
	{
		char *body = one_body("/api/os-1/hw1/202012345/logs/build");

		CHECK(body && strstr(body, "\"target_path\":\"/srv/os/202012345/code/hw1/a.c\","
				     "\"compiler\":\"gcc\",") != NULL);
		free(body);
	}
	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/gcc", "/opt/lab/hw2", 2, gcc, 0, 0),
		  PIPELINE_SUCCESS);
	free(one_body("/api/os-1/hw2/202012345/logs/build"));
	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/gcc", "/srv/ai/202012345/code/hw1", 2, gcc,
		      0, 0), PIPELINE_FILTERED);
	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/gcc", "/home/coder/project/hw1", 2, gcc,
		      0, 0), PIPELINE_FILTERED);
	CHECK_DBL(dropped("other_student"), 1, 0);
	CHECK_DBL(dropped("outside_homework"), 1, 0);
	expect_printed("");
	pipeline = saved;
	pipeline_destroy(custom);

	pc.workspace_roots = bad_roots;
	pc.n_workspace_roots = 1;
	CHECK(pipeline_create(&pc) == NULL);
	pipeline_destroy(NULL);
}

static void test_bad_hostnames(void)
{
	char *bin[] = { "./a.out", NULL };
	const char *bad[] = { "jcode-", "jcode-os-1-", "jcode-os-x-1", "jcode-os-1-12ab",
			      "jcode-o\ns-1-2", "jcode-\xff-1-2", "" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(run(bad[i], "/home/coder/project/hw1/a.out", "/home/coder/project/hw1",
			      1, bin, 0, 0), PIPELINE_NONTARGET);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "identity_invalid_total", ""), 7, 0);
	expect_printed("");
}

static void test_record_entry(void)
{
	static struct procmon_exec ev;
	struct procmon_exit ex = {
		.head = { .kind = PROCMON_EXIT, .tgid = 31, .start_time = 9 },
		.exit_ns = 2000, .exit_code = 0x0200,
	};

	/* A record too short to hold the header is a failure, counted. */
	pipeline_record(pipeline, &ev, 4);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"failure\""), 1, 0);
	/* An exit whose exec was never seen: counted as such, no report. */
	pipeline_record(pipeline, &ex, sizeof(ex));
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_unmatched_exits_total", ""), 1, 0);

	memset(&ev, 0, sizeof(ev));
	ev.head = (struct procmon_head){ .kind = PROCMON_EXEC, .tgid = 31, .start_time = 9 };
	ev.exec_ns = 1000;
	strcpy(ev.hostname, "jcode-os-1-202012345");
	ev.flags = PROCMON_F_CWD_TRUNCATED;
	pipeline_record(pipeline, &ev, exec_record_pack(&ev, "/home/coder/project/hw3/prog",
							"/home/coder/project/hw3", "./prog\0", 7));
	/* Judged at exec, reported at exit. */
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"success\""), 0, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "events_truncated_total", "field=\"cwd\""), 1, 0);
	pipeline_record(pipeline, &ex, sizeof(ex));
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"success\""), 1, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_unmatched_exits_total", ""), 1, 0);
	{
		char *got = printed();

		CHECK(strstr(got, "\"/api/os-1/hw3/202012345/logs/run\"") != NULL);
		CHECK(strstr(got, "\"exit_code\":2,") != NULL);
		CHECK(strstr(got, "\"truncated\":[\"cwd\"]") != NULL);
		free(got);
	}
}

static char seen_ids[8][160];
static int nseen;

static void on_student(void *arg, const struct identity *id)
{
	if (nseen < 8)
		snprintf(seen_ids[nseen], sizeof(seen_ids[0]), "%s %s %s", (const char *)arg,
			 id->class_div, id->student_id);
	nseen++;
}

/* filemon hears of every exec in a student container, the shell and the
 * compiler's helpers included, and of nothing else. */
static void test_student_seen(void)
{
	struct pipeline_config pc = { .host_prefix = "jcode-", .hw_max = 20,
				      .classifier = classifier, .sender = sender,
				      .student_seen = on_student, .student_seen_arg = "fm" };
	struct pipeline *saved = pipeline;
	char *sh[] = { "bash", NULL }, *cc1[] = { "cc1", "main.c", NULL };

	pipeline = pipeline_create(&pc);
	CHECK(pipeline != NULL);
	if (!pipeline) {
		pipeline = saved;
		return;
	}
	nseen = 0;
	CHECK_INT(run("jcode-os-1-202012345-7f9c", "/usr/bin/bash", "/home/coder", 1, sh, 0, 0),
		  PIPELINE_NONTARGET);
	CHECK_INT(run("jcode-ai-2-7", "/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "/tmp", 2, cc1, 0, 0),
		  PIPELINE_NONTARGET);
	CHECK_INT(run("jcode-os-x-1", "/usr/bin/bash", "/", 1, sh, 0, 0), PIPELINE_NONTARGET);
	CHECK_INT(run("node-exporter", "/usr/bin/bash", "/", 1, sh, 0, 0), PIPELINE_NONTARGET);
	CHECK_INT(nseen, 2);
	CHECK_STR(seen_ids[0], "fm os-1 202012345");
	CHECK_STR(seen_ids[1], "fm ai-2 7");
	pipeline_destroy(pipeline);
	pipeline = saved;
	expect_printed("");
}

/* A pipeline that captures the classes in capture, in place of the default. */
static void recreate(unsigned capture, size_t diag_max)
{
	struct pipeline_config pc = { .host_prefix = "jcode-", .hw_max = 20,
				      .classifier = classifier, .sender = sender,
				      .capture = capture, .diag_max_bytes = diag_max };

	pipeline_destroy(pipeline);
	pipeline = pipeline_create(&pc);
}

#define HOST "jcode-os-1-202012345"
#define HW1 "/home/coder/project/hw1"

/* args: a literal of NUL-separated arguments, its own final NUL included */
#define EXEC(tgid, exe, args) exec_rec(tgid, exe, args, sizeof(args))

static void exec_rec(unsigned tgid, const char *exe, const char *args, size_t args_len)
{
	static struct procmon_exec ev;

	memset(&ev, 0, sizeof(ev));
	ev.head = (struct procmon_head){ .kind = PROCMON_EXEC, .tgid = tgid, .start_time = tgid * 10 };
	ev.exec_ns = 1000;
	strcpy(ev.hostname, HOST);
	pipeline_record(pipeline, &ev, exec_record_pack(&ev, exe, HW1, args, args_len));
}

static void exit_rec(unsigned tgid, unsigned status)
{
	struct procmon_exit ex = {
		.head = { .kind = PROCMON_EXIT, .tgid = tgid, .start_time = tgid * 10 },
		.exit_ns = 2000, .exit_code = status,
	};

	pipeline_record(pipeline, &ex, sizeof(ex));
}

static void err_out(unsigned tgid, const char *text, unsigned flags)
{
	pipeline_output(pipeline, tgid, tgid * 10ULL, flags, text, strlen(text));
}

static void expect_in(const char *got, const char *want)
{
	CHECK(strstr(got, want) != NULL);
	if (!strstr(got, want))
		fprintf(stderr, "  missing %s\n  in %s\n", want, got);
}

static double capture_dropped(const char *reason)
{
	char label[64];

	snprintf(label, sizeof(label), "reason=\"%s\"", reason);
	return metrics_sample(SERVICE_PROCMON, "capture_dropped_total", label);
}

/* The session: gcc -c a.c (a warning), gcc a.o b.c -o prog, then
 * ./prog failing an assertion: built_by names the second build. */
static void test_stderr_and_built_by(void)
{
	char *got;

	metrics_reset();
	recreate(CAPTURE_BUILD | CAPTURE_PYTHON | CAPTURE_BINARY, 0);
	EXEC(41, "/usr/bin/gcc", "gcc\0-Wall\0-c\0a.c");
	err_out(41, "a.c: In function 'f':\n", 0);
	err_out(41, "a.c:2:16: warning: unused variable 'x' [-Wunused-variable]\n", 0);
	exit_rec(41, 0);
	got = printed();
	expect_in(got, "\"event_id\":\"b-41-410\",\"cpu_ms\":0.0,\"cpu_user_ms\":0.0,\"cpu_sys_ms\":0.0,\"max_rss_kb\":0,\"minor_faults\":0,\"major_faults\":0,\"read_bytes\":0,\"write_bytes\":0,\"ctx_switches\":0,\"threads\":0,\"children\":0,");
	expect_in(got, "\"output\":\"" HW1 "/a.o\",\"sources\":[\"" HW1 "/a.c\"],"
		  "\"flags\":[\"-Wall\",\"-c\"],\"compile_only\":true,\"errors\":0,\"warnings\":1,"
		  "\"diagnostics\":[{\"file\":\"a.c\",\"line\":2,\"column\":16,\"severity\":\"warning\","
		  "\"message\":\"unused variable 'x' [-Wunused-variable]\"}],"
		  "\"stderr\":\"a.c: In function 'f':\\na.c:2:16: warning: unused variable 'x' "
		  "[-Wunused-variable]\\n\"}}");
	free(got);
	EXEC(42, "/usr/bin/gcc", "gcc\0a.o\0b.c\0-o\0prog");
	exit_rec(42, 0);
	free(printed());
	EXEC(43, HW1 "/prog", "./prog");
	err_out(43, "prog: b.c:3: main: Assertion `0' failed.\n", 0);
	exit_rec(43, 6);	/* SIGABRT */
	got = printed();
	expect_in(got, "\"signal\":\"SIGABRT\"");
	expect_in(got, "\"built_by\":\"b-42-420\",\"stderr\":\"prog: b.c:3: main: Assertion `0' "
		  "failed.\\n\"}}");
	free(got);
	/* Rebuilt and failed: the program is still the one 42 made. */
	EXEC(44, "/usr/bin/gcc", "gcc\0b.c\0-o\0prog");
	err_out(44, "b.c:1:1: error: x\n", 0);
	exit_rec(44, 1 << 8);
	got = printed();
	expect_in(got, "\"errors\":1,\"warnings\":0,");
	free(got);
	EXEC(45, HW1 "/prog", "./prog");
	err_out(45, "ordinary chatter\n", 0);
	exit_rec(45, 0);
	got = printed();
	expect_in(got, "\"built_by\":\"b-42-420\"}}");	/* no stderr: it did not crash */
	free(got);
	CHECK_DBL(capture_dropped("not_followed"), 0, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "capture_bytes_current", ""), 0, 0);
}

static void test_stderr_dropped_and_cut(void)
{
	char *got;

	metrics_reset();
	recreate(CAPTURE_BUILD | CAPTURE_PYTHON, 1024);
	/* Nobody followed: counted. */
	err_out(99, "who?\n", 0);
	CHECK_DBL(capture_dropped("not_followed"), 1, 0);
	/* A binary, not captured here: nothing kept, nothing sent. */
	EXEC(51, HW1 "/prog", "./prog");
	err_out(51, "Segmentation fault\n", 0);
	CHECK_DBL(capture_dropped("not_followed"), 2, 0);
	exit_rec(51, 11);
	got = printed();
	expect_in(got, "\"signal\":\"SIGSEGV\"");
	expect_in(got, "\"built_by\":null}}");
	free(got);
	/* The kernel cut a write, and the head filled: both counted, flagged. */
	EXEC(52, "/usr/bin/gcc", "gcc\0a.c");
	err_out(52, "a.c:1:1: error: first\n", PROCMON_OUT_CUT);
	{
		char big[2000];

		memset(big, 'z', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		err_out(52, big, 0);
		CHECK_DBL(metrics_sample(SERVICE_PROCMON, "capture_bytes_current", ""), 1024, 0);
		err_out(52, "a.c:9:1: error: never seen\n", PROCMON_OUT_BUDGET);
	}
	CHECK_DBL(capture_dropped("cut"), 3, 0);
	CHECK_DBL(capture_dropped("budget"), 1, 0);
	exit_rec(52, 1 << 8);
	got = printed();
	expect_in(got, "\"truncated\":[\"stderr\"],");
	expect_in(got, "\"errors\":1,\"warnings\":0,");
	free(got);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "capture_bytes_current", ""), 0, 0);
	/* Python: the exception of the final line. */
	EXEC(53, "/usr/bin/python3.11", "python3\0div.py");
	err_out(53, "Traceback (most recent call last):\n  File \"" HW1 "/div.py\", line 1\n", 0);
	err_out(53, "ZeroDivisionError: division by zero\n", 0);
	exit_rec(53, 1 << 8);
	got = printed();
	expect_in(got, "\"exception\":\"ZeroDivisionError\",\"stderr\":\"Traceback");
	expect_in(got, "ZeroDivisionError: division by zero\\n\"}}");
	free(got);
}

/* Output records as the ring gives them: decoded, and a bad one counted. */
static void test_output_records(void)
{
	static struct procmon_output o;
	const char *text = "a.c:1:1: error: from the ring\n";
	char *got;

	metrics_reset();
	recreate(CAPTURE_BUILD, 0);
	EXEC(71, "/usr/bin/gcc", "gcc\0a.c");
	o.head = (struct procmon_head){ .kind = PROCMON_OUTPUT, .tgid = 71, .start_time = 710 };
	o.writer_tgid = 72;	/* cc1 */
	o.size = (unsigned)strlen(text);
	memcpy(o.data, text, o.size);
	pipeline_record(pipeline, &o, offsetof(struct procmon_output, data) + o.size);
	/* one byte short of its size: malformed, never read past */
	pipeline_record(pipeline, &o, offsetof(struct procmon_output, data) + o.size - 1);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"failure\""), 1, 0);
	exit_rec(71, 1 << 8);
	got = printed();
	expect_in(got, "\"errors\":1,\"warnings\":0,\"diagnostics\":[{\"file\":\"a.c\",\"line\":1,"
		  "\"column\":1,\"severity\":\"error\",\"message\":\"from the ring\"}],"
		  "\"stderr\":\"a.c:1:1: error: from the ring\\n\"}}");
	free(got);
	/* outputs are not processes: one success, the exit's */
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"success\""), 1, 0);
}

/* CAPTURE= : no stderr, diagnostics or exception field anywhere. */
static void test_capture_off(void)
{
	char *got;

	metrics_reset();
	recreate(0, 0);
	EXEC(61, "/usr/bin/gcc", "gcc\0a.c");
	err_out(61, "a.c:1:1: error: x\n", 0);
	exit_rec(61, 1 << 8);
	EXEC(62, "/usr/bin/python3.11", "python3\0div.py");
	err_out(62, "Traceback (most recent call last):\nZeroDivisionError: x\n", 0);
	exit_rec(62, 1 << 8);
	got = printed();
	CHECK(strstr(got, "\"stderr\"") == NULL);
	CHECK(strstr(got, "\"diagnostics\"") == NULL);
	CHECK(strstr(got, "\"errors\"") == NULL);
	CHECK(strstr(got, "\"exception\"") == NULL);
	expect_in(got, "\"compile_only\":false}}");
	free(got);
	CHECK_DBL(capture_dropped("not_followed"), 2, 0);
}

int main(void)
{
	setup();
	RUN(test_build);
	RUN(test_python_and_binary);
	RUN(test_filtered_and_nontarget);
	RUN(test_layouts);
	RUN(test_student_binary_named_like_a_tool);
	RUN(test_drops_counted);
	RUN(test_configured_roots);
	RUN(test_bad_hostnames);
	RUN(test_record_entry);
	RUN(test_student_seen);
	RUN(test_stderr_and_built_by);
	RUN(test_stderr_dropped_and_cut);
	RUN(test_capture_off);
	RUN(test_output_records);
	teardown();
	return TEST_DONE();
}
