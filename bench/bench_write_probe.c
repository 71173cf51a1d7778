/*
 * bench_write_probe.c - what stderr capture costs the writes of everyone
 * else on the node: write-heavy programs outside any student container,
 * timed without the agent, with the agent and CAPTURE= (no write probe
 * attached) and with the agent and the default CAPTURE (write/writev
 * probes at entry and exit: an fd test at entry, one map lookup at exit).
 *
 *   bench_write_probe path/to/jcode-watcher [rounds=3]
 *
 * Workloads: dd bs=1 count=1000000 if=/dev/zero of=/dev/null (a million
 * 1-byte writes to fd 1), a pipe ping-pong of 200,000 round trips between
 * two processes (a write and a read each way), and a million 1-byte writes
 * to fd 2 by a process that is not marked (the entry's marks lookup too).
 * Prints the best wall time of each (the machine is shared: the least
 * disturbed round is the closest to the cost) and the ratios to the
 * agent-less run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "support.h"

#define PINGPONGS 200000
#define STDERR_WRITES 1000000
#define MAX_ROUNDS 15

static void run_dd(void)
{
	if (system("dd bs=1 count=1000000 if=/dev/zero of=/dev/null status=none") != 0)
		fprintf(stderr, "dd failed\n");
}

static void ping_pong(void)
{
	int to_child[2], to_parent[2];
	char c = 'x';
	pid_t pid;

	if (pipe(to_child) < 0 || pipe(to_parent) < 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < PINGPONGS; i++)
			if (read(to_child[0], &c, 1) != 1 || write(to_parent[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	for (int i = 0; i < PINGPONGS; i++)
		if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1)
			break;
	waitpid(pid, NULL, 0);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

/* A million writes to fd 2 (pointed at /dev/null) by a process nobody marked. */
static void stderr_writes(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(1);
		for (int i = 0; i < STDERR_WRITES; i++)
			if (write(2, "x", 1) != 1)
				_exit(1);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static const struct workload {
	const char *name;
	void (*run)(void);
} workloads[] = {
	{ "dd bs=1 count=1000000 of=/dev/null", run_dd },
	{ "pipe ping-pong, 200000 round trips", ping_pong },
	{ "1000000 writes to fd 2, not marked", stderr_writes },
};

#define NWORK (sizeof(workloads) / sizeof(workloads[0]))

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Best wall seconds of rounds runs of each workload into out[]. */
static void measure(int rounds, double out[NWORK])
{
	for (size_t w = 0; w < NWORK; w++) {
		double t[MAX_ROUNDS];

		for (int i = 0; i < rounds; i++) {
			double t0 = support_now();

			workloads[w].run();
			t[i] = support_now() - t0;
		}
		qsort(t, (size_t)rounds, sizeof(double), cmp_double);
		out[w] = t[0];
	}
}

/* Measure with an agent running under capture; 0, or -1 if it never came up. */
static int with_agent(const char *bin, const char *capture, int rounds, double out[NWORK],
		      double *probes)
{
	char log_path[] = "/tmp/jcw-bench-wp-log-XXXXXX", spool[] = "/tmp/jcw-bench-wp-XXXXXX";
	char envp_port[32], envp_spool[64], envp_capture[64];
	char *env[] = { envp_port, envp_spool, envp_capture, "LOG_LEVEL=WARNING", NULL };
	int port = free_port();
	pid_t pid;

	close(mkstemp(log_path));
	if (!mkdtemp(spool))
		return -1;
	snprintf(envp_port, sizeof(envp_port), "METRICS_PORT=%d", port);
	snprintf(envp_spool, sizeof(envp_spool), "SPOOL_DIR=%s", spool);
	snprintf(envp_capture, sizeof(envp_capture), "CAPTURE=%s", capture);
	pid = agent_spawn(bin, env, NULL, log_path);
	if (agent_wait_ready(pid, port, 60000, log_path) < 0)
		return -1;
	*probes = agent_metric(port, "bpf_probes_attached{service=\"procmon\"}");
	measure(rounds, out);
	agent_stop(pid, 0, 20000);
	unlink(log_path);
	support_rm_rf(spool);
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 3, skip = e2e_require_kernel();
	double none[NWORK], off[NWORK], on[NWORK], probes_off = -1, probes_on = -1;

	if (skip || argc < 2)
		return skip ? skip : 2;
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 3;
	measure(rounds, none);
	if (with_agent(argv[1], "", rounds, off, &probes_off) < 0 ||
	    with_agent(argv[1], "build,python", rounds, on, &probes_on) < 0) {
		fprintf(stderr, "the agent did not start\n");
		return 1;
	}
	printf("best of %d rounds; probes attached: %.0f with CAPTURE=, %.0f with "
	       "CAPTURE=build,python\n", rounds, probes_off, probes_on);
	printf("%-38s %10s %14s %14s %9s %9s\n", "workload", "no agent", "CAPTURE=",
	       "build,python", "ratio=", "ratio on");
	for (size_t w = 0; w < NWORK; w++)
		printf("%-38s %9.3fs %13.3fs %13.3fs %9.3f %9.3f\n", workloads[w].name, none[w],
		       off[w], on[w], off[w] / none[w], on[w] / none[w]);
	return 0;
}
