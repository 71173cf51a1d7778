/*
 * trace_hub.c - see trace_hub.h.
 *
 * A client's buffer is allocated once, at its connect, with the configured
 * size, and never grows: a client that stops reading costs that much and
 * no more, and every line it misses is counted.  Lines go out from the
 * publisher's own call when the socket takes them (the usual case: a
 * terminal reads faster than students compile); only what the socket
 * refused waits for LOOP_WRITE.
 */
#define _GNU_SOURCE
#include "trace_hub.h"
#include "trace_hub_testing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "metrics.h"

#define REFUSAL "{\"error\":\"too many trace clients\"}\n"
/* {"dropped":N} with N up to 20 digits, and its newline. */
#define NOTICE_MAX 40

struct trace_client {
	struct trace_hub *hub;
	int fd;
	char *buf;
	size_t head, len;	/* unsent bytes: buf[head .. head + len) */
	unsigned long long missed;	/* dropped since the client was last told */
	bool want_write;
};

struct trace_hub {
	struct loop *loop;
	int fd;
	char *path;
	size_t cap;
	int max_clients, nclients;
	struct trace_client **clients;	/* max_clients slots, NULL = free */
};

/* "PATH: step: why" (why NULL: errno e's text); frees hub. */
static struct trace_hub *failed(struct trace_hub *hub, char *err, size_t errlen, int e,
				const char *step, const char *why)
{
	snprintf(err, errlen, "%s: %s%s%s", hub->path, step ? step : "", step ? ": " : "",
		 why ? why : strerror(e));
	if (hub->fd >= 0)
		close(hub->fd);
	free(hub->clients);
	free(hub->path);
	free(hub);
	errno = e;
	return NULL;
}

static void set_clients_gauge(const struct trace_hub *hub)
{
	metrics_set(M_TRACE_CLIENTS, 0, 0, hub->nclients);
}

static void drop_client(struct trace_hub *hub, int slot)
{
	struct trace_client *c = hub->clients[slot];

	loop_del_fd(hub->loop, c->fd);
	close(c->fd);
	free(c->buf);
	free(c);
	hub->clients[slot] = NULL;
	hub->nclients--;
	set_clients_gauge(hub);
}

static int slot_of(const struct trace_hub *hub, const struct trace_client *c)
{
	for (int i = 0; i < hub->max_clients; i++)
		if (hub->clients[i] == c)
			return i;
	return -1;
}

/* Send what the socket takes now.  0, or -errno when the client is gone. */
static int flush_client(struct trace_client *c)
{
	bool want;

	while (c->len > 0) {
		ssize_t n = send(c->fd, c->buf + c->head, c->len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		c->head += (size_t)n;
		c->len -= (size_t)n;
	}
	if (c->len == 0)
		c->head = 0;
	want = c->len > 0;
	if (want != c->want_write) {
		c->want_write = want;
		loop_mod_fd(c->hub->loop, c->fd, LOOP_READ | (want ? LOOP_WRITE : 0));
	}
	return 0;
}

/* Room for n more bytes at the end, moving what waits to the front. */
static bool make_room(struct trace_client *c, size_t n)
{
	if (c->len + n > c->hub->cap)
		return false;
	if (c->head + c->len + n > c->hub->cap) {
		memmove(c->buf, c->buf + c->head, c->len);
		c->head = 0;
	}
	return true;
}

static void append(struct trace_client *c, const char *s, size_t n)
{
	memcpy(c->buf + c->head + c->len, s, n);
	c->len += n;
}

/* The line, preceded by how many this client missed, or one more missed. */
static void enqueue(struct trace_client *c, const char *line, size_t len)
{
	char notice[NOTICE_MAX];
	size_t nlen = 0;

	if (c->missed)
		nlen = (size_t)snprintf(notice, sizeof(notice), "{\"dropped\":%llu}\n", c->missed);
	if (!make_room(c, nlen + len + 1)) {
		c->missed++;
		metrics_inc(M_TRACE_DROPPED);
		return;
	}
	append(c, notice, nlen);
	append(c, line, len);
	append(c, "\n", 1);
	c->missed = 0;
}

void trace_hub_publish(struct trace_hub *hub, const char *line, size_t len)
{
	if (!hub)
		return;
	for (int i = 0; i < hub->max_clients; i++) {
		struct trace_client *c = hub->clients[i];

		if (!c)
			continue;
		enqueue(c, line, len);
		if (!c->want_write && flush_client(c) < 0)
			drop_client(hub, i);
	}
}

/* Clients send nothing; reading tells us when they hang up. */
static void on_client(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct trace_client *c = arg;
	struct trace_hub *hub = c->hub;
	char sink[256];
	ssize_t n = -1;

	if (events & LOOP_READ) {
		/* Bounded: a client that writes without end gets a turn, not the loop. */
		for (int i = 0; i < 16 && (n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0; i++)
			;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			drop_client(hub, slot_of(hub, c));
			return;
		}
	}
	if ((events & LOOP_WRITE) && flush_client(c) < 0)
		drop_client(hub, slot_of(hub, c));
}

static void refuse(int fd)
{
	/* Best effort on a fresh socket: its buffer is empty. */
	(void)!send(fd, REFUSAL, sizeof(REFUSAL) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	metrics_inc(M_TRACE_REFUSED);
}

static int free_slot(const struct trace_hub *hub)
{
	for (int i = 0; i < hub->max_clients; i++)
		if (!hub->clients[i])
			return i;
	return -1;
}

static int add_client(struct trace_hub *hub, int fd)
{
	struct trace_client *c = calloc(1, sizeof(*c));
	int slot = free_slot(hub);

	if (c)
		c->buf = malloc(hub->cap);
	if (!c || !c->buf || loop_add_fd(hub->loop, fd, LOOP_READ, on_client, c) < 0) {
		if (c)
			free(c->buf);
		free(c);
		return -ENOMEM;
	}
	c->hub = hub;
	c->fd = fd;
	hub->clients[slot] = c;
	hub->nclients++;
	set_clients_gauge(hub);
	return 0;
}

static void on_accept(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct trace_hub *hub = arg;
	int cfd;

	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (hub->nclients >= hub->max_clients) {
			log_warn("trace", "trace client refused: %d already connected", hub->nclients);
			refuse(cfd);
			continue;
		}
		if (add_client(hub, cfd) < 0) {
			log_warn("trace", "trace client refused: out of memory");
			refuse(cfd);
		}
	}
}

/* An existing socket file: stale (nobody accepts) is removed, live is not
 * ours.  Non-blocking, so a live agent with a full backlog cannot hang us. */
static int clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : -errno;
	close(fd);
	if (rc == 0 || rc == -EAGAIN || rc == -EINPROGRESS)
		return -EADDRINUSE;
	if (rc != -ECONNREFUSED)
		return rc;
	return unlink(sa->sun_path) < 0 ? -errno : 0;
}

static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return fs_mkdir_p(dir, 0700);
}

/* bind() with a umask that leaves the socket 0600 from its first moment. */
static int bind_private(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(0177);
	int rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;

	umask(old);
	if (rc < 0)
		return -e;
	return chmod(sa->sun_path, 0600) < 0 ? -errno : 0;
}

struct trace_hub *trace_hub_open(struct loop *loop, const struct trace_hub_config *cfg,
				 char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct trace_hub *hub = calloc(1, sizeof(*hub));
	int rc;

	if (!hub || !(hub->path = strdup(cfg->path))) {
		free(hub);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	hub->fd = -1;
	hub->loop = loop;
	hub->cap = cfg->client_buffer;
	hub->max_clients = cfg->max_clients > 0 ? cfg->max_clients : 1;
	hub->clients = calloc((size_t)hub->max_clients, sizeof(*hub->clients));
	if (!hub->clients)
		return failed(hub, err, errlen, ENOMEM, NULL, NULL);
	if (cfg->path[0] != '/' || strlen(cfg->path) >= sizeof(sa.sun_path))
		return failed(hub, err, errlen, EINVAL, NULL, "must be an absolute path "
			      "shorter than 108 bytes");
	strcpy(sa.sun_path, cfg->path);
	if ((rc = make_parent(cfg->path)) < 0)
		return failed(hub, err, errlen, -rc, "cannot make its directory", NULL);
	rc = clear_stale(&sa);
	if (rc == -EADDRINUSE)
		return failed(hub, err, errlen, EADDRINUSE, NULL, "another agent is "
			      "listening there");
	if (rc < 0)
		return failed(hub, err, errlen, -rc, NULL, NULL);
	hub->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (hub->fd < 0)
		return failed(hub, err, errlen, errno, "socket", NULL);
	if ((rc = bind_private(hub->fd, &sa)) < 0 || (listen(hub->fd, 16) < 0 && (rc = -errno)) ||
	    (rc = loop_add_fd(loop, hub->fd, LOOP_READ, on_accept, hub)) < 0)
		return failed(hub, err, errlen, -rc, NULL, NULL);
	set_clients_gauge(hub);
	return hub;
}

void trace_hub_close(struct trace_hub *hub)
{
	if (!hub)
		return;
	for (int i = 0; i < hub->max_clients; i++)
		if (hub->clients[i])
			drop_client(hub, i);
	loop_del_fd(hub->loop, hub->fd);
	close(hub->fd);
	unlink(hub->path);
	free(hub->clients);
	free(hub->path);
	free(hub);
}

bool trace_hub_active(const struct trace_hub *hub)
{
	return hub && hub->nclients > 0;
}

int trace_hub_clients(const struct trace_hub *hub)
{
	return hub ? hub->nclients : 0;
}

size_t trace_hub_buffered(const struct trace_hub *hub)
{
	size_t most = 0;

	for (int i = 0; hub && i < hub->max_clients; i++)
		if (hub->clients[i] && hub->clients[i]->len > most)
			most = hub->clients[i]->len;
	return most;
}
