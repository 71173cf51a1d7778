/*
 * test_trace_feed.c - what the pipeline tells `jcode-watcher trace`: a
 * real pipeline and a real trace socket, a process in, the exact line a
 * client reads out, for what is sent and for each reason it is not; and
 * nothing is built while nobody listens.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "classifier.h"
#include "event_id_testing.h"
#include "loop.h"
#include "metrics_testing.h"
#include "pipeline.h"
#include "sender.h"
#include "support.h"
#include "processes.h"
#include "testlib.h"
#include "trace_feed.h"
#include "trace_hub.h"
#include "trace_hub_testing.h"

/* 2026-11-23T07:19:40.123456Z */

static struct loop *loop;
static struct sender *sender;
static struct classifier *classifier;
static struct pipeline *pipeline;
static struct trace_hub *hub;
static FILE *out;
static char dir[40], path[64];

static void setup(void)
{
	struct sender_config sc = { .api_server = NULL, .queue_max = 100 };
	struct pipeline_config pc = { .host_prefix = "jcode-", .hw_max = 20 };
	struct trace_hub_config tc = { .max_clients = 2, .client_buffer = 65536 };
	char err[256];

	metrics_reset();
	event_set_boot_id("b");
	loop = loop_create();
	out = tmpfile();
	sc.out = out;
	sender = sender_create(loop, &sc);
	classifier = classifier_create_default();
	snprintf(dir, sizeof(dir), "/tmp/jcw-trace-feed-XXXXXX");
	if (!mkdtemp(dir))
		exit(1);
	snprintf(path, sizeof(path), "%s/t.sock", dir);
	tc.path = path;
	hub = trace_hub_open(loop, &tc, err, sizeof(err));
	if (!hub) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	pc.classifier = classifier;
	pc.sender = sender;
	pc.trace = hub;
	pipeline = pipeline_create(&pc);
}

static void teardown(void)
{
	pipeline_destroy(pipeline);
	trace_hub_close(hub);
	classifier_free(classifier);
	sender_destroy(sender);
	loop_destroy(loop);
	fclose(out);
	support_rm_rf(dir);
}

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	for (int i = 0; i < 10 && !trace_hub_active(hub); i++)
		loop_run_once(loop, 10);
	return fd;
}

/* Close, and let the hub see it. */
static void hang_up(int fd)
{
	close(fd);
	for (int i = 0; i < 10 && trace_hub_active(hub); i++)
		loop_run_once(loop, 10);
}

static char *received(int fd)
{
	static char buf[1 << 16];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static enum pipeline_result run(const char *host, const char *exe, const char *cwd,
				int argc, char **argv, int exit_code, int sig)
{
	return test_process_run(pipeline, host, exe, cwd, argc, argv, exit_code, sig);
}

/* The line without its "time" (when it was judged: now), which must be
 * an ISO 8601 UTC time. */
static char *timeless(const char *line)
{
	json_t *o = json_loads(line, 0, NULL);
	const char *t = json_string_value(json_object_get(o, "time"));
	char *s;

	CHECK(t && strlen(t) == 32 && !strcmp(t + 26, "+00:00"));
	json_object_del(o, "time");
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

static void test_sent(void)
{
	char *argv[] = { "gcc", "-Wall", "main.c", NULL };
	int fd = client();

	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/x86_64-linux-gnu-gcc-12",
		      "/home/coder/project/hw1", 3, argv, 0, 0), PIPELINE_SUCCESS);
	CHECK_STR(received(fd),
		  "{\"time\":\"2026-11-23T07:19:40.123456+00:00\",\"student\":\"202012345\","
		  "\"class_div\":\"os-1\",\"hostname\":\"jcode-os-1-202012345\",\"hw\":\"hw1\","
		  "\"type\":\"build\",\"program\":\"gcc\",\"result\":\"sent\",\"exit_code\":0,"
		  "\"signal\":null,\"duration_ms\":2.5,\"pid\":77,\"cmdline\":\"gcc -Wall main.c\","
		  "\"target\":\"/home/coder/project/hw1/main.c\"}\n");
	hang_up(fd);
}

static void test_segfault_and_hostile_argv(void)
{
	char *argv[] = { "./a.out", "x\n\x1b[2J", "\xff", NULL };
	int fd = client();

	CHECK_INT(run("jcode-os-1-202012345", "/home/coder/project/hw1/a.out",
		      "/home/coder/project/hw1", 3, argv, 0, 11), PIPELINE_SUCCESS);
	CHECK_STR(received(fd),
		  "{\"time\":\"2026-11-23T07:19:40.123456+00:00\",\"student\":\"202012345\","
		  "\"class_div\":\"os-1\",\"hostname\":\"jcode-os-1-202012345\",\"hw\":\"hw1\","
		  "\"type\":\"binary\",\"program\":\"binary\",\"result\":\"sent\",\"exit_code\":139,"
		  "\"signal\":\"SIGSEGV\",\"duration_ms\":2.5,\"pid\":77,"
		  "\"cmdline\":\"./a.out x\\n\\u001B[2J \xef\xbf\xbd\","
		  "\"target\":\"/home/coder/project/hw1/a.out\"}\n");
	hang_up(fd);
}

static void expect_timeless(int fd, const char *want)
{
	char *got = timeless(received(fd));

	CHECK_STR(got, want);
	free(got);
}

static void test_not_sent(void)
{
	char *outside[] = { "python3", "/tmp/x.py", NULL };
	char *nosrc[] = { "gcc", "--version", NULL };
	char *ls[] = { "ls", "-l", NULL };
	char *bad[] = { "true", NULL };
	int fd = client();

	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/python3.11", "/home/coder/project",
		      2, outside, 0, 0), PIPELINE_FILTERED);
	expect_timeless(fd, "{\"student\":\"202012345\",\"class_div\":\"os-1\","
			"\"hostname\":\"jcode-os-1-202012345\",\"hw\":null,\"type\":\"python\","
			"\"program\":\"python\",\"result\":\"outside_homework\",\"exit_code\":null,"
			"\"signal\":null,\"duration_ms\":null,\"pid\":77,"
			"\"cmdline\":\"python3 /tmp/x.py\",\"target\":\"/tmp/x.py\"}");
	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/gcc-12", "/home/coder/project",
		      2, nosrc, 0, 0), PIPELINE_FILTERED);
	expect_timeless(fd, "{\"student\":\"202012345\",\"class_div\":\"os-1\","
			"\"hostname\":\"jcode-os-1-202012345\",\"hw\":null,\"type\":\"build\","
			"\"program\":\"gcc\",\"result\":\"no_source\",\"exit_code\":null,"
			"\"signal\":null,\"duration_ms\":null,\"pid\":77,"
			"\"cmdline\":\"gcc --version\",\"target\":null}");
	CHECK_INT(run("jcode-os-1-202012345", "/usr/bin/ls", "/home/coder/project",
		      2, ls, 0, 0), PIPELINE_NONTARGET);
	expect_timeless(fd, "{\"student\":\"202012345\",\"class_div\":\"os-1\","
			"\"hostname\":\"jcode-os-1-202012345\",\"hw\":null,\"type\":\"other\","
			"\"program\":\"unknown\",\"result\":\"nontarget\",\"exit_code\":null,"
			"\"signal\":null,\"duration_ms\":null,\"pid\":77,"
			"\"cmdline\":\"ls -l\",\"target\":null}");
	CHECK_INT(run("jcode-bad", "/usr/bin/true", "/", 1, bad, 0, 0), PIPELINE_NONTARGET);
	expect_timeless(fd, "{\"student\":null,\"class_div\":null,\"hostname\":\"jcode-bad\","
			"\"hw\":null,\"type\":\"other\",\"program\":\"unknown\","
			"\"result\":\"invalid_identity\",\"exit_code\":null,\"signal\":null,"
			"\"duration_ms\":null,\"pid\":77,\"cmdline\":\"true\",\"target\":null}");
	hang_up(fd);
}

/* Nobody listening: the pipeline goes on, nothing is held or dropped. */
static void test_idle(void)
{
	char *argv[] = { "./a.out", NULL };

	CHECK(!trace_hub_active(hub));
	CHECK_INT(run("jcode-os-1-202012345", "/home/coder/project/hw1/a.out",
		      "/home/coder/project/hw1", 1, argv, 0, 0), PIPELINE_SUCCESS);
	CHECK_INT(trace_hub_buffered(hub), 0);
	CHECK_INT(metrics_sample(SERVICE_PROCMON, "trace_dropped_total", NULL), 0);
}

int main(void)
{
	setup();
	RUN(test_sent);
	RUN(test_segfault_and_hostile_argv);
	RUN(test_not_sent);
	RUN(test_idle);
	teardown();
	return TEST_DONE();
}
