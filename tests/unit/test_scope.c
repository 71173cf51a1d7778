/*
 * test_scope.c - which workspaces a node watches (filemon/scope.h) on a real
 * directory tree with an injected clock, and the live UTS namespaces
 * (filemon/uts_hosts.h) of real processes made with unshare(CLONE_NEWUTS).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filemon.h"
#include "log.h"
#include "loop.h"
#include "scope.h"
#include "sender.h"
#include "student.h"
#include "support.h"
#include "testlib.h"
#include "uts_hosts.h"

#define HOUR_MS (3600 * 1000LL)

static char root[64] = "/tmp/test_scope.XXXXXX";
static int rootfd = -1;

static void mkws(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", root, name);
	mkdir(p, 0755);
}

/* ---- the set ------------------------------------------------------------- */

static void test_seen_adds_existing_only(void)
{
	struct scope *s = scope_create(&(struct scope_config){ 0 }, rootfd);
	char link[256];

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(!scope_all(s));
	CHECK_INT(scope_count(s), 0);
	CHECK(!scope_wants(s, "os-1-202012345"));
	CHECK_INT(scope_seen(s, "os-1-202012345", 1000), SCOPE_ADDED);
	CHECK(scope_wants(s, "os-1-202012345"));
	CHECK_INT(scope_seen(s, "os-1-202012345", 2000), SCOPE_KNOWN);
	CHECK_INT(scope_count(s), 1);
	/* A faked hostname: no directory is made for it. */
	CHECK_INT(scope_seen(s, "os-1-404", 2000), SCOPE_REFUSED_MISSING);
	CHECK(!scope_wants(s, "os-1-404"));
	snprintf(link, sizeof(link), "%s/os-1-404", root);
	CHECK_INT(access(link, F_OK), -1);
	/* A symlink to a directory is not a workspace directory. */
	snprintf(link, sizeof(link), "%s/os-1-303", root);
	CHECK_INT(symlink("/etc", link), 0);
	CHECK_INT(scope_seen(s, "os-1-303", 2000), SCOPE_REFUSED_MISSING);
	CHECK_INT(scope_seen(s, "../codes", 2000), SCOPE_INVALID);
	CHECK_INT(scope_seen(s, "os-1-202012345/hw1", 2000), SCOPE_INVALID);
	CHECK_INT(scope_count(s), 1);
	unlink(link);
	scope_free(s);
}

static void test_bound(void)
{
	struct scope *s = scope_create(&(struct scope_config){ .max = 2 }, rootfd);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_INT(scope_seen(s, "os-1-1", 0), SCOPE_ADDED);
	CHECK_INT(scope_seen(s, "os-1-2", 0), SCOPE_ADDED);
	CHECK_INT(scope_seen(s, "os-1-3", 0), SCOPE_REFUSED_LIMIT);
	CHECK_INT(scope_seen(s, "os-1-1", 10), SCOPE_KNOWN);	/* the known still are */
	CHECK_INT(scope_count(s), 2);
	CHECK(!scope_wants(s, "os-1-3"));
	scope_free(s);
}

static int live_calls;
static const char *live_name;
static struct scope *live_scope;
static long long live_now;
static int live_rc;

/* The node's namespaces as a test sets them: live_name is still here. */
static int fake_live(void *arg)
{
	live_calls++;
	if (live_name)
		scope_seen(live_scope, live_name, live_now);
	return live_rc;
}

static char dropped[8][32];
static size_t ndropped;

static void on_drop(void *arg, const char *name)
{
	if (ndropped < 8)
		snprintf(dropped[ndropped], sizeof(dropped[0]), "%s", name);
	ndropped++;
}

static size_t expire(struct scope *s, long long now)
{
	live_scope = s;
	live_now = now;
	ndropped = 0;
	return scope_expire(s, now, fake_live, NULL, on_drop, NULL);
}

static void test_idle_expiry(void)
{
	struct scope *s = scope_create(&(struct scope_config){ .idle_ms = HOUR_MS }, rootfd);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_INT(scope_seen(s, "os-1-1", 0), SCOPE_ADDED);
	CHECK_INT(scope_seen(s, "os-1-2", 0), SCOPE_ADDED);
	CHECK_INT(scope_seen(s, "os-1-2", 30 * 60 * 1000), SCOPE_KNOWN);
	live_calls = 0;
	live_name = NULL;
	live_rc = 0;
	/* Nobody idle yet: the namespaces are not even looked at. */
	CHECK_INT(expire(s, HOUR_MS - 1), 0);
	CHECK_INT(live_calls, 0);
	/* os-1-1 idle an hour, no container: dropped; os-1-2 seen 30 min ago stays. */
	CHECK_INT(expire(s, HOUR_MS), 1);
	CHECK_INT(live_calls, 1);
	CHECK_INT(ndropped, 1);
	CHECK_STR(dropped[0], "os-1-1");
	CHECK(!scope_wants(s, "os-1-1"));
	CHECK(scope_wants(s, "os-1-2"));
	CHECK_INT(scope_count(s), 1);
	/* Idle, but its container lives (the student only edits): kept. */
	live_name = "os-1-2";
	CHECK_INT(expire(s, 2 * HOUR_MS), 0);
	CHECK_INT(live_calls, 2);
	CHECK(scope_wants(s, "os-1-2"));
	/* The namespaces could not all be read: who left is not known. */
	live_name = NULL;
	live_rc = -EACCES;
	CHECK_INT(expire(s, 4 * HOUR_MS), 0);
	CHECK(scope_wants(s, "os-1-2"));
	live_rc = 0;
	CHECK_INT(expire(s, 4 * HOUR_MS), 1);
	CHECK_STR(dropped[0], "os-1-2");
	CHECK_INT(scope_count(s), 0);
	/* Back later: watched again. */
	CHECK_INT(scope_seen(s, "os-1-1", 5 * HOUR_MS), SCOPE_ADDED);
	CHECK_INT(scope_sweep_ms(s), 60000);
	CHECK_INT(scope_idle_ms(s), HOUR_MS);
	scope_free(s);
}

static void test_static_list(void)
{
	char *names[] = { "os-1-2", "os-1-9" };	/* os-1-9 has no directory yet */
	char *bad[] = { "os-1-2", "not a workspace" };
	struct scope *s = scope_create(&(struct scope_config){ .students = names, .nstudents = 2,
							       .max = 1, .idle_ms = 1000 }, rootfd);

	CHECK(scope_create(&(struct scope_config){ .students = bad, .nstudents = 2 }, rootfd) == NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_INT(scope_count(s), 2);
	CHECK(scope_wants(s, "os-1-2"));
	CHECK(scope_wants(s, "os-1-9"));	/* its directory may come later */
	CHECK_INT(scope_seen(s, "os-1-2", 0), SCOPE_KNOWN);
	/* The bound is on the learned ones only. */
	CHECK_INT(scope_seen(s, "os-1-1", 0), SCOPE_ADDED);
	CHECK_INT(scope_seen(s, "os-1-3", 0), SCOPE_REFUSED_LIMIT);
	live_name = NULL;
	live_rc = 0;
	CHECK_INT(expire(s, 10 * HOUR_MS), 1);	/* never the listed ones */
	CHECK_STR(dropped[0], "os-1-1");
	CHECK_INT(scope_count(s), 2);
	CHECK_INT(scope_sweep_ms(s), 1000);
	scope_free(s);
}

static void test_watch_all(void)
{
	struct scope *s = scope_create(&(struct scope_config){ .all = true, .max = 1 }, rootfd);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(scope_all(s));
	CHECK(scope_wants(s, "os-1-404"));
	CHECK_INT(scope_seen(s, "os-1-1", 0), SCOPE_KNOWN);
	CHECK_INT(scope_count(s), 0);
	CHECK_INT(expire(s, 10 * HOUR_MS), 0);
	scope_free(s);
}

/* ---- live namespaces ------------------------------------------------------ */

struct found {
	char names[64][65];
	size_t n;
};

static void collect(void *arg, const char *hostname)
{
	struct found *f = arg;

	if (f->n < 64)
		snprintf(f->names[f->n++], sizeof(f->names[0]), "%s", hostname);
}

static size_t count_of(const struct found *f, const char *name)
{
	size_t k = 0;

	for (size_t i = 0; i < f->n; i++)
		k += strcmp(f->names[i], name) == 0;
	return k;
}

/* A pod's view: kubelet bind-mounts the pod's /etc/hostname; file names
 * a file to mount there (NULL: none). */
static int pod_hostname_file(const char *file)
{
	if (!file)
		return 0;
	/* "none": the type is ignored here, but memcheck reads it. */
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	return mount(file, "/etc/hostname", "none", MS_BIND, NULL);
}

struct uts_place {
	const char *host, *hostname_file;
};

static int enter_uts(void *arg)
{
	const struct uts_place *u = arg;

	if (unshare(CLONE_NEWUTS) < 0 || sethostname(u->host, strlen(u->host)) < 0)
		return -1;
	return pod_hostname_file(u->hostname_file);
}

/* A child in a UTS namespace of its own named host, waiting until killed. */
static pid_t container_with(const char *host, const char *hostname_file)
{
	struct uts_place u = { host, hostname_file };

	return support_child_ready(enter_uts, &u);
}

static pid_t container(const char *host)
{
	return container_with(host, NULL);
}

static void test_uts_hosts(void)
{
	pid_t a, b;
	struct found f = { .n = 0 };
	char h1[64], h2[64];
	int n0, n;

	if (geteuid() != 0) {
		fprintf(stderr, "skip test_uts_hosts: needs root for unshare(CLONE_NEWUTS)\n");
		return;
	}
	/* How many processes this machine hides from us (a sandbox's init,
	 * and whatever comes and goes meanwhile) is not ours to assert. */
	/* Names of this run only: other tests' students may be about. */
	snprintf(h1, sizeof(h1), "jcode-ut-1-%d", (int)getpid());
	snprintf(h2, sizeof(h2), "jcode-ut-1-%d-7f9c", (int)getpid());
	n0 = uts_hosts("/proc", collect, &f, NULL);
	CHECK(n0 >= 0);
	CHECK_INT(count_of(&f, h1), 0);
	f.n = 0;
	a = container(h1);
	b = container(h2);
	CHECK(a > 0 && b > 0);
	n = uts_hosts("/proc", collect, &f, NULL);
	CHECK(n >= 2);
	CHECK_INT(count_of(&f, h1), 1);
	CHECK_INT(count_of(&f, h2), 1);
	support_child_stop(a);
	f.n = 0;
	n = uts_hosts("/proc", collect, &f, NULL);
	CHECK_INT(count_of(&f, h1), 0);	/* gone with its process */
	CHECK_INT(count_of(&f, h2), 1);
	support_child_stop(b);
	CHECK_INT(uts_hosts("/nonexistent", collect, &f, NULL), -ENOENT);
}

/* The namespaces of one container with a PID namespace: which of its
 * hostnames the walk lists, and that none is left once it is stopped. */
static void walk_container(const char *ws, const char *h, const char *own, bool init_renames,
			   size_t want_h)
{
	struct found f = { .n = 0 };
	pid_t c = student_pidns_container(ws, h, own, init_renames);

	CHECK(c > 0);
	CHECK(uts_hosts("/proc", collect, &f, NULL) >= 0);
	CHECK_INT(count_of(&f, h), want_h);
	CHECK_INT(own ? count_of(&f, own) : 0, 0);
	support_child_stop(c);
	/* Its init gone, so is every process of the container. */
	for (int i = 0; i < 100; i++) {
		f.n = 0;
		if (uts_hosts("/proc", collect, &f, NULL) < 0 || !count_of(&f, h))
			break;
		usleep(10 * 1000);
	}
	CHECK_INT(count_of(&f, h), 0);
}

/* Only a container's init names it: not a process a student renamed after
 * another student (`unshare --uts`), nor the init when the student, being
 * it, renamed it (`unshare -Ur --uts`): that container names no one. */
static void test_uts_hosts_own_namespace(void)
{
	char ws[128], h[64], own[64];

	if (geteuid() != 0) {
		fprintf(stderr, "skip test_uts_hosts_own_namespace: needs root for namespaces\n");
		return;
	}
	snprintf(ws, sizeof(ws), "%s/pidns-ws", root);
	mkws("pidns-ws");
	mkws("pidns-ws/hw1");	/* where the container starts */
	snprintf(h, sizeof(h), "jcode-ut-1-%d", (int)getpid());
	snprintf(own, sizeof(own), "jcode-ut-1-%d-own", (int)getpid());
	walk_container(ws, h, NULL, false, 1);
	walk_container(ws, h, own, false, 1);
	walk_container(ws, h, own, true, 0);
}

/* Drop cap from this process's effective set, as the DaemonSet and the
 * unit do not grant it (CAP_SYS_ADMIN: setns() fails; CAP_SYS_PTRACE: the
 * namespaces of processes with more capabilities are hidden). */
static int drop_cap(int cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[cap / 32].effective &= ~(1u << (cap % 32));
	return (int)syscall(SYS_capset, &h, d);
}

static int drop_sys_admin(void)
{
	return drop_cap(CAP_SYS_ADMIN);
}

/* Without CAP_SYS_ADMIN the container's /etc/hostname names it; one that
 * is a FIFO (a student waiting to hold the walk) is never read. */
static void test_hostname_file(void)
{
	char file[128], bare[128], fifo[128], out[256] = "", h[4][64], want[160];
	pid_t a, b, c, d, child;
	int p[2], status = -1;

	if (geteuid() != 0) {
		fprintf(stderr, "skip test_hostname_file: needs root for mount namespaces\n");
		return;
	}
	snprintf(file, sizeof(file), "%s/hostname", root);
	snprintf(bare, sizeof(bare), "%s/hostname-bare", root);
	snprintf(fifo, sizeof(fifo), "%s/hostname-fifo", root);
	CHECK_INT(mkfifo(fifo, 0600), 0);
	FILE *f = fopen(file, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	for (int i = 0; i < 4; i++)
		snprintf(h[i], sizeof(h[i]), "jcode-ut%d-1-%d", i, (int)getpid());
	fprintf(f, "%s\n", h[0]);
	fclose(f);
	support_write_file(root, "hostname-bare", h[3]);	/* no newline: the name ends the file */
	a = container_with(h[0], file);
	b = container_with(h[1], "/dev/null");	/* not a name */
	c = container_with(h[2], fifo);
	d = container_with(h[3], bare);
	CHECK(a > 0 && b > 0 && c > 0 && d > 0);
	CHECK_INT(pipe(p), 0);
	child = fork();
	if (child == 0) {
		struct found fc = { .n = 0 };
		size_t unreadable = 0;
		int len = 0;

		close(p[0]);
		if (drop_sys_admin() < 0)
			_exit(3);
		uts_hosts("/proc", collect, &fc, &unreadable);
		for (size_t i = 0; i < fc.n; i++)
			if (!strncmp(fc.names[i], "jcode-ut", 8))
				len += snprintf(out + len, sizeof(out) - (size_t)len, "%s;",
						fc.names[i]);
		_exit(write(p[1], out, (size_t)len) == len ? 0 : 4);
	}
	close(p[1]);
	CHECK(read(p[0], out, sizeof(out) - 1) >= 0);
	close(p[0]);
	waitpid(child, &status, 0);
	CHECK_INT(status, 0);
	/* The setns path would have named h[1] and h[2] too; a and d in
	 * the order of their namespaces' inodes. */
	snprintf(want, sizeof(want), "%s;%s;", h[0], h[3]);
	if (strcmp(out, want))
		snprintf(want, sizeof(want), "%s;%s;", h[3], h[0]);
	CHECK_STR(out, want);
	support_child_stop(a);
	support_child_stop(b);
	support_child_stop(c);
	support_child_stop(d);
	unlink(file);
	unlink(bare);
	unlink(fifo);
}

/* In a child without CAP_SYS_PTRACE: a scoped filemon that cannot see the
 * node's namespaces.  Exit status: 0 when what it watches is as expected
 * (blind_all: every workspace; else only os-1-2 named in WATCH_STUDENTS). */
static int blind_child(bool blind_all, const char *proc_host)
{
	char *students[] = { "os-1-2" };
	struct filemon_config fc = {
		.watch_root = root, .snapshot_base = "/tmp", .max_file_size = 100,
		.debounce_window_ms = 100, .debounce_max_wait_ms = 200, .hw_max = 20,
		.scoped = true, .all_if_blind = blind_all, .students = students, .nstudents = 1,
		.marker_dir = root,
	};
	struct loop *loop;
	struct sender *snd;
	struct filemon *fm;
	char err[256], marker[128];
	size_t watches, count;
	size_t unreadable = 0;
	struct found f = { .n = 0 };

	log_set_level(LOG_ERROR);
	if (drop_cap(CAP_SYS_PTRACE) < 0)
		return 10;
	/* The full-capability container is hidden from us now. */
	uts_hosts("/proc", collect, &f, &unreadable);
	if (unreadable == 0 || count_of(&f, proc_host) != 0)
		return 11;
	loop = loop_create();
	snd = loop ? sender_create(loop, &(struct sender_config){ .out = tmpfile() }) : NULL;
	fm = snd ? filemon_start(loop, &fc, snd, err, sizeof(err)) : NULL;
	if (!fm)
		return 12;
	watches = filemon_watch_count(fm);
	count = filemon_workspace_count(fm);
	filemon_stop(fm);
	sender_destroy(snd);
	loop_destroy(loop);
	snprintf(marker, sizeof(marker), "%s/.jcode-watcher-alive", root);
	unlink(marker);
	/* root + os-1-202012345, os-1-1, os-1-2, os-1-3 (no hwN below them) */
	if (blind_all)
		return count == 0 && watches == 5 ? 0 : 13;
	return count == 1 && watches == 2 ? 0 : 14;
}

static int run_blind(bool blind_all, const char *host)
{
	pid_t pid = fork();
	int status = -1;

	if (pid == 0)
		_exit(blind_child(blind_all, host));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* WATCH_ALL=auto without CAP_SYS_PTRACE: who is on the node is not known,
 * so every workspace is watched; WATCH_ALL=0 keeps to what it knows. */
static void test_blind_falls_back(void)
{
	char host[64];
	pid_t c;

	if (geteuid() != 0) {
		fprintf(stderr, "skip test_blind_falls_back: needs root\n");
		return;
	}
	snprintf(host, sizeof(host), "jcode-os-1-%d", (int)getpid());
	c = container(host);
	CHECK(c > 0);
	CHECK_INT(run_blind(true, host), 0);
	CHECK_INT(run_blind(false, host), 0);
	support_child_stop(c);
}

int main(void)
{
	if (!mkdtemp(root))
		return 1;
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	mkws("os-1-202012345");
	mkws("os-1-1");
	mkws("os-1-2");
	mkws("os-1-3");
	RUN(test_seen_adds_existing_only);
	RUN(test_bound);
	RUN(test_idle_expiry);
	RUN(test_static_list);
	RUN(test_watch_all);
	RUN(test_uts_hosts);
	RUN(test_uts_hosts_own_namespace);
	RUN(test_hostname_file);
	RUN(test_blind_falls_back);
	close(rootfd);
	support_rm_rf(root);
	return TEST_DONE();
}
