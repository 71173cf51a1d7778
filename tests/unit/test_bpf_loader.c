/*
 * test_bpf_loader.c - the hand-over from the short-lived loader child:
 * a fake child passes pipe fds as the real one passes maps and probes;
 * children that crash, exit early, hang or fail say so, never hang us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bpf_loader.h"
#include "fdpass.h"
#include "testlib.h"

/* Two pipes: the child writes into each and passes the read ends. */
static int child_pipes(void *arg, int sock)
{
	struct bpf_loader_reply r = { .status = 0, .ringbuf = true, .uses_btf = true };
	int a[2], b[2], fds[2];

	(void)arg;
	if (pipe(a) < 0 || pipe(b) < 0)
		return 1;
	if (write(a[1], "first", 5) != 5 || write(b[1], "second", 6) != 6)
		return 1;
	fds[0] = a[0];
	fds[1] = b[0];
	return fdpass_send(sock, &r, sizeof(r), fds, 2) < 0;
}

static void test_fds_handed_over(void)
{
	struct bpf_loader_reply r;
	char err[256] = "", buf[16] = { 0 };
	int fds[4];

	CHECK_INT(bpf_loader_spawn(child_pipes, NULL, 5000, &r, fds, 4, err, sizeof(err)), 2);
	CHECK_STR(err, "");
	CHECK(r.ringbuf && r.uses_btf);
	/* The child is gone; its fds live on in us. */
	CHECK_INT(read(fds[0], buf, sizeof(buf)), 5);
	CHECK_STR(buf, "first");
	memset(buf, 0, sizeof(buf));
	CHECK_INT(read(fds[1], buf, sizeof(buf)), 6);
	CHECK_STR(buf, "second");
	CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	close(fds[0]);
	close(fds[1]);
}

static int child_crash(void *arg, int sock)
{
	(void)arg;
	(void)sock;
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
	return 0;
}

static int child_quit(void *arg, int sock)
{
	(void)arg;
	(void)sock;
	return 3;
}

static int child_hang(void *arg, int sock)
{
	(void)arg;
	(void)sock;
	pause();
	return 0;
}

static int child_fail(void *arg, int sock)
{
	struct bpf_loader_reply r = { .status = -ENOEXEC };

	(void)arg;
	snprintf(r.error, sizeof(r.error), "libbcc could not compile: error: expected ';'");
	return fdpass_send(sock, &r, sizeof(r), NULL, 0) < 0;
}

/* Too many fds for the parent: all of them closed, none leaked. */
static int child_too_many(void *arg, int sock)
{
	struct bpf_loader_reply r = { 0 };
	int fds[3] = { 0, 1, 2 };

	(void)arg;
	return fdpass_send(sock, &r, sizeof(r), fds, 3) < 0;
}

static void test_children_that_fail(void)
{
	struct bpf_loader_reply r;
	char err[256], want[128];
	int fds[4];

	CHECK_INT(bpf_loader_spawn(child_crash, NULL, 5000, &r, fds, 4, err, sizeof(err)), -ECHILD);
	CHECK(strstr(err, "was killed by SIGSEGV before it answered") != NULL);
	CHECK(strncmp(err, "BPF loader (pid ", 16) == 0);

	CHECK_INT(bpf_loader_spawn(child_quit, NULL, 5000, &r, fds, 4, err, sizeof(err)), -ECHILD);
	CHECK(strstr(err, "exited with status 3 without an answer") != NULL);

	CHECK_INT(bpf_loader_spawn(child_hang, NULL, 200, &r, fds, 4, err, sizeof(err)),
		  -ETIMEDOUT);
	snprintf(want, sizeof(want), "gave no answer in 200 ms; killed");
	CHECK(strstr(err, want) != NULL);

	CHECK_INT(bpf_loader_spawn(child_fail, NULL, 5000, &r, fds, 4, err, sizeof(err)),
		  -ENOEXEC);
	CHECK_STR(err, "libbcc could not compile: error: expected ';'");

	CHECK_INT(bpf_loader_spawn(child_too_many, NULL, 5000, &r, fds, 2, err, sizeof(err)),
		  -EMSGSIZE);
}

/* fdpass on its own: the exact size or nothing. */
static void test_fdpass_sizes(void)
{
	int sv[2], fds[2], p[2];
	char big[32] = "0123456789", small[8];

	CHECK_INT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	CHECK_INT(pipe(p), 0);
	CHECK_INT(fdpass_send(sv[0], big, 10, p, 1), 0);
	CHECK_INT(fdpass_recv(sv[1], small, sizeof(small), fds, 2), -EMSGSIZE);
	CHECK_INT(fdpass_send(sv[0], big, 8, p, 2), 0);
	CHECK_INT(fdpass_recv(sv[1], small, sizeof(small), fds, 2), 2);
	CHECK(memcmp(small, "01234567", 8) == 0);
	close(fds[0]);
	close(fds[1]);
	CHECK_INT(fdpass_send(sv[0], big, 8, p, FDPASS_MAX_FDS + 1), -EINVAL);
	close(sv[0]);
	CHECK_INT(fdpass_recv(sv[1], small, sizeof(small), fds, 2), -EPIPE);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	RUN(test_fds_handed_over);
	RUN(test_children_that_fail);
	RUN(test_fdpass_sizes);
	return TEST_DONE();
}
