/*
 * e2e_filemon_crash.c - saves are not lost when the agent is killed -9
 * while it is still working through a backlog.
 *
 * A student saves thousands of files at once; each snapshot costs two
 * fsyncs, so the flush takes longer than the debounce settle time.  The
 * agent is killed -9 in the middle, restarted, and every file must have a
 * snapshot afterwards: the restart marker must not have passed the changes
 * that were still waiting.  filemon only (no BPF), in temp dirs of its own.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "support.h"
#include "testlib.h"

#define NFILES 20000
/* Short windows: the old marker trailed by 0.2 + 6 * 0.1 + 1 = 1.8 s. */
#define WAIT_AFTER_SAVES_S 3.0

static char root[PATH_MAX], codes[PATH_MAX + 16], snaps[PATH_MAX + 16];

/* Files of hw1 with at least one snapshot. */
static int snapshotted(void)
{
	char dir[PATH_MAX * 2], sub[PATH_MAX * 3];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/os-1/hw1/202012345", snaps);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		n += support_count_entries(sub) >= 1;
	}
	closedir(d);
	return n;
}

static void save_all(void)
{
	char p[PATH_MAX * 2], body[64];

	for (int i = 0; i < NFILES; i++) {
		int fd, len = snprintf(body, sizeof(body), "int f%d;\n", i);

		snprintf(p, sizeof(p), "%s/os-1-202012345/hw1/f%05d.c", codes, i);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, body, (size_t)len) != len)
			CHECK(!"save a file");
		if (fd >= 0)
			close(fd);
	}
}

static pid_t start(const char *bin, int port, const char *log_path)
{
	char env_port[32], env_root[PATH_MAX + 32], env_snap[PATH_MAX + 32];
	char env_spool[PATH_MAX + 32];
	char *env[] = { env_port, env_root, env_snap, env_spool, "MONITORS=filemon",
			"DEBOUNCE_WINDOW=0.1", "DEBOUNCE_MAX_WAIT=0.2", "LOG_LEVEL=INFO", NULL };
	pid_t pid;

	snprintf(env_port, sizeof(env_port), "METRICS_PORT=%d", port);
	snprintf(env_root, sizeof(env_root), "WATCH_ROOT=%s", codes);
	snprintf(env_snap, sizeof(env_snap), "SNAPSHOT_BASE=%s", snaps);
	snprintf(env_spool, sizeof(env_spool), "SPOOL_DIR=%s/spool", root);
	pid = agent_spawn(bin, env, (char *[]){ "--no-check", NULL }, log_path);
	if (agent_wait_ready(pid, port, 30000, log_path) < 0)
		return -1;
	return pid;
}

/* Wait until the agent has nothing pending and n files are snapshotted. */
static int wait_done(int port, int n, double timeout_s)
{
	double until = support_now() + timeout_s;

	while (support_now() < until) {
		if (snapshotted() >= n &&
		    agent_metric(port, "filemon_pending_current{service=\"filemon\"}") == 0)
			return 0;
		usleep(200 * 1000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	char log1[] = "/tmp/jcw-e2e-fmc-XXXXXX", log2[] = "/tmp/jcw-e2e-fmc2-XXXXXX";
	char tmpl[] = "/tmp/jcw-e2e-fmc-ws-XXXXXX", cmd[PATH_MAX * 4];
	int port = free_port(), status = 0, before;
	double done_at;
	pid_t pid;

	if (argc < 2)
		return 2;
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(root, sizeof(root), "%s", tmpl);
	snprintf(codes, sizeof(codes), "%s/codes", root);
	snprintf(snaps, sizeof(snaps), "%s/snaps", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/os-1-202012345/hw1 %s", codes, snaps);
	CHECK_INT(system(cmd), 0);
	close(mkstemp(log1));
	close(mkstemp(log2));

	pid = start(argv[1], port, log1);
	CHECK(pid > 0);
	if (pid <= 0)
		return TEST_DONE();
	save_all();
	done_at = support_now();
	/* Past the old settle time, and still flushing: the case at issue. */
	while (support_now() < done_at + WAIT_AFTER_SAVES_S)
		usleep(50 * 1000);
	before = snapshotted();
	fprintf(stderr, "  %d of %d snapshotted when killed %.1f s after the saves\n", before,
		NFILES, support_now() - done_at);
	CHECK(before < NFILES);		/* else the machine is too fast to show it */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* The restart catches up on every save the first run did not finish. */
	pid = start(argv[1], port, log2);
	CHECK(pid > 0);
	if (pid > 0) {
		CHECK_INT(wait_done(port, NFILES, 240), 0);
		CHECK_INT(snapshotted(), NFILES);
		CHECK_INT(agent_stop(pid, 0, 20000), 0);
	}
	if (tl_failures) {
		dump_file(log1);
		dump_file(log2);
	}
	support_rm_rf(root);
	unlink(log1);
	unlink(log2);
	return TEST_DONE();
}
