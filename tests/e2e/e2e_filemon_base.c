/*
 * e2e_filemon_base.c - snapshots that cannot be written are kept, retried
 * and caught up, and /readyz says so meanwhile.
 *
 * 1. SNAPSHOT_BASE under /proc: not ready from the start.
 * 2. SNAPSHOT_BASE on a tmpfs (in a mount namespace of this test's own)
 *    that fills up: saves fail, /readyz 503; the agent is stopped and
 *    started again while the disk is still full (the failed saves must
 *    survive that); then the tmpfs grows and every save is snapshotted,
 *    /readyz back to 200, the counters exact.
 * 3. One file whose snapshot cannot be written (a file stands where its
 *    directory goes): the others go on, /readyz stays 200, and that file
 *    is retried until it can be written.
 * filemon only (no BPF); the agent inherits the test's mount namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "agent.h"
#include "support.h"
#include "testlib.h"

#define RUN_ARG(test, arg) do { int f_ = tl_failures; test(arg); \
	fprintf(stderr, "%s %s\n", tl_failures == f_ ? "ok  " : "FAIL", #test); } while (0)

static char root[PATH_MAX], codes[PATH_MAX + 16], snaps[PATH_MAX + 16];

static pid_t spawn(const char *bin, int port, const char *base, const char *log_path)
{
	char env_port[32], env_root[PATH_MAX + 32], env_snap[PATH_MAX + 32];
	char env_spool[PATH_MAX + 32];
	char *env[] = { env_port, env_root, env_snap, env_spool, "MONITORS=filemon",
			"DEBOUNCE_WINDOW=0.1", "DEBOUNCE_MAX_WAIT=0.2", NULL };

	snprintf(env_port, sizeof(env_port), "METRICS_PORT=%d", port);
	snprintf(env_root, sizeof(env_root), "WATCH_ROOT=%s", codes);
	snprintf(env_snap, sizeof(env_snap), "SNAPSHOT_BASE=%s", base);
	snprintf(env_spool, sizeof(env_spool), "SPOOL_DIR=%s/spool", root);
	return agent_spawn(bin, env, (char *[]){ "--no-check", NULL }, log_path);
}

/* /readyz's status once /healthz answers (the agent is up and looping). */
static long readyz_when_up(int port, char **body)
{
	double until = support_now() + 30;
	long status = 0;

	*body = NULL;
	while (support_now() < until) {
		free(http_get(port, "/healthz", &status));
		if (status == 200)
			break;
		usleep(100 * 1000);
	}
	*body = http_get(port, "/readyz", &status);
	return status;
}

/* Poll /readyz until it answers want (or 40 s); returns the last status. */
static long wait_readyz(int port, long want)
{
	double until = support_now() + 40;
	long status = 0;

	while (support_now() < until) {
		free(http_get(port, "/readyz", &status));
		if (status == want)
			break;
		usleep(100 * 1000);
	}
	return status;
}

static double metric(int port, const char *name, const char *labels)
{
	return agent_filemon_metric(port, name, labels);
}

/* Wait until metric name{labels} == want (or 40 s). */
static double wait_metric(int port, const char *name, const char *labels, double want)
{
	return agent_wait_filemon_metric(port, name, labels, want, 40);
}

static void save(const char *name, const char *content)
{
	char p[PATH_MAX * 2];
	FILE *f;

	snprintf(p, sizeof(p), "%s/os-1-202012345/hw1/%s", codes, name);
	f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

/* The one snapshot of name under base: its content (NULL when not exactly one). */
static const char *snapshot_in(const char *base, const char *name)
{
	char dir[PATH_MAX * 2];

	snprintf(dir, sizeof(dir), "%s/os-1/hw1/202012345/%s", base, name);
	return support_only_file(dir);
}

static const char *snapshot_of(const char *name)
{
	return snapshot_in(snaps, name);
}

/* Fill the tmpfs until a write fails with ENOSPC. */
static int fill(void)
{
	char p[PATH_MAX * 2], block[4096];
	int fd, err = 0;

	memset(block, 'z', sizeof(block));
	snprintf(p, sizeof(p), "%s/filler", snaps);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	while (write(fd, block, sizeof(block)) > 0)
		;
	err = errno;
	/* A last partial page, so not even one byte fits. */
	while (write(fd, block, 1) > 0)
		;
	close(fd);
	return err == ENOSPC ? 0 : -1;
}

static void test_unusable_base(const char *bin)
{
	char log_path[] = "/tmp/jcw-e2e-fmb-XXXXXX", *body;
	int port = free_port();
	pid_t pid;

	close(mkstemp(log_path));
	pid = spawn(bin, port, "/proc/x", log_path);
	CHECK_INT(readyz_when_up(port, &body), 503);
	CHECK(body && strstr(body, "filemon"));
	free(body);
	/* And it stays so: no probe makes /proc writable. */
	usleep(1500 * 1000);
	CHECK_INT(wait_readyz(port, 503), 503);
	CHECK_INT(metric(port, "filemon_snapshot_base_writable", ""), 0);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	if (tl_failures)
		dump_file(log_path);
	unlink(log_path);
}

static void test_full_disk(const char *bin)
{
	char log1[] = "/tmp/jcw-e2e-fmb1-XXXXXX", log2[] = "/tmp/jcw-e2e-fmb2-XXXXXX";
	const char *nospc = "reason=\"no_space\"";
	int port = free_port();
	char *body;
	pid_t pid;

	close(mkstemp(log1));
	close(mkstemp(log2));
	CHECK_INT(mount("jcw-snap", snaps, "tmpfs", 0, "size=512k"), 0);
	pid = spawn(bin, port, snaps, log1);
	CHECK_INT(agent_wait_ready(pid, port, 30000, log1), 0);
	save("a.c", "int a;\n");
	CHECK_INT(wait_metric(port, "filemon_snapshots_total", "", 1), 1);
	CHECK_STR(snapshot_of("a.c"), "int a;\n");
	/* Past the marker's slack: a.c is not caught up again after the
	 * restart below, so every count stays exact. */
	usleep(3000 * 1000);

	/* The disk fills up: the first save due fails, is counted and kept;
	 * the rest wait for the disk, tried by a probe, not one by one. */
	CHECK_INT(fill(), 0);
	save("b.c", "int b;\n");
	save("c.c", "int c;\n");
	save("d.py", "d = 1\n");
	CHECK_INT(wait_metric(port, "filemon_snapshot_failures_total", nospc, 1), 1);
	CHECK_INT(wait_readyz(port, 503), 503);
	usleep(2500 * 1000);	/* two probes at least */
	CHECK_INT(metric(port, "filemon_snapshot_failures_total", nospc), 1);
	CHECK_INT(metric(port, "filemon_snapshot_retries_total", ""), 1);
	CHECK_INT(metric(port, "filemon_pending_current", ""), 3);
	CHECK_INT(metric(port, "filemon_snapshot_base_writable", ""), 0);
	CHECK_INT(metric(port, "filemon_snapshots_total", ""), 1);

	/* Stopped while full: the three are not snapshotted, and not lost. */
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	pid = spawn(bin, port, snaps, log2);
	CHECK_INT(readyz_when_up(port, &body), 503);
	free(body);
	usleep(1500 * 1000);
	CHECK_INT(metric(port, "filemon_pending_current", ""), 3);
	CHECK_INT(metric(port, "filemon_snapshots_total", ""), 0);

	/* Space comes back: every kept save is snapshotted, once. */
	CHECK_INT(mount(NULL, snaps, NULL, MS_REMOUNT, "size=4m"), 0);
	CHECK_INT(wait_metric(port, "filemon_snapshots_total", "", 3), 3);
	CHECK_INT(wait_readyz(port, 200), 200);
	CHECK_INT(metric(port, "filemon_pending_current", ""), 0);
	CHECK_INT(metric(port, "filemon_snapshot_base_writable", ""), 1);
	/* Nothing was written while full: the probe held the saves back. */
	CHECK_INT(metric(port, "filemon_snapshot_failures_total", nospc), 0);
	CHECK_INT(metric(port, "filemon_snapshot_retries_total", ""), 0);
	CHECK_STR(snapshot_of("a.c"), "int a;\n");
	CHECK_STR(snapshot_of("b.c"), "int b;\n");
	CHECK_STR(snapshot_of("c.c"), "int c;\n");
	CHECK_STR(snapshot_of("d.py"), "d = 1\n");
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	if (tl_failures) {
		dump_file(log1);
		dump_file(log2);
	}
	umount2(snaps, MNT_DETACH);
	unlink(log1);
	unlink(log2);
}

static void test_one_file_fails(const char *bin)
{
	char log_path[] = "/tmp/jcw-e2e-fmb3-XXXXXX", base[PATH_MAX + 16];
	char blocker[PATH_MAX * 2], cmd[PATH_MAX * 3];
	const char *missing = "reason=\"missing\"";
	int port = free_port();
	double failures;
	pid_t pid;

	close(mkstemp(log_path));
	snprintf(base, sizeof(base), "%s/snaps-one", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/os-1/hw1/202012345'", base);
	CHECK_INT(system(cmd), 0);
	snprintf(blocker, sizeof(blocker), "%s/os-1/hw1/202012345/bad.c", base);
	CHECK_INT(close(open(blocker, O_WRONLY | O_CREAT, 0644)), 0);
	pid = spawn(bin, port, base, log_path);
	CHECK_INT(agent_wait_ready(pid, port, 30000, log_path), 0);
	save("bad.c", "int bad;\n");
	save("good.c", "int good;\n");
	CHECK_INT(wait_metric(port, "filemon_snapshots_total", "", 1), 1);
	CHECK_STR(snapshot_in(base, "good.c"), "int good;\n");
	CHECK(wait_metric(port, "filemon_snapshot_failures_total", missing, 1) >= 1);
	/* Not the disk's fault: ready, and the others are not held up. */
	CHECK_INT(wait_readyz(port, 200), 200);
	CHECK_INT(metric(port, "filemon_snapshot_base_writable", ""), 1);
	save("more.c", "int more;\n");
	CHECK_INT(wait_metric(port, "filemon_snapshots_total", "", 2), 2);
	CHECK_STR(snapshot_in(base, "more.c"), "int more;\n");
	CHECK_INT(metric(port, "filemon_pending_current", ""), 1);
	/* Each failure put the change back once. */
	failures = metric(port, "filemon_snapshot_failures_total", missing);
	CHECK_DBL(metric(port, "filemon_snapshot_retries_total", ""), failures, 0);

	/* The obstacle goes: the kept change is written at its next retry. */
	CHECK_INT(unlink(blocker), 0);
	CHECK_INT(wait_metric(port, "filemon_snapshots_total", "", 3), 3);
	CHECK_STR(snapshot_in(base, "bad.c"), "int bad;\n");
	CHECK_INT(metric(port, "filemon_pending_current", ""), 0);
	CHECK_INT(wait_readyz(port, 200), 200);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	if (tl_failures)
		dump_file(log_path);
	unlink(log_path);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/jcw-e2e-fmb-ws-XXXXXX", cmd[PATH_MAX * 4];

	if (argc < 2)
		return 2;
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root to mount a tmpfs\n");
		return E2E_SKIP;
	}
	/* Mounts of our own, gone with the test; the agents inherit them. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "SKIP: no mount namespace: %s\n", strerror(errno));
		return E2E_SKIP;
	}
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(root, sizeof(root), "%s", tmpl);
	snprintf(codes, sizeof(codes), "%s/codes", root);
	snprintf(snaps, sizeof(snaps), "%s/snaps", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/os-1-202012345/hw1 %s", codes, snaps);
	CHECK_INT(system(cmd), 0);
	RUN_ARG(test_unusable_base, argv[1]);
	RUN_ARG(test_full_disk, argv[1]);
	RUN_ARG(test_one_file_fails, argv[1]);
	support_rm_rf(root);
	return TEST_DONE();
}
