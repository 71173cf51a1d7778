/*
 * test_pipeline.c - the judgement from process to payload, end to end in
 * user space: a process goes in, the exact line the stdout sender prints
 * comes out (or nothing, with the right counter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "event.h"
#include "loop.h"
#include "metrics.h"
#include "pipeline.h"
#include "sender.h"
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
		"\"target_path\":\"/home/coder/project/hw1/main.c\",\"signal\":null,"
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
		"\"binary_path\":\"/usr/bin/python3.12\",\"signal\":null,\"core_dumped\":false,"
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
}

static void test_bad_hostnames(void)
{
	char *bin[] = { "./a.out", NULL };
	const char *bad[] = { "jcode-", "jcode-os-1-", "jcode-os-x-1", "jcode-os-1-12ab",
			      "jcode-o\ns-1-2", "jcode-\xff-1-2", "" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(run(bad[i], "/home/coder/project/hw1/a.out", "/home/coder/project/hw1",
			      1, bin, 0, 0), PIPELINE_NONTARGET);
	CHECK_INT(metrics_value(SERVICE_PROCMON, "identity_invalid_total", ""), 7);
	expect_printed("");
}

static void test_record_entry(void)
{
	static struct procmon_event ev;

	/* A record too short to hold the header is a failure, counted. */
	pipeline_record(pipeline, &ev, 16);
	CHECK_INT(metrics_value(SERVICE_PROCMON, "pipeline_events_total", "result=\"failure\""), 1);

	memset(&ev, 0, sizeof(ev));
	strcpy(ev.hostname, "jcode-os-1-202012345");
	strcpy(ev.exe, "/home/coder/project/hw3/prog");
	strcpy(ev.cwd, "/home/coder/project/hw3");
	memcpy(ev.args, "./prog\0", 7);
	ev.args_size = 7;
	ev.flags = PROCMON_F_CWD_TRUNCATED;
	ev.exit_code = 0x0200;
	pipeline_record(pipeline, &ev, offsetof(struct procmon_event, args) + 7);
	CHECK_INT(metrics_value(SERVICE_PROCMON, "pipeline_events_total", "result=\"success\""), 1);
	CHECK_INT(metrics_value(SERVICE_PROCMON, "events_truncated_total", "field=\"cwd\""), 1);
	{
		char *got = printed();

		CHECK(strstr(got, "\"/api/os-1/hw3/202012345/logs/run\"") != NULL);
		CHECK(strstr(got, "\"exit_code\":2,") != NULL);
		CHECK(strstr(got, "\"truncated\":[\"cwd\"]") != NULL);
		free(got);
	}
}

int main(void)
{
	setup();
	RUN(test_build);
	RUN(test_python_and_binary);
	RUN(test_filtered_and_nontarget);
	RUN(test_bad_hostnames);
	RUN(test_record_entry);
	teardown();
	return TEST_DONE();
}
