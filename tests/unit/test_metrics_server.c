/*
 * test_metrics_server.c - real HTTP over loopback against an ephemeral port:
 * status codes, bodies, content types, and a busy port.
 */
#include "metrics_server.h"
#include "metrics_server_testing.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

struct reply {
	long status;
	char body[65536];
	size_t len;
	char ctype[128];
	char allow[64];
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;

	if (len > sizeof(r->body) - 1 - r->len)
		len = sizeof(r->body) - 1 - r->len;
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;

	if (len > 7 && strncasecmp(data, "Allow: ", 7) == 0)
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 9), data + 7);
	return len;
}

/* Fetch http://127.0.0.1:port/path with method from source address src
 * (NULL: the kernel's choice, 127.0.0.1), giving up after timeout_ms;
 * status -1 on a curl error. */
static struct reply *fetch_from(const char *src, int port, const char *method, const char *path,
				long timeout_ms)
{
	static struct reply r;
	char url[128];
	char *ctype = NULL;
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(&r, 0, sizeof(r));
	r.status = -1;
	if (!c)
		return &r;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (src)
		curl_easy_setopt(c, CURLOPT_INTERFACE, src);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);	/* else curl waits for the body */
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fprintf(stderr, "  curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype)
			snprintf(r.ctype, sizeof(r.ctype), "%s", ctype);
	}
	curl_easy_cleanup(c);
	return &r;
}

static struct reply *fetch(int port, const char *method, const char *path)
{
	return fetch_from(NULL, port, method, path, 5000);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The agent's defaults (METRICS_MAX_CONNECTIONS 512, METRICS_MAX_PER_IP 16,
 * METRICS_TIMEOUT 3 s) on addr:port. */
static struct metrics_server *start_at(const char *addr, int port, char *err, size_t errlen)
{
	struct metrics_server_opts o = { .addr = addr, .port = port, .max_conns = 512,
					 .max_per_ip = 16, .timeout_ms = 3000 };

	return metrics_server_start(&o, err, errlen);
}

static struct metrics_server *start_ephemeral(void)
{
	char err[256] = "";
	struct metrics_server *s = start_at("127.0.0.1", 0, err, sizeof(err));

	CHECK(s != NULL);
	if (!s)
		fprintf(stderr, "  start: %s\n", err);
	return s;
}

static void test_metrics_endpoint(void)
{
	struct metrics_server *s;
	struct reply *r;

	metrics_reset();
	metrics_add(M_PIPELINE_EVENTS, 0, PIPELINE_FILTERED, 1);
	metrics_add(M_PIPELINE_EVENTS, 0, PIPELINE_FILTERED, 1);
	s = start_ephemeral();
	if (!s)
		return;
	CHECK(metrics_server_port(s) > 0);
	r = fetch(metrics_server_port(s), "GET", "/metrics");
	CHECK_INT(r->status, 200);
	CHECK_STR(r->ctype, "text/plain; version=0.0.4; charset=utf-8");
	CHECK(strstr(r->body, "\npipeline_events_total{result=\"filtered\",service=\"procmon\"} 2\n") != NULL);
	CHECK(strncmp(r->body, "# HELP ", 7) == 0);

	/* The body is rendered per request. */
	metrics_add(M_PIPELINE_EVENTS, 0, PIPELINE_FILTERED, 1);
	r = fetch(metrics_server_port(s), "GET", "/metrics?x=1");
	CHECK_INT(r->status, 200);
	CHECK(strstr(r->body, "\npipeline_events_total{result=\"filtered\",service=\"procmon\"} 3\n") != NULL);

	r = fetch(metrics_server_port(s), "HEAD", "/metrics");
	CHECK_INT(r->status, 200);
	CHECK_INT(r->len, 0);
	metrics_server_stop(s);
}

static void test_errors(void)
{
	struct metrics_server *s = start_ephemeral();
	struct reply *r;

	if (!s)
		return;
	r = fetch(metrics_server_port(s), "GET", "/nope");
	CHECK_INT(r->status, 404);
	CHECK_STR(r->body, "not found\n");
	r = fetch(metrics_server_port(s), "GET", "/metrics/");
	CHECK_INT(r->status, 404);
	r = fetch(metrics_server_port(s), "POST", "/metrics");
	CHECK_INT(r->status, 405);
	CHECK_STR(r->body, "method not allowed\n");
	CHECK_STR(r->allow, "GET, HEAD");
	r = fetch(metrics_server_port(s), "DELETE", "/healthz");
	CHECK_INT(r->status, 405);
	metrics_server_stop(s);
}

static void test_healthz(void)
{
	struct metrics_server *s;
	struct reply *r;
	double age = -1;

	metrics_reset();
	metrics_server_reset_state();
	s = start_ephemeral();
	if (!s)
		return;
	r = fetch(metrics_server_port(s), "GET", "/healthz");
	CHECK_INT(r->status, 503);
	CHECK_STR(r->body, "no heartbeat yet\n");
	CHECK_STR(r->ctype, "text/plain; charset=utf-8");

	metrics_heartbeat_loop(SERVICE_PROCMON);
	r = fetch(metrics_server_port(s), "GET", "/healthz");
	CHECK_INT(r->status, 200);
	CHECK_STR(r->body, "ok\n");

	metrics_set_health_max_age(0.05);
	sleep_ms(120);
	r = fetch(metrics_server_port(s), "GET", "/healthz");
	CHECK_INT(r->status, 503);
	CHECK(sscanf(r->body, "stale: loop heartbeat %lf s old\n", &age) == 1);
	CHECK(age >= 0.1 && age < 5);
	CHECK(strcmp(r->body + r->len - 7, " s old\n") == 0);

	metrics_heartbeat_loop(SERVICE_FILEMON);	/* any service's turn counts */
	r = fetch(metrics_server_port(s), "GET", "/healthz");
	CHECK_INT(r->status, 200);
	metrics_server_stop(s);
	metrics_server_reset_state();
}

static void test_readyz(void)
{
	struct metrics_server *s;
	struct reply *r;

	metrics_server_reset_state();
	CHECK(metrics_ready());		/* nothing required yet */
	s = start_ephemeral();
	if (!s)
		return;
	metrics_require_ready(SERVICE_PROCMON);
	metrics_require_ready(SERVICE_FILEMON);
	CHECK(!metrics_ready());
	r = fetch(metrics_server_port(s), "GET", "/readyz");
	CHECK_INT(r->status, 503);
	CHECK_STR(r->body, "not ready: procmon, filemon\n");

	metrics_set_ready(SERVICE_FILEMON, true);
	r = fetch(metrics_server_port(s), "GET", "/readyz");
	CHECK_INT(r->status, 503);
	CHECK_STR(r->body, "not ready: procmon\n");

	metrics_set_ready(SERVICE_PROCMON, true);
	CHECK(metrics_ready());
	r = fetch(metrics_server_port(s), "GET", "/readyz");
	CHECK_INT(r->status, 200);
	CHECK_STR(r->body, "ready\n");

	/* A spool that cannot be written fails readiness on its own... */
	metrics_set_spool_writable(false);
	CHECK(!metrics_ready());
	r = fetch(metrics_server_port(s), "GET", "/readyz");
	CHECK_INT(r->status, 503);
	CHECK_STR(r->body, "not ready: spool\n");

	/* ...and beside a service. */
	metrics_set_ready(SERVICE_PROCMON, false);
	r = fetch(metrics_server_port(s), "GET", "/readyz");
	CHECK_INT(r->status, 503);
	CHECK_STR(r->body, "not ready: procmon, spool\n");

	metrics_set_spool_writable(true);
	r = fetch(metrics_server_port(s), "GET", "/readyz");
	CHECK_INT(r->status, 503);
	CHECK_STR(r->body, "not ready: procmon\n");
	metrics_server_stop(s);
	metrics_server_reset_state();
}

/* A listener held by someone else: start fails and names the port. */
static void test_busy_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	char err[256] = "", want[32];
	struct metrics_server *s, *s2;
	int fd, port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK_INT(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	CHECK_INT(listen(fd, 1), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	port = ntohs(sin.sin_port);

	s = start_at("127.0.0.1", port, err, sizeof(err));
	CHECK(s == NULL);
	snprintf(want, sizeof(want), "port %d", port);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "Address already in use") != NULL);
	fprintf(stderr, "  busy: %s\n", err);

	/* Our own server holds its port against a second one, all interfaces too. */
	s = start_ephemeral();
	if (s) {
		err[0] = '\0';
		s2 = start_at(NULL, metrics_server_port(s), err, sizeof(err));
		CHECK(s2 == NULL);
		snprintf(want, sizeof(want), "port %d", metrics_server_port(s));
		CHECK(strstr(err, want) != NULL);
		metrics_server_stop(s2);
		metrics_server_stop(s);
	}
	close(fd);

	CHECK(start_at("127.0.0.1", 70000, err, sizeof(err)) == NULL);
	CHECK_STR(err, "invalid metrics port 70000");
}

/* After stop the port is free again and nothing answers. */
static void test_stop_releases_port(void)
{
	char err[256] = "";
	struct metrics_server *s = start_ephemeral();
	int port;

	if (!s)
		return;
	port = metrics_server_port(s);
	metrics_server_stop(s);
	CHECK_INT(fetch(port, "GET", "/metrics")->status, -1);
	s = start_at(NULL, port, err, sizeof(err));
	CHECK(s != NULL);
	if (!s) {
		fprintf(stderr, "  restart: %s\n", err);
		return;
	}
	CHECK_INT(metrics_server_port(s), port);
	CHECK_INT(fetch(port, "GET", "/metrics")->status, 200);
	metrics_server_stop(s);
	metrics_server_stop(NULL);
}

/* ---- slow clients (issue #8 item 5) ---- */

#define SLOW_CLIENTS 40

/* A TCP connection from loopback address src that sends only the start of
 * a request line: a slowloris.  -1 on failure. */
static int slow_connect(const char *src, int port)
{
	struct sockaddr_in from = { .sin_family = AF_INET };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, src, &from.sin_addr);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("  slow client");
		close(fd);
		return -1;
	}
	send(fd, "GET /metr", 9, MSG_NOSIGNAL);
	return fd;
}

/* One more byte from every slow client: active, never a complete request. */
static void trickle(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			send(fds[i], "i", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* Wait (bounded) until the server counts want connections; returns the
 * last count seen, so a mismatch is reported with the real figure. */
static int wait_connections(struct metrics_server *s, int want)
{
	int n = metrics_server_connections(s);

	for (int i = 0; i < 300 && n != want; i++) {
		sleep_ms(10);
		n = metrics_server_connections(s);
	}
	return n;
}

/* The server closed this connection without answering: EOF or reset
 * within 2 s, rather than the silence of a connection being served. */
static bool refused(int fd)
{
	struct timeval tv = { 2, 0 };
	char c;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, &c, 1, 0);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static unsigned long long metric_value(const char *body, const char *series)
{
	char want[128];
	const char *p;

	snprintf(want, sizeof(want), "\n%s ", series);
	p = strstr(body, want);
	return p ? strtoull(p + strlen(want), NULL, 10) : ~0ULL;
}

/*
 * 40 slow clients from three loopback addresses (16 + 16 + 8, within the
 * per-address limit) hold their connections open by trickling bytes, while
 * the kubelet's GET /healthz from 127.0.0.1 must answer 200 within 1 s,
 * again and again over longer than the idle timeout.  The old server (32
 * connections, 10 s timeout) refused every probe.
 */
static void test_slow_clients_cannot_starve_health(void)
{
	static const char *const srcs[] = { "127.0.0.2", "127.0.0.3", "127.0.0.4" };
	int fds[SLOW_CLIENTS], port, ok = 0;
	struct metrics_server *s;
	struct reply *r;

	metrics_reset();
	metrics_server_reset_state();
	s = start_ephemeral();
	if (!s)
		return;
	port = metrics_server_port(s);
	for (int i = 0; i < SLOW_CLIENTS; i++)
		fds[i] = slow_connect(srcs[i / 16], port);
	CHECK_INT(wait_connections(s, SLOW_CLIENTS), SLOW_CLIENTS);
	for (int round = 0; round < 10; round++) {
		trickle(fds, SLOW_CLIENTS);
		metrics_heartbeat_loop(SERVICE_PROCMON);
		r = fetch_from("127.0.0.1", port, "GET", "/healthz", 1000);
		CHECK_INT(r->status, 200);
		ok += r->status == 200;
		sleep_ms(500);
	}
	CHECK_INT(ok, 10);
	/* The slow clients were served patience, not refusal (the probe's own
	 * connection goes once the server has read its close). */
	CHECK_INT(wait_connections(s, SLOW_CLIENTS), SLOW_CLIENTS);
	r = fetch_from("127.0.0.1", port, "GET", "/metrics", 1000);
	CHECK_INT(r->status, 200);
	CHECK_INT(metric_value(r->body, "metrics_http_connections_current"), SLOW_CLIENTS + 1);
	CHECK_INT(metric_value(r->body, "metrics_http_refused_total{reason=\"per_ip\"}"), 0);
	CHECK_INT(metric_value(r->body, "metrics_http_evicted_total"), 0);
	close_all(fds, SLOW_CLIENTS);
	metrics_server_stop(s);
}

/*
 * The pool full of slow clients: a newcomer evicts the one that has gone
 * longest without a complete request, once it is over a second old, so the
 * probes are answered; a newcomer finding only young connections is refused.
 */
static void test_full_pool_evicts_slowest(void)
{
	struct metrics_server_opts o = { .addr = "127.0.0.1", .max_conns = 32,
					 .max_per_ip = 16, .timeout_ms = 3000 };
	int fds[33], port, extra;
	struct metrics_server *s;
	char err[256] = "";
	struct reply *r;

	metrics_reset();
	metrics_heartbeat_loop(SERVICE_PROCMON);
	s = metrics_server_start(&o, err, sizeof(err));
	CHECK(s != NULL);
	if (!s)
		return;
	port = metrics_server_port(s);
	for (int i = 0; i < 32; i++)
		fds[i] = slow_connect(i < 16 ? "127.0.0.2" : "127.0.0.3", port);
	CHECK_INT(wait_connections(s, 32), 32);

	/* Full, and every connection younger than the grace time: refused. */
	extra = slow_connect("127.0.0.4", port);
	CHECK(extra >= 0 && refused(extra));
	close(extra);
	CHECK_INT(wait_connections(s, 32), 32);

	/* Past the grace time (the refusal above waited for EOF; make sure). */
	sleep_ms(1100);
	trickle(fds, 32);
	r = fetch_from("127.0.0.1", port, "GET", "/healthz", 1000);
	CHECK_INT(r->status, 200);
	/* The evicted one and the probe gone: one slot free, no eviction. */
	CHECK_INT(wait_connections(s, 31), 31);
	fds[32] = slow_connect("127.0.0.4", port);
	CHECK_INT(wait_connections(s, 32), 32);
	r = fetch_from("127.0.0.1", port, "GET", "/metrics", 1000);
	CHECK_INT(r->status, 200);
	/* /healthz evicted one; its slot was free again for fds[32]; this
	 * /metrics evicted a second.  Evicted ones are no longer counted. */
	CHECK_INT(metric_value(r->body, "metrics_http_evicted_total"), 2);
	CHECK_INT(metric_value(r->body, "metrics_http_refused_total{reason=\"pool_full\"}"), 1);
	CHECK_INT(metric_value(r->body, "metrics_http_connections_current"), 32);
	/* The first two connected were the ones evicted, oldest first. */
	CHECK(refused(fds[0]));
	CHECK(refused(fds[1]));
	CHECK(!refused(fds[2]));
	close_all(fds, 33);
	metrics_server_stop(s);
}

/* Client 17 from one address is refused while another address is served. */
static void test_per_ip_limit(void)
{
	int fds[17], port;
	struct metrics_server *s;
	struct reply *r;

	metrics_reset();
	metrics_heartbeat_loop(SERVICE_PROCMON);
	s = start_ephemeral();
	if (!s)
		return;
	port = metrics_server_port(s);
	for (int i = 0; i < 16; i++)
		fds[i] = slow_connect("127.0.0.5", port);
	CHECK_INT(wait_connections(s, 16), 16);
	fds[16] = slow_connect("127.0.0.5", port);
	CHECK(fds[16] >= 0 && refused(fds[16]));
	r = fetch_from("127.0.0.5", port, "GET", "/healthz", 1000);
	CHECK_INT(r->status, -1);
	r = fetch_from("127.0.0.6", port, "GET", "/healthz", 1000);
	CHECK_INT(r->status, 200);
	CHECK_STR(r->body, "ok\n");
	CHECK_INT(wait_connections(s, 16), 16);
	r = fetch_from("127.0.0.6", port, "GET", "/metrics", 1000);
	CHECK_INT(r->status, 200);
	CHECK_INT(metric_value(r->body, "metrics_http_refused_total{reason=\"per_ip\"}"), 2);
	CHECK_INT(metric_value(r->body, "metrics_http_refused_total{reason=\"pool_full\"}"), 0);
	CHECK_INT(metric_value(r->body, "metrics_http_connections_current"), 17);
	/* The 16 held are still open: refused() would see EOF, here a timeout. */
	CHECK(!refused(fds[0]));
	close_all(fds, 17);
	metrics_server_stop(s);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	RUN(test_metrics_endpoint);
	RUN(test_errors);
	RUN(test_healthz);
	RUN(test_readyz);
	RUN(test_busy_port);
	RUN(test_stop_releases_port);
	RUN(test_slow_clients_cannot_starve_health);
	RUN(test_full_pool_evicts_slowest);
	RUN(test_per_ip_limit);
	curl_global_cleanup();
	metrics_reset();
	return TEST_DONE();
}
