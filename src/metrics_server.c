/*
 * metrics_server.c - /metrics, /healthz and /readyz on libmicrohttpd.
 *
 * We bind the listening socket ourselves and hand it to libmicrohttpd: MHD
 * only says "failed" when it cannot bind, while an operator needs to read
 * "port 3000: Address already in use".  It also gives us the ephemeral port.
 */
#include "metrics_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_MAX_AGE_US 30000000LL
#define TEXT_PLAIN "text/plain; charset=utf-8"
#define PROM_TEXT "text/plain; version=0.0.4; charset=utf-8"

struct metrics_server {
	struct MHD_Daemon *daemon;
	int port;
};

static atomic_uint required_mask;
static atomic_uint ready_mask;
/* Microseconds, so it fits a lock-free integer atomic. */
static atomic_llong max_age_us = DEFAULT_MAX_AGE_US;

static const char *const service_label[SERVICE__COUNT] = { "procmon", "filemon" };

void metrics_require_ready(enum service svc)
{
	if ((unsigned)svc < SERVICE__COUNT)
		atomic_fetch_or(&required_mask, 1u << svc);
}

void metrics_set_ready(enum service svc, bool ready)
{
	if ((unsigned)svc >= SERVICE__COUNT)
		return;
	if (ready)
		atomic_fetch_or(&ready_mask, 1u << svc);
	else
		atomic_fetch_and(&ready_mask, ~(1u << svc));
}

bool metrics_ready(void)
{
	unsigned req = atomic_load(&required_mask);

	return (atomic_load(&ready_mask) & req) == req;
}

void metrics_set_health_max_age(double max_age_s)
{
	atomic_store(&max_age_us, (long long)(max_age_s * 1e6));
}

void metrics_server_reset_state(void)
{
	atomic_store(&required_mask, 0);
	atomic_store(&ready_mask, 0);
	atomic_store(&max_age_us, DEFAULT_MAX_AGE_US);
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
			     const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	resp = MHD_create_response_from_buffer(len, (void *)body, mode);
	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free((void *)body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
				  const char *text)
{
	return reply(conn, status, TEXT_PLAIN, text, strlen(text), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn)
{
	char *text = metrics_render();

	if (!text)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return reply(conn, MHD_HTTP_OK, PROM_TEXT, text, strlen(text), MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve_health(struct MHD_Connection *conn)
{
	double age = metrics_loop_heartbeat_age();
	double max_age = (double)atomic_load(&max_age_us) / 1e6;
	char body[96];

	if (age < 0)
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no heartbeat yet\n");
	if (age < max_age)
		return reply_text(conn, MHD_HTTP_OK, "ok\n");
	snprintf(body, sizeof(body), "stale: loop heartbeat %.1f s old\n", age);
	return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result serve_ready(struct MHD_Connection *conn)
{
	unsigned missing = atomic_load(&required_mask) & ~atomic_load(&ready_mask);
	char body[96] = "not ready:";
	size_t len = strlen(body);
	int s;

	if (!missing)
		return reply_text(conn, MHD_HTTP_OK, "ready\n");
	for (s = 0; s < SERVICE__COUNT; s++) {
		if (!(missing & (1u << s)))
			continue;
		len += (size_t)snprintf(body + len, sizeof(body) - len, "%s %s",
					len > strlen("not ready:") ? "," : "", service_label[s]);
	}
	snprintf(body + len, sizeof(body) - len, "\n");
	return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version,
			      const char *upload_data, size_t *upload_size, void **req_cls)
{
	/* HEAD is GET without the body; MHD drops the body for us. */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(conn);
	if (strcmp(url, "/healthz") == 0)
		return serve_health(conn);
	if (strcmp(url, "/readyz") == 0)
		return serve_ready(conn);
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t len;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[len - 1] = '\0';
	log_warn("metrics", "libmicrohttpd: %s", buf);
}

/* ---- listening socket ---- */

static int listen_on(const struct sockaddr *sa, socklen_t salen)
{
	int fd, one = 1, zero = 0, e;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* Restarting must not wait out TIME_WAIT; a live listener still wins. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, sa, salen) == 0 && listen(fd, 64) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* addr NULL: dual-stack [::], or 0.0.0.0 on hosts without IPv6. */
static int listen_any(int port)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				     .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd = listen_on((struct sockaddr *)&sin6, sizeof(sin6));

	if (fd >= 0 || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL))
		return fd;
	return listen_on((struct sockaddr *)&sin, sizeof(sin));
}

static int listen_addr(const char *addr, int port, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char portstr[8];
	int fd = -1, r, e = EADDRNOTAVAIL;

	snprintf(portstr, sizeof(portstr), "%d", port);
	r = getaddrinfo(addr, portstr, &hints, &res);
	if (r != 0) {
		snprintf(err, errlen, "cannot resolve %s (port %d): %s", addr, port,
			 gai_strerror(r));
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = listen_on(ai->ai_addr, ai->ai_addrlen);
		if (fd < 0)
			e = errno;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port, strerror(e));
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

struct metrics_server *metrics_server_start(const char *addr, int port, char *err, size_t errlen)
{
	struct metrics_server *s;
	int fd;

	if (port < 0 || port > 65535) {
		snprintf(err, errlen, "invalid metrics port %d", port);
		return NULL;
	}
	if (addr) {
		fd = listen_addr(addr, port, err, errlen);
	} else {
		fd = listen_any(port);
		if (fd < 0)
			snprintf(err, errlen, "cannot listen on port %d: %s", port,
				 strerror(errno));
	}
	if (fd < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->port = bound_port(fd);
	s->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
				     (uint16_t)s->port, NULL, NULL, handle, NULL,
				     /* First, so that every MHD message goes to our log. */
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, 32u,
				     MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				     MHD_OPTION_END);
	if (!s->daemon) {
		close(fd);
		free(s);
		snprintf(err, errlen, "cannot start HTTP server on port %d", port);
		return NULL;
	}
	return s;
}

int metrics_server_port(const struct metrics_server *s)
{
	return s ? s->port : -1;
}

void metrics_server_stop(struct metrics_server *s)
{
	if (!s)
		return;
	/* Joins MHD's thread and closes the listening socket. */
	MHD_stop_daemon(s->daemon);
	free(s);
}
