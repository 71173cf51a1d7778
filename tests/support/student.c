/*
 * student.c - see student.h.
 */
#define _GNU_SOURCE
#include "student.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define PROJECT "/home/coder/project"

extern char **environ;

/* mkdir -p for an absolute path (on a fresh tmpfs: nothing to race). */
static int mkdirs(const char *path)
{
	char buf[4096];
	size_t i, len = strlen(path);

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		buf[i] = i < len ? '/' : '\0';
	}
	return 0;
}

/* The top directory of an absolute path: "/config" of "/config/workspace". */
static void top_dir(const char *path, char *top, size_t len)
{
	snprintf(top, len, "/%.*s", (int)strcspn(path + 1, "/"), path + 1);
}

/* Become the student's container: its hostname, a private tmpfs over the
 * mount point's top directory (the host is left as it was), the workspace
 * bind-mounted at the mount point, and cwd there (or in sub below it). */
static int enter_at(const char *ws, const char *hostname, const char *mountpoint,
		    const char *sub)
{
	char top[256], cwd[4096];

	top_dir(mountpoint, top, sizeof(top));
	snprintf(cwd, sizeof(cwd), "%s%s%s", mountpoint, sub ? "/" : "", sub ? sub : "");
	if (unshare(CLONE_NEWUTS | CLONE_NEWNS) < 0 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    sethostname(hostname, strlen(hostname)) < 0 ||
	    mount("none", top, "tmpfs", 0, NULL) < 0 || mkdirs(mountpoint) < 0 ||
	    mount(ws, mountpoint, NULL, MS_BIND, NULL) < 0 || chdir(cwd) < 0) {
		perror("student namespace");
		return -1;
	}
	return 0;
}

static int enter(const char *ws, const char *hostname)
{
	return enter_at(ws, hostname, PROJECT, "hw1");
}

static void wait_until(const struct timespec *t0, int i, int rate)
{
	long long ns = (long long)i * 1000000000LL / rate;
	struct timespec at = { t0->tv_sec + ns / 1000000000LL, t0->tv_nsec + ns % 1000000000LL };

	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
		;
}

static int run_one(const char *prog, int i)
{
	char arg[16];
	char *argv[] = { (char *)prog, arg, NULL };
	pid_t pid;
	int status;

	snprintf(arg, sizeof(arg), "%d", i);
	if (posix_spawn(&pid, prog, NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return 0;
}

static int loop_runs(const char *prog, int n, int rate)
{
	struct timespec t0;
	int failed = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		if (rate > 0)
			wait_until(&t0, i, rate);
		failed += run_one(prog, i) < 0;
	}
	return failed;
}

int student_runs(const char *ws, const char *hostname, const char *prog, int n, int rate)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (enter(ws, hostname) < 0)
			_exit(2);
		_exit(loop_runs(prog, n, rate) ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return 0;
}

int student_workspace(const char *name, char *ws, size_t len)
{
	char root[128], *cmd;
	int rc;

	snprintf(root, sizeof(root), "/tmp/%s-XXXXXX", name);
	if (!mkdtemp(root)) {
		perror(root);
		return -1;
	}
	snprintf(ws, len, "%s/os-1-202012345", root);
	if (asprintf(&cmd, "mkdir -p %s/hw1 && printf 'int main(void){return 0;}' > %s/hw1/p.c"
		     " && gcc -O2 -o %s/hw1/p %s/hw1/p.c", ws, ws, ws, ws) < 0)
		return -1;
	rc = system(cmd);
	free(cmd);
	if (rc != 0)
		fprintf(stderr, "cannot build the student workspace in %s\n", root);
	return rc == 0 ? 0 : -1;
}

int student_shell(const char *ws, const char *hostname, const char *script)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (enter(ws, hostname) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int student_shell_at(const char *ws, const char *hostname, const char *mountpoint,
		     const char *script)
{
	char top[256];
	bool made = false;
	pid_t pid;
	int status;

	if (!mountpoint || mountpoint[0] != '/' || !mountpoint[1])
		return -1;
	top_dir(mountpoint, top, sizeof(top));
	/* A mount needs a directory to cover; make an empty one for the
	 * namespace's tmpfs and take it away again afterwards. */
	if (mkdir(top, 0755) == 0)
		made = true;
	else if (errno != EEXIST)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (enter_at(ws, hostname, mountpoint, NULL) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	status = -1;
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
		status = WEXITSTATUS(status);
	else
		status = -1;
	if (made)
		rmdir(top);
	return status;
}

struct place {
	const char *ws, *hostname, *own;
	bool init_renames;	/* the init renames itself, not a process inside */
};

static int enter_place(void *arg)
{
	const struct place *pl = arg;

	return enter(pl->ws, pl->hostname);
}

pid_t student_container(const char *ws, const char *hostname)
{
	struct place pl = { ws, hostname, NULL, false };

	return support_child_ready(enter_place, &pl);
}

/* Rename the caller's hostname in a UTS namespace of its own, as a
 * student can: with a user namespace of their own when they are the
 * container's init (the runtime's UTS namespace is not theirs to rename). */
static int rename_own(const char *own, bool with_user)
{
	if (unshare(CLONE_NEWUTS | (with_user ? CLONE_NEWUSER : 0)) < 0 ||
	    sethostname(own, strlen(own)) < 0) {
		perror("student's own UTS namespace");
		return -1;
	}
	return 0;
}

/* The container's init: the student's namespaces, made here so that the
 * child that made it stays in the test's; it dies with that child (and
 * with it everything in its namespace), which waits for ready, so is
 * still there when the death signal is set. */
static void container_init(const struct place *pl, int ready)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || enter(pl->ws, pl->hostname) < 0)
		_exit(1);
	if (pl->own && pl->init_renames && rename_own(pl->own, true) < 0)
		_exit(1);
	if (pl->own && !pl->init_renames && fork() == 0) {
		if (rename_own(pl->own, false) < 0 || write(ready, "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if ((!pl->own || pl->init_renames) && write(ready, "x", 1) != 1)
		_exit(1);
	close(ready);
	for (;;)
		pause();
}

static int enter_pidns(void *arg)
{
	const struct place *pl = arg;
	int p[2];
	pid_t init;
	char c;

	if (unshare(CLONE_NEWPID) < 0 || pipe(p) < 0)
		return -1;
	init = fork();
	if (init == 0) {
		close(p[0]);
		container_init(pl, p[1]);
	}
	close(p[1]);
	/* EOF when the init or the renamed process failed. */
	c = 0;
	if (init > 0 && read(p[0], &c, 1) != 1)
		c = 0;
	close(p[0]);
	return c == 'x' ? 0 : -1;
}

pid_t student_pidns_container(const char *ws, const char *hostname, const char *own,
			      bool init_renames)
{
	struct place pl = { ws, hostname, own, init_renames };

	return support_child_ready(enter_pidns, &pl);
}
