/*
 * bench_lean.c - two agent builds side by side, in one run on one machine:
 * what each costs a node (issue #10's table).
 *
 *   bench_lean BEFORE AFTER [runs=5000] [pairs=5] [pair_runs=4000]
 *
 * bench/compare.sh builds BEFORE from git and passes both.  Per agent:
 *   ready      spawn -> /readyz 200, median over the pairs' starts
 *   exec rate  `pairs` interleaved (without, with) pairs, each pair_runs
 *              runs of a student's ./p from 2 spawners at once; the ratio
 *              with/without, median of the pairs (lowest-highest); odd
 *              pairs run with the agent first; beside them, as many pairs
 *              with no agent in either half, the noise floor
 *   CPU/run    the agent's CPU time (schedstat, every thread) over those
 *              runs (stdout mode), and
 *              over `runs` runs with spool + HTTP to a loopback receiver
 *              (median of DELIVERED_ROUNDS rounds, interleaved)
 *   loss       of those `runs` runs, how many never reached the receiver
 *   RSS        VmRSS of the agent and its children after the `runs` runs
 *   memlock    the memlock of every BPF map the agent made (map ids new
 *              since it started), plus the perf buffer pages pinned to it
 *              (VmPin) where it uses them
 *   probe time the kernel time of every BPF program per run during the
 *              spool + HTTP runs, the mean of the rounds
 *              (kernel.bpf_stats_enabled on for them only, since counting
 *              costs two clock reads per program run)
 * Figures only: nothing is asserted.  Run it as root on an idle machine.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "agent.h"
#include "receiver.h"
#include "student.h"
#include "support.h"

#define MAX_MAPS 256
#define DELIVERED_ROUNDS 3	/* spool + HTTP runs per agent, interleaved; the median */
#define HOST "jcode-os-1-202012345"
#define SETTLE_MS 1000	/* after /readyz, before the exec rate is measured */

static char ws[4096];

struct figures {
	double ready_s[16];
	double ratio[16];
	double cpu_stdout_us[16];
	double cpu_http_us[DELIVERED_ROUNDS], rss_kb, memlock, loss, probe_ns;	/* probe: summed */
	int rounds;
	int pairs;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* c = v sorted, lowest first (n <= 16: pairs and rounds are bounded). */
static void sorted(const double *v, int n, double *c)
{
	memcpy(c, v, sizeof(double) * (size_t)n);
	qsort(c, (size_t)n, sizeof(double), cmp_double);
}

static double median(const double *v, int n)
{
	double c[16];

	sorted(v, n, c);
	return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

static double lowest(const double *v, int n)
{
	double c[16];

	sorted(v, n, c);
	return c[0];
}

static double highest(const double *v, int n)
{
	double c[16];

	sorted(v, n, c);
	return c[n - 1];
}

/* Seconds pid has run on a CPU, all its threads, to the nanosecond
 * (/proc/PID/schedstat; /proc/PID/stat counts 10 ms ticks, too coarse for
 * microseconds per run). */
static double cpu_seconds(pid_t pid)
{
	char path[64];
	unsigned long long ns = 0, v;
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		char p2[320];
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof(p2), "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
		f = fopen(p2, "r");
		if (f && fscanf(f, "%llu", &v) == 1)
			ns += v;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return (double)ns / 1e9;
}

static long status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key), NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* VmRSS of pid and every process below it, in kB. */
static long tree_rss_kb(pid_t pid)
{
	char path[320], buf[4096];
	long kb = status_kb(pid, "VmRSS:");
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, de->d_name);
		f = fopen(path, "r");
		if (f && fgets(buf, sizeof(buf), f))
			for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
				kb += tree_rss_kb((pid_t)atoi(t));
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return kb;
}

/* run_time_ns summed over every BPF program loaded now. */
static double progs_run_ns(void)
{
	unsigned id = 0;
	double total = 0;

	while (bpf_prog_get_next_id(id, &id) == 0) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
			total += (double)info.run_time_ns;
		close(fd);
	}
	return total;
}

static void bpf_stats(int on)
{
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "w");

	if (f) {
		fputs(on ? "1" : "0", f);
		fclose(f);
	}
}

/* The BPF map ids that exist now. */
static int map_ids(unsigned *ids, int max)
{
	unsigned id = 0;
	int n = 0;

	while (n < max && bpf_map_get_next_id(id, &id) == 0)
		ids[n++] = id;
	return n;
}

/* memlock of the maps not in before[]: the agent's. */
static double new_maps_memlock(const unsigned *before, int nbefore)
{
	unsigned ids[MAX_MAPS];
	int n = map_ids(ids, MAX_MAPS);
	double total = 0;

	for (int i = 0; i < n; i++) {
		char path[64], line[256];
		bool old = false;
		FILE *f;
		int fd;

		for (int k = 0; k < nbefore && !old; k++)
			old = before[k] == ids[i];
		if (old || (fd = bpf_map_get_fd_by_id(ids[i])) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "memlock:", 8))
				total += strtod(line + 8, NULL);
		if (f)
			fclose(f);
		close(fd);
	}
	return total;
}

/* n runs of ./p from two spawners at once; wall seconds. */
static double two_spawners(int n)
{
	double t0 = support_now();
	pid_t a = fork();

	if (a == 0)
		_exit(student_runs(ws, HOST, "./p", n / 2, 0) ? 1 : 0);
	student_runs(ws, HOST, "./p", n - n / 2, 0);
	waitpid(a, NULL, 0);
	return support_now() - t0;
}

static pid_t start(const char *bin, char **env, int port, double *ready_s)
{
	double t0 = support_now();
	pid_t pid = agent_spawn(bin, env, NULL, "/dev/null");

	if (agent_wait_ready(pid, port, 120000, "/dev/null") < 0) {
		fprintf(stderr, "%s did not become ready\n", bin);
		exit(1);
	}
	*ready_s = support_now() - t0;
	return pid;
}

/*
 * One pair in stdout mode: pair_runs runs without the agent and pair_runs
 * with it.  Odd pairs run the halves the other way round, so that a drift
 * of the machine's speed over the run (a neighbour of the VM, the page
 * cache) cancels in the median instead of counting against one side.  The
 * agent is measured settled: its start-up (the loader child, the first
 * walk of /proc) is the ready figure, not the exec rate's.
 */
static void pair(const char *bin, int runs, struct figures *f)
{
	char port_env[32], *env[] = { port_env, "LOG_LEVEL=WARNING", NULL };
	int port = free_port();
	bool agent_first = f->pairs % 2;
	double without = 0, with, c0;
	pid_t pid;

	snprintf(port_env, sizeof(port_env), "METRICS_PORT=%d", port);
	if (!agent_first)
		without = two_spawners(runs);
	pid = start(bin, env, port, &f->ready_s[f->pairs]);
	usleep(SETTLE_MS * 1000);
	c0 = cpu_seconds(pid);
	with = two_spawners(runs);
	usleep(200 * 1000);	/* the last records drained */
	f->cpu_stdout_us[f->pairs] = (cpu_seconds(pid) - c0) * 1e6 / runs;
	agent_stop(pid, 0, 20000);
	if (agent_first)
		without = two_spawners(runs);
	f->ratio[f->pairs] = without / with;	/* rate with / rate without */
	f->pairs++;
}

/* The same measurement with no agent in either half: what the ratio reads
 * when nothing differs, the noise any ratio above is read against. */
static void null_pair(int runs, struct figures *f)
{
	double a = two_spawners(runs);

	usleep(SETTLE_MS * 1000);
	f->ratio[f->pairs++] = a / two_spawners(runs);
}

/* runs runs with spool + HTTP to a loopback receiver. */
static void delivered(const char *bin, int runs, struct figures *f)
{
	char port_env[32], api[96], spool_env[96], spool[] = "/tmp/jcw-lean-spool-XXXXXX";
	char *env[] = { port_env, api, spool_env, "LOG_LEVEL=WARNING", NULL };
	struct receiver *r = receiver_start(0);
	unsigned before[MAX_MAPS];
	int port = free_port(), nbefore = map_ids(before, MAX_MAPS);
	double ready, c0, p0;
	size_t got;
	pid_t pid;

	if (!r || !mkdtemp(spool))
		exit(1);
	snprintf(port_env, sizeof(port_env), "METRICS_PORT=%d", port);
	snprintf(api, sizeof(api), "API_SERVER=http://127.0.0.1:%d", receiver_port(r));
	snprintf(spool_env, sizeof(spool_env), "SPOOL_DIR=%s", spool);
	pid = start(bin, env, port, &ready);
	/* Perf buffer pages are pinned to the process, not charged to a map. */
	f->memlock = new_maps_memlock(before, nbefore) + 1024.0 * (double)status_kb(pid, "VmPin:");
	bpf_stats(1);
	p0 = progs_run_ns();
	c0 = cpu_seconds(pid);
	two_spawners(runs);
	f->probe_ns += (progs_run_ns() - p0) / runs;
	bpf_stats(0);
	got = receiver_wait(r, (size_t)runs, 120000);
	f->cpu_http_us[f->rounds++] = (cpu_seconds(pid) - c0) * 1e6 / runs;
	f->rss_kb = (double)tree_rss_kb(pid);
	f->loss += (double)runs - (double)got;
	agent_stop(pid, 0, 20000);
	receiver_stop(r);
	support_rm_rf(spool);
}

int main(int argc, char **argv)
{
	int runs = argc > 3 ? atoi(argv[3]) : 5000, pairs = argc > 4 ? atoi(argv[4]) : 5;
	int pair_runs = argc > 5 ? atoi(argv[5]) : 4000, skip = e2e_require_kernel();
	struct figures f[2] = { 0 }, none = { 0 };
	const char *bin[2];

	if (skip || argc < 3 || pairs < 1 || pairs > 16)
		return skip ? skip : 2;
	bin[0] = argv[1];
	bin[1] = argv[2];
	if (student_workspace("jcw-lean", ws, sizeof(ws)) < 0)
		return 1;
	two_spawners(200);	/* warm the page cache */
	for (int i = 0; i < pairs; i++) {
		for (int a = 0; a < 2; a++)
			pair(bin[a], pair_runs, &f[a]);
		null_pair(pair_runs, &none);
	}
	for (int k = 0; k < DELIVERED_ROUNDS; k++)	/* interleaved, as the pairs */
		for (int a = 0; a < 2; a++)
			delivered(bin[a], runs, &f[a]);

	printf("| figure | before | after |\n|---|---|---|\n");
	printf("| agent RSS after %d runs (agent + children) | %.1f MB | %.1f MB |\n", runs,
	       f[0].rss_kb / 1024, f[1].rss_kb / 1024);
	printf("| BPF map memlock | %.1f MiB | %.1f MiB |\n", f[0].memlock / 1048576,
	       f[1].memlock / 1048576);
	printf("| agent CPU per run, JSON to stdout (median of %d) | %.1f us | %.1f us |\n", pairs,
	       median(f[0].cpu_stdout_us, pairs), median(f[1].cpu_stdout_us, pairs));
	printf("| agent CPU per run, spool + HTTP (median of %d rounds of %d runs) | %.1f us | "
	       "%.1f us |\n", DELIVERED_ROUNDS, runs, median(f[0].cpu_http_us, DELIVERED_ROUNDS),
	       median(f[1].cpu_http_us, DELIVERED_ROUNDS));
	printf("| exec rate with / without agent (median of %d pairs, %d runs, 2 spawners) | "
	       "%.3f (%.3f-%.3f) | %.3f (%.3f-%.3f) |\n", pairs, pair_runs, median(f[0].ratio, pairs),
	       lowest(f[0].ratio, pairs), highest(f[0].ratio, pairs), median(f[1].ratio, pairs),
	       lowest(f[1].ratio, pairs), highest(f[1].ratio, pairs));
	printf("| exec rate, no agent in either half (the noise; same pairs) | %.3f (%.3f-%.3f) | |\n",
	       median(none.ratio, pairs), lowest(none.ratio, pairs), highest(none.ratio, pairs));
	printf("| kernel time of the BPF programs per run (mean of %d rounds) | %.2f us | "
	       "%.2f us |\n", DELIVERED_ROUNDS, f[0].probe_ns / DELIVERED_ROUNDS / 1000,
	       f[1].probe_ns / DELIVERED_ROUNDS / 1000);
	printf("| lost of %d x %d runs from 2 spawners | %.0f | %.0f |\n", DELIVERED_ROUNDS, runs,
	       f[0].loss, f[1].loss);
	printf("| ready after start (median of %d) | %.2f s | %.2f s |\n", pairs,
	       median(f[0].ready_s, pairs), median(f[1].ready_s, pairs));
	return 0;
}
