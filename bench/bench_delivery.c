/*
 * bench_delivery.c - delivered events per second, sender + spool to a
 * loopback receiver with keep-alive, all in this process.
 *
 *   bench_delivery [ignored] [events=100000] [inflight...]
 *
 * (bench/run.sh passes the agent binary first; it is not used here.)  For
 * each max_inflight (default 8 16 32) a fresh spool in a temporary
 * directory takes N realistic run-log bodies (~400 bytes) as fast as the
 * producer can post them, interleaved with loop turns as the pipeline
 * does; the figure is N over the time from the first post to the last
 * arrival.  One run without a spool shows what durability costs.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "metrics.h"
#include "receiver.h"
#include "sender.h"
#include "support.h"

#define BATCH 256	/* posts per loop turn, as a perf-buffer poll delivers them */
#define PATH "/api/os-1/hw1/202012345/logs/run"

static char *body_of(int i)
{
	char *b;

	if (asprintf(&b, "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,"
		     "\"cmdline\":\"./a.out --input data/case%04d.txt\","
		     "\"cwd\":\"/home/coder/project/hw1\","
		     "\"target_path\":\"/home/coder/project/hw1/a.out\",\"process_type\":\"binary\","
		     "\"binary_path\":\"/home/coder/project/hw1/a.out\",\"hostname\":"
		     "\"jcode-os-1-202012345\",\"pid\":%d,\"ppid\":4242,\"uid\":1000,"
		     "\"signal\":null,\"core_dumped\":false,\"duration_ms\":1.234,\"truncated\":[],"
		     "\"event_id\":\"5f1c2d9e-8a7b-4c3d-9e0f-1a2b3c4d5e6f-%d-%d\"}",
		     i % 10000, 100000 + i, 100000 + i, 1000000 + i) < 0)
		abort();
	return b;
}

static double run(int n, int inflight, bool spool, size_t *conns)
{
	char dir[] = "/tmp/jcw-bench-spool-XXXXXX", url[64];
	struct receiver *rx = receiver_start(0);
	struct loop *loop = loop_create();
	struct sender_config cfg = { .max_inflight = inflight, .timeout_ms = 20000 };
	struct sender *s;
	double t0, t1;
	int posted = 0;

	if (!rx || !loop || !mkdtemp(dir))
		exit(1);
	metrics_reset();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", receiver_port(rx));
	cfg.api_server = url;
	cfg.spool_dir = spool ? dir : NULL;
	s = sender_create(loop, &cfg);
	if (!s)
		exit(1);
	t0 = support_now();
	while (posted < n) {
		for (int k = 0; k < BATCH && posted < n; k++, posted++)
			sender_post(s, SERVICE_PROCMON, ENDPOINT_RUN, strdup(PATH), body_of(posted));
		loop_run_once(loop, 0);
	}
	sender_drain(s, 120000);
	t1 = support_now();
	if (receiver_count(rx) != (size_t)n)
		fprintf(stderr, "only %zu of %d delivered\n", receiver_count(rx), n);
	*conns = receiver_connections(rx);
	sender_destroy(s);
	loop_destroy(loop);
	receiver_stop(rx);
	support_rm_rf(dir);
	return n / (t1 - t0);
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 100000;
	int def[] = { 8, 16, 32 }, *inflight = def, m = 3;
	size_t conns;
	double rate;

	if (argc > 3) {
		m = argc - 3;
		inflight = calloc((size_t)m, sizeof(int));
		for (int i = 0; i < m; i++)
			inflight[i] = atoi(argv[3 + i]);
	}
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	printf("events: %d bodies of ~%zu bytes, keep-alive, spool in /tmp\n", n,
	       strlen(body_of(0)));
	for (int i = 0; i < m; i++) {
		rate = run(n, inflight[i], true, &conns);
		printf("max_inflight %2d, spool:    %8.0f events/s delivered, %zu connection(s)\n",
		       inflight[i], rate, conns);
	}
	rate = run(n, inflight[m > 1 ? 1 : 0], false, &conns);
	printf("max_inflight %2d, no spool: %8.0f events/s delivered, %zu connection(s)\n",
	       inflight[m > 1 ? 1 : 0], rate, conns);
	return 0;
}
