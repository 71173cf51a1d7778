/*
 * e2e_delivery.c - durable delivery with the real agent, the real probes
 * and a loopback API that goes down.
 *
 *   (a) the API refuses connections for 20 s while a student runs 200
 *       programs over ~5 s; then it comes back: every run arrives, each
 *       event_id once (a repeat would have to be the same event);
 *   (b) 1,000 runs spooled while the API is down, the agent killed with
 *       SIGKILL, restarted on the same SPOOL_DIR: all 1,000 arrive;
 *   (c) the agent stops gracefully with 50 records undelivered, junk is
 *       appended to the newest segment: on restart one corrupt record is
 *       counted and the 50 arrive.
 *
 * Each run is "./p <index>", so the exact set of runs is checked.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "receiver.h"
#include "student.h"
#include "support.h"
#include "testlib.h"

#define HOST "jcode-os-1-202012345"
#define RUN_URL "/api/os-1/hw1/202012345/logs/run"
#define MAX_RUNS 1000

static char ws[PATH_MAX], spool[PATH_MAX];
static const char *agent_bin;

struct watcher {
	pid_t pid;
	int port;
	char log[64];
};

static void make_workspace(void)
{
	if (student_workspace("jcw-e2e-delivery", ws, sizeof(ws)) < 0)
		exit(1);
	/* Beside the workspace, in the same temporary directory. */
	snprintf(spool, sizeof(spool), "%.*s/spool", (int)(strrchr(ws, '/') - ws), ws);
}

static int start_agent(struct watcher *a, struct receiver *r)
{
	char api[96], port[32], dir[PATH_MAX + 16];
	char *env[] = { api, port, dir, "LOG_LEVEL=INFO", NULL };

	a->port = free_port();
	snprintf(api, sizeof(api), "API_SERVER=http://127.0.0.1:%d", receiver_port(r));
	snprintf(port, sizeof(port), "METRICS_PORT=%d", a->port);
	snprintf(dir, sizeof(dir), "SPOOL_DIR=%s", spool);
	strcpy(a->log, "/tmp/jcw-e2e-delivery-agent-XXXXXX");
	close(mkstemp(a->log));
	a->pid = agent_spawn(agent_bin, env, NULL, a->log);
	return agent_wait_ready(a->pid, a->port, 60000, a->log);
}

static double metric(struct watcher *a, const char *series)
{
	return agent_metric(a->port, series);
}

/* Poll a metric until it equals want (the gauges refresh every second). */
static double wait_metric(struct watcher *a, const char *series, double want, int timeout_ms)
{
	double v = -1;

	for (int waited = 0; waited <= timeout_ms; waited += 100) {
		v = metric(a, series);
		if (v == want)
			break;
		usleep(100 * 1000);
	}
	return v;
}

static bool log_has(struct watcher *a, const char *text)
{
	const char *log = support_slurp(a->log);

	return log && strstr(log, text) != NULL;
}

struct tally {
	int runs;			/* distinct run indexes seen */
	int ids;			/* distinct event ids */
	int bad;			/* foreign, malformed or inconsistent events */
	char *id_of[MAX_RUNS];		/* event_id of run i */
};

static void tally_free(struct tally *t)
{
	for (int i = 0; i < MAX_RUNS; i++)
		free(t->id_of[i]);
}

/* One received event: run index from the cmdline, and its id.  The same
 * id twice must be the same run (a replay), never two runs. */
static void tally_one(struct tally *t, const struct received *rc)
{
	json_t *b = json_loads(rc->body, 0, NULL);
	const char *cmd = json_string_value(json_object_get(b, "cmdline"));
	const char *id = json_string_value(json_object_get(b, "event_id"));
	int i = -1;

	if (strcmp(rc->url, RUN_URL) != 0 || !cmd || !id || sscanf(cmd, "./p %d", &i) != 1 ||
	    i < 0 || i >= MAX_RUNS || json_integer_value(json_object_get(b, "exit_code")) != 0) {
		t->bad++;
	} else if (!t->id_of[i]) {
		t->id_of[i] = strdup(id);
		t->runs++;
		t->ids++;
	} else if (strcmp(t->id_of[i], id) != 0) {
		t->bad++;	/* one run reported under two ids */
	}
	json_decref(b);
}

static void tally(struct receiver *r, struct tally *t)
{
	size_t n = receiver_count(r);

	memset(t, 0, sizeof(*t));
	for (size_t k = 0; k < n; k++) {
		struct received rc;

		if (receiver_get(r, k, &rc) == 0) {
			tally_one(t, &rc);
			received_free(&rc);
		}
	}
}

/* Wait until n distinct runs arrived (each counted once). */
static void wait_runs(struct receiver *r, int n, int timeout_ms, struct tally *t)
{
	double until = support_now() + timeout_ms / 1000.0;

	for (;;) {
		receiver_wait(r, (size_t)n, 500);
		tally(r, t);
		if (t->runs >= n || support_now() > until)
			return;
		tally_free(t);
	}
}

static void rm_spool(void)
{
	support_rm_rf(spool);	/* the agent creates it again */
}

static void finish(struct watcher *a, int want_rc)
{
	CHECK_INT(agent_stop(a->pid, SIGTERM, 30000), want_rc);
	if (tl_failures)
		dump_file(a->log);
	unlink(a->log);
}

#define SVC ",service=\"procmon\"}"

/* (a) 20 s outage during a stream of 200 runs. */
static void test_outage(void)
{
	struct receiver *r = receiver_start(0);
	struct watcher a;
	struct tally t;
	double t0;

	receiver_set_mode(r, RECEIVER_REFUSE, 0);
	if (start_agent(&a, r) < 0) {
		CHECK(!"agent ready");
		return;
	}
	t0 = support_now();
	CHECK_INT(student_runs(ws, HOST, "./p", 200, 40), 0);
	CHECK_DBL(wait_metric(&a, "spool_records_current{service=\"procmon\"}", 200, 10000), 200, 0);
	CHECK_INT(receiver_count(r), 0);
	if (support_now() - t0 < 20.0)
		usleep((useconds_t)((20.0 - (support_now() - t0)) * 1e6));
	CHECK(metric(&a, "api_retries_total{endpoint_type=\"run\"" SVC) >= 3);
	CHECK(metric(&a, "spool_oldest_age_seconds{service=\"procmon\"}") >= 14);
	receiver_set_mode(r, RECEIVER_OK, 0);

	/* The next probe comes within one backoff step (at most 30 s). */
	wait_runs(r, 200, 45000, &t);
	CHECK_INT(t.runs, 200);
	CHECK_INT(t.ids, 200);
	CHECK_INT(t.bad, 0);
	CHECK_INT(receiver_count(r), 200);	/* no crash here: nothing repeated */
	tally_free(&t);
	CHECK_DBL(wait_metric(&a, "spool_records_current{service=\"procmon\"}", 0, 3000), 0, 0);
	CHECK_DBL(metric(&a, "spool_oldest_age_seconds{service=\"procmon\"}"), 0, 0);
	CHECK_DBL(wait_metric(&a, "api_inflight_current{service=\"procmon\"}", 0, 3000), 0, 0);
	CHECK_INT(metric(&a, "pipeline_events_total{result=\"success\"" SVC), 200);
	CHECK_INT(metric(&a, "api_requests_total{status_code=\"200\",endpoint_type=\"run\"" SVC), 200);
	CHECK_INT(metric(&a, "queue_events_dropped_total{service=\"procmon\"}"), 0);
	CHECK_INT(metric(&a, "bpf_events_lost_total{service=\"procmon\"}"), 0);
	/* Failure counters exist from the start, at 0, so alerts can fire. */
	CHECK_INT(metric(&a, "api_dead_letters_total{endpoint_type=\"run\"" SVC), 0);
	CHECK_INT(metric(&a, "spool_dropped_total{service=\"procmon\"}"), 0);
	CHECK_INT(metric(&a, "spool_records_current{service=\"filemon\"}"), 0);
	finish(&a, 0);
	receiver_stop(r);
}

/* (b) kill -9 with 1,000 records spooled, then a restart. */
static void test_sigkill(void)
{
	struct receiver *r = receiver_start(0);
	struct watcher a;
	struct tally t;

	rm_spool();
	receiver_set_mode(r, RECEIVER_REFUSE, 0);
	if (start_agent(&a, r) < 0) {
		CHECK(!"agent ready");
		return;
	}
	CHECK_INT(student_runs(ws, HOST, "./p", 1000, 0), 0);
	CHECK_DBL(wait_metric(&a, "spool_records_current{service=\"procmon\"}", 1000, 30000), 1000, 0);
	CHECK_INT(agent_stop(a.pid, SIGKILL, 5000), 128 + SIGKILL);
	unlink(a.log);

	receiver_set_mode(r, RECEIVER_OK, 0);
	if (start_agent(&a, r) < 0) {
		CHECK(!"agent ready after kill -9");
		return;
	}
	wait_runs(r, 1000, 30000, &t);
	CHECK_INT(t.runs, 1000);
	CHECK_INT(t.ids, 1000);
	CHECK_INT(t.bad, 0);
	CHECK_INT(receiver_count(r), 1000);
	tally_free(&t);
	CHECK(log_has(&a, "replaying 1000 undelivered record(s) from the spool"));
	CHECK_DBL(wait_metric(&a, "spool_records_current{service=\"procmon\"}", 0, 3000), 0, 0);
	CHECK_INT(metric(&a, "pipeline_events_total{result=\"success\"" SVC), 0);	/* replayed, not re-collected */
	CHECK_INT(metric(&a, "spool_corrupt_records_total"), 0);	/* node-wide */
	finish(&a, 0);
	receiver_stop(r);
}

/* The newest segment file in the spool. */
static void newest_segment(char *out, size_t len)
{
	DIR *d = opendir(spool);
	struct dirent *e;
	char best[256] = "";

	while (d && (e = readdir(d)))
		if (strstr(e->d_name, ".seg") && strcmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%.255s", e->d_name);
	if (d)
		closedir(d);
	snprintf(out, len, "%s/%s", spool, best);
}

/* (c) graceful stop with records left, junk on the tail, restart. */
static void test_corrupt_tail(void)
{
	static const char junk[] = "JCWR\x01\x00\x01\x00garbage that is no record at all";
	struct receiver *r = receiver_start(0);
	struct watcher a;
	struct tally t;
	char seg[PATH_MAX + 300];
	int fd;

	rm_spool();
	receiver_set_mode(r, RECEIVER_REFUSE, 0);
	if (start_agent(&a, r) < 0) {
		CHECK(!"agent ready");
		return;
	}
	CHECK_INT(student_runs(ws, HOST, "./p", 50, 0), 0);
	CHECK_DBL(wait_metric(&a, "spool_records_current{service=\"procmon\"}", 50, 10000), 50, 0);
	/* SIGTERM: a bounded flush (the API is down), then exit 0. */
	CHECK_INT(agent_stop(a.pid, SIGTERM, 30000), 0);
	CHECK(log_has(&a, "50 undelivered record(s) stay in the spool for the next start"));
	unlink(a.log);

	newest_segment(seg, sizeof(seg));
	fd = open(seg, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, junk, sizeof(junk)), sizeof(junk));
	close(fd);

	receiver_set_mode(r, RECEIVER_OK, 0);
	if (start_agent(&a, r) < 0) {
		CHECK(!"agent ready after corruption");
		return;
	}
	wait_runs(r, 50, 30000, &t);
	CHECK_INT(t.runs, 50);
	CHECK_INT(t.bad, 0);
	CHECK_INT(receiver_count(r), 50);
	tally_free(&t);
	CHECK_INT(metric(&a, "spool_corrupt_records_total"), 1);
	CHECK(log_has(&a, "bad header at offset"));
	finish(&a, 0);
	receiver_stop(r);
}

static void cleanup(void)
{
	/* ws is <tmpdir>/os-1-202012345: remove the whole tmpdir. */
	*strrchr(ws, '/') = '\0';
	support_rm_rf(ws);
}

int main(int argc, char **argv)
{
	int skip = e2e_require_kernel();

	if (skip)
		return skip;
	if (argc < 2) {
		fprintf(stderr, "usage: %s path/to/jcode-watcher\n", argv[0]);
		return 2;
	}
	agent_bin = argv[1];
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	make_workspace();
	RUN(test_outage);
	RUN(test_sigkill);
	RUN(test_corrupt_tail);
	cleanup();
	return TEST_DONE();
}
