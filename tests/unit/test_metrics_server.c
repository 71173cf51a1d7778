/*
 * test_metrics_server.c - real HTTP over loopback against an ephemeral port:
 * status codes, bodies, content types, and a busy port.
 */
#include "metrics_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
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

/* Fetch http://127.0.0.1:port/path with method; status -1 on a curl error. */
static struct reply *fetch(int port, const char *method, const char *path)
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
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);	/* else curl waits for the body */
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
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

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static struct metrics_server *start_ephemeral(void)
{
	char err[256] = "";
	struct metrics_server *s = metrics_server_start("127.0.0.1", 0, err, sizeof(err));

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
	metrics_pipeline_event(PIPELINE_FILTERED);
	metrics_pipeline_event(PIPELINE_FILTERED);
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
	metrics_pipeline_event(PIPELINE_FILTERED);
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

	metrics_set_ready(SERVICE_PROCMON, false);
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

	s = metrics_server_start("127.0.0.1", port, err, sizeof(err));
	CHECK(s == NULL);
	snprintf(want, sizeof(want), "port %d", port);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "Address already in use") != NULL);
	fprintf(stderr, "  busy: %s\n", err);

	/* Our own server holds its port against a second one, all interfaces too. */
	s = start_ephemeral();
	if (s) {
		err[0] = '\0';
		s2 = metrics_server_start(NULL, metrics_server_port(s), err, sizeof(err));
		CHECK(s2 == NULL);
		snprintf(want, sizeof(want), "port %d", metrics_server_port(s));
		CHECK(strstr(err, want) != NULL);
		metrics_server_stop(s2);
		metrics_server_stop(s);
	}
	close(fd);

	CHECK(metrics_server_start("127.0.0.1", 70000, err, sizeof(err)) == NULL);
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
	s = metrics_server_start(NULL, port, err, sizeof(err));
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

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	RUN(test_metrics_endpoint);
	RUN(test_errors);
	RUN(test_healthz);
	RUN(test_readyz);
	RUN(test_busy_port);
	RUN(test_stop_releases_port);
	curl_global_cleanup();
	metrics_reset();
	return TEST_DONE();
}
