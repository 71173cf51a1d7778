/*
 * metrics.h - every series the agent exports, and their Prometheus text.
 *
 * Each metric is declared once, as a row of the table in metrics.c (name,
 * type, labels, help), the way config.c declares settings: a new metric is
 * a new enum value here and a new row there.  Callers update a series by
 * its enum and label indexes, never by a string, so a misspelt name does
 * not compile.
 *
 * Names follow upstream procmon so existing dashboards keep working; a
 * series carries service="procmon" or service="filemon" for the traffic it
 * counts (a few node-wide series, such as spool corruption, carry none).
 * Every series exists from start-up with the value 0, except the sparse
 * ones named below, so an alert on a failure counter can fire before the
 * first failure.  All updates are lock-free atomics: the event loop writes,
 * libmicrohttpd's thread reads (see metrics_server.h).
 */
#ifndef JCW_METRICS_H
#define JCW_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "domain.h"

enum metric {
	/* judge/pipeline.c */
	M_PIPELINE_EVENTS,		/* value: enum pipeline_result */
	M_PIPELINE_DURATION,		/* histogram */
	M_PIPELINE_DROPPED,		/* value: enum drop_reason */
	M_PIPELINE_UNMATCHED,		/* exits whose exec was not kept (or never seen) */
	M_PIPELINE_EVICTED,		/* value: enum evict_reason */
	M_EVENTS_TRUNCATED,		/* value: enum trunc_field */
	M_IDENTITY_INVALID,
	M_INVALID_UTF8,
	M_ACTIVE_HOSTS,			/* read from active_hosts.c at render */
	M_CAPTURE_DROPPED,		/* value: enum capture_drop */
	M_CAPTURE_BYTES,		/* stderr held for followed processes */
	M_BUILDS_EVICTED,		/* built_by outputs forgotten: table full */
	/* kernel/collector.c */
	M_BPF_COLLECTED,
	M_BPF_LOST,
	M_BPF_EXEC_FILTERED,		/* value: enum bpf_filter_reason */
	M_BPF_EXECS,
	M_BPF_TRACKED,
	M_BPF_MAP_FULL,
	M_BPF_EMITTED,
	M_BPF_STALE,
	M_BPF_OUTPUT_FAILED,
	M_BPF_STDERR_RECORDS,		/* issue #12: the kernel's stderr capture */
	M_BPF_STDERR_CUT,
	M_BPF_STDERR_DROPPED,
	M_BPF_EXEC_OWN_UTS,
	M_BPF_PROBES,
	/* delivery/: dim = service */
	M_QUEUE_DROPPED,
	M_QUEUE_SIZE,
	M_API_INFLIGHT,
	M_API_REJECTED,
	M_SPOOL_RECORDS,
	M_SPOOL_BYTES,
	M_SPOOL_OLDEST_AGE,
	M_SPOOL_DROPPED,
	/* delivery/: dim = endpoint, service from the endpoint */
	M_API_REQUESTS,			/* value: api_status_index(); sparse */
	M_API_DURATION,			/* histogram; sparse */
	M_API_DEAD_LETTERS,
	M_API_RETRIES,
	/* delivery/: node-wide */
	M_SPOOL_CORRUPT_RECORDS,
	M_SPOOL_CORRUPT_REGIONS,
	M_DEAD_LETTER_ROTATIONS,
	/* filemon/ */
	M_FILEMON_EVENTS,
	M_FILEMON_SNAPSHOTS,
	M_FILEMON_SKIPPED,		/* value: enum skip_reason */
	M_FILEMON_FILTERED,
	M_FILEMON_OVERFLOWS,
	M_FILEMON_WATCH_LIMIT,
	M_FILEMON_WATCH_BUDGET,
	M_FILEMON_UNWATCHED,		/* value: enum unwatched_reason */
	M_FILEMON_WATCHES,
	M_FILEMON_PENDING,
	M_FILEMON_FAILURES,		/* value: enum write_failure */
	M_FILEMON_RETRIES,
	M_FILEMON_BASE_WRITABLE,
	M_FILEMON_WORKSPACES,		/* watched now (filemon/scope.h) */
	M_FILEMON_WS_ADDED,
	M_FILEMON_WS_DROPPED,
	M_FILEMON_WS_REFUSED,		/* value: enum ws_refusal */
	/* jcode-watcher trace */
	M_TRACE_CLIENTS,
	M_TRACE_DROPPED,
	M_TRACE_REFUSED,
	/* liveness: dim = service; sparse (no series before the first beat) */
	M_POLL_HEARTBEAT,
	M_LOOP_HEARTBEAT,
	M_BUILD_INFO,			/* build_info{version=...} 1 */
	/* the agent itself, read from /proc/self at render */
	M_PROCESS_RSS,
	M_PROCESS_CPU,
	M_PROCESS_FDS,
	M_PROCESS_START,
	M__COUNT
};

/* pipeline_events_total{result=...}: what became of each process record. */
enum pipeline_result {
	PIPELINE_SUCCESS,   /* an event was built and handed to the sender */
	PIPELINE_FAILURE,   /* decoding or payload building failed */
	PIPELINE_FILTERED,  /* a target (compiler, python, user binary) outside any homework dir */
	PIPELINE_NONTARGET, /* anything else: ls, node, cc1, a malformed hostname... */
	PIPELINE__COUNT
};

/* pipeline_dropped_total{reason=...}: targets not reported, and why. */
enum drop_reason { DROP_NONE, DROP_NO_SOURCE, DROP_OUTSIDE, DROP_OTHER_STUDENT, DROP__COUNT };

/* pipeline_evicted_total{reason=...}: followed processes dropped unreported. */
enum evict_reason { EVICT_FULL, EVICT_STALE, EVICT__COUNT };

/* events_truncated_total{field=...}: the kernel hit a limit and said so. */
enum trunc_field { TRUNC_ARGV, TRUNC_EXE, TRUNC_CWD, TRUNC__COUNT };

/* capture_dropped_total{reason=...}: stderr records not kept whole. */
enum capture_drop { CAPTURE_DROP_NOT_FOLLOWED, CAPTURE_DROP_BUDGET, CAPTURE_DROP_CUT,
		    CAPTURE_DROP__COUNT };

/* bpf_exec_filtered_total{reason=...}: execs the kernel skipped. */
enum bpf_filter_reason { BPF_FILTER_HOSTNAME, BPF_FILTER_CONTAINER, BPF_FILTER__COUNT };

/* filemon_skipped_total{reason=...}: changes not captured. */
enum skip_reason {
	SKIP_SIZE, SKIP_NOT_REGULAR, SKIP_UNSTABLE, SKIP_SYMLINK, SKIP_HARDLINK, SKIP_ERROR,
	SKIP__COUNT
};

/* filemon_unwatched_dirs_current{reason=...}. */
enum unwatched_reason { UNWATCHED_LIMIT, UNWATCHED_BUDGET, UNWATCHED__COUNT };

/* filemon_workspaces_refused_total{reason=...}: a student seen on this
 * node whose workspace is not watched. */
enum ws_refusal { WS_REFUSED_LIMIT, WS_REFUSED_MISSING, WS_REFUSED__COUNT };

/* filemon_snapshot_failures_total{reason=...}: see write_failure_of(). */
enum write_failure {
	WFAIL_NO_SPACE, WFAIL_PERMISSION, WFAIL_READ_ONLY, WFAIL_MISSING, WFAIL_IO,
	WFAIL_NAME_TOO_LONG, WFAIL_OTHER, WFAIL__COUNT
};

/* The label text of a value ("no_space"), for logs; "" when out of range. */
const char *metrics_value_name(enum metric id, unsigned value);

/* Reset every series to zero (start-up and tests). */
void metrics_reset(void);

/*
 * Updates.  dim is the service (SERVICE_*) for the rows declared per
 * service, the endpoint (ENDPOINT_*) for those declared per endpoint, else
 * 0; value is the index of the label value (the enum named above), else 0.
 * An index out of range is ignored: students cannot name series.
 */
void metrics_add(enum metric id, unsigned dim, unsigned value, unsigned long long n);
/* Gauges; also counters that mirror an absolute kernel count. */
void metrics_set(enum metric id, unsigned dim, unsigned value, double v);
void metrics_observe(enum metric id, unsigned dim, double seconds);

static inline void metrics_inc(enum metric id)
{
	metrics_add(id, 0, 0, 1);
}

/* api_requests_total's status_code value for an HTTP status: 0 ("error",
 * no answer: refused, timed out, or anything outside 100..599), else
 * 1 + status - 100. */
unsigned metrics_api_status(int status_code);

/* Heartbeats: poll = the perf-buffer / inotify reader ran, loop = the event
 * loop turned.  Stored as wall-clock seconds. */
void metrics_heartbeat_poll(enum service svc);
void metrics_heartbeat_loop(enum service svc);
/* Seconds since the last loop heartbeat of any service (monotonic clock,
 * so a wall-clock step cannot fake staleness), for /healthz; -1 before the
 * first heartbeat. */
double metrics_loop_heartbeat_age(void);

/* Wall-clock seconds (CLOCK_REALTIME): the time base of the heartbeat
 * gauges and of active_hosts.h. */
double metrics_now(void);

/* Render everything in Prometheus text exposition format 0.0.4.
 * Returns a malloc'd NUL-terminated string, or NULL on allocation failure. */
char *metrics_render(void);

#endif
