/*
 * bench_scope.c - what watching only this node's students saves: a shared
 * volume of N workspaces (16 directories, 10 source files each), of which
 * M students are on this node.  The agent (filemon only) starts once with
 * WATCH_ALL=1 and once with WATCH_STUDENTS naming the M; each run prints
 * the inotify watches, the time to ready (the start-up scan), the agent's
 * RSS, and after a restart with every file touched while it was down, the
 * catch-up's time and snapshots.
 *
 *   bench_scope BIN [N [M]]     (defaults 400 and 10; needs no probes)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "fsutil.h"
#include "student.h"
#include "support.h"
#include "uts_hosts.h"

static char root[PATH_MAX], codes[PATH_MAX + 8];

static void make_tree(int n)
{
	char p[PATH_MAX * 2];

	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/os-1-%d", codes, i);
		mkdir(p, 0755);
		for (int h = 1; h <= 5; h++) {
			snprintf(p, sizeof(p), "%s/os-1-%d/hw%d", codes, i, h);
			mkdir(p, 0755);
			for (int d = 0; d < 2; d++) {
				int fd;

				snprintf(p, sizeof(p), "%s/os-1-%d/hw%d/d%d", codes, i, h, d);
				mkdir(p, 0755);
				snprintf(p, sizeof(p), "%s/os-1-%d/hw%d/d%d/main.c", codes, i, h, d);
				fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
				if (fd >= 0 && write(fd, "int x;\n", 7) < 0)
					perror(p);
				if (fd >= 0)
					close(fd);
			}
		}
	}
}

static void touch_all(int n)
{
	char p[PATH_MAX * 2];

	for (int i = 0; i < n; i++)
		for (int h = 1; h <= 5; h++)
			for (int d = 0; d < 2; d++) {
				snprintf(p, sizeof(p), "%s/os-1-%d/hw%d/d%d/main.c", codes, i, h, d);
				utimensat(AT_FDCWD, p, NULL, 0);
			}
}

static long rss_kb(pid_t pid)
{
	char p[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	f = fopen(p, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* The agent's CPU time so far (user + system), in ms. */
static long cpu_ms(pid_t pid)
{
	char p[64], buf[1024], *q;
	unsigned long ut = 0, st = 0;
	int fd;
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	q = strrchr(buf, ')');
	if (!q || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static long count_in(const char *path, const char *needle)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long long len = 0;
	char *text = fd >= 0 ? fs_read_file(fd, 1LL << 30, &len) : NULL, *end = text + len;
	size_t nlen = strlen(needle);
	long k = 0;

	if (fd >= 0)
		close(fd);
	for (char *p = text; p && (p = memmem(p, (size_t)(end - p), needle, nlen)); p += nlen)
		k++;
	free(text);
	return k;
}

static pid_t start(const char *bin, const char *scope_env, const char *log_path, int port,
		   const char *tag, double *ready_s)
{
	char env_port[32], env_root[PATH_MAX + 32], env_snap[PATH_MAX + 32],
		env_state[PATH_MAX + 32], *scope = strdup(scope_env);
	char *env[] = { env_port, env_root, env_snap, env_state, scope, "MONITORS=filemon",
			"TRACE_SOCKET=", "LOG_LEVEL=WARN", NULL };
	double t0 = support_now();
	pid_t pid;

	snprintf(env_port, sizeof(env_port), "METRICS_PORT=%d", port);
	snprintf(env_root, sizeof(env_root), "WATCH_ROOT=%s", codes);
	snprintf(env_snap, sizeof(env_snap), "SNAPSHOT_BASE=%s/snaps-%s", root, tag);
	snprintf(env_state, sizeof(env_state), "STATE_DIR=%s/state-%s", root, tag);
	pid = agent_spawn(bin, env, (char *[]){ "--no-check", NULL }, log_path);
	free(scope);
	if (agent_wait_ready(pid, port, 120000, log_path) < 0)
		return -1;
	*ready_s = support_now() - t0;
	return pid;
}

static void run(const char *bin, const char *tag, const char *scope_env, int n)
{
	char log_path[PATH_MAX + 32], snaps[PATH_MAX + 32];
	int port = free_port();
	double ready, again, caught_s;
	long watches, rss, caught, cpu, cpu_again;
	pid_t pid;

	snprintf(log_path, sizeof(log_path), "%s/%s.log", root, tag);
	snprintf(snaps, sizeof(snaps), "%s/snaps-%s", root, tag);
	mkdir(snaps, 0755);
	pid = start(bin, scope_env, log_path, port, tag, &ready);
	if (pid < 0)
		return;
	watches = (long)agent_metric(port, "filemon_watches_current{service=\"filemon\"}");
	rss = rss_kb(pid);
	cpu = cpu_ms(pid);
	agent_stop(pid, 0, 20000);
	sleep(1);	/* past the marker's second */
	touch_all(n);
	unlink(log_path);
	pid = start(bin, scope_env, log_path, port, tag, &again);
	if (pid < 0)
		return;
	/* Every catch-up change is snapshotted once its window has passed. */
	caught_s = support_now();
	for (double until = support_now() + 120; support_now() < until;) {
		double pending = agent_metric(port, "filemon_pending_current{service=\"filemon\"}");

		if (pending == 0)
			break;
		usleep(200 * 1000);
	}
	caught_s = support_now() - caught_s + again;
	cpu_again = cpu_ms(pid);
	usleep(1000 * 1000);
	agent_stop(pid, 0, 60000);
	caught = count_in(log_path, "\"endpoint\":\"/api/os-1/");
	printf("%-7s watches %6ld, ready %.2f s, CPU %4ld ms, RSS %6ld KiB | restart: %5ld "
	       "snapshots caught up in %.2f s, CPU %4ld ms\n", tag, watches, ready, cpu, rss,
	       caught, caught_s, cpu_again);
}

static void count_host(void *arg, const char *hostname)
{
	(*(int *)arg)++;
}

/* The walk a scoped node makes at start-up and before a drop, with m
 * student containers (one idle process each) on the node. */
static void walk(int m)
{
	pid_t *c = calloc((size_t)m, sizeof(*c));
	char host[64], ws[PATH_MAX + 32];
	double best = 1e9;
	int found = 0, n = 0;

	for (int i = 0; c && i < m; i++) {
		snprintf(host, sizeof(host), "jcode-os-1-%d", i);
		snprintf(ws, sizeof(ws), "%s/os-1-%d", codes, i);
		c[i] = student_container(ws, host);
	}
	for (int r = 0; r < 5; r++) {
		double t0 = support_now();

		found = 0;
		n = uts_hosts("/proc", count_host, &found, NULL);
		if (support_now() - t0 < best)
			best = support_now() - t0;
	}
	printf("walk    %d namespaces (%d of them students), %d processes in /proc: %.2f ms "
	       "(best of 5)\n", n, m, support_count_entries("/proc"), best * 1000);
	for (int i = 0; c && i < m; i++)
		support_child_stop(c[i]);
	free(c);
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 400, m = argc > 3 ? atoi(argv[3]) : 10;
	char tmpl[] = "/tmp/jcw-bench-scope-XXXXXX", *list;
	size_t len = 32;

	if (argc < 2 || n < 1 || m < 1 || m > n) {
		fprintf(stderr, "usage: %s BIN [N [M]]\n", argv[0]);
		return 2;
	}
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(root, sizeof(root), "%s", tmpl);
	snprintf(codes, sizeof(codes), "%s/codes", root);
	mkdir(codes, 0755);
	make_tree(n);
	list = malloc(len + (size_t)m * 24);
	if (!list)
		return 1;
	len = (size_t)sprintf(list, "WATCH_STUDENTS=");
	for (int i = 0; i < m; i++)
		len += (size_t)sprintf(list + len, "%sos-1-%d", i ? "," : "", i);
	printf("%d workspaces on the volume (%d directories, %d files), %d students on this node\n",
	       n, n * 16, n * 10, m);
	run(argv[1], "all", "WATCH_ALL=1", n);
	run(argv[1], "scoped", list, n);
	walk(m);
	free(list);
	support_rm_rf(root);
	return 0;
}
