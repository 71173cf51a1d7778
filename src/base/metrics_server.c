/*
 * metrics_server.c - /metrics, /healthz and /readyz on libmicrohttpd.
 *
 * We bind the listening socket ourselves and hand it to libmicrohttpd: MHD
 * only says "failed" when it cannot bind, while an operator needs to read
 * "port 3000: Address already in use".  It also gives us the ephemeral port.
 *
 * The port is reachable from every student pod, and the kubelet restarts us
 * when /healthz stops answering, so a slow client must not be able to hold
 * the probes off.  The kubelet's address cannot be told from an attacker's
 * (the pod is not on the host network), so nothing is trusted by address;
 * instead:
 *  - an idle connection is closed after METRICS_TIMEOUT (3 s);
 *  - one address holds at most METRICS_MAX_PER_IP connections (16);
 *  - the pool is large (METRICS_MAX_CONNECTIONS, 512; epoll, so no select()
 *    limit), and when it is full a newcomer evicts the connection that has
 *    gone longest without completing a request, if that is over a second:
 *    a probe sends its request in one packet and is served in microseconds,
 *    so the one evicted is always a slow or idle client.
 * Admission, eviction and the connection list live on MHD's one thread
 * (accept policy, connection notifications and handler all run there), so
 * they need no lock.
 */
#define _GNU_SOURCE
#include "metrics_server.h"
#include "metrics_server_testing.h"

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
#include <time.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_MAX_AGE_US 30000000LL
#define DEFAULT_MAX_CONNS 512
#define DEFAULT_TIMEOUT_MS 3000
/* A connection without a complete request for this long may be evicted. */
#define EVICT_GRACE_NS 1000000000LL
/* MHD's own limit sits this far above ours: a newcomer admitted by an
 * eviction is counted by MHD before the evicted socket is closed. */
#define EVICT_HEADROOM 64
#define REFUSAL_LOG_NS 10000000000LL
/* Request headers only; responses are our own buffers.  MHD's default is
 * 32 KiB, and 512 of those is more than the agent needs. */
#define CONN_MEMORY 16384
#define TEXT_PLAIN "text/plain; charset=utf-8"
#define PROM_TEXT "text/plain; version=0.0.4; charset=utf-8"

/* One open connection, in a list ordered by activity, oldest first. */
struct conn_slot {
	struct conn_slot *prev, *next;
	struct in6_addr peer;   /* IPv4 as v4-mapped, so one compare fits both */
	int fd;
	long long active_ns;    /* accepted, or its last complete request */
	bool evicting;          /* shut down, waiting for MHD to close it */
};

struct metrics_server {
	struct MHD_Daemon *daemon;
	int port;
	int max_conns;
	int max_per_ip;
	/* MHD's thread only. */
	struct conn_slot conns;         /* list head */
	long long last_log_ns;
	unsigned long long logged_per_ip, logged_full;
	/* Written on MHD's thread, read from others (tests). */
	atomic_int open;                /* open and not being evicted */
	atomic_ullong refused_per_ip, refused_full, evicted;
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

/* The spool is no service of its own but every record goes through it:
 * while it cannot be written, nothing an agent sees is durable. */
static atomic_bool spool_failing;

void metrics_set_spool_writable(bool writable)
{
	atomic_store(&spool_failing, !writable);
}

bool metrics_ready(void)
{
	unsigned req = atomic_load(&required_mask);

	return (atomic_load(&ready_mask) & req) == req && !atomic_load(&spool_failing);
}

void metrics_set_health_max_age(double max_age_s)
{
	atomic_store(&max_age_us, (long long)(max_age_s * 1e6));
}

void metrics_server_reset_state(void)
{
	atomic_store(&required_mask, 0);
	atomic_store(&ready_mask, 0);
	atomic_store(&spool_failing, false);
	atomic_store(&max_age_us, DEFAULT_MAX_AGE_US);
}

/* ---- connections ---- */

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void peer_of(const struct sockaddr *sa, socklen_t len, struct in6_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		*out = ((const struct sockaddr_in6 *)sa)->sin6_addr;
	} else if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		out->s6_addr[10] = 0xff;
		out->s6_addr[11] = 0xff;
		memcpy(&out->s6_addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
	}
}

static const char *peer_str(const struct in6_addr *a, char *buf, size_t len)
{
	if (IN6_IS_ADDR_V4MAPPED(a))
		return inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)len);
	return inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

static void slot_unlink(struct conn_slot *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
}

static void slot_append(struct metrics_server *s, struct conn_slot *c)
{
	c->prev = s->conns.prev;
	c->next = &s->conns;
	s->conns.prev->next = c;
	s->conns.prev = c;
}

static int count_from(const struct metrics_server *s, const struct in6_addr *peer)
{
	const struct conn_slot *c;
	int n = 0;

	for (c = s->conns.next; c != &s->conns; c = c->next)
		if (!c->evicting && memcmp(&c->peer, peer, sizeof(*peer)) == 0)
			n++;
	return n;
}

/*
 * Shut down the least recently active connection, if it has been quiet past
 * the grace time.  shutdown(), not close(): the fd stays MHD's, MHD sees EOF
 * and closes it in its own time; we run on MHD's thread, so the fd cannot
 * have been closed and reused under us.  True when one was shut down.
 */
static bool evict_oldest(struct metrics_server *s, long long now)
{
	struct conn_slot *c;

	for (c = s->conns.next; c != &s->conns; c = c->next) {
		if (c->evicting)
			continue;
		if (now - c->active_ns < EVICT_GRACE_NS)
			return false;	/* the oldest is young: so are all */
		if (shutdown(c->fd, SHUT_RDWR) < 0)
			return false;
		c->evicting = true;
		atomic_fetch_sub(&s->open, 1);
		atomic_fetch_add(&s->evicted, 1);
		return true;
	}
	return false;
}

/* Count every refusal; log at most one summary line per REFUSAL_LOG_NS so a
 * flood cannot flood the log too. */
static enum MHD_Result refuse(struct metrics_server *s, atomic_ullong *counter,
			      const struct in6_addr *peer, long long now)
{
	unsigned long long per_ip, full;
	char addr[INET6_ADDRSTRLEN];

	atomic_fetch_add(counter, 1);
	if (s->last_log_ns && now - s->last_log_ns < REFUSAL_LOG_NS)
		return MHD_NO;
	per_ip = atomic_load(&s->refused_per_ip);
	full = atomic_load(&s->refused_full);
	log_warn("metrics", "refused %llu connection(s) over METRICS_MAX_PER_IP=%d and %llu "
		 "with the pool full (METRICS_MAX_CONNECTIONS=%d), latest from %s",
		 per_ip - s->logged_per_ip, s->max_per_ip, full - s->logged_full,
		 s->max_conns, peer_str(peer, addr, sizeof(addr)) ? addr : "?");
	s->logged_per_ip = per_ip;
	s->logged_full = full;
	s->last_log_ns = now;
	return MHD_NO;
}

static enum MHD_Result admit(void *cls, const struct sockaddr *sa, socklen_t len)
{
	struct metrics_server *s = cls;
	long long now = now_ns();
	struct in6_addr peer;

	peer_of(sa, len, &peer);
	if (s->max_per_ip > 0 && count_from(s, &peer) >= s->max_per_ip)
		return refuse(s, &s->refused_per_ip, &peer, now);
	if (atomic_load(&s->open) < s->max_conns || evict_oldest(s, now))
		return MHD_YES;
	return refuse(s, &s->refused_full, &peer, now);
}

static void conn_started(struct metrics_server *s, struct MHD_Connection *conn, void **ctx)
{
	const union MHD_ConnectionInfo *addr, *fd;
	struct conn_slot *c;

	addr = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c = calloc(1, sizeof(*c));
	if (!c || !addr || !fd) {
		/* Untracked: served, but neither limited nor evictable. */
		free(c);
		log_warn("metrics", "cannot track a connection: out of memory");
		return;
	}
	peer_of(addr->client_addr, sizeof(struct sockaddr_in6), &c->peer);
	c->fd = fd->connect_fd;
	c->active_ns = now_ns();
	slot_append(s, c);
	atomic_fetch_add(&s->open, 1);
	*ctx = c;
}

static void notify(void *cls, struct MHD_Connection *conn, void **ctx,
		   enum MHD_ConnectionNotificationCode toe)
{
	struct metrics_server *s = cls;
	struct conn_slot *c = *ctx;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		conn_started(s, conn, ctx);
		return;
	}
	if (!c)
		return;
	slot_unlink(c);
	if (!c->evicting)
		atomic_fetch_sub(&s->open, 1);
	free(c);
	*ctx = NULL;
}

/* A complete request: the connection is active again, last in line to go. */
static void conn_active(struct metrics_server *s, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	struct conn_slot *c;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (!ci || !ci->socket_context)
		return;
	c = ci->socket_context;
	c->active_ns = now_ns();
	slot_unlink(c);
	slot_append(s, c);
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

/* The server's own series, after the agent's. */
static char *render_own(const struct metrics_server *s, char *text)
{
	char *all = NULL;

	if (asprintf(&all, "%s"
		     "# HELP metrics_http_connections_current Connections open to the metrics endpoint.\n"
		     "# TYPE metrics_http_connections_current gauge\n"
		     "metrics_http_connections_current %d\n"
		     "# HELP metrics_http_refused_total Connections to the metrics endpoint refused.\n"
		     "# TYPE metrics_http_refused_total counter\n"
		     "metrics_http_refused_total{reason=\"per_ip\"} %llu\n"
		     "metrics_http_refused_total{reason=\"pool_full\"} %llu\n"
		     "# HELP metrics_http_evicted_total Slow or idle connections closed to make room.\n"
		     "# TYPE metrics_http_evicted_total counter\n"
		     "metrics_http_evicted_total %llu\n",
		     text, atomic_load(&s->open), atomic_load(&s->refused_per_ip),
		     atomic_load(&s->refused_full), atomic_load(&s->evicted)) < 0)
		all = NULL;
	free(text);
	return all;
}

static enum MHD_Result serve_metrics(const struct metrics_server *s, struct MHD_Connection *conn)
{
	char *text = metrics_render();

	if (text)
		text = render_own(s, text);
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
	bool spool = atomic_load(&spool_failing);
	char body[96] = "not ready:";
	size_t len = strlen(body);
	int s;

	if (!missing && !spool)
		return reply_text(conn, MHD_HTTP_OK, "ready\n");
	for (s = 0; s < SERVICE__COUNT; s++) {
		if (!(missing & (1u << s)))
			continue;
		len += (size_t)snprintf(body + len, sizeof(body) - len, "%s %s",
					len > strlen("not ready:") ? "," : "", service_label[s]);
	}
	if (spool)
		len += (size_t)snprintf(body + len, sizeof(body) - len, "%s spool",
					len > strlen("not ready:") ? "," : "");
	snprintf(body + len, sizeof(body) - len, "\n");
	return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version,
			      const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct metrics_server *s = cls;

	conn_active(s, conn);
	/* HEAD is GET without the body; MHD drops the body for us. */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(s, conn);
	if (strcmp(url, "/healthz") == 0)
		return serve_health(conn);
	if (strcmp(url, "/readyz") == 0)
		return serve_ready(conn);
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* MHD logs per connection ("closed by remote side with incomplete
 * request"): a slowloris would flood our log.  At most MHD_LOG_BURST lines
 * per MHD_LOG_WINDOW_NS, then one line saying how many were dropped. */
#define MHD_LOG_BURST 10
#define MHD_LOG_WINDOW_NS 10000000000LL

static bool mhd_log_allowed(void)
{
	static atomic_llong window_start;
	static atomic_int in_window;
	static atomic_ullong dropped;
	long long now = now_ns(), start = atomic_load(&window_start);
	unsigned long long n;

	if (now - start >= MHD_LOG_WINDOW_NS &&
	    atomic_compare_exchange_strong(&window_start, &start, now)) {
		atomic_store(&in_window, 0);
		n = atomic_exchange(&dropped, 0);
		if (n)
			log_warn("metrics", "libmicrohttpd: %llu more message(s) not logged", n);
	}
	if (atomic_fetch_add(&in_window, 1) < MHD_LOG_BURST)
		return true;
	atomic_fetch_add(&dropped, 1);
	return false;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t len;

	if (!mhd_log_allowed())
		return;
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
		return -errno;
	/* Restarting must not wait out TIME_WAIT; a live listener still wins. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, sa, salen) == 0 && listen(fd, SOMAXCONN) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -e;
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
		return -EINVAL;
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
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Listen where the options say; fills err naming the port on failure. */
static int open_listener(const struct metrics_server_opts *o, char *err, size_t errlen)
{
	int fd;

	if (o->port < 0 || o->port > 65535) {
		snprintf(err, errlen, "invalid metrics port %d", o->port);
		return -EINVAL;
	}
	if (o->addr)
		return listen_addr(o->addr, o->port, err, errlen);
	fd = listen_any(o->port);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on port %d: %s", o->port, strerror(errno));
	return fd;
}

static struct MHD_Daemon *start_daemon(struct metrics_server *s, int fd, long timeout_ms)
{
	unsigned int timeout_s = (unsigned int)((timeout_ms + 999) / 1000);

	/* epoll: no FD_SETSIZE ceiling under hundreds of connections. */
	return MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
				(uint16_t)s->port, admit, s, handle, s,
				/* First, so that every MHD message goes to our log. */
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT,
				(unsigned int)s->max_conns + EVICT_HEADROOM,
				MHD_OPTION_CONNECTION_TIMEOUT, timeout_s ? timeout_s : 1u,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				MHD_OPTION_NOTIFY_CONNECTION, notify, s,
				MHD_OPTION_END);
}

struct metrics_server *metrics_server_start(const struct metrics_server_opts *o, char *err,
					    size_t errlen)
{
	struct metrics_server *s;
	int fd = open_listener(o, err, errlen);

	if (fd < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->conns.next = s->conns.prev = &s->conns;
	s->max_conns = o->max_conns > 0 ? o->max_conns : DEFAULT_MAX_CONNS;
	s->max_per_ip = o->max_per_ip > 0 ? o->max_per_ip : 0;
	s->port = bound_port(fd);
	s->daemon = start_daemon(s, fd, o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS);
	if (!s->daemon) {
		close(fd);
		free(s);
		snprintf(err, errlen, "cannot start HTTP server on port %d", o->port);
		return NULL;
	}
	return s;
}

int metrics_server_port(const struct metrics_server *s)
{
	return s ? s->port : -1;
}

int metrics_server_connections(const struct metrics_server *s)
{
	return s ? atomic_load(&s->open) : -1;
}

void metrics_server_stop(struct metrics_server *s)
{
	if (!s)
		return;
	/* Joins MHD's thread and closes the listening socket. */
	MHD_stop_daemon(s->daemon);
	free(s);
}
