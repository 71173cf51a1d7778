/*
 * test_metrics.c - exact Prometheus lines for known updates, histogram
 * buckets, active-host expiry, generic series and their overflow.
 */
#include "metrics_testing.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "active_hosts.h"
#include "testlib.h"
#include "version.h"

/* True when text holds these lines, starting at the start of a line. */
static int has_lines(const char *text, const char *lines)
{
	const char *p = text;

	while ((p = strstr(p, lines))) {
		if (p == text || p[-1] == '\n')
			return 1;
		p++;
	}
	return 0;
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;

	while ((text = strstr(text, needle))) {
		n++;
		text++;
	}
	return n;
}

/* What the sender does for one finished request. */
static void api_request(enum endpoint_type ep, int status, double seconds)
{
	metrics_add(M_API_REQUESTS, ep, metrics_api_status(status), 1);
	metrics_observe(M_API_DURATION, ep, seconds);
}

#define CHECK_LINE(text, line) do { CHECK(has_lines(text, line)); \
	if (!has_lines(text, line)) fprintf(stderr, "  missing: %s", line); } while (0)

static void test_pipeline_counters(void)
{
	char *t;

	metrics_reset();
	metrics_add(M_PIPELINE_EVENTS, 0, PIPELINE_SUCCESS, 1);
	metrics_add(M_PIPELINE_EVENTS, 0, PIPELINE_SUCCESS, 1);
	metrics_add(M_PIPELINE_EVENTS, 0, PIPELINE_SUCCESS, 1);
	metrics_add(M_PIPELINE_EVENTS, 0, PIPELINE_NONTARGET, 1);
	metrics_add(M_PIPELINE_EVENTS, 0, 99, 1);	/* ignored */
	t = metrics_render();
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_LINE(t, "# TYPE pipeline_events_total counter\n"
		      "pipeline_events_total{result=\"success\",service=\"procmon\"} 3\n"
		      "pipeline_events_total{result=\"failure\",service=\"procmon\"} 0\n"
		      "pipeline_events_total{result=\"filtered\",service=\"procmon\"} 0\n"
		      "pipeline_events_total{result=\"nontarget\",service=\"procmon\"} 1\n");
	CHECK_INT(count_of(t, "# HELP pipeline_events_total "), 1);
	free(t);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"success\""), 3, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"nontarget\""), 1, 0);
	CHECK(metrics_none(SERVICE_FILEMON, "pipeline_events_total", "result=\"success\""));
	/* A name nobody renders is absent, and not known: never "none counted". */
	CHECK(isnan(metrics_sample(SERVICE_PROCMON, "no_such_metric", "")));
	CHECK(!metrics_known("no_such_metric"));
	CHECK(!metrics_none(SERVICE_PROCMON, "no_such_metric", ""));
	CHECK(metrics_known("pipeline_events_total"));

	metrics_reset();
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"success\""), 0, 0);
}

static void test_histogram_buckets(void)
{
	char *t;

	metrics_reset();
	/* Exactly representable values so _sum prints exactly. */
	metrics_observe(M_PIPELINE_DURATION, 0, 0.0078125);
	metrics_observe(M_PIPELINE_DURATION, 0, 0.25);	/* on a bound: le is inclusive */
	metrics_observe(M_PIPELINE_DURATION, 0, 0.5);
	metrics_observe(M_PIPELINE_DURATION, 0, 1.0);
	metrics_observe(M_PIPELINE_DURATION, 0, 16);
	t = metrics_render();
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_LINE(t, "# TYPE pipeline_duration_seconds histogram\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"0.005\"} 0\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"0.01\"} 1\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"0.025\"} 1\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"0.05\"} 1\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"0.075\"} 1\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"0.1\"} 1\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"0.25\"} 2\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"0.5\"} 3\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"0.75\"} 3\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"1.0\"} 4\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"2.5\"} 4\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"5.0\"} 4\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"7.5\"} 4\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"10.0\"} 4\n"
		      "pipeline_duration_seconds_bucket{service=\"procmon\",le=\"+Inf\"} 5\n"
		      "pipeline_duration_seconds_sum{service=\"procmon\"} 17.7578125\n"
		      "pipeline_duration_seconds_count{service=\"procmon\"} 5\n");
	free(t);

	metrics_reset();
	metrics_observe(M_PIPELINE_DURATION, 0, 0.005);
	metrics_observe(M_PIPELINE_DURATION, 0, 0.0051);
	metrics_observe(M_PIPELINE_DURATION, 0, -1);		/* clock went backwards: first bucket */
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_duration_seconds_bucket",
				"le=\"0.005\""), 2, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_duration_seconds_bucket",
				"le=\"0.01\""), 3, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_duration_seconds_sum", ""),
		  0.005 + 0.0051 - 1, 1e-12);
}

static void test_api_requests(void)
{
	char *t;

	metrics_reset();
	api_request(ENDPOINT_BUILD, 200, 0.02);
	api_request(ENDPOINT_BUILD, 200, 0.03);
	api_request(ENDPOINT_BUILD, 503, 0.2);
	api_request(ENDPOINT_RUN, 0, 2);
	api_request(ENDPOINT_RUN, 600, 2);	/* not HTTP: error */
	api_request(ENDPOINT_RUN, 100, 0);
	api_request(ENDPOINT_RUN, 599, 0);
	t = metrics_render();
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_LINE(t, "# TYPE api_requests_total counter\n"
		      "api_requests_total{status_code=\"200\",endpoint_type=\"build\",service=\"procmon\"} 2\n"
		      "api_requests_total{status_code=\"503\",endpoint_type=\"build\",service=\"procmon\"} 1\n"
		      "api_requests_total{status_code=\"error\",endpoint_type=\"run\",service=\"procmon\"} 2\n"
		      "api_requests_total{status_code=\"100\",endpoint_type=\"run\",service=\"procmon\"} 1\n"
		      "api_requests_total{status_code=\"599\",endpoint_type=\"run\",service=\"procmon\"} 1\n"
		      "# HELP api_request_duration_seconds ");
	CHECK_LINE(t, "api_request_duration_seconds_bucket{endpoint_type=\"build\",service=\"procmon\",le=\"0.025\"} 1\n"
		      "api_request_duration_seconds_bucket{endpoint_type=\"build\",service=\"procmon\",le=\"0.05\"} 2\n");
	CHECK_LINE(t, "api_request_duration_seconds_count{endpoint_type=\"build\",service=\"procmon\"} 3\n");
	CHECK_LINE(t, "api_request_duration_seconds_count{endpoint_type=\"run\",service=\"procmon\"} 4\n");
	/* Series appear only once they occur: the five above, and two
	 * latency histograms (no snapshot). */
	CHECK_INT(count_of(t, "\napi_requests_total{"), 5);
	CHECK_INT(count_of(t, "\napi_request_duration_seconds_count{"), 2);
	CHECK(strstr(t, "status_code=\"404\"") == NULL);
	free(t);

	api_request(ENDPOINT_SNAPSHOT, 201, 0.01);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_requests_total",
				"status_code=\"200\",endpoint_type=\"build\""), 2, 0);
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "api_requests_total",
				"status_code=\"201\",endpoint_type=\"snapshot\""), 1, 0);
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "api_request_duration_seconds_count",
				"endpoint_type=\"snapshot\""), 1, 0);
	CHECK(metrics_none(SERVICE_PROCMON, "api_requests_total",
			   "status_code=\"404\",endpoint_type=\"build\""));
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_request_duration_seconds_bucket",
				"endpoint_type=\"build\",le=\"0.25\""), 3, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_request_duration_seconds_bucket",
				"endpoint_type=\"build\",le=\"0.1\""), 2, 0);
}

static void test_kernel_and_queue(void)
{
	char *t;

	metrics_reset();
	metrics_add(M_BPF_COLLECTED, 0, 0, 5);
	metrics_add(M_BPF_COLLECTED, 0, 0, 2);
	metrics_add(M_BPF_LOST, 0, 0, 1);
	metrics_set(M_BPF_EXEC_FILTERED, 0, BPF_FILTER_HOSTNAME, 10);
	metrics_set(M_BPF_EXEC_FILTERED, 0, BPF_FILTER_HOSTNAME, 7);	/* absolute, not added */
	metrics_add(M_EVENTS_TRUNCATED, 0, TRUNC_ARGV, 1);
	metrics_add(M_EVENTS_TRUNCATED, 0, TRUNC_ARGV, 1);
	metrics_add(M_EVENTS_TRUNCATED, 0, TRUNC_CWD, 1);
	metrics_inc(M_IDENTITY_INVALID);
	metrics_inc(M_INVALID_UTF8);
	metrics_inc(M_INVALID_UTF8);
	metrics_add(M_QUEUE_DROPPED, SERVICE_PROCMON, 0, 4);
	metrics_set(M_QUEUE_SIZE, SERVICE_PROCMON, 0, 12);
	metrics_set(M_QUEUE_SIZE, SERVICE_FILEMON, 0, 3);
	t = metrics_render();
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_LINE(t, "bpf_events_collected_total{service=\"procmon\"} 7\n");
	CHECK_LINE(t, "bpf_events_lost_total{service=\"procmon\"} 1\n");
	CHECK_LINE(t, "bpf_exec_filtered_total{reason=\"hostname\",service=\"procmon\"} 7\n");
	CHECK_LINE(t, "events_truncated_total{field=\"argv\",service=\"procmon\"} 2\n"
		      "events_truncated_total{field=\"exe\",service=\"procmon\"} 0\n"
		      "events_truncated_total{field=\"cwd\",service=\"procmon\"} 1\n");
	CHECK_LINE(t, "identity_invalid_total{service=\"procmon\"} 1\n");
	CHECK_LINE(t, "invalid_utf8_total{service=\"procmon\"} 2\n");
	CHECK_LINE(t, "queue_events_dropped_total{service=\"procmon\"} 4\n");
	CHECK_LINE(t, "# TYPE queue_size_current gauge\n"
		      "queue_size_current{service=\"procmon\"} 12\n"
		      "queue_size_current{service=\"filemon\"} 3\n");
	free(t);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "events_truncated_total", "field=\"argv\""), 2, 0);
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "queue_size_current", ""), 3, 0);
}

static void test_heartbeats(void)
{
	double before, after, v;
	char *t;

	metrics_reset();
	CHECK_DBL(metrics_loop_heartbeat_age(), -1, 0);
	t = metrics_render();
	CHECK(t && strstr(t, "loop_heartbeat_ts_seconds{") == NULL);
	CHECK(t && strstr(t, "# TYPE loop_heartbeat_ts_seconds gauge\n") != NULL);
	free(t);

	before = metrics_now();
	metrics_heartbeat_loop(SERVICE_PROCMON);
	metrics_heartbeat_poll(SERVICE_FILEMON);
	after = metrics_now();
	v = metrics_sample(SERVICE_PROCMON, "loop_heartbeat_ts_seconds", "");
	CHECK(v >= before && v <= after);
	v = metrics_sample(SERVICE_FILEMON, "poll_heartbeat_ts_seconds", "");
	CHECK(v >= before && v <= after);
	CHECK(before > 1.7e9);	/* wall clock, not monotonic */
	CHECK(metrics_none(SERVICE_FILEMON, "loop_heartbeat_ts_seconds", ""));
	CHECK(metrics_loop_heartbeat_age() >= 0 && metrics_loop_heartbeat_age() < 1);
	t = metrics_render();
	CHECK(t && strstr(t, "loop_heartbeat_ts_seconds{service=\"filemon\"}") == NULL);
	free(t);
}

static void test_active_hosts(void)
{
	metrics_reset();
	CHECK_INT(active_hosts_count(1000), 0);
	active_host_seen("jcode-os-1-2020", 1000);
	active_host_seen("jcode-os-1-2021", 1300);
	active_host_seen("jcode-os-1-2020", 1200);	/* refreshes */
	active_host_seen("", 1300);			/* ignored */
	active_host_seen(NULL, 1300);
	CHECK_INT(active_hosts_count(1300), 2);
	CHECK_INT(active_hosts_count(1799.5), 2);
	CHECK_INT(active_hosts_count(1800), 1);
	CHECK_INT(active_hosts_count(1899.9), 1);
	CHECK_INT(active_hosts_count(1900), 0);
	active_host_seen("jcode-os-1-2020", 1950);
	CHECK_INT(active_hosts_count(1950), 1);

	/* Rendering counts against the wall clock. */
	metrics_reset();
	active_host_seen("jcode-a", metrics_now());
	active_host_seen("jcode-b", metrics_now() - 601);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "active_hosts_current", ""), 1, 0);
}

static void test_active_hosts_bound(void)
{
	char name[32];
	int i;

	metrics_reset();
	for (i = 0; i < 65536 + 10; i++) {
		snprintf(name, sizeof(name), "jcode-h-%d", i);
		active_host_seen(name, 1000);
	}
	CHECK_INT(active_hosts_count(1000), 65536);
	/* Once the old ones expire a newcomer gets in. */
	active_host_seen("jcode-new", 1700);
	CHECK_INT(active_hosts_count(1700), 1);
	metrics_reset();
	CHECK_INT(active_hosts_count(1700), 0);
}

/* The registry: label values by index, the service label each row's
 * scope gives, node-wide series without one, and build_info. */
static void test_registry(void)
{
	char *t;

	metrics_reset();
	metrics_add(M_FILEMON_SKIPPED, 0, SKIP_HARDLINK, 2);
	metrics_add(M_FILEMON_SKIPPED, 0, SKIP_HARDLINK, 1);
	metrics_set(M_FILEMON_UNWATCHED, 0, UNWATCHED_BUDGET, 4);
	metrics_set(M_API_INFLIGHT, SERVICE_FILEMON, 0, 3);
	metrics_add(M_API_RETRIES, ENDPOINT_SNAPSHOT, 0, 5);
	metrics_add(M_API_RETRIES, ENDPOINT_RUN, 0, 6);
	metrics_add(M_SPOOL_CORRUPT_RECORDS, 0, 0, 7);
	metrics_set(M_SPOOL_BYTES, 0, 0, 4096);
	metrics_set(M_FILEMON_PENDING, 0, 0, 0.1);
	t = metrics_render();
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_LINE(t, "# HELP filemon_skipped_total changes not captured, by reason\n"
		      "# TYPE filemon_skipped_total counter\n"
		      "filemon_skipped_total{reason=\"size\",service=\"filemon\"} 0\n"
		      "filemon_skipped_total{reason=\"not_regular\",service=\"filemon\"} 0\n"
		      "filemon_skipped_total{reason=\"unstable\",service=\"filemon\"} 0\n"
		      "filemon_skipped_total{reason=\"symlink\",service=\"filemon\"} 0\n"
		      "filemon_skipped_total{reason=\"hardlink\",service=\"filemon\"} 3\n"
		      "filemon_skipped_total{reason=\"error\",service=\"filemon\"} 0\n");
	CHECK_LINE(t, "filemon_unwatched_dirs_current{reason=\"limit\",service=\"filemon\"} 0\n"
		      "filemon_unwatched_dirs_current{reason=\"budget\",service=\"filemon\"} 4\n");
	CHECK_LINE(t, "api_inflight_current{service=\"procmon\"} 0\n"
		      "api_inflight_current{service=\"filemon\"} 3\n");
	CHECK_LINE(t, "api_retries_total{endpoint_type=\"build\",service=\"procmon\"} 0\n"
		      "api_retries_total{endpoint_type=\"run\",service=\"procmon\"} 6\n"
		      "api_retries_total{endpoint_type=\"snapshot\",service=\"filemon\"} 5\n");
	CHECK_LINE(t, "# TYPE spool_corrupt_records_total counter\n"
		      "spool_corrupt_records_total 7\n");
	CHECK_LINE(t, "spool_bytes_current 4096\n");
	CHECK_LINE(t, "filemon_pending_current{service=\"filemon\"} 0.1\n");
	/* DROP_NONE is no series: the reasons start at no_source. */
	CHECK_LINE(t, "# TYPE pipeline_dropped_total counter\n"
		      "pipeline_dropped_total{reason=\"no_source\",service=\"procmon\"} 0\n");
	CHECK_LINE(t, "build_info{version=\"" JCW_VERSION "\"} 1\n");
	CHECK_INT(count_of(t, "# TYPE api_retries_total"), 1);
	free(t);
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "api_retries_total", "endpoint_type=\"snapshot\""),
		  5, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_corrupt_records_total", ""), 7, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "build_info", "version=\"" JCW_VERSION "\""), 1, 0);
	CHECK(strcmp(metrics_value_name(M_FILEMON_FAILURES, WFAIL_NAME_TOO_LONG), "name_too_long") == 0);
	CHECK(strcmp(metrics_value_name(M_PIPELINE_DROPPED, DROP_NONE), "") == 0);
	CHECK(strcmp(metrics_value_name(M_FILEMON_EVENTS, 0), "") == 0);
}

/* The rendered text without the process_* samples, which read the test's
 * own CPU time and memory and so change between two renders. */
static char *render_fixed(void)
{
	char *t = metrics_render(), *out, *w, *line, *save = NULL;

	if (!t)
		return NULL;
	out = calloc(1, strlen(t) + 2);
	w = out;
	for (line = strtok_r(t, "\n", &save); out && line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "process_", 8) != 0)
			w += sprintf(w, "%s\n", line);
	free(t);
	return out;
}

/* Indexes out of range, wrong kinds and unknown ids change nothing: no
 * caller, and no student's input, can name a series that is not declared. */
static void test_out_of_range(void)
{
	char *before, *after;

	metrics_reset();
	before = render_fixed();
	metrics_add(M_FILEMON_SKIPPED, 0, SKIP__COUNT, 1);
	metrics_add(M_QUEUE_DROPPED, SERVICE__COUNT, 0, 1);
	metrics_add(M_API_RETRIES, ENDPOINT__COUNT, 0, 1);
	metrics_add(M_FILEMON_EVENTS, 1, 0, 1);
	metrics_add(M__COUNT, 0, 0, 1);
	metrics_add((enum metric)-1, 0, 0, 1);
	metrics_observe(M_FILEMON_EVENTS, 0, 1.0);	/* a counter */
	metrics_add(M_PIPELINE_DURATION, 0, 0, 1);	/* a histogram */
	metrics_observe(M_API_DURATION, ENDPOINT__COUNT, 1.0);
	metrics_add(M_API_REQUESTS, ENDPOINT_RUN, metrics_api_status(200) + 500, 1);
	after = render_fixed();
	CHECK(before && after && strcmp(before, after) == 0);
	free(before);
	free(after);
	CHECK_INT(metrics_api_status(99), 0);
	CHECK_INT(metrics_api_status(100), 1);
	CHECK_INT(metrics_api_status(599), 500);
	CHECK_INT(metrics_api_status(600), 0);
}

/* Every family has exactly one HELP and one TYPE, and every sample line
 * belongs to the family declared above it. */
static void test_format_well_formed(void)
{
	char *t, *line, *save = NULL;
	char family[128] = "";
	int samples = 0, bad = 0;

	metrics_reset();
	api_request(ENDPOINT_RUN, 200, 0.1);
	t = metrics_render();
	CHECK(t != NULL);
	if (!t)
		return;
	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			sscanf(line + 7, "%127s", family);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			if (strncmp(line + 7, family, strlen(family)) != 0)
				bad++;
			continue;
		}
		samples++;
		if (strncmp(line, family, strlen(family)) != 0 ||
		    !strchr("{ _", line[strlen(family)]))
			bad++;
	}
	CHECK_INT(bad, 0);
	/* Every series from the start but the sparse ones (api_requests_total
	 * and the API histogram here once each, heartbeats not at all):
	 * pipeline 4 + 17 histogram + 3 dropped + unmatched + 2 evicted + 3
	 * truncated + identity, utf8, active hosts; kernel 11 (own UTS,
	 * filtered for a renamed container) + 3 stderr + probes attached; per service 7
	 * rows x 2 + spool bytes; the API 1 + 17 histogram + 3 dead letters + 3
	 * retries; node-wide 3; filemon 30 (5 of them workspaces); build_info;
	 * process_* 4; stderr capture 3 dropped + bytes held + builds evicted;
	 * trace 3. */
	CHECK_INT(samples, 4 + 17 + 3 + 3 + 3 + 3 + 11 + 4 + 15 + 1 + 17 + 6 + 3 + 30 + 1 + 4 + 5 + 3);
	free(t);
}

/* The agent's own resources, Prometheus' process_* names, read now. */
static void test_process_block(void)
{
	double rss, cpu, fds, start, now = (double)time(NULL);
	int extra = dup(0);

	metrics_reset();
	rss = metrics_sample(SERVICE_PROCMON, "process_resident_memory_bytes", "");
	cpu = metrics_sample(SERVICE_PROCMON, "process_cpu_seconds_total", "");
	fds = metrics_sample(SERVICE_PROCMON, "process_open_fds", "");
	start = metrics_sample(SERVICE_PROCMON, "process_start_time_seconds", "");
	CHECK(rss > 1e6 && rss < 1e9);
	CHECK(cpu >= 0 && cpu < 600);
	CHECK(start > now - 3600 && start <= now + 1);
	/* One more fd is one more in the series. */
	CHECK(fds >= 3);
	close(extra);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "process_open_fds", ""), fds - 1, 0);
}

static void *hammer(void *arg)
{
	int i;

	for (i = 0; i < 100000; i++) {
		metrics_add(M_PIPELINE_EVENTS, 0, PIPELINE_SUCCESS, 1);
		metrics_observe(M_PIPELINE_DURATION, 0, 0.001);
	}
	return NULL;
}

static void test_concurrent_render(void)
{
	pthread_t th;
	int i;

	metrics_reset();
	pthread_create(&th, NULL, hammer, NULL);
	for (i = 0; i < 50; i++)
		free(metrics_render());
	pthread_join(th, NULL);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"success\""),
		  100000, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_duration_seconds_count", ""), 100000, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_duration_seconds_sum", ""), 100, 1e-6);
}

int main(void)
{
	RUN(test_pipeline_counters);
	RUN(test_histogram_buckets);
	RUN(test_api_requests);
	RUN(test_kernel_and_queue);
	RUN(test_heartbeats);
	RUN(test_active_hosts);
	RUN(test_active_hosts_bound);
	RUN(test_registry);
	RUN(test_out_of_range);
	RUN(test_format_well_formed);
	RUN(test_process_block);
	RUN(test_concurrent_render);
	metrics_reset();
	return TEST_DONE();
}
