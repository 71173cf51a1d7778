/*
 * bench_procmon.c - N user-binary runs in one student namespace, delivered
 * to a loopback receiver by the real agent on the real kernel.
 *
 *   bench_procmon path/to/jcode-watcher [runs=2000] [rate=0]
 *
 * rate 0 runs the programs back to back (a burst); rate R paces them at R
 * runs per second.  Prints: runs delivered (loss), the exec rate with and
 * without the agent (its cost to the machine), the agent's CPU time, and the
 * delay from each process's exit to its arrival at the receiver.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "receiver.h"
#include "student.h"
#include "support.h"

static char ws[PATH_MAX];

static void make_workspace(void)
{
	if (student_workspace("jcw-bench", ws, sizeof(ws)) < 0)
		exit(1);
}

/* Run the student loop; returns wall seconds.  Paced runs come from a C
 * loop (student.c: posix_spawn on an absolute schedule); a Python pacer
 * topped out near 600 runs/s on these machines. */
static double student_loop(int runs, int rate)
{
	char script[128];
	double t0 = support_now();
	int rc;

	if (rate > 0) {
		rc = student_runs(ws, "jcode-os-1-202012345", "./p", runs, rate);
	} else {
		snprintf(script, sizeof(script),
			 "i=0; while [ $i -lt %d ]; do ./p; i=$((i+1)); done", runs);
		rc = student_shell(ws, "jcode-os-1-202012345", script);
	}
	if (rc != 0)
		fprintf(stderr, "student loop exited %d\n", rc);
	return support_now() - t0;
}

static double agent_cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Exit-to-arrival delays in ms, from the payload timestamp (wall clock) and
 * the receiver's arrival time (monotonic). */
static void delays(struct receiver *r, size_t n)
{
	struct timespec rt, mono;
	double offset, *d = calloc(n, sizeof(double));
	size_t k = 0;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	offset = (rt.tv_sec - mono.tv_sec) + (rt.tv_nsec - mono.tv_nsec) / 1e9;
	for (size_t i = 0; i < n; i++) {
		struct received rc;
		json_t *body;
		struct tm tm = { 0 };
		const char *ts;
		char *frac;

		if (receiver_get(r, i, &rc) < 0)
			continue;
		body = json_loads(rc.body, 0, NULL);
		ts = json_string_value(json_object_get(body, "timestamp"));
		frac = ts ? strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
		if (frac && *frac == '.')
			d[k++] = (rc.at + offset - (timegm(&tm) + strtod(frac, NULL))) * 1000;
		json_decref(body);
		received_free(&rc);
	}
	qsort(d, k, sizeof(double), cmp_double);
	if (k)
		printf("exit->receiver delay: median %.2f ms, p99 %.2f ms, max %.2f ms (n=%zu)\n",
		       d[k / 2], d[(size_t)(k * 0.99)], d[k - 1], k);
	free(d);
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 2000, rate = argc > 3 ? atoi(argv[3]) : 0;
	int port = free_port(), skip = e2e_require_kernel();
	char log_path[] = "/tmp/jcw-bench-agent-XXXXXX", envp_api[96], envp_port[32];
	char spool[] = "/tmp/jcw-bench-spool-XXXXXX", envp_spool[64];
	char *env[] = { envp_api, envp_port, envp_spool, "LOG_LEVEL=WARNING", NULL };
	double base_s, with_s, cpu0, cpu1;
	struct receiver *r;
	size_t got;
	pid_t pid;

	if (skip || argc < 2)
		return skip ? skip : 2;
	make_workspace();
	close(mkstemp(log_path));
	r = receiver_start(0);
	snprintf(envp_api, sizeof(envp_api), "API_SERVER=http://127.0.0.1:%d", receiver_port(r));
	snprintf(envp_port, sizeof(envp_port), "METRICS_PORT=%d", port);
	if (!mkdtemp(spool))
		return 1;
	snprintf(envp_spool, sizeof(envp_spool), "SPOOL_DIR=%s", spool);	/* a spool of its own */

	base_s = student_loop(runs, rate);
	pid = agent_spawn(argv[1], env, NULL, log_path);
	if (agent_wait_ready(pid, port, 60000, log_path) < 0)
		return 1;
	cpu0 = agent_cpu_seconds(pid);
	with_s = student_loop(runs, rate);
	got = receiver_wait(r, (size_t)runs, 60000);
	cpu1 = agent_cpu_seconds(pid);

	printf("runs: %d %s\n", runs, rate ? "paced" : "back to back");
	if (rate)
		printf("rate: %d runs/s\n", rate);
	printf("delivered: %zu of %d (%.2f %% loss), kernel lost %.0f, dropped %.0f\n",
	       got, runs, 100.0 * (runs - (double)got) / runs,
	       agent_metric(port, "bpf_events_lost_total{service=\"procmon\"}"),
	       agent_metric(port, "queue_events_dropped_total{service=\"procmon\"}"));
	printf("exec rate: %.0f runs/s without the agent, %.0f runs/s with it (%+.1f %%)\n",
	       runs / base_s, runs / with_s, 100.0 * (base_s - with_s) / with_s);
	printf("agent CPU: %.3f s for %d runs (%.1f us per run)\n", cpu1 - cpu0, runs,
	       (cpu1 - cpu0) * 1e6 / runs);
	delays(r, got);
	agent_stop(pid, 0, 20000);
	receiver_stop(r);
	unlink(log_path);
	support_rm_rf(spool);
	return got == (size_t)runs ? 0 : 1;
}
