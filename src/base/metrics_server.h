/*
 * metrics_server.h - /metrics, /healthz and /readyz over HTTP.
 *
 * Served from libmicrohttpd's own thread so a slow scraper never stalls the
 * event loop; it only reads atomics (see metrics.h).
 */
#ifndef JCW_METRICS_SERVER_H
#define JCW_METRICS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

struct metrics_server;

struct metrics_server_opts {
	const char *addr;   /* NULL = all interfaces, IPv6 and IPv4 when the host has IPv6 */
	int port;           /* 0 = ephemeral */
	int max_conns;      /* connections served at once; 0 = 512 */
	int max_per_ip;     /* connections one client address may hold; 0 = no limit */
	long timeout_ms;    /* an idle connection is closed after this; 0 = 3 s
			     * (libmicrohttpd counts whole seconds: rounded up) */
};

/* Serve GET /metrics, /healthz, /readyz from libmicrohttpd's own epoll
 * thread.  A slow client cannot starve the probes: idle connections time
 * out, one address holds at most max_per_ip, and when the pool is full a
 * newcomer evicts the connection that has gone longest without a complete
 * request (see metrics_server.c).  Returns NULL with a message in err when
 * the port cannot be bound. */
struct metrics_server *metrics_server_start(const struct metrics_server_opts *o, char *err,
					    size_t errlen);
int metrics_server_port(const struct metrics_server *s);  /* the bound port */
void metrics_server_stop(struct metrics_server *s);

/* Readiness: /readyz is 200 once every required service has been marked
 * ready (at once when none is required). */
void metrics_require_ready(enum service svc);
void metrics_set_ready(enum service svc, bool ready);
bool metrics_ready(void);
/* /readyz also fails ("not ready: spool") while records cannot be spooled. */
void metrics_set_spool_writable(bool writable);

/* /healthz is 200 while the loop heartbeat is younger than max_age_s
 * (default 30), else 503. */
void metrics_set_health_max_age(double max_age_s);

#endif
