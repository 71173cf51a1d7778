/*
 * test_trace_hub.c - the trace socket on a real loop with real clients:
 * lines arrive whole and in order; a client that never reads costs its
 * buffer and no more, and every line it missed is counted exactly (in
 * trace_dropped_total and in the {"dropped":N} it is told); clients over
 * the limit are refused; stale sockets are replaced, live ones are not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "loop.h"
#include "metrics_testing.h"
#include "support.h"
#include "testlib.h"
#include "trace_hub.h"
#include "trace_hub_testing.h"

#define CAP 4096

static char dir[40], path[100];
static struct loop *loop;

static struct trace_hub *open_hub(int max_clients)
{
	struct trace_hub_config cfg = { .path = path, .max_clients = max_clients,
					.client_buffer = CAP };
	char err[256] = "";
	struct trace_hub *hub = trace_hub_open(loop, &cfg, err, sizeof(err));

	if (!hub)
		fprintf(stderr, "trace_hub_open: %s\n", err);
	return hub;
}

static int connect_to(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (strlen(p) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, p, strlen(p) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Turn the loop until nothing is left to do. */
static void spin(void)
{
	for (int i = 0; i < 20 && loop_run_once(loop, 10) > 0; i++)
		;
}

/* Everything the client can read without waiting. */
static char *read_all(int fd)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap + 1);
	ssize_t n;

	while ((n = recv(fd, buf + len, cap - len, MSG_DONTWAIT)) > 0) {
		len += (size_t)n;
		if (len == cap)
			buf = realloc(buf, (cap *= 2) + 1);
	}
	buf[len] = '\0';
	return buf;
}

static void publish(struct trace_hub *hub, const char *s)
{
	trace_hub_publish(hub, s, strlen(s));
}

static double dropped_total(void)
{
	return metrics_sample(SERVICE_PROCMON, "trace_dropped_total", NULL);
}

static void test_lines_arrive(void)
{
	struct trace_hub *hub = open_hub(2);
	struct stat st;
	int a, b;
	char *got;

	CHECK(hub != NULL);
	if (!hub)
		return;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK(!trace_hub_active(hub));
	a = connect_to(path);
	b = connect_to(path);
	spin();
	CHECK_INT(trace_hub_clients(hub), 2);
	CHECK(trace_hub_active(hub));
	CHECK_INT(metrics_sample(SERVICE_PROCMON, "trace_clients_current", NULL), 2);
	publish(hub, "{\"a\":1}");
	publish(hub, "{\"b\":2}");
	got = read_all(a);
	CHECK_STR(got, "{\"a\":1}\n{\"b\":2}\n");
	free(got);
	got = read_all(b);
	CHECK_STR(got, "{\"a\":1}\n{\"b\":2}\n");
	free(got);
	/* A client that hangs up is forgotten. */
	close(b);
	spin();
	CHECK_INT(trace_hub_clients(hub), 1);
	CHECK_INT(metrics_sample(SERVICE_PROCMON, "trace_clients_current", NULL), 1);
	close(a);
	spin();
	CHECK(!trace_hub_active(hub));
	CHECK_INT(dropped_total(), 0);
	trace_hub_close(hub);
	CHECK_INT(access(path, F_OK), -1);
}

/* 1000-byte lines to a client that reads nothing: the hub holds at most
 * its CAP, and lines handed to the socket + lines dropped = lines published. */
static void test_stuck_client_is_bounded(void)
{
	struct trace_hub *hub = open_hub(2);
	char line[1000], *got, *p;
	size_t published = 0, received = 0, told = 0;
	int fd;

	CHECK(hub != NULL);
	if (!hub)
		return;
	fd = connect_to(path);
	spin();
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	for (int i = 0; i < 5000; i++) {
		publish(hub, line);
		published++;
		CHECK(trace_hub_buffered(hub) <= CAP);
	}
	CHECK(trace_hub_buffered(hub) > CAP - 1000);	/* it did fill */
	CHECK(dropped_total() > 4000);
	/* Now it reads: the socket's and the hub's lines, then the notice
	 * arrives with the next line that fits. */
	for (int round = 0; round < 50; round++) {
		got = read_all(fd);
		for (p = got; (p = strstr(p, "xxxxxxxxxx\n")); p++)
			received++;
		for (p = got; (p = strstr(p, "{\"dropped\":")); p++)
			told += strtoull(p + 11, NULL, 10);
		free(got);
		spin();
		if (round == 0) {
			publish(hub, line);
			published++;
		}
	}
	CHECK_INT(received + (size_t)dropped_total(), published);
	CHECK_INT(told, dropped_total());
	CHECK_INT(trace_hub_buffered(hub), 0);
	close(fd);
	trace_hub_close(hub);
}

/* A line longer than the whole buffer can never be sent: dropped, counted. */
static void test_overlong_line_dropped(void)
{
	struct trace_hub *hub = open_hub(1);
	char *big = malloc(CAP + 10), *got;
	int fd;

	memset(big, 'y', CAP + 9);
	big[CAP + 9] = '\0';
	fd = connect_to(path);
	spin();
	publish(hub, big);
	CHECK_INT(dropped_total(), 1);
	publish(hub, "ok");
	got = read_all(fd);
	CHECK_STR(got, "{\"dropped\":1}\nok\n");
	free(got);
	free(big);
	close(fd);
	trace_hub_close(hub);
}

static void test_too_many_clients(void)
{
	struct trace_hub *hub = open_hub(1);
	int a = connect_to(path), b;
	char *got;

	spin();
	b = connect_to(path);
	spin();
	CHECK_INT(trace_hub_clients(hub), 1);
	CHECK_INT(metrics_sample(SERVICE_PROCMON, "trace_clients_refused_total", NULL), 1);
	got = read_all(b);
	CHECK_STR(got, "{\"error\":\"too many trace clients\"}\n");
	free(got);
	publish(hub, "z");
	got = read_all(a);
	CHECK_STR(got, "z\n");
	free(got);
	close(a);
	close(b);
	trace_hub_close(hub);
}

static void test_socket_file(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct trace_hub *hub, *second;
	char err[256], want[256];
	struct trace_hub_config cfg = { .path = path, .max_clients = 1, .client_buffer = CAP };
	int fd;

	/* Left by an agent that died: nobody accepts, so it is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CHECK_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	hub = open_hub(1);
	CHECK(hub != NULL);
	/* A live one is another agent's. */
	second = trace_hub_open(loop, &cfg, err, sizeof(err));
	CHECK(second == NULL);
	CHECK_INT(errno, EADDRINUSE);
	snprintf(want, sizeof(want), "%s: another agent is listening there", path);
	CHECK_STR(err, want);
	trace_hub_close(hub);
	/* Not a socket: left alone. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK(trace_hub_open(loop, &cfg, err, sizeof(err)) == NULL);
	CHECK_INT(errno, ENOTSOCK);
	CHECK_INT(access(path, F_OK), 0);
	unlink(path);
	cfg.path = "relative.sock";
	CHECK(trace_hub_open(loop, &cfg, err, sizeof(err)) == NULL);
	CHECK_STR(err, "relative.sock: must be an absolute path shorter than 108 bytes");
}

/* The socket's directory is made, private. */
static void test_makes_directory(void)
{
	char sub[64], saved[100];
	struct trace_hub *hub;
	struct stat st;

	snprintf(saved, sizeof(saved), "%s", path);
	snprintf(sub, sizeof(sub), "%s/run/jcw", dir);
	snprintf(path, sizeof(path), "%s/trace.sock", sub);
	hub = open_hub(1);
	CHECK(hub != NULL);
	CHECK_INT(stat(sub, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	trace_hub_close(hub);
	snprintf(path, sizeof(path), "%s", saved);
}

static void run_test(void (*fn)(void), const char *name)
{
	int f = tl_failures;

	metrics_reset();
	fn();
	fprintf(stderr, "%s %s\n", tl_failures == f ? "ok  " : "FAIL", name);
}

#define RUN_RESET(t) run_test(t, #t)

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/jcw-trace-hub-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/trace.sock", dir);
	loop = loop_create();
	RUN_RESET(test_lines_arrive);
	RUN_RESET(test_stuck_client_is_bounded);
	RUN_RESET(test_overlong_line_dropped);
	RUN_RESET(test_too_many_clients);
	RUN_RESET(test_socket_file);
	RUN_RESET(test_makes_directory);
	loop_destroy(loop);
	support_rm_rf(dir);
	return TEST_DONE();
}
