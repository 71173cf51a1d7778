/*
 * metrics.h - the agent's counters, gauges and histograms, and their
 * Prometheus text rendering.
 *
 * Names follow upstream procmon so existing dashboards keep working; every
 * series carries service="procmon" or service="filemon" as upstream did.
 * All updates are lock-free atomics: the event loop writes, libmicrohttpd's
 * thread reads (see metrics_server.h).
 */
#ifndef JCW_METRICS_H
#define JCW_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "domain.h"

/* pipeline_events_total{result=...}: what became of each process record. */
enum pipeline_result {
	PIPELINE_SUCCESS,   /* an event was built and handed to the sender */
	PIPELINE_FAILURE,   /* decoding or payload building failed */
	PIPELINE_FILTERED,  /* a target (compiler, python, user binary) outside any homework dir */
	PIPELINE_NONTARGET, /* anything else: ls, node, cc1, a malformed hostname... */
	PIPELINE__COUNT
};

/* events_truncated_total{field=...}: the kernel hit a limit and said so. */
enum trunc_field { TRUNC_ARGV, TRUNC_EXE, TRUNC_CWD, TRUNC__COUNT };

/* Reset everything to zero (start-up and tests). */
void metrics_reset(void);

void metrics_pipeline_event(enum pipeline_result result);
void metrics_pipeline_duration(double seconds);

/* Kernel side. */
void metrics_bpf_collected(unsigned long long n);
void metrics_bpf_lost(unsigned long long n);
/* Execs the kernel skipped because the UTS hostname lacked the prefix
 * (read from the BPF stats map; absolute value, not an increment). */
void metrics_bpf_host_filtered_set(unsigned long long total);
void metrics_truncated(enum trunc_field field);
void metrics_identity_invalid(void);
void metrics_invalid_utf8(void);

/* Sender queue. */
void metrics_queue_dropped(unsigned long long n);
void metrics_queue_size(enum service svc, long long n);

/* api_requests_total{status_code,endpoint_type} and the duration histogram.
 * status_code 0 (or anything outside 100..599) means no HTTP status
 * (connection refused, timeout): rendered as status_code="error".  Series
 * appear once they occur; ENDPOINT_SNAPSHOT series carry service="filemon". */
void metrics_api_request(enum endpoint_type ep, int status_code, double seconds);

/* Heartbeats: poll = the perf-buffer / inotify reader ran, loop = the event
 * loop turned.  Stored as wall-clock seconds. */
void metrics_heartbeat_poll(enum service svc);
void metrics_heartbeat_loop(enum service svc);
/* Seconds since the last loop heartbeat of any service (monotonic clock,
 * so a wall-clock step cannot fake staleness), for /healthz; -1 before the
 * first heartbeat. */
double metrics_loop_heartbeat_age(void);

/* Wall-clock seconds (CLOCK_REALTIME): the time base of the heartbeat
 * gauges and of now_s below. */
double metrics_now(void);

/* active_hosts_current: distinct hostnames with a build/run in the last
 * METRICS_ACTIVE_WINDOW_S seconds (now_s - last_seen < window).  now_s is
 * metrics_now() time: rendering counts against metrics_now().  At most
 * 65536 hosts are tracked; beyond that, new hosts wait for old ones to
 * expire. */
#define METRICS_ACTIVE_WINDOW_S 600.0
void metrics_active_host(const char *hostname, double now_s);
long long metrics_active_hosts(double now_s);

/* Generic named counters for stages that come later (filemon, spool):
 * name must be a string literal, labels a literal like "reason=\"x\"" or "".
 * Up to 128 distinct (name, labels) pairs; beyond that the update is dropped
 * and counted in metrics_overflow_total. */
void metrics_counter_add(enum service svc, const char *name, const char *labels,
			 unsigned long long n);
void metrics_gauge_set(enum service svc, const char *name, const char *labels, double v);
/* HELP text for a generic metric (optional, literal; type NULL = from usage).
 * The first description of a name wins; metrics_reset() keeps them. */
void metrics_describe(const char *name, const char *type, const char *help);

/* Deprecated, for tests only: metrics_sample() (metrics_testing.h), but 0
 * when the series does not exist, so a misspelt name reads as 0.  Kept only
 * until tests/unit/test_sender.c moves to metrics_sample(); then remove. */
double metrics_value(enum service svc, const char *name, const char *labels);

/* Render everything in Prometheus text exposition format 0.0.4.
 * Returns a malloc'd NUL-terminated string, or NULL on allocation failure. */
char *metrics_render(void);

#endif
