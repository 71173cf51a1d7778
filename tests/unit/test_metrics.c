/*
 * test_metrics.c - exact Prometheus lines for known updates, histogram
 * buckets, active-host expiry, generic series and their overflow.
 */
#include "metrics_testing.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define CHECK_LINE(text, line) do { CHECK(has_lines(text, line)); \
	if (!has_lines(text, line)) fprintf(stderr, "  missing: %s", line); } while (0)

static void test_pipeline_counters(void)
{
	char *t;

	metrics_reset();
	metrics_pipeline_event(PIPELINE_SUCCESS);
	metrics_pipeline_event(PIPELINE_SUCCESS);
	metrics_pipeline_event(PIPELINE_SUCCESS);
	metrics_pipeline_event(PIPELINE_NONTARGET);
	metrics_pipeline_event((enum pipeline_result)99);	/* ignored */
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
	/* The deprecated reader (test_sender.c only) still says 0. */
	CHECK_DBL(metrics_value(SERVICE_PROCMON, "no_such_metric", ""), 0, 0);

	metrics_reset();
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "pipeline_events_total", "result=\"success\""), 0, 0);
}

static void test_histogram_buckets(void)
{
	char *t;

	metrics_reset();
	/* Exactly representable values so _sum prints exactly. */
	metrics_pipeline_duration(0.0078125);
	metrics_pipeline_duration(0.25);	/* on a bound: le is inclusive */
	metrics_pipeline_duration(0.5);
	metrics_pipeline_duration(1.0);
	metrics_pipeline_duration(16);
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
	metrics_pipeline_duration(0.005);
	metrics_pipeline_duration(0.0051);
	metrics_pipeline_duration(-1);		/* clock went backwards: first bucket */
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
	metrics_api_request(ENDPOINT_BUILD, 200, 0.02);
	metrics_api_request(ENDPOINT_BUILD, 200, 0.03);
	metrics_api_request(ENDPOINT_BUILD, 503, 0.2);
	metrics_api_request(ENDPOINT_RUN, 0, 2);
	metrics_api_request(ENDPOINT_RUN, 600, 2);	/* not HTTP: error */
	metrics_api_request(ENDPOINT_RUN, 100, 0);
	metrics_api_request(ENDPOINT_RUN, 599, 0);
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
	/* Series appear only once they occur. */
	CHECK(strstr(t, "snapshot") == NULL);
	CHECK(strstr(t, "status_code=\"404\"") == NULL);
	free(t);

	metrics_api_request(ENDPOINT_SNAPSHOT, 201, 0.01);
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
	metrics_bpf_collected(5);
	metrics_bpf_collected(2);
	metrics_bpf_lost(1);
	metrics_bpf_host_filtered_set(10);
	metrics_bpf_host_filtered_set(7);	/* absolute, not added */
	metrics_truncated(TRUNC_ARGV);
	metrics_truncated(TRUNC_ARGV);
	metrics_truncated(TRUNC_CWD);
	metrics_identity_invalid();
	metrics_invalid_utf8();
	metrics_invalid_utf8();
	metrics_queue_dropped(4);
	metrics_queue_size(SERVICE_PROCMON, 12);
	metrics_queue_size(SERVICE_FILEMON, 3);
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
	CHECK_INT(metrics_active_hosts(1000), 0);
	metrics_active_host("jcode-os-1-2020", 1000);
	metrics_active_host("jcode-os-1-2021", 1300);
	metrics_active_host("jcode-os-1-2020", 1200);	/* refreshes */
	metrics_active_host("", 1300);			/* ignored */
	metrics_active_host(NULL, 1300);
	CHECK_INT(metrics_active_hosts(1300), 2);
	CHECK_INT(metrics_active_hosts(1799.5), 2);
	CHECK_INT(metrics_active_hosts(1800), 1);
	CHECK_INT(metrics_active_hosts(1899.9), 1);
	CHECK_INT(metrics_active_hosts(1900), 0);
	metrics_active_host("jcode-os-1-2020", 1950);
	CHECK_INT(metrics_active_hosts(1950), 1);

	/* Rendering counts against the wall clock. */
	metrics_reset();
	metrics_active_host("jcode-a", metrics_now());
	metrics_active_host("jcode-b", metrics_now() - 601);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "active_hosts_current", ""), 1, 0);
}

static void test_active_hosts_bound(void)
{
	char name[32];
	int i;

	metrics_reset();
	for (i = 0; i < 65536 + 10; i++) {
		snprintf(name, sizeof(name), "jcode-h-%d", i);
		metrics_active_host(name, 1000);
	}
	CHECK_INT(metrics_active_hosts(1000), 65536);
	/* Once the old ones expire a newcomer gets in. */
	metrics_active_host("jcode-new", 1700);
	CHECK_INT(metrics_active_hosts(1700), 1);
	metrics_reset();
	CHECK_INT(metrics_active_hosts(1700), 0);
}

static void test_generic(void)
{
	char *t;

	metrics_reset();
	metrics_describe("spool_files_total", "counter", "Files in the spool.");
	metrics_describe("spool_files_total", "gauge", "Ignored: first wins.");
	metrics_counter_add(SERVICE_PROCMON, "spool_files_total", "", 2);
	metrics_gauge_set(SERVICE_FILEMON, "watch_dirs_current", "", 42.5);
	metrics_counter_add(SERVICE_FILEMON, "spool_files_total", "kind=\"x\"", 1);
	metrics_counter_add(SERVICE_PROCMON, "spool_files_total", "", 3);
	metrics_gauge_set(SERVICE_PROCMON, "spool_files_total", "", 99);	/* wrong kind */
	metrics_gauge_set(SERVICE_FILEMON, "watch_dirs_current", "", 0.1);
	t = metrics_render();
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_LINE(t, "# HELP spool_files_total Files in the spool.\n"
		      "# TYPE spool_files_total counter\n"
		      "spool_files_total{service=\"procmon\"} 5\n"
		      "spool_files_total{kind=\"x\",service=\"filemon\"} 1\n"
		      "# HELP watch_dirs_current watch_dirs_current\n"
		      "# TYPE watch_dirs_current gauge\n"
		      "watch_dirs_current{service=\"filemon\"} 0.1\n");
	CHECK_INT(count_of(t, "# TYPE spool_files_total"), 1);
	CHECK_LINE(t, "metrics_overflow_total{service=\"procmon\"} 0\n");
	CHECK_LINE(t, "build_info{version=\"" JCW_VERSION "\"} 1\n");
	free(t);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_files_total", ""), 5, 0);
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "spool_files_total", "kind=\"x\""), 1, 0);
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "watch_dirs_current", ""), 0.1, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "build_info", "version=\"" JCW_VERSION "\""), 1, 0);
}

static void test_generic_overflow(void)
{
	static char labels[130][24];
	int i;

	metrics_reset();
	for (i = 0; i < 130; i++) {
		snprintf(labels[i], sizeof(labels[i]), "n=\"%d\"", i);
		metrics_counter_add(SERVICE_PROCMON, "many_total", labels[i], 1);
	}
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "metrics_overflow_total", ""), 2, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "many_total", "n=\"127\""), 1, 0);
	CHECK(metrics_none(SERVICE_PROCMON, "many_total", "n=\"128\""));
	/* Known series still update when the table is full. */
	metrics_counter_add(SERVICE_PROCMON, "many_total", labels[0], 4);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "many_total", "n=\"0\""), 5, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "metrics_overflow_total", ""), 2, 0);
}

/* Every family has exactly one HELP and one TYPE, and every sample line
 * belongs to the family declared above it. */
static void test_format_well_formed(void)
{
	char *t, *line, *save = NULL;
	char family[128] = "";
	int samples = 0, bad = 0;

	metrics_reset();
	metrics_api_request(ENDPOINT_RUN, 200, 0.1);
	metrics_counter_add(SERVICE_PROCMON, "x_total", "", 1);
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
		if (strncmp(line, family, strlen(family)) != 0 || !strchr(line, '}'))
			bad++;
	}
	CHECK_INT(bad, 0);
	/* 4 pipeline + 17 histogram + 8 kernel + 3 queue + 1 api + 17 api
	 * histogram + 1 active + 1 generic + overflow + build_info */
	CHECK_INT(samples, 4 + 17 + 8 + 3 + 1 + 17 + 1 + 1 + 1 + 1);
	free(t);
}

static void *hammer(void *arg)
{
	int i;

	for (i = 0; i < 100000; i++) {
		metrics_pipeline_event(PIPELINE_SUCCESS);
		metrics_pipeline_duration(0.001);
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
	RUN(test_generic);
	RUN(test_generic_overflow);
	RUN(test_format_well_formed);
	RUN(test_concurrent_render);
	metrics_reset();
	return TEST_DONE();
}
