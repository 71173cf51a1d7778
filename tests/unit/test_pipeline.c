/*
 * test_pipeline.c - the judgement from process to payload, end to end in
 * user space: a process goes in, the exact line the stdout sender prints
 * comes out (or nothing, with the right counter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "payload.h"
#include "event_id.h"
#include "event_id_testing.h"
#include "loop.h"
#include "metrics_testing.h"
#include "pipeline.h"
#include "sender.h"
#include "identity.h"
#include "testlib.h"

static struct loop *loop;
static struct sender *sender;
static struct classifier *classifier;
static struct pipeline *pipeline;
static FILE *out;

/* 2026-11-23T07:19:40.123456Z */
#define EXIT_WALL_NS 1795418380123456000LL

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
	struct process p = {
		.pid = 77, .ppid = 7, .uid = 1000,
		.exit_status = exit_code, .signal = sig,
		.exit_code = sig ? 128 + sig : exit_code,
		.exec_ns = 1000000000LL, .exit_ns = 1002500000LL,
		.exit_wall_ns = EXIT_WALL_NS,
		.exe = (char *)exe, .cwd = (char *)cwd, .argc = argc, .argv = argv,
	};

	snprintf(p.hostname, sizeof(p.hostname), "%s", host);
	return pipeline_process(pipeline, &p);
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
		"\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\",\"event_id\":\"b-77-0\"}}\n");
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
		"\"hostname\":\"jcode-ai-3-2024001-5f7d9c\",\"event_id\":\"b-77-0\"}}\n");

	CHECK_INT(run("jcode-os-1-202012345", "/home/coder/project/hw20/a.out",
		      "/home/coder/project/hw20", 1, bin, 0, 11), PIPELINE_SUCCESS);
	expect_printed("{\"endpoint\":\"/api/os-1/hw20/202012345/logs/run\",\"body\":{"
		"\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":139,"
		"\"cmdline\":\"./a.out\",\"cwd\":\"/home/coder/project/hw20\","
		"\"target_path\":\"/home/coder/project/hw20/a.out\",\"process_type\":\"binary\","
		"\"binary_path\":\"/home/coder/project/hw20/a.out\",\"signal\":\"SIGSEGV\","
		"\"core_dumped\":false,\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,\"uid\":1000,"
		"\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\",\"event_id\":\"b-77-0\"}}\n");
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
		"\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\",\"event_id\":\"b-77-0\"}}\n");

	CHECK_INT(run("jcode-os-1-202012345", "/usr/local/bin/python3.12",
		      "/config/workspace/hw2", 2, py, 0, 0), PIPELINE_SUCCESS);
	expect_body("/api/os-1/hw2/202012345/logs/run",
		"{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		"\"cmdline\":\"python3 run.py\",\"cwd\":\"/config/workspace/hw2\","
		"\"target_path\":\"/config/workspace/hw2/run.py\",\"process_type\":\"python\","
		"\"binary_path\":\"/usr/local/bin/python3.12\",\"python_version\":\"3.12\","
		"\"signal\":null,\"core_dumped\":false,\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,"
		"\"uid\":1000,\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\","
		"\"event_id\":\"b-77-0\"}}\n");

	CHECK_INT(run("jcode-os-1-202012345", "/root/.pyenv/versions/3.12.1/bin/python3.12",
		      "/workspace/os-1-202012345/hw3", 2, py, 0, 0), PIPELINE_SUCCESS);
	expect_body("/api/os-1/hw3/202012345/logs/run",
		"{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		"\"cmdline\":\"python3 run.py\",\"cwd\":\"/workspace/os-1-202012345/hw3\","
		"\"target_path\":\"/workspace/os-1-202012345/hw3/run.py\",\"process_type\":\"python\","
		"\"binary_path\":\"/root/.pyenv/versions/3.12.1/bin/python3.12\",\"python_version\":\"3.12\","
		"\"signal\":null,\"core_dumped\":false,\"duration_ms\":2.5,\"pid\":77,\"ppid\":7,"
		"\"uid\":1000,\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\","
		"\"event_id\":\"b-77-0\"}}\n");

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
		"\"truncated\":[],\"hostname\":\"jcode-os-1-202012345\",\"event_id\":\"b-77-0\"}}\n");
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
	strcpy(ev.exe, "/home/coder/project/hw3/prog");
	strcpy(ev.cwd, "/home/coder/project/hw3");
	memcpy(ev.args, "./prog\0", 7);
	ev.args_size = 7;
	ev.flags = PROCMON_F_CWD_TRUNCATED;
	pipeline_record(pipeline, &ev, offsetof(struct procmon_exec, args) + 7);
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
	teardown();
	return TEST_DONE();
}
