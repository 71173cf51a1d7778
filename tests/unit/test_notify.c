/*
 * test_notify.c - the systemd notify datagram on a real AF_UNIX socket,
 * at a path and in the abstract namespace; nothing without NOTIFY_SOCKET.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "testlib.h"

/* A datagram socket bound at name (a path, or "@x" abstract). */
static int listener(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		return -1;
	return fd;
}

static void expect(int fd, const char *want)
{
	char buf[64] = { 0 };

	CHECK_INT(recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT), (long)strlen(want));
	CHECK_STR(buf, want);
}

static void test_path_and_abstract(void)
{
	char path[64], abstract[64];
	int a, b;

	snprintf(path, sizeof(path), "/tmp/jcw-notify-%d", (int)getpid());
	snprintf(abstract, sizeof(abstract), "@jcw-notify-%d", (int)getpid());
	unlink(path);
	a = listener(path);
	b = listener(abstract);
	CHECK(a >= 0 && b >= 0);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_INT(notify_send("READY=1"), 0);
	expect(a, "READY=1");
	setenv("NOTIFY_SOCKET", abstract, 1);
	CHECK_INT(notify_send("STOPPING=1"), 0);
	expect(b, "STOPPING=1");
	close(a);
	close(b);
	unlink(path);
}

static void test_no_socket(void)
{
	unsetenv("NOTIFY_SOCKET");
	CHECK_INT(notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	CHECK_INT(notify_send("READY=1"), -EINVAL);
	setenv("NOTIFY_SOCKET", "/tmp/jcw-notify-nobody-listens", 1);
	CHECK_INT(notify_send("READY=1"), -ENOENT);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	RUN(test_path_and_abstract);
	RUN(test_no_socket);
	return TEST_DONE();
}
