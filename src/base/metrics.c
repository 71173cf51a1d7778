/*
 * metrics.c - the registry of every series, and its Prometheus rendering.
 *
 * The table metrics[] below is the one place a metric is declared.  Its
 * series are slots of two static arrays, laid out once before main() (a
 * row's slots: one per dimension, service or endpoint, times one per label
 * value), so an update is an index computation and a relaxed atomic, and
 * nothing is ever allocated or locked on the event loop.  libmicrohttpd's
 * thread renders: a scrape may see a histogram's _sum one observation ahead
 * of its buckets, which Prometheus tolerates.  Doubles live in 64-bit
 * atomics as their bit patterns so updates stay lock-free everywhere.
 */
#define _GNU_SOURCE		/* open_memstream */
#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "active_hosts.h"
#include "loop.h"
#include "metrics_testing.h"
#include "version.h"

_Static_assert(sizeof(double) == sizeof(unsigned long long), "double must be 64 bits");

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* prometheus_client's default buckets, le spelled as Python prints them so
 * dashboards that match on le="1.0" keep working. */
#define NBUCKETS 15
static const double bucket_bounds[NBUCKETS - 1] = {
	0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
};
static const char *const bucket_le[NBUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75",
	"1.0", "2.5", "5.0", "7.5", "10.0", "+Inf",
};

/* api_requests_total's status_code: 0 is "error", 1.. are codes 100..599. */
#define API_CODE_MIN 100
#define API_CODE_MAX 599
#define API_CODES (API_CODE_MAX - API_CODE_MIN + 2)

enum kind { COUNTER, GAUGE, HISTOGRAM };

/* Which series a row has, and the service label each carries. */
enum scope {
	PROCMON,	/* one series, service="procmon" */
	FILEMON,	/* one series, service="filemon" */
	PER_SERVICE,	/* dim = enum service */
	PER_ENDPOINT,	/* dim = enum endpoint_type: endpoint_type="build", and
			 * the service whose traffic that is */
	NODE,		/* one series, no service label: shared by both */
};

#define SPARSE	 0x1	/* a series is rendered only once it is non-zero */
#define COMPUTED 0x2	/* the value is read at render time (active hosts) */

struct metric_def {
	const char *name;
	enum kind kind;
	enum scope scope;
	unsigned flags;
	const char *label;		/* label name, or NULL */
	const char *const *values;	/* its values by index; NULL = not a series */
	unsigned nvalues;		/* 1 without a label */
	const char *help;
	double (*read)(void);		/* COMPUTED: the value, read at render */
};

static double active_hosts_now(void);
static double process_rss(void);
static double process_cpu(void);
static double process_fds(void);
static double process_start(void);

static const char *const result_values[PIPELINE__COUNT] = {
	"success", "failure", "filtered", "nontarget",
};
static const char *const drop_values[DROP__COUNT] = {
	[DROP_NO_SOURCE] = "no_source", [DROP_OUTSIDE] = "outside_homework",
	[DROP_OTHER_STUDENT] = "other_student",
};
static const char *const trunc_values[TRUNC__COUNT] = { "argv", "exe", "cwd" };
static const char *const evict_values[EVICT__COUNT] = { "full", "stale" };
static const char *const bpf_filter_values[BPF_FILTER__COUNT] = { "hostname", "container" };
static const char *const capture_drop_values[CAPTURE_DROP__COUNT] = {
	"not_followed", "budget", "cut",
};
static const char *const skip_values[SKIP__COUNT] = {
	"size", "not_regular", "unstable", "symlink", "hardlink", "error",
};
static const char *const unwatched_values[UNWATCHED__COUNT] = { "limit", "budget" };
static const char *const ws_refusal_values[WS_REFUSED__COUNT] = { "limit", "missing" };
static const char *const wfail_values[WFAIL__COUNT] = {
	"no_space", "permission", "read_only", "missing", "io", "name_too_long", "other",
};
static const char *const version_values[] = { JCW_VERSION };
/* Filled before main(): "error", "100", ..., "599". */
static char status_text[API_CODES][8];
static const char *status_values[API_CODES];

static const char *const service_names[SERVICE__COUNT] = { "procmon", "filemon" };
static const char *const endpoint_names[ENDPOINT__COUNT] = { "build", "run", "snapshot" };

#define PLAIN(id, n, k, s, h) [id] = { n, k, s, 0, NULL, NULL, 1, h }
#define SPARSE_PLAIN(id, n, k, s, h) [id] = { n, k, s, SPARSE, NULL, NULL, 1, h }
#define LABELLED(id, n, k, s, l, v, h) [id] = { n, k, s, 0, l, v, ARRAY_SIZE(v), h }

static const struct metric_def metrics[M__COUNT] = {
	LABELLED(M_PIPELINE_EVENTS, "pipeline_events_total", COUNTER, PROCMON,
		 "result", result_values,
		 "Process records by outcome (success, failure, filtered, nontarget)."),
	PLAIN(M_PIPELINE_DURATION, "pipeline_duration_seconds", HISTOGRAM, PROCMON,
	      "Time to process one record, from exit to hand-off."),
	LABELLED(M_PIPELINE_DROPPED, "pipeline_dropped_total", COUNTER, PROCMON,
		 "reason", drop_values,
		 "compilers, Python runs and student programs not reported, by reason"),
	PLAIN(M_PIPELINE_UNMATCHED, "pipeline_unmatched_exits_total", COUNTER, PROCMON,
	      "Exit records whose exec record was not kept: not a target, or never seen "
	      "(agent started later, record lost)."),
	LABELLED(M_PIPELINE_EVICTED, "pipeline_evicted_total", COUNTER, PROCMON,
		 "reason", evict_values,
		 "Followed processes dropped before their exit: MAX_PROCESSES reached (full), "
		 "or their pid exec'd anew (stale)."),
	LABELLED(M_EVENTS_TRUNCATED, "events_truncated_total", COUNTER, PROCMON,
		 "field", trunc_values, "Events where the kernel hit a size limit, by field."),
	PLAIN(M_IDENTITY_INVALID, "identity_invalid_total", COUNTER, PROCMON,
	      "Events whose hostname did not yield a student identity."),
	PLAIN(M_INVALID_UTF8, "invalid_utf8_total", COUNTER, PROCMON,
	      "Strings that were not valid UTF-8."),
	[M_ACTIVE_HOSTS] = { "active_hosts_current", GAUGE, PROCMON, COMPUTED, NULL, NULL, 1,
			     "Hosts with a build or run in the last 10 minutes.", active_hosts_now },
	LABELLED(M_CAPTURE_DROPPED, "capture_dropped_total", COUNTER, PROCMON,
		 "reason", capture_drop_values,
		 "stderr records not kept whole: for a process not followed, past a budget "
		 "(the kernel's per process, the agent's node-wide), or cut (a write over 4 KiB, "
		 "a build's stderr past DIAG_MAX_BYTES)."),
	PLAIN(M_CAPTURE_BYTES, "capture_bytes_current", GAUGE, PROCMON,
	      "Bytes of stderr held for followed processes until their exit."),
	PLAIN(M_BUILDS_EVICTED, "builds_evicted_total", COUNTER, PROCMON,
	      "Build outputs forgotten for built_by because the table was full."),

	PLAIN(M_BPF_COLLECTED, "bpf_events_collected_total", COUNTER, PROCMON,
	      "Records read from the ring (or perf) buffer."),
	PLAIN(M_BPF_LOST, "bpf_events_lost_total", COUNTER, PROCMON,
	      "Records the perf buffer dropped (perf buffer only; see bpf_output_failed_total)."),
	LABELLED(M_BPF_EXEC_FILTERED, "bpf_exec_filtered_total", COUNTER, PROCMON,
		 "reason", bpf_filter_values, "Execs skipped in the kernel, by reason: a hostname "
		 "without the prefix, or a container whose init renamed it (or is gone)."),
	PLAIN(M_BPF_EXECS, "bpf_execs_total", COUNTER, PROCMON,
	      "Execs the probe ran for, node-wide."),
	PLAIN(M_BPF_TRACKED, "bpf_processes_tracked_total", COUNTER, PROCMON,
	      "Execs in student containers reported by the kernel."),
	PLAIN(M_BPF_MAP_FULL, "bpf_map_full_total", COUNTER, PROCMON,
	      "Execs whose process the kernel could not note (MAX_PROCESSES live at once)."),
	PLAIN(M_BPF_EMITTED, "bpf_processes_emitted_total", COUNTER, PROCMON,
	      "Processes reported at the exit of their last task."),
	PLAIN(M_BPF_STALE, "bpf_processes_stale_total", COUNTER, PROCMON,
	      "Noted processes dropped because their pid had been reused."),
	PLAIN(M_BPF_OUTPUT_FAILED, "bpf_output_failed_total", COUNTER, PROCMON,
	      "Records the kernel could not write: the ring (or perf) buffer was full."),
	PLAIN(M_BPF_STDERR_RECORDS, "bpf_stderr_records_total", COUNTER, PROCMON,
	      "stderr records the kernel sent for marked tasks (CAPTURE)."),
	PLAIN(M_BPF_STDERR_CUT, "bpf_stderr_cut_total", COUNTER, PROCMON,
	      "Writes to stderr longer than the kernel keeps (4 KiB a write, 1 KiB an iovec)."),
	PLAIN(M_BPF_STDERR_DROPPED, "bpf_stderr_dropped_total", COUNTER, PROCMON,
	      "Writes to stderr the kernel dropped: a capture root's budget spent, its root "
	      "gone, or the ring full."),
	PLAIN(M_BPF_EXEC_OWN_UTS, "bpf_exec_own_uts_total", COUNTER, PROCMON,
	      "Execs in a student container by a process with a hostname (a UTS namespace) "
	      "of its own, as `unshare --uts` gives: reported under the container's."),
	PLAIN(M_BPF_PROBES, "bpf_probes_attached", GAUGE, PROCMON,
	      "Tracepoints attached: 3, and 4 more (write and writev, entry and exit) when "
	      "CAPTURE is set."),

	PLAIN(M_QUEUE_DROPPED, "queue_events_dropped_total", COUNTER, PER_SERVICE,
	      "Events dropped because the send queue was full."),
	PLAIN(M_QUEUE_SIZE, "queue_size_current", GAUGE, PER_SERVICE,
	      "Events waiting to be sent."),
	PLAIN(M_API_INFLIGHT, "api_inflight_current", GAUGE, PER_SERVICE,
	      "Requests in flight"),
	PLAIN(M_API_REJECTED, "api_events_rejected_total", COUNTER, PER_SERVICE,
	      "Records the API refused with a non-retryable status (4xx)"),
	PLAIN(M_SPOOL_RECORDS, "spool_records_current", GAUGE, PER_SERVICE,
	      "Records in the spool not yet acknowledged by the API"),
	PLAIN(M_SPOOL_BYTES, "spool_bytes_current", GAUGE, NODE,
	      "Bytes of spool segment files on disk"),
	PLAIN(M_SPOOL_OLDEST_AGE, "spool_oldest_age_seconds", GAUGE, PER_SERVICE,
	      "Age of the oldest unacknowledged spool record"),
	PLAIN(M_SPOOL_DROPPED, "spool_dropped_total", COUNTER, PER_SERVICE,
	      "Unacknowledged records dropped because the spool was full"),

	[M_API_REQUESTS] = { "api_requests_total", COUNTER, PER_ENDPOINT, SPARSE,
			     "status_code", status_values, API_CODES,
			     "API requests by HTTP status (error: no response) and endpoint." },
	SPARSE_PLAIN(M_API_DURATION, "api_request_duration_seconds", HISTOGRAM, PER_ENDPOINT,
		     "API request latency by endpoint."),
	PLAIN(M_API_DEAD_LETTERS, "api_dead_letters_total", COUNTER, PER_ENDPOINT,
	      "Rejected records written to the spool's dead-letter file"),
	PLAIN(M_API_RETRIES, "api_retries_total", COUNTER, PER_ENDPOINT,
	      "Requests that failed transiently and were scheduled again"),

	PLAIN(M_SPOOL_CORRUPT_RECORDS, "spool_corrupt_records_total", COUNTER, NODE,
	      "Torn or corrupt spool records skipped at start-up or read"),
	PLAIN(M_SPOOL_CORRUPT_REGIONS, "spool_corrupt_regions_total", COUNTER, NODE,
	      "Corrupt byte ranges of spool segments skipped at start-up or read"),
	PLAIN(M_DEAD_LETTER_ROTATIONS, "api_dead_letter_rotations_total", COUNTER, NODE,
	      "Times dead-letter.jsonl reached its bound and replaced dead-letter.jsonl.1"),

	PLAIN(M_FILEMON_EVENTS, "filemon_events_total", COUNTER, FILEMON,
	      "inotify events read"),
	PLAIN(M_FILEMON_SNAPSHOTS, "filemon_snapshots_total", COUNTER, FILEMON,
	      "snapshot files written"),
	LABELLED(M_FILEMON_SKIPPED, "filemon_skipped_total", COUNTER, FILEMON,
		 "reason", skip_values, "changes not captured, by reason"),
	PLAIN(M_FILEMON_FILTERED, "filemon_filtered_total", COUNTER, FILEMON,
	      "events on paths that are not captured source files"),
	PLAIN(M_FILEMON_OVERFLOWS, "filemon_queue_overflows_total", COUNTER, FILEMON,
	      "inotify queue overflows (each triggers a rescan)"),
	PLAIN(M_FILEMON_WATCH_LIMIT, "filemon_watch_limit_total", COUNTER, FILEMON,
	      "directories left unwatched: fs.inotify.max_user_watches reached"),
	PLAIN(M_FILEMON_WATCH_BUDGET, "filemon_watch_budget_total", COUNTER, FILEMON,
	      "directories left unwatched: their student's WATCHES_PER_STUDENT reached"),
	LABELLED(M_FILEMON_UNWATCHED, "filemon_unwatched_dirs_current", GAUGE, FILEMON,
		 "reason", unwatched_values,
		 "wanted directories not watched yet (retried), by reason"),
	PLAIN(M_FILEMON_WATCHES, "filemon_watches_current", GAUGE, FILEMON,
	      "inotify watches held"),
	PLAIN(M_FILEMON_PENDING, "filemon_pending_current", GAUGE, FILEMON,
	      "paths waiting in the debounce table"),
	LABELLED(M_FILEMON_FAILURES, "filemon_snapshot_failures_total", COUNTER, FILEMON,
		 "reason", wfail_values,
		 "snapshot writes that failed, by cause (each is retried)"),
	PLAIN(M_FILEMON_RETRIES, "filemon_snapshot_retries_total", COUNTER, FILEMON,
	      "changes put back for a retry after their snapshot write failed"),
	PLAIN(M_FILEMON_BASE_WRITABLE, "filemon_snapshot_base_writable", GAUGE, FILEMON,
	      "1 while SNAPSHOT_BASE takes writes, else 0"),
	PLAIN(M_FILEMON_WORKSPACES, "filemon_workspaces_current", GAUGE, FILEMON,
	      "student workspaces this node watches (0 with WATCH_ALL)"),
	PLAIN(M_FILEMON_WS_ADDED, "filemon_workspaces_added_total", COUNTER, FILEMON,
	      "workspaces watched since their student's container was seen on this node"),
	PLAIN(M_FILEMON_WS_DROPPED, "filemon_workspaces_dropped_total", COUNTER, FILEMON,
	      "workspaces no longer watched: their student gone from this node for "
	      "WORKSPACE_IDLE_SECONDS"),
	LABELLED(M_FILEMON_WS_REFUSED, "filemon_workspaces_refused_total", COUNTER, FILEMON,
		 "reason", ws_refusal_values,
		 "execs of student containers whose workspace is not watched: MAX_WORKSPACES "
		 "reached, or no such directory below WATCH_ROOT"),

	PLAIN(M_TRACE_CLIENTS, "trace_clients_current", GAUGE, NODE,
	      "jcode-watcher trace clients connected to TRACE_SOCKET"),
	PLAIN(M_TRACE_DROPPED, "trace_dropped_total", COUNTER, NODE,
	      "trace lines dropped for a client that fell behind (its buffer was full)"),
	PLAIN(M_TRACE_REFUSED, "trace_clients_refused_total", COUNTER, NODE,
	      "trace clients refused: TRACE_MAX_CLIENTS already connected"),

	SPARSE_PLAIN(M_POLL_HEARTBEAT, "poll_heartbeat_ts_seconds", GAUGE, PER_SERVICE,
		     "Wall-clock time the event source was last read."),
	SPARSE_PLAIN(M_LOOP_HEARTBEAT, "loop_heartbeat_ts_seconds", GAUGE, PER_SERVICE,
		     "Wall-clock time the event loop last turned."),
	LABELLED(M_BUILD_INFO, "build_info", GAUGE, NODE, "version", version_values,
		 "The running agent's version."),
	[M_PROCESS_RSS] = { "process_resident_memory_bytes", GAUGE, NODE, COMPUTED, NULL, NULL, 1,
			    "Resident memory size in bytes.", process_rss },
	[M_PROCESS_CPU] = { "process_cpu_seconds_total", COUNTER, NODE, COMPUTED, NULL, NULL, 1,
			    "Total user and system CPU time spent in seconds.", process_cpu },
	[M_PROCESS_FDS] = { "process_open_fds", GAUGE, NODE, COMPUTED, NULL, NULL, 1,
			    "Number of open file descriptors.", process_fds },
	[M_PROCESS_START] = { "process_start_time_seconds", GAUGE, NODE, COMPUTED, NULL, NULL, 1,
			      "Start time of the process since unix epoch in seconds.",
			      process_start },
};

/* ---- computed series ---- */

static double active_hosts_now(void)
{
	return (double)active_hosts_count(metrics_now());
}

/* Field k (1-based, as proc(5) numbers them) of /proc/self/stat. */
static double self_stat(int k)
{
	char buf[1024], *p;
	FILE *f = fopen("/proc/self/stat", "r");
	double v = 0;

	if (!f)
		return NAN;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (!p)
		return NAN;
	/* Field 3 (state) follows the comm's ")". */
	p += 2;
	for (int i = 3; i < k && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (p)
		v = strtod(p, NULL);
	return p ? v : NAN;
}

static double process_rss(void)
{
	return self_stat(24) * (double)sysconf(_SC_PAGESIZE);
}

static double process_cpu(void)
{
	return (self_stat(14) + self_stat(15)) / (double)sysconf(_SC_CLK_TCK);
}

static double process_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return NAN;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* not the one opendir() holds */
}

static double process_start(void)
{
	static double start;
	char line[256];
	FILE *f;
	double btime = 0;

	if (start)
		return start;
	f = fopen("/proc/stat", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "btime ", 6))
			btime = strtod(line + 6, NULL);
	if (f)
		fclose(f);
	start = btime + self_stat(22) / (double)sysconf(_SC_CLK_TCK);
	return start;
}

/* ---- storage ---- */

struct histogram {
	atomic_ullong bucket[NBUCKETS];	/* per bucket, not cumulative */
	atomic_ullong sum;		/* double bits */
};

#define VALUES_MAX 2048
#define HISTOGRAMS_MAX 8

static atomic_ullong values[VALUES_MAX];	/* a count, or a gauge's double bits */
static struct histogram histograms[HISTOGRAMS_MAX];
static unsigned first_slot[M__COUNT];		/* in values[] or histograms[] */
static atomic_llong loop_mono_ns;		/* for /healthz; 0 = never */

static unsigned dims(const struct metric_def *d)
{
	switch (d->scope) {
	case PER_SERVICE:
		return SERVICE__COUNT;
	case PER_ENDPOINT:
		return ENDPOINT__COUNT;
	default:
		return 1;
	}
}

/* Lay the series out before main(): the table is constant, and a layout
 * that does not fit is a programming error caught by every test run. */
__attribute__((constructor)) static void layout(void)
{
	unsigned nv = 0, nh = 0;

	snprintf(status_text[0], sizeof(status_text[0]), "error");
	status_values[0] = status_text[0];
	for (int i = 1; i < API_CODES; i++) {
		snprintf(status_text[i], sizeof(status_text[i]), "%d", i - 1 + API_CODE_MIN);
		status_values[i] = status_text[i];
	}
	for (int id = 0; id < M__COUNT; id++) {
		const struct metric_def *d = &metrics[id];

		if (d->kind == HISTOGRAM) {
			first_slot[id] = nh;
			nh += dims(d);
		} else {
			first_slot[id] = nv;
			nv += dims(d) * d->nvalues;
		}
	}
	if (nv > VALUES_MAX || nh > HISTOGRAMS_MAX) {
		fprintf(stderr, "metrics: table needs %u values and %u histograms\n", nv, nh);
		abort();
	}
	metrics_reset();
}

/* The slot of (dim, value) of row id, or NULL when out of range. */
static atomic_ullong *slot(enum metric id, unsigned dim, unsigned value)
{
	const struct metric_def *d;

	if ((unsigned)id >= M__COUNT)
		return NULL;
	d = &metrics[id];
	if (d->kind == HISTOGRAM || dim >= dims(d) || value >= d->nvalues)
		return NULL;
	return &values[first_slot[id] + dim * d->nvalues + value];
}

static struct histogram *histogram_of(enum metric id, unsigned dim)
{
	if ((unsigned)id >= M__COUNT || metrics[id].kind != HISTOGRAM || dim >= dims(&metrics[id]))
		return NULL;
	return &histograms[first_slot[id] + dim];
}

/* ---- atomic doubles ---- */

static unsigned long long dbits(double v)
{
	unsigned long long b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

static double bitsd(unsigned long long b)
{
	double v;

	memcpy(&v, &b, sizeof(v));
	return v;
}

static unsigned long long get(atomic_ullong *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static void add_double(atomic_ullong *a, double v)
{
	unsigned long long old = get(a);

	while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(bitsd(old) + v),
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

/* ---- updates ---- */

void metrics_reset(void)
{
	/* Not safe against concurrent updates: start-up and tests only. */
	memset(values, 0, sizeof(values));
	memset(histograms, 0, sizeof(histograms));
	atomic_store(&loop_mono_ns, 0);
	metrics_set(M_BUILD_INFO, 0, 0, 1);
	active_hosts_clear();
}

void metrics_add(enum metric id, unsigned dim, unsigned value, unsigned long long n)
{
	atomic_ullong *a = slot(id, dim, value);

	if (a && metrics[id].kind == COUNTER)
		atomic_fetch_add_explicit(a, n, memory_order_relaxed);
}

void metrics_set(enum metric id, unsigned dim, unsigned value, double v)
{
	atomic_ullong *a = slot(id, dim, value);

	if (!a)
		return;
	if (metrics[id].kind == COUNTER)
		atomic_store_explicit(a, v > 0 ? (unsigned long long)v : 0, memory_order_relaxed);
	else
		atomic_store_explicit(a, dbits(v), memory_order_relaxed);
}

void metrics_observe(enum metric id, unsigned dim, double seconds)
{
	struct histogram *h = histogram_of(id, dim);
	int i;

	if (!h || isnan(seconds))
		return;
	for (i = 0; i < NBUCKETS - 1; i++)
		if (seconds <= bucket_bounds[i])
			break;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	add_double(&h->sum, seconds);
}

unsigned metrics_api_status(int status_code)
{
	/* Anything that is not an HTTP status is as good as no answer. */
	if (status_code < API_CODE_MIN || status_code > API_CODE_MAX)
		return 0;
	return (unsigned)(status_code - API_CODE_MIN + 1);
}

const char *metrics_value_name(enum metric id, unsigned value)
{
	if ((unsigned)id >= M__COUNT || !metrics[id].values || value >= metrics[id].nvalues ||
	    !metrics[id].values[value])
		return "";
	return metrics[id].values[value];
}

double metrics_now(void)
{
	return (double)loop_wall_ns() / 1e9;
}

void metrics_heartbeat_poll(enum service svc)
{
	metrics_set(M_POLL_HEARTBEAT, svc, 0, metrics_now());
}

void metrics_heartbeat_loop(enum service svc)
{
	if ((unsigned)svc >= SERVICE__COUNT)
		return;
	metrics_set(M_LOOP_HEARTBEAT, svc, 0, metrics_now());
	/* Health uses the monotonic clock so an NTP step cannot fail it. */
	atomic_store_explicit(&loop_mono_ns, loop_now_ns(), memory_order_relaxed);
}

double metrics_loop_heartbeat_age(void)
{
	long long then = atomic_load_explicit(&loop_mono_ns, memory_order_relaxed);
	long long age;

	if (then == 0)
		return -1.0;
	age = loop_now_ns() - then;
	return age > 0 ? (double)age / 1e9 : 0.0;
}

/* ---- rendering ---- */

/* Shortest text that reads back as the same double, like Python's repr. */
static const char *fmt_double(char *buf, size_t n, double v)
{
	int prec;

	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return buf;
	}
	snprintf(buf, n, "%.17g", v);
	return buf;
}

static void render_header(FILE *out, const struct metric_def *d)
{
	static const char *const kind_names[] = { "counter", "gauge", "histogram" };

	/* Our HELP texts hold no backslash or newline, the two that need escaping. */
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
		kind_names[d->kind]);
}

/* The service a series of row d at dim carries, or NULL for none. */
static const char *service_of(const struct metric_def *d, unsigned dim)
{
	switch (d->scope) {
	case PROCMON:
		return service_names[SERVICE_PROCMON];
	case FILEMON:
		return service_names[SERVICE_FILEMON];
	case PER_SERVICE:
		return service_names[dim];
	case PER_ENDPOINT:
		/* Snapshots are filemon's traffic; builds and runs are procmon's. */
		return service_names[dim == ENDPOINT_SNAPSHOT ? SERVICE_FILEMON : SERVICE_PROCMON];
	default:
		return NULL;
	}
}

/* Labels of a series, in the order dashboards know: the row's own label,
 * endpoint_type, service; a histogram adds le after them.  "" for none. */
static void labels_of(char *buf, size_t n, const struct metric_def *d, unsigned dim,
		      unsigned value)
{
	const char *svc = service_of(d, dim);
	int len = 0;

	buf[0] = '\0';
	if (d->label)
		len += snprintf(buf + len, n - len, "%s=\"%s\",", d->label, d->values[value]);
	if (d->scope == PER_ENDPOINT)
		len += snprintf(buf + len, n - len, "endpoint_type=\"%s\",", endpoint_names[dim]);
	if (svc)
		len += snprintf(buf + len, n - len, "service=\"%s\",", svc);
	if (len > 0)
		buf[len - 1] = '\0';	/* the last comma */
}

static void render_sample(FILE *out, const char *name, const char *suffix, const char *labels,
			  const char *value)
{
	if (*labels)
		fprintf(out, "%s%s{%s} %s\n", name, suffix, labels, value);
	else
		fprintf(out, "%s%s %s\n", name, suffix, value);
}

static void render_histogram(FILE *out, const struct metric_def *d, const char *labels,
			     struct histogram *h)
{
	unsigned long long cum = 0;
	char buf[40], le[192];

	/* _count is the +Inf bucket by construction, whatever races. */
	for (int i = 0; i < NBUCKETS; i++) {
		cum += get(&h->bucket[i]);
		snprintf(le, sizeof(le), "%s%sle=\"%s\"", labels, *labels ? "," : "", bucket_le[i]);
		snprintf(buf, sizeof(buf), "%llu", cum);
		render_sample(out, d->name, "_bucket", le, buf);
	}
	render_sample(out, d->name, "_sum", labels,
		      fmt_double(buf, sizeof(buf), bitsd(get(&h->sum))));
	snprintf(buf, sizeof(buf), "%llu", cum);
	render_sample(out, d->name, "_count", labels, buf);
}

static unsigned long long histogram_count(struct histogram *h)
{
	unsigned long long n = 0;

	for (int i = 0; i < NBUCKETS; i++)
		n += get(&h->bucket[i]);
	return n;
}

/* The value text of one counter or gauge series, or NULL to leave it out. */
static const char *value_text(char *buf, size_t n, enum metric id, unsigned dim,
			      unsigned value)
{
	const struct metric_def *d = &metrics[id];
	unsigned long long raw = get(slot(id, dim, value));

	if (d->flags & COMPUTED)
		return fmt_double(buf, n, d->read());
	if ((d->flags & SPARSE) && raw == 0)
		return NULL;
	if (d->kind == COUNTER) {
		snprintf(buf, n, "%llu", raw);
		return buf;
	}
	return fmt_double(buf, n, bitsd(raw));
}

static void render_row(FILE *out, enum metric id)
{
	const struct metric_def *d = &metrics[id];
	char labels[160], buf[40];
	const char *text;

	render_header(out, d);
	for (unsigned dim = 0; dim < dims(d); dim++) {
		if (d->kind == HISTOGRAM) {
			struct histogram *h = histogram_of(id, dim);

			if ((d->flags & SPARSE) && !histogram_count(h))
				continue;
			labels_of(labels, sizeof(labels), d, dim, 0);
			render_histogram(out, d, labels, h);
			continue;
		}
		for (unsigned v = 0; v < d->nvalues; v++) {
			if (d->values && !d->values[v])
				continue;
			text = value_text(buf, sizeof(buf), id, dim, v);
			if (!text)
				continue;
			labels_of(labels, sizeof(labels), d, dim, v);
			render_sample(out, d->name, "", labels, text);
		}
	}
}

char *metrics_render(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out)
		return NULL;
	for (int id = 0; id < M__COUNT; id++)
		render_row(out, (enum metric)id);
	if (ferror(out)) {
		fclose(out);
		free(text);
		return NULL;
	}
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- reading back (metrics_testing.h) ---- */

/* Find "key " at the start of a line of text and parse the value after it. */
static bool find_value(const char *text, const char *key, double *v)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0) {
			*v = strtod(p + klen, NULL);
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

/* The rendered key for name+labels: service goes after the caller's labels
 * but before a histogram's le, which is always last. */
static void series_key(char *key, size_t n, const char *name, const char *labels,
		       enum service svc)
{
	const char *le = strstr(labels, "le=\"");
	int head;

	if (le && le != labels && le[-1] != ',')
		le = NULL;
	if (!le) {
		snprintf(key, n, "%s{%s%sservice=\"%s\"} ", name, labels, *labels ? "," : "",
			 service_names[svc]);
		return;
	}
	head = le == labels ? 0 : (int)(le - labels);
	snprintf(key, n, "%s{%.*sservice=\"%s\",%s} ", name, head, labels,
		 service_names[svc], le);
}

double metrics_sample(enum service svc, const char *name, const char *labels)
{
	char key[512];
	char *text;
	double v = NAN;
	bool found;

	/* Reading back the rendered text keeps one source of truth for names
	 * and labels; this is for tests, not hot paths. */
	if ((unsigned)svc >= SERVICE__COUNT || !name)
		return NAN;
	if (!labels)
		labels = "";
	text = metrics_render();
	if (!text)
		return NAN;
	series_key(key, sizeof(key), name, labels, svc);
	found = find_value(text, key, &v);
	if (!found) {
		/* Node-wide series: no service label. */
		if (*labels)
			snprintf(key, sizeof(key), "%s{%s} ", name, labels);
		else
			snprintf(key, sizeof(key), "%s ", name);
		found = find_value(text, key, &v);
	}
	free(text);
	return found ? v : NAN;
}

bool metrics_known(const char *name)
{
	if (!name)
		return false;
	for (int id = 0; id < M__COUNT; id++) {
		size_t n = strlen(metrics[id].name);

		if (strncmp(name, metrics[id].name, n) != 0)
			continue;
		if (!name[n])
			return true;
		if (metrics[id].kind == HISTOGRAM && (!strcmp(name + n, "_bucket") ||
		    !strcmp(name + n, "_sum") || !strcmp(name + n, "_count")))
			return true;
	}
	return false;
}

bool metrics_none(enum service svc, const char *name, const char *labels)
{
	return isnan(metrics_sample(svc, name, labels)) && metrics_known(name);
}
