/*
 * bench_pipeline.c - the agent's CPU per student process, from the
 * kernel's raw records to the body handed to the sender (stdout mode into
 * /dev/null): a recorded session replayed through pipeline_record(), no
 * kernel, no network.  Prints µs per process.
 *
 *   bench_pipeline [N]     N sessions (default 20000) of: a failed gcc
 *                          compile (4 stderr writes), a Python traceback
 *                          (5 writes), a student binary (no output)
 *
 * Built against a tree without stderr capture (before issue #12) it
 * replays the same exec and exit records only: the figure to compare.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classifier.h"
#include "event_id_testing.h"
#include "exec_record.h"
#include "loop.h"
#include "metrics.h"
#include "pipeline.h"
#include "sender.h"

#ifdef PIPELINE_CAPTURE_BUDGET
#define HAS_CAPTURE 1
#else
#define HAS_CAPTURE 0
#endif

static struct pipeline *pipeline;
static unsigned next_tgid = 1000;

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* args: a literal of NUL-separated arguments, its own final NUL included */
#define EXEC(tgid, exe, args) exec_rec(tgid, exe, args, sizeof(args))

static void exec_rec(unsigned tgid, const char *exe, const char *args, size_t args_len)
{
	static struct procmon_exec ev;

	memset(&ev, 0, offsetof(struct procmon_exec, hostname));
	ev.head = (struct procmon_head){ .kind = PROCMON_EXEC, .tgid = tgid, .start_time = tgid };
	ev.exec_ns = 1000;
	ev.ppid = 7;
	snprintf(ev.hostname, sizeof(ev.hostname), "jcode-os-1-202012345");
	pipeline_record(pipeline, &ev, exec_record_pack(&ev, exe, "/home/coder/project/hw1", args,
							args_len));
}

static void exit_rec(unsigned tgid, unsigned status)
{
	struct procmon_exit ex = {
		.head = { .kind = PROCMON_EXIT, .tgid = tgid, .start_time = tgid },
		.exit_ns = 5000000, .exit_code = status,
	};

	pipeline_record(pipeline, &ex, sizeof(ex));
}

static void out(unsigned tgid, const char *text)
{
#if HAS_CAPTURE
	pipeline_output(pipeline, tgid, tgid, 0, text, strlen(text));
#else
	(void)tgid;
	(void)text;
#endif
}

static void session(void)
{
	unsigned t = next_tgid;

	next_tgid += 3;
	EXEC(t, "/usr/bin/x86_64-linux-gnu-gcc-12", "gcc\0-Wall\0semi.c\0-o\0semi");
	out(t, "semi.c: In function \xE2\x80\x98main\xE2\x80\x99:\n");
	out(t, "semi.c:4:9: error: expected \xE2\x80\x98,\xE2\x80\x99 or \xE2\x80\x98;\xE2\x80\x99 "
	       "before \xE2\x80\x98return\xE2\x80\x99\n");
	out(t, "    4 |         return x;\n");
	out(t, "      |         ^~~~~~\n");
	exit_rec(t, 1 << 8);
	EXEC(t + 1, "/usr/bin/python3.11", "python3\0div.py");
	out(t + 1, "Traceback (most recent call last):\n");
	out(t + 1, "  File \"/home/coder/project/hw1/div.py\", line 2, in <module>\n");
	out(t + 1, "    print(1 / x)\n");
	out(t + 1, "          ~~^~~\n");
	out(t + 1, "ZeroDivisionError: division by zero\n");
	exit_rec(t + 1, 1 << 8);
	EXEC(t + 2, "/home/coder/project/hw1/prog", "./prog");
	exit_rec(t + 2, 0);
}

static const char *capture_name(const struct pipeline_config *pc)
{
#if HAS_CAPTURE
	return pc->capture ? "on" : "off";
#else
	(void)pc;
	return "absent (before #12)";
#endif
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	struct loop *loop = loop_create();
	FILE *null = fopen("/dev/null", "w");
	struct sender_config sc = { .api_server = NULL, .queue_max = 1000000, .out = null };
	struct sender *sender = sender_create(loop, &sc);
	struct classifier *cls = classifier_create_default();
	struct pipeline_config pc = { .host_prefix = "jcode-", .hw_max = 20,
				      .classifier = cls, .sender = sender };
	double t0, cpu = 0;
	int i;

	event_set_boot_id("bench");
#if HAS_CAPTURE
	pc.capture = CAPTURE_BUILD | CAPTURE_PYTHON | CAPTURE_BINARY;
	if (argc > 2 && strcmp(argv[2], "off") == 0)
		pc.capture = 0;
#endif
	pipeline = pipeline_create(&pc);
	if (!loop || !null || !sender || !cls || !pipeline)
		return 1;
	for (i = 0; i < 200; i++)	/* warm caches and the allocator */
		session();
	sender_drain(sender, 1000);
	for (i = 0; i < n; i++) {
		t0 = cpu_now();
		session();
		cpu += cpu_now() - t0;
		if (i % 100 == 99) {	/* the printing is the sender's, not ours */
			sender_drain(sender, 1000);
		}
	}
	printf("bench_pipeline: %d sessions of 3 processes, capture %s: %.2f us CPU per process "
	       "(decode, judge, payload, sender_post; not the printing)\n", n, capture_name(&pc),
	       cpu / (3.0 * n) * 1e6);
	pipeline_destroy(pipeline);
	classifier_free(cls);
	sender_destroy(sender);
	loop_destroy(loop);
	fclose(null);
	return 0;
}
