/* test_sender.c - HTTP delivery against a real loopback receiver. */
#define _GNU_SOURCE		/* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics_testing.h"
#include "receiver.h"
#include "sender.h"
#include "support.h"
#include "testlib.h"
#include "version.h"

#define INFLIGHT 4
#define PATH_BUILD "/api/os-1/hw1/202012345/logs/build"
#define PATH_RUN "/api/os-1/hw2/202012345/logs/run"

static struct loop *loop;
static struct receiver *rx;

static struct sender *make_sender_n(int inflight, int queue_max, long timeout_ms)
{
	struct sender_config cfg = {
		.timeout_ms = timeout_ms, .max_inflight = inflight, .queue_max = queue_max,
	};
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", receiver_port(rx));
	cfg.api_server = url;	/* trailing slash on purpose: must not double */
	return sender_create(loop, &cfg);
}

static struct sender *make_sender(int queue_max, long timeout_ms)
{
	return make_sender_n(INFLIGHT, queue_max, timeout_ms);
}

/* ---- spool-backed senders ---- */

static char spool_dir[64];

static void rm_spool(void)
{
	support_rm_rf(spool_dir);
}

static void fresh_spool(void)
{
	strcpy(spool_dir, "/tmp/test_sender_spool.XXXXXX");
	if (!mkdtemp(spool_dir))
		abort();
}

static struct sender *make_spooled(int queue_max, long long max_bytes)
{
	struct sender_config cfg = {
		.timeout_ms = 5000, .max_inflight = INFLIGHT, .queue_max = queue_max,
		.spool_dir = spool_dir, .spool_max_bytes = max_bytes,
	};
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", receiver_port(rx));
	cfg.api_server = url;
	return sender_create(loop, &cfg);
}

static double gauge(const char *name)
{
	return metrics_sample(SERVICE_PROCMON, name, "");
}

/* Record i: even ones are builds, odd ones runs; every 10th has a body
 * over 1 KiB, where curl would otherwise wait for "100 Continue". */
static char *body_of(int i)
{
	char *b;
	int pad = i % 10 == 0 ? 3000 : 10;

	if (asprintf(&b, "{\"seq\":%d,\"pad\":\"%0*d\"}", i, pad, i) < 0)
		abort();
	return b;
}

static const char *path_of(int i)
{
	return i % 2 ? PATH_RUN : PATH_BUILD;
}

static int post(struct sender *s, int i)
{
	char *path;

	if (asprintf(&path, "%s", path_of(i)) < 0)
		abort();
	return sender_post(s, SERVICE_PROCMON, i % 2 ? ENDPOINT_RUN : ENDPOINT_BUILD,
			   path, body_of(i));
}

/* Every 2xx the receiver got is one of records 0..n-1, exact in path and
 * body, and each arrived exactly once. */
static void check_all_once(int n)
{
	char seen[512] = { 0 };
	size_t got = receiver_count(rx);

	CHECK_INT(got, n);
	for (size_t k = 0; k < got; k++) {
		struct received rc;
		int seq = -1;
		char *want;

		CHECK_INT(receiver_get(rx, k, &rc), 0);
		if (sscanf(rc.body, "{\"seq\":%d", &seq) != 1 || seq < 0 || seq >= n) {
			CHECK(!"unexpected body");
			received_free(&rc);
			continue;
		}
		CHECK_INT(seen[seq]++, 0);
		want = body_of(seq);
		CHECK_STR(rc.body, want);
		CHECK_STR(rc.url, path_of(seq));
		CHECK_STR(rc.method, "POST");
		CHECK_STR(rc.content_type, "application/json");
		CHECK_STR(rc.user_agent, "jcode-watcher/" JCW_VERSION);
		CHECK_STR(rc.expect, "");	/* a large body goes without waiting */
		/* Nothing the API does not read: each header costs curl ~140
		 * instructions a byte to format. */
		CHECK_STR(rc.headers, "Host,Content-Type,User-Agent,Content-Length");
		free(want);
		received_free(&rc);
	}
}

static void setup(void)
{
	metrics_reset();
	loop = loop_create();
	rx = receiver_start(0);
	CHECK(loop != NULL);
	CHECK(rx != NULL);
	if (!loop || !rx)
		exit(1);
}

static void teardown(struct sender *s)
{
	sender_destroy(s);
	receiver_stop(rx);
	loop_destroy(loop);
	rx = NULL;
	loop = NULL;
}

static double api(const char *status, const char *ep)
{
	char labels[96];

	double v;

	snprintf(labels, sizeof(labels), "status_code=\"%s\",endpoint_type=\"%s\"", status, ep);
	v = metrics_sample(SERVICE_PROCMON, "api_requests_total", labels);
	/* api_requests_total is sparse: a status never answered has no series. */
	return metrics_none(SERVICE_PROCMON, "api_requests_total", labels) ? 0 : v;
}

static void test_hundred_exactly_once(void)
{
	struct sender *s;

	setup();
	s = make_sender(1000, 5000);
	for (int i = 0; i < 100; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_pending(s), 100);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "queue_size_current", ""), 100, 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	CHECK_INT(receiver_attempts(rx), 100);
	check_all_once(100);
	CHECK_DBL(api("200", "build"), 50, 0);
	CHECK_DBL(api("200", "run"), 50, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "queue_size_current", ""), 0, 0);

	/* Keep-alive: the pool never exceeds max_inflight connections and a
	 * second batch reuses it. */
	CHECK(receiver_connections(rx) >= 1);
	CHECK(receiver_connections(rx) <= INFLIGHT);
	for (int i = 100; i < 150; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	CHECK_INT(receiver_count(rx), 150);
	CHECK(receiver_connections(rx) <= INFLIGHT);
	teardown(s);
}

/* The environment's proxy is read once at create, the way curl reads it:
 * a request for an unresolvable host reaches the proxy, in absolute form;
 * one the environment exempts (no_proxy) goes direct. */
static void test_proxy_from_environment(void)
{
	struct sender_config cfg = { .timeout_ms = 5000, .max_inflight = 1, .queue_max = 10 };
	struct received rc;
	struct sender *s;
	char proxy[64];

	setup();
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", receiver_port(rx));
	setenv("http_proxy", proxy, 1);
	cfg.api_server = "http://api.invalid";
	s = sender_create(loop, &cfg);
	unsetenv("http_proxy");		/* read at create: later changes do not count */
	CHECK_INT(post(s, 1), 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	CHECK_INT(receiver_count(rx), 1);
	CHECK_INT(receiver_get(rx, 0, &rc), 0);
	CHECK_STR(rc.url, "http://api.invalid" PATH_RUN);
	received_free(&rc);
	sender_destroy(s);

	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", receiver_port(rx));
	setenv("http_proxy", "http://127.0.0.1:9", 1);	/* nothing listens there */
	setenv("no_proxy", "127.0.0.1", 1);
	cfg.api_server = proxy;
	s = sender_create(loop, &cfg);
	unsetenv("http_proxy");
	unsetenv("no_proxy");
	CHECK_INT(post(s, 3), 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	CHECK_INT(receiver_count(rx), 2);
	CHECK_INT(receiver_get(rx, 1, &rc), 0);
	CHECK_STR(rc.url, PATH_RUN);
	received_free(&rc);
	teardown(s);
}

/* A sender whose API_SERVER is the receiver under a path prefix. */
static struct sender *sender_under(const char *prefix)
{
	struct sender_config cfg = { .timeout_ms = 5000, .max_inflight = 2, .queue_max = 10 };
	char url[96];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", receiver_port(rx), prefix);
	cfg.api_server = url;
	return sender_create(loop, &cfg);
}

/* An API behind a path prefix gets the prefix on every request, and the
 * transfers that carry the requests keep it when they are reused for
 * another endpoint. */
static void test_api_under_a_prefix(void)
{
	struct received rc;
	struct sender *s;

	setup();
	s = sender_under("/jcode/v1/");
	for (int i = 0; i < 6; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	CHECK_INT(receiver_count(rx), 6);
	for (size_t k = 0; k < 6; k++) {
		int seq = -1;
		char want[128];

		CHECK_INT(receiver_get(rx, k, &rc), 0);
		CHECK_INT(sscanf(rc.body, "{\"seq\":%d", &seq), 1);
		snprintf(want, sizeof(want), "/jcode/v1%s", path_of(seq));
		CHECK_STR(rc.url, want);
		received_free(&rc);
	}
	teardown(s);
}

static int post_path(struct sender *s, const char *path, int i)
{
	return sender_post(s, SERVICE_PROCMON, ENDPOINT_RUN, strdup(path), body_of(i));
}

/* The same transfers, reused for paths of every kind: a plain one replaces only
 * the path part of the parsed API URL, one with dot segments is parsed
 * whole (and normalised, as curl does), one curl refuses fails alone; the
 * prefix and the host survive all three for the plain path after them. */
static void test_path_kinds_on_one_transfer(void)
{
	static const char *const want[] = {	/* by record; 2 is refused */
		"/jcode/v1/api/os-1/hw1/202012345/logs/run",
		"/jcode/v1/api/os-1/hw3/202012345/logs/run",
		NULL,
		"/jcode/v1/api/os-1/hw4/202012345/logs/run",
		"/jcode/v1/api/os-1/hw5/202012345/logs/run",
	};
	int seen[5] = { 0 };
	struct received rc;
	struct sender *s;

	setup();
	s = sender_under("/jcode/v1//");
	CHECK_INT(post_path(s, "/api/os-1/hw1/202012345/logs/run", 0), 0);
	CHECK_INT(post_path(s, "/api/os-1/hw2/../hw3/./202012345/logs/run", 1), 0);
	CHECK_INT(post_path(s, "/api/os-1/hw2/2020 12345/logs/run", 2), 0);
	CHECK_INT(post_path(s, "/api/os-1/hw4/202012345/logs/run", 3), 0);
	CHECK_INT(post_path(s, "/api/os-1/hw5/202012345/logs/run", 4), 0);
	CHECK_INT(sender_drain(s, 3000), 1);	/* the refused one is still retried */
	CHECK_INT(receiver_count(rx), 4);
	for (size_t k = 0; k < 4; k++) {	/* two in flight: in any order */
		int seq = -1;

		CHECK_INT(receiver_get(rx, k, &rc), 0);
		CHECK_INT(sscanf(rc.body, "{\"seq\":%d", &seq), 1);
		if (seq < 0 || seq > 4 || !want[seq]) {
			CHECK(!"unexpected record");
			received_free(&rc);
			continue;
		}
		CHECK_STR(rc.url, want[seq]);
		CHECK_INT(seen[seq]++, 0);
		received_free(&rc);
	}
	teardown(s);
}

/* A path curl's URL parser refuses (a space) fails as a transport error
 * and is retried; it is not sent to the URL its transfer had before, and
 * it does not stop the records behind it. */
static void test_path_curl_refuses(void)
{
	struct sender *s;
	struct received rc;

	setup();
	s = make_sender(10, 5000);
	CHECK_INT(post(s, 1), 0);
	CHECK_INT(sender_drain(s, 5000), 0);	/* its transfer is reused below */
	CHECK_INT(sender_post(s, SERVICE_PROCMON, ENDPOINT_RUN,
			      strdup("/api/os-1/hw2/2020 12345/logs/run"), body_of(3)), 0);
	CHECK_INT(post(s, 5), 0);
	CHECK_INT(sender_drain(s, 1500), 1);
	CHECK_INT(receiver_attempts(rx), 2);
	CHECK_INT(receiver_get(rx, 1, &rc), 0);
	CHECK_STR(rc.body, "{\"seq\":5,\"pad\":\"0000000005\"}");
	received_free(&rc);
	CHECK(api("error", "run") >= 1);
	CHECK_INT(api("200", "run"), 2);
	teardown(s);
}

static void test_500_then_ok(void)
{
	struct sender *s;
	size_t tries;

	setup();
	receiver_set_mode(rx, RECEIVER_STATUS, 500);
	s = make_sender(1000, 5000);
	for (int i = 0; i < 10; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 1500), 10);
	tries = receiver_attempts(rx);
	CHECK(tries >= 2);		/* it retried... */
	CHECK(tries <= INFLIGHT + 8);	/* ...one probe at a time, backing off */
	CHECK_INT(receiver_count(rx), 0);
	CHECK_DBL(api("500", "build") + api("500", "run"), (double)tries, 0);

	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	check_all_once(10);
	teardown(s);
}

/* A redirect is a deployment to fix, not a bad record: kept and retried. */
static void test_redirect_retried(void)
{
	struct sender *s;

	setup();
	receiver_set_mode(rx, RECEIVER_STATUS, 301);
	s = make_sender(1000, 5000);
	for (int i = 0; i < 10; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 1500), 10);
	CHECK(receiver_attempts(rx) >= 2);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_events_rejected_total", ""), 0, 0);
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	check_all_once(10);
	teardown(s);
}

static void test_429_retry_after(void)
{
	struct sender *s;
	struct received rc = { 0 };
	double first = 0, deadline;

	setup();
	receiver_set_mode(rx, RECEIVER_STATUS, 429);
	s = make_sender(1000, 5000);
	CHECK_INT(post(s, 0), 0);
	deadline = support_now() + 3;
	while (receiver_attempts(rx) < 1 && support_now() < deadline)
		loop_run_once(loop, 5);
	first = support_now();	/* no earlier than the first attempt */
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 5000), 0);
	CHECK_INT(receiver_attempts(rx), 2);	/* no retry inside the second */
	CHECK_INT(receiver_get(rx, 0, &rc), 0);
	/* Our own backoff would have retried after 125-250 ms. */
	CHECK(rc.at - first >= 0.95);
	CHECK(rc.at - first < 3.0);
	CHECK_DBL(api("429", "build"), 1, 0);
	CHECK_DBL(api("200", "build"), 1, 0);
	received_free(&rc);
	teardown(s);
}

static void test_refused_then_ok(void)
{
	struct sender *s;

	setup();
	receiver_set_mode(rx, RECEIVER_REFUSE, 0);
	s = make_sender(1000, 5000);
	for (int i = 0; i < 20; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 3000), 20);
	CHECK_INT(receiver_attempts(rx), 0);
	CHECK(api("error", "build") >= 1);
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 20000), 0);
	check_all_once(20);
	teardown(s);
}

static void test_timeout_then_ok(void)
{
	struct sender *s;

	setup();
	receiver_set_mode(rx, RECEIVER_HANG, 0);
	s = make_sender(1000, 300);
	CHECK_INT(post(s, 0), 0);
	CHECK_INT(post(s, 1), 0);
	CHECK_INT(sender_drain(s, 1000), 2);
	CHECK(receiver_attempts(rx) >= 1);
	CHECK(api("error", "build") + api("error", "run") >= 1);
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	check_all_once(2);
	teardown(s);
}

/* One at a time, records leave in the order they came, outage or not. */
static void test_fifo_order(void)
{
	struct sender *s;

	setup();
	s = make_sender_n(1, 1000, 5000);
	for (int i = 0; i < 10; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 5000), 0);
	receiver_set_mode(rx, RECEIVER_STATUS, 503);
	for (int i = 10; i < 20; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 800), 10);
	CHECK(receiver_attempts(rx) >= 12);
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	check_all_once(20);
	for (size_t k = 0; k < receiver_count(rx); k++) {
		struct received rc;
		int seq = -1;

		CHECK_INT(receiver_get(rx, k, &rc), 0);
		CHECK_INT(sscanf(rc.body, "{\"seq\":%d", &seq), 1);
		CHECK_INT(seq, k);
		received_free(&rc);
	}
	CHECK_INT(receiver_connections(rx), 1);
	teardown(s);
}

/* A slow API within the timeout is waited for, not retried. */
static void test_slow_not_retried(void)
{
	struct sender *s;
	struct received rc = { 0 };
	double t0;

	setup();
	receiver_set_mode(rx, RECEIVER_SLOW, 300);
	s = make_sender(1000, 5000);
	t0 = support_now();
	CHECK_INT(post(s, 0), 0);
	CHECK_INT(sender_drain(s, 5000), 0);
	CHECK_INT(receiver_attempts(rx), 1);
	CHECK_INT(receiver_get(rx, 0, &rc), 0);
	CHECK(rc.at - t0 >= 0.3);
	CHECK(support_now() - t0 < 2.0);
	received_free(&rc);
	teardown(s);
}

static void test_422_not_retried(void)
{
	struct sender *s;

	setup();
	receiver_set_mode(rx, RECEIVER_STATUS, 422);
	s = make_sender(1000, 5000);
	CHECK_INT(post(s, 0), 0);
	CHECK_INT(sender_drain(s, 3000), 0);
	/* Give a (wrong) retry every chance to happen. */
	for (int i = 0; i < 10; i++)
		loop_run_once(loop, 50);
	CHECK_INT(receiver_attempts(rx), 1);
	CHECK_INT(receiver_count(rx), 0);
	CHECK_DBL(api("422", "build"), 1, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_events_rejected_total", ""), 1, 0);

	/* A rejection does not hold up what follows. */
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(post(s, 1), 0);
	CHECK_INT(sender_drain(s, 3000), 0);
	CHECK_INT(receiver_count(rx), 1);
	CHECK_INT(receiver_attempts(rx), 2);
	teardown(s);
}

static void test_queue_overflow(void)
{
	struct sender *s;
	int dropped = 0;

	setup();
	receiver_set_mode(rx, RECEIVER_HANG, 0);
	s = make_sender(10, 60000);
	for (int i = 0; i < 15; i++)
		if (post(s, i) < 0)
			dropped++;
	CHECK_INT(dropped, 5);
	CHECK_INT(sender_pending(s), 10);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "queue_events_dropped_total", ""), 5, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "queue_size_current", ""), 10, 0);
	CHECK_INT(sender_drain(s, 300), 10);
	/* The hung requests are cut off when the API recovers, and retried. */
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	check_all_once(10);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "queue_events_dropped_total", ""), 5, 0);
	teardown(s);
}

/* Shutting down with records undelivered loses them, visibly. */
static void test_destroy_counts_lost(void)
{
	struct sender *s;

	setup();
	receiver_set_mode(rx, RECEIVER_HANG, 0);
	s = make_sender(100, 60000);
	for (int i = 0; i < 7; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 200), 7);
	CHECK_INT(receiver_attempts(rx), INFLIGHT);
	sender_destroy(s);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "queue_events_dropped_total", ""), 7, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "queue_size_current", ""), 0, 0);
	teardown(NULL);
}

/* The API refuses connections for a while: everything waits in the spool
 * (queue_max bounds only memory: nothing is dropped), then arrives once. */
static void test_spool_refused_then_ok(void)
{
	struct sender *s;

	setup();
	fresh_spool();
	receiver_set_mode(rx, RECEIVER_REFUSE, 0);
	s = make_spooled(10, 0);
	CHECK(s != NULL);
	for (int i = 0; i < 300; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 2000), 300);
	CHECK_INT(receiver_attempts(rx), 0);
	CHECK_DBL(gauge("spool_records_current"), 300, 0);
	CHECK(gauge("spool_bytes_current") > 300 * 40);
	CHECK(gauge("spool_oldest_age_seconds") >= 1.5);
	CHECK(gauge("spool_oldest_age_seconds") < 10);
	CHECK_DBL(gauge("queue_size_current"), 10, 0);	/* memory holds queue_max */
	CHECK_DBL(gauge("queue_events_dropped_total"), 0, 0);
	CHECK(metrics_sample(SERVICE_PROCMON, "api_retries_total", "endpoint_type=\"build\"") >= 1);
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 20000), 0);
	check_all_once(300);
	CHECK_DBL(gauge("spool_records_current"), 0, 0);
	CHECK_DBL(gauge("spool_oldest_age_seconds"), 0, 0);
	CHECK_DBL(gauge("api_inflight_current"), 0, 0);
	CHECK_DBL(gauge("queue_size_current"), 0, 0);
	sender_destroy(s);
	CHECK_DBL(gauge("queue_events_dropped_total"), 0, 0);
	/* What is left is the active segment and its acknowledgements. */
	CHECK(support_count_entries(spool_dir) <= 2);
	teardown(NULL);
	rm_spool();
}

static void test_spool_500_then_ok(void)
{
	struct sender *s;
	size_t tries;

	setup();
	fresh_spool();
	receiver_set_mode(rx, RECEIVER_STATUS, 500);
	s = make_spooled(1000, 0);
	for (int i = 0; i < 50; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 1500), 50);
	tries = receiver_attempts(rx);
	CHECK(tries >= 2);
	CHECK(tries <= INFLIGHT + 8);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_retries_total", "endpoint_type=\"build\"") +
		  metrics_sample(SERVICE_PROCMON, "api_retries_total", "endpoint_type=\"run\""),
		  (double)tries, 0);
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	check_all_once(50);
	teardown(s);
	rm_spool();
}

/* A 422 is our fault: one attempt, then the dead-letter file, exactly. */
static void test_spool_422_dead_letter(void)
{
	static const char body[] = "{\"event_id\":\"boot-42-7\",\"exit_code\":0}";
	static const char want[] =
		"{\"event_id\":\"boot-42-7\",\"path\":\"" PATH_BUILD "\",\"status\":422,"
		"\"response\":\"{\\\"detail\\\":[{\\\"loc\\\":[\\\"path\\\",\\\"student_id\\\"],"
		"\\\"msg\\\":\\\"value is not a valid integer\\\",\\\"type\\\":"
		"\\\"type_error.integer\\\"}]}\",\"body\":{\"event_id\":\"boot-42-7\",\"exit_code\":0}}\n";
	struct sender *s;
	char path[128], text[2048] = "";
	FILE *f;
	size_t n;

	setup();
	fresh_spool();
	receiver_set_mode(rx, RECEIVER_STATUS, 422);
	s = make_spooled(1000, 0);
	CHECK_INT(sender_post(s, SERVICE_PROCMON, ENDPOINT_BUILD, strdup(PATH_BUILD), strdup(body)), 0);
	CHECK_INT(sender_drain(s, 3000), 0);
	for (int i = 0; i < 10; i++)
		loop_run_once(loop, 50);
	CHECK_INT(receiver_attempts(rx), 1);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_dead_letters_total", "endpoint_type=\"build\""), 1, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_events_rejected_total", ""), 1, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_retries_total", "endpoint_type=\"build\""), 0, 0);
	snprintf(path, sizeof(path), "%s/dead-letter.jsonl", spool_dir);
	f = fopen(path, "r");
	CHECK(f != NULL);
	n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	text[n] = '\0';
	if (f)
		fclose(f);
	CHECK_STR(text, want);
	/* Acknowledged: a restart does not send it again. */
	sender_destroy(s);
	s = make_spooled(1000, 0);
	CHECK_INT(sender_pending(s), 0);
	CHECK_INT(sender_drain(s, 500), 0);
	CHECK_INT(receiver_attempts(rx), 1);
	teardown(s);
	rm_spool();
}

/* Without a dead-letter file to keep it in, a refused record stays in the
 * spool: acknowledging it would lose its only copy. */
static void test_spool_422_unwritable_dead_letter(void)
{
	struct sender *s;
	char path[128];

	setup();
	fresh_spool();
	snprintf(path, sizeof(path), "%s/dead-letter.jsonl", spool_dir);
	CHECK_INT(mkdir(path, 0700), 0);	/* open() for append now fails */
	receiver_set_mode(rx, RECEIVER_STATUS, 422);
	s = make_spooled(1000, 0);
	CHECK_INT(post(s, 0), 0);
	CHECK_INT(sender_drain(s, 1000), 1);
	CHECK_INT(receiver_attempts(rx), 1);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_dead_letters_total", "endpoint_type=\"build\"") +
		  metrics_sample(SERVICE_PROCMON, "api_dead_letters_total", "endpoint_type=\"run\""),
		  0, 0);
	/* Still there after a restart. */
	sender_destroy(s);
	receiver_set_mode(rx, RECEIVER_OK, 0);
	s = make_spooled(1000, 0);
	CHECK_INT(sender_pending(s), 1);
	CHECK_INT(sender_drain(s, 5000), 0);
	check_all_once(1);
	teardown(s);
	rm_spool();
}

/* The agent stops with everything undelivered; the next one sends it all. */
static void test_spool_restart(void)
{
	struct sender *s;

	setup();
	fresh_spool();
	receiver_set_mode(rx, RECEIVER_REFUSE, 0);
	s = make_spooled(100, 0);
	for (int i = 0; i < 400; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 300), 400);
	sender_destroy(s);
	CHECK_DBL(gauge("queue_events_dropped_total"), 0, 0);
	CHECK_DBL(gauge("queue_size_current"), 0, 0);

	receiver_set_mode(rx, RECEIVER_OK, 0);
	metrics_reset();
	s = make_spooled(100, 0);
	CHECK_INT(sender_pending(s), 400);
	CHECK_DBL(gauge("spool_records_current"), 400, 0);
	CHECK_INT(sender_drain(s, 20000), 0);
	check_all_once(400);
	teardown(s);
	rm_spool();
}

/* Fixed-size records so the spool bound is easy to reason about. */
static char *fixed_body(int i)
{
	char *b;

	if (asprintf(&b, "{\"seq\":%06d,\"pad\":\"%0300d\"}", i, 0) < 0)
		abort();
	return b;
}

/* A full spool drops the oldest records, counted; the newest all arrive. */
static void test_spool_full(void)
{
	struct sender *s;
	size_t got;
	int first = -1, bad = 0;
	double dropped;

	setup();
	fresh_spool();
	receiver_set_mode(rx, RECEIVER_REFUSE, 0);
	s = make_spooled(100, 64 * 1024);	/* 4 KiB segments */
	for (int i = 0; i < 1000; i++)
		CHECK_INT(sender_post(s, SERVICE_PROCMON, ENDPOINT_RUN, strdup(PATH_RUN),
				      fixed_body(i)), 0);
	CHECK_INT(sender_drain(s, 500), 0 + (size_t)gauge("spool_records_current"));
	dropped = metrics_sample(SERVICE_PROCMON, "spool_dropped_total", "");
	CHECK(dropped > 700);
	CHECK(gauge("spool_bytes_current") <= 64 * 1024);
	receiver_set_mode(rx, RECEIVER_OK, 0);
	CHECK_INT(sender_drain(s, 20000), 0);
	got = receiver_count(rx);
	CHECK_INT(got + (size_t)dropped, 1000);
	/* Exactly the newest records, each once (four in flight: any order). */
	{
		char seen[1000] = { 0 };

		for (size_t k = 0; k < got; k++) {
			struct received rc;
			int seq = -1;

			CHECK_INT(receiver_get(rx, k, &rc), 0);
			sscanf(rc.body, "{\"seq\":%d", &seq);
			if (seq < 0 || seq >= 1000 || seen[seq]++)
				bad++;
			received_free(&rc);
		}
		first = 1000 - (int)got;
		for (int i = first; i < 1000; i++)
			bad += !seen[i];
	}
	CHECK_INT(bad, 0);
	CHECK_INT(first + (int)got, 1000);
	CHECK_DBL(gauge("queue_events_dropped_total"), 0, 0);
	teardown(s);
	rm_spool();
}

static void test_stdout_mode(void)
{
	struct sender_config cfg = { .api_server = "" };
	struct loop *l = loop_create();
	struct sender *s;
	FILE *f = tmpfile();
	char buf[1024];
	size_t n;

	metrics_reset();
	CHECK(f != NULL);
	if (!f)
		return;
	cfg.out = f;
	s = sender_create(l, &cfg);
	CHECK(s != NULL);
	CHECK_INT(sender_post(s, SERVICE_PROCMON, ENDPOINT_BUILD, strdup(PATH_BUILD),
			      strdup("{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\","
				     "\"exit_code\":0,\"duration_ms\":12.346,\"signal\":null,"
				     "\"truncated\":[]}")), 0);
	/* Whitespace in the body is normalised; a non-JSON body becomes a string. */
	CHECK_INT(sender_post(s, SERVICE_FILEMON, ENDPOINT_SNAPSHOT,
			      strdup("/api/os-1/hw1/202012345/src%40a.c/20261123_071940"),
			      strdup("{ \"bytes\" : 42 }")), 0);
	CHECK_INT(sender_post(s, SERVICE_PROCMON, ENDPOINT_RUN, strdup(PATH_RUN),
			      strdup("not json\n")), 0);
	/* Compact bodies are spliced as they are (braces inside strings are
	 * text); braces around something that is not JSON are a string. */
	CHECK_INT(sender_post(s, SERVICE_PROCMON, ENDPOINT_RUN, strdup(PATH_RUN),
			      strdup("{\"a\":[1,{\"b\":\"x}\\\"\"}],\"c\":false,\"d\":-1.5e3}")), 0);
	CHECK_INT(sender_post(s, SERVICE_PROCMON, ENDPOINT_RUN, strdup(PATH_RUN),
			      strdup("{abc}")), 0);
	/* An endpoint is escaped and repaired like any student's text. */
	CHECK_INT(sender_post(s, SERVICE_FILEMON, ENDPOINT_SNAPSHOT, strdup("/a\"b\\\xff\n"),
			      strdup("{}")), 0);
	CHECK_INT(sender_pending(s), 0);
	CHECK_INT(sender_drain(s, 1000), 0);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	CHECK_STR(buf,
		  "{\"endpoint\":\"" PATH_BUILD "\",\"body\":{\"timestamp\":"
		  "\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":0,\"duration_ms\":12.346,"
		  "\"signal\":null,\"truncated\":[]}}\n"
		  "{\"endpoint\":\"/api/os-1/hw1/202012345/src%40a.c/20261123_071940\","
		  "\"body\":{\"bytes\":42}}\n"
		  "{\"endpoint\":\"" PATH_RUN "\",\"body\":\"not json\\n\"}\n"
		  "{\"endpoint\":\"" PATH_RUN "\",\"body\":{\"a\":[1,{\"b\":\"x}\\\"\"}],\"c\":false,"
		  "\"d\":-1.5e3}}\n"
		  "{\"endpoint\":\"" PATH_RUN "\",\"body\":\"{abc}\"}\n"
		  "{\"endpoint\":\"/a\\\"b\\\\\xef\xbf\xbd\\n\",\"body\":{}}\n");
	CHECK_DBL(api("200", "build"), 0, 0);	/* nothing went over HTTP */
	sender_destroy(s);
	fclose(f);
	loop_destroy(l);
}

int main(void)
{
	/* A proxy from the environment must not sit between us and loopback. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	RUN(test_hundred_exactly_once);
	RUN(test_proxy_from_environment);
	RUN(test_api_under_a_prefix);
	RUN(test_path_curl_refuses);
	RUN(test_path_kinds_on_one_transfer);
	RUN(test_500_then_ok);
	RUN(test_redirect_retried);
	RUN(test_429_retry_after);
	RUN(test_refused_then_ok);
	RUN(test_timeout_then_ok);
	RUN(test_fifo_order);
	RUN(test_slow_not_retried);
	RUN(test_422_not_retried);
	RUN(test_queue_overflow);
	RUN(test_destroy_counts_lost);
	RUN(test_stdout_mode);
	RUN(test_spool_refused_then_ok);
	RUN(test_spool_500_then_ok);
	RUN(test_spool_422_dead_letter);
	RUN(test_spool_422_unwritable_dead_letter);
	RUN(test_spool_restart);
	RUN(test_spool_full);
	return TEST_DONE();
}
