/*
 * metrics.c - counters, gauges and histograms with Prometheus rendering.
 *
 * The event loop updates, libmicrohttpd's thread renders.  Every fixed
 * series is a relaxed atomic: a scrape may see a histogram's _sum one
 * observation ahead of its buckets, which Prometheus tolerates, and nobody
 * on the hot path ever waits for a scrape.  Doubles live in 64-bit atomics
 * as their bit patterns so updates stay lock-free on every platform.
 *
 * Two places take a mutex, both off the per-event path: creating a generic
 * series (once per name+labels) and the active-hosts table (once per
 * build/run, a hash lookup).
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop.h"
#include "metrics_testing.h"
#include "version.h"

_Static_assert(sizeof(double) == sizeof(unsigned long long), "double must be 64 bits");

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

/* Index 0 is "error" (no HTTP status), 1.. are codes 100..599. */
#define API_CODE_MIN 100
#define API_CODE_MAX 599
#define API_CODES (API_CODE_MAX - API_CODE_MIN + 2)

#define GENERIC_MAX 128
#define HOSTS_MAX 65536
#define HOST_NAME_CAP 255

struct histogram {
	atomic_ullong bucket[NBUCKETS];	/* per bucket, not cumulative */
	atomic_ullong sum;		/* double bits */
};

static struct {
	atomic_ullong pipeline[PIPELINE__COUNT];
	struct histogram pipeline_duration;
	atomic_ullong bpf_collected;
	atomic_ullong bpf_lost;
	atomic_ullong bpf_host_filtered;
	atomic_ullong truncated[TRUNC__COUNT];
	atomic_ullong identity_invalid;
	atomic_ullong invalid_utf8;
	atomic_ullong queue_dropped;
	atomic_llong queue_size[SERVICE__COUNT];
	atomic_ullong api[ENDPOINT__COUNT][API_CODES];
	struct histogram api_duration[ENDPOINT__COUNT];
	atomic_ullong hb_poll[SERVICE__COUNT];	/* double bits, 0 = never */
	atomic_ullong hb_loop[SERVICE__COUNT];
	atomic_llong loop_mono_ns;		/* for /healthz; 0 = never */
	atomic_ullong overflow;
} m;

/* Generic series: slots [0, ngeneric) are immutable once published except
 * for value, so readers need no lock. */
struct generic {
	const char *name;
	const char *labels;
	enum service svc;
	bool gauge;
	atomic_ullong value;	/* count, or double bits for a gauge */
};

struct description {
	const char *name;
	const char *type;
	const char *help;
};

static struct generic generics[GENERIC_MAX];
static atomic_int ngeneric;
static struct description descs[GENERIC_MAX];
static atomic_int ndesc;
static pthread_mutex_t generic_lock = PTHREAD_MUTEX_INITIALIZER;

struct host {
	char *name;	/* NULL = empty slot */
	double last;
};

/* Open addressing, linear probing; guarded by hosts_lock. */
static struct {
	struct host *slot;
	size_t cap;
	size_t count;
} hosts;
static pthread_mutex_t hosts_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const service_names[SERVICE__COUNT] = { "procmon", "filemon" };
static const char *const result_names[PIPELINE__COUNT] = {
	"success", "failure", "filtered", "nontarget",
};
static const char *const endpoint_names[ENDPOINT__COUNT] = { "build", "run", "snapshot" };
static const char *const trunc_names[TRUNC__COUNT] = { "argv", "exe", "cwd" };

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

static void store_double(atomic_ullong *a, double v)
{
	atomic_store_explicit(a, dbits(v), memory_order_relaxed);
}

static double load_double(atomic_ullong *a)
{
	return bitsd(atomic_load_explicit(a, memory_order_relaxed));
}

static void add_double(atomic_ullong *a, double v)
{
	unsigned long long old = atomic_load_explicit(a, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(bitsd(old) + v),
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

static void inc(atomic_ullong *a, unsigned long long n)
{
	atomic_fetch_add_explicit(a, n, memory_order_relaxed);
}

static unsigned long long get(atomic_ullong *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

double metrics_now(void)
{
	return (double)loop_wall_ns() / 1e9;
}

static void observe(struct histogram *h, double seconds)
{
	int i;

	if (isnan(seconds))
		return;
	for (i = 0; i < NBUCKETS - 1; i++)
		if (seconds <= bucket_bounds[i])
			break;
	inc(&h->bucket[i], 1);
	add_double(&h->sum, seconds);
}

/* ---- updates ---- */

static void hosts_clear(void);

void metrics_reset(void)
{
	/* Not safe against concurrent updates: start-up and tests only. */
	memset(&m, 0, sizeof(m));
	pthread_mutex_lock(&generic_lock);
	atomic_store(&ngeneric, 0);
	memset(generics, 0, sizeof(generics));
	pthread_mutex_unlock(&generic_lock);
	/* Descriptions are kept: modules register them once at start-up. */
	hosts_clear();
}

void metrics_pipeline_event(enum pipeline_result result)
{
	if ((unsigned)result < PIPELINE__COUNT)
		inc(&m.pipeline[result], 1);
}

void metrics_pipeline_duration(double seconds)
{
	observe(&m.pipeline_duration, seconds);
}

void metrics_bpf_collected(unsigned long long n)
{
	inc(&m.bpf_collected, n);
}

void metrics_bpf_lost(unsigned long long n)
{
	inc(&m.bpf_lost, n);
}

void metrics_bpf_host_filtered_set(unsigned long long total)
{
	atomic_store_explicit(&m.bpf_host_filtered, total, memory_order_relaxed);
}

void metrics_truncated(enum trunc_field field)
{
	if ((unsigned)field < TRUNC__COUNT)
		inc(&m.truncated[field], 1);
}

void metrics_identity_invalid(void)
{
	inc(&m.identity_invalid, 1);
}

void metrics_invalid_utf8(void)
{
	inc(&m.invalid_utf8, 1);
}

void metrics_queue_dropped(unsigned long long n)
{
	inc(&m.queue_dropped, n);
}

void metrics_queue_size(enum service svc, long long n)
{
	if ((unsigned)svc < SERVICE__COUNT)
		atomic_store_explicit(&m.queue_size[svc], n, memory_order_relaxed);
}

void metrics_api_request(enum endpoint_type ep, int status_code, double seconds)
{
	int idx = 0;

	if ((unsigned)ep >= ENDPOINT__COUNT)
		return;
	/* Anything that is not an HTTP status is as good as no answer. */
	if (status_code >= API_CODE_MIN && status_code <= API_CODE_MAX)
		idx = status_code - API_CODE_MIN + 1;
	inc(&m.api[ep][idx], 1);
	observe(&m.api_duration[ep], seconds);
}

void metrics_heartbeat_poll(enum service svc)
{
	if ((unsigned)svc < SERVICE__COUNT)
		store_double(&m.hb_poll[svc], metrics_now());
}

void metrics_heartbeat_loop(enum service svc)
{
	if ((unsigned)svc >= SERVICE__COUNT)
		return;
	store_double(&m.hb_loop[svc], metrics_now());
	/* Health uses the monotonic clock so an NTP step cannot fail it. */
	atomic_store_explicit(&m.loop_mono_ns, loop_now_ns(), memory_order_relaxed);
}

double metrics_loop_heartbeat_age(void)
{
	long long then = atomic_load_explicit(&m.loop_mono_ns, memory_order_relaxed);
	long long age;

	if (then == 0)
		return -1.0;
	age = loop_now_ns() - then;
	return age > 0 ? (double)age / 1e9 : 0.0;
}

/* ---- active hosts ---- */

static size_t host_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t host_find(const char *name)
{
	size_t i = host_hash(name) & (hosts.cap - 1);

	while (hosts.slot[i].name && strcmp(hosts.slot[i].name, name) != 0)
		i = (i + 1) & (hosts.cap - 1);
	return i;
}

static bool host_live(const struct host *h, double now_s)
{
	return now_s - h->last < METRICS_ACTIVE_WINDOW_S;
}

/* Move the live entries into a table of cap slots; expired names are freed.
 * Rebuilding is simpler than deleting under linear probing, and runs only
 * when growing or when something expired. */
static int hosts_rebuild(size_t cap, double now_s)
{
	struct host *old = hosts.slot;
	size_t oldcap = hosts.cap, i;
	struct host *slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -1;
	hosts.slot = slot;
	hosts.cap = cap;
	hosts.count = 0;
	for (i = 0; i < oldcap; i++) {
		if (!old[i].name)
			continue;
		if (!host_live(&old[i], now_s)) {
			free(old[i].name);
			continue;
		}
		slot[host_find(old[i].name)] = old[i];
		hosts.count++;
	}
	free(old);
	return 0;
}

static void hosts_clear(void)
{
	size_t i;

	pthread_mutex_lock(&hosts_lock);
	for (i = 0; i < hosts.cap; i++)
		free(hosts.slot[i].name);
	free(hosts.slot);
	hosts.slot = NULL;
	hosts.cap = 0;
	hosts.count = 0;
	pthread_mutex_unlock(&hosts_lock);
}

/* Make room for one more host; called with hosts_lock held. */
static int hosts_reserve(double now_s)
{
	if (hosts.count >= HOSTS_MAX && hosts_rebuild(hosts.cap, now_s) < 0)
		return -1;
	if (hosts.count >= HOSTS_MAX)
		return -1;	/* 64k live hosts: the count saturates there */
	if ((hosts.count + 1) * 2 <= hosts.cap)
		return 0;
	return hosts_rebuild(hosts.cap ? hosts.cap * 2 : 64, now_s);
}

void metrics_active_host(const char *hostname, double now_s)
{
	char name[HOST_NAME_CAP + 1];
	size_t i;

	if (!hostname || !*hostname)
		return;
	snprintf(name, sizeof(name), "%s", hostname);
	pthread_mutex_lock(&hosts_lock);
	if (hosts.cap) {
		i = host_find(name);
		if (hosts.slot[i].name) {
			if (now_s > hosts.slot[i].last)
				hosts.slot[i].last = now_s;
			goto out;
		}
	}
	if (hosts_reserve(now_s) < 0)
		goto out;
	i = host_find(name);
	hosts.slot[i].name = strdup(name);
	if (hosts.slot[i].name) {
		hosts.slot[i].last = now_s;
		hosts.count++;
	}
out:
	pthread_mutex_unlock(&hosts_lock);
}

long long metrics_active_hosts(double now_s)
{
	long long live = 0;
	size_t i;

	pthread_mutex_lock(&hosts_lock);
	for (i = 0; i < hosts.cap; i++)
		if (hosts.slot[i].name && host_live(&hosts.slot[i], now_s))
			live++;
	/* Scrapes are where expired hosts get freed. */
	if ((size_t)live < hosts.count)
		hosts_rebuild(hosts.cap, now_s);
	pthread_mutex_unlock(&hosts_lock);
	return live;
}

/* ---- generic series ---- */

static bool generic_match(const struct generic *g, enum service svc, const char *name,
			  const char *labels)
{
	return g->svc == svc && strcmp(g->name, name) == 0 && strcmp(g->labels, labels) == 0;
}

/* Find or create the series; NULL when the table is full (counted). */
static struct generic *generic_get(enum service svc, const char *name, const char *labels,
				   bool gauge)
{
	struct generic *g = NULL;
	int i, n = atomic_load_explicit(&ngeneric, memory_order_acquire);

	if ((unsigned)svc >= SERVICE__COUNT || !name)
		return NULL;
	if (!labels)
		labels = "";
	for (i = 0; i < n; i++)
		if (generic_match(&generics[i], svc, name, labels))
			return &generics[i];

	pthread_mutex_lock(&generic_lock);
	n = atomic_load_explicit(&ngeneric, memory_order_relaxed);
	for (i = 0; i < n; i++)
		if (generic_match(&generics[i], svc, name, labels))
			break;
	if (i < n) {
		g = &generics[i];
	} else if (n < GENERIC_MAX) {
		g = &generics[n];
		g->name = name;
		g->labels = labels;
		g->svc = svc;
		g->gauge = gauge;
		atomic_store_explicit(&g->value, 0, memory_order_relaxed);
		/* Publish only once the slot is complete. */
		atomic_store_explicit(&ngeneric, n + 1, memory_order_release);
	} else {
		inc(&m.overflow, 1);
	}
	pthread_mutex_unlock(&generic_lock);
	return g;
}

void metrics_counter_add(enum service svc, const char *name, const char *labels,
			 unsigned long long n)
{
	struct generic *g = generic_get(svc, name, labels, false);

	if (g && !g->gauge)
		inc(&g->value, n);
}

void metrics_gauge_set(enum service svc, const char *name, const char *labels, double v)
{
	struct generic *g = generic_get(svc, name, labels, true);

	if (g && g->gauge)
		store_double(&g->value, v);
}

static const struct description *describe_find(const char *name, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(descs[i].name, name) == 0)
			return &descs[i];
	return NULL;
}

void metrics_describe(const char *name, const char *type, const char *help)
{
	int n;

	if (!name)
		return;
	pthread_mutex_lock(&generic_lock);
	n = atomic_load_explicit(&ndesc, memory_order_relaxed);
	if (!describe_find(name, n) && n < GENERIC_MAX) {
		descs[n].name = name;
		descs[n].type = type;
		descs[n].help = help;
		atomic_store_explicit(&ndesc, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&generic_lock);
}

/* ---- rendering ---- */

struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

static void sb_printf(struct sbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (sb->oom)
		return;
	for (;;) {
		size_t need;
		char *p;

		va_start(ap, fmt);
		r = vsnprintf(sb->p + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
		if (r < 0) {
			sb->oom = true;
			return;
		}
		if ((size_t)r < sb->cap - sb->len) {
			sb->len += (size_t)r;
			return;
		}
		need = sb->len + (size_t)r + 1;
		if (need < sb->cap * 2)
			need = sb->cap * 2;
		p = realloc(sb->p, need);
		if (!p) {
			sb->oom = true;
			return;
		}
		sb->p = p;
		sb->cap = need;
	}
}

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

static void header(struct sbuf *sb, const char *name, const char *type, const char *help)
{
	sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{labels,service="svc"} — labels may be "". */
static void series_prefix(struct sbuf *sb, const char *name, const char *suffix,
			  const char *labels, enum service svc)
{
	sb_printf(sb, "%s%s{%s%sservice=\"%s\"", name, suffix, labels, *labels ? "," : "",
		  service_names[svc]);
}

static void series_u(struct sbuf *sb, const char *name, const char *labels,
		     enum service svc, unsigned long long v)
{
	series_prefix(sb, name, "", labels, svc);
	sb_printf(sb, "} %llu\n", v);
}

static void series_d(struct sbuf *sb, const char *name, const char *labels,
		     enum service svc, double v)
{
	char buf[40];

	series_prefix(sb, name, "", labels, svc);
	sb_printf(sb, "} %s\n", fmt_double(buf, sizeof(buf), v));
}

static unsigned long long histogram_count(struct histogram *h)
{
	unsigned long long n = 0;
	int i;

	for (i = 0; i < NBUCKETS; i++)
		n += get(&h->bucket[i]);
	return n;
}

static void render_histogram(struct sbuf *sb, const char *name, const char *labels,
			     enum service svc, struct histogram *h)
{
	unsigned long long cum = 0;
	char buf[40];
	int i;

	/* _count is the +Inf bucket by construction, whatever races. */
	for (i = 0; i < NBUCKETS; i++) {
		cum += get(&h->bucket[i]);
		series_prefix(sb, name, "_bucket", labels, svc);
		sb_printf(sb, ",le=\"%s\"} %llu\n", bucket_le[i], cum);
	}
	series_prefix(sb, name, "_sum", labels, svc);
	sb_printf(sb, "} %s\n", fmt_double(buf, sizeof(buf), load_double(&h->sum)));
	series_prefix(sb, name, "_count", labels, svc);
	sb_printf(sb, "} %llu\n", cum);
}

static void render_pipeline(struct sbuf *sb)
{
	char labels[32];
	int i;

	header(sb, "pipeline_events_total", "counter",
	       "Process records by outcome (success, failure, filtered, nontarget).");
	for (i = 0; i < PIPELINE__COUNT; i++) {
		snprintf(labels, sizeof(labels), "result=\"%s\"", result_names[i]);
		series_u(sb, "pipeline_events_total", labels, SERVICE_PROCMON,
			 get(&m.pipeline[i]));
	}
	header(sb, "pipeline_duration_seconds", "histogram",
	       "Time to process one record, from exit to hand-off.");
	render_histogram(sb, "pipeline_duration_seconds", "", SERVICE_PROCMON,
			 &m.pipeline_duration);
}

static void render_kernel(struct sbuf *sb)
{
	char labels[32];
	int i;

	header(sb, "bpf_events_collected_total", "counter", "Events read from the perf buffer.");
	series_u(sb, "bpf_events_collected_total", "", SERVICE_PROCMON, get(&m.bpf_collected));
	header(sb, "bpf_events_lost_total", "counter", "Events the perf buffer dropped.");
	series_u(sb, "bpf_events_lost_total", "", SERVICE_PROCMON, get(&m.bpf_lost));
	header(sb, "bpf_exec_filtered_total", "counter",
	       "Execs skipped in the kernel, by reason.");
	series_u(sb, "bpf_exec_filtered_total", "reason=\"hostname\"", SERVICE_PROCMON,
		 get(&m.bpf_host_filtered));
	header(sb, "events_truncated_total", "counter",
	       "Events where the kernel hit a size limit, by field.");
	for (i = 0; i < TRUNC__COUNT; i++) {
		snprintf(labels, sizeof(labels), "field=\"%s\"", trunc_names[i]);
		series_u(sb, "events_truncated_total", labels, SERVICE_PROCMON,
			 get(&m.truncated[i]));
	}
	header(sb, "identity_invalid_total", "counter",
	       "Events whose hostname did not yield a student identity.");
	series_u(sb, "identity_invalid_total", "", SERVICE_PROCMON, get(&m.identity_invalid));
	header(sb, "invalid_utf8_total", "counter", "Strings that were not valid UTF-8.");
	series_u(sb, "invalid_utf8_total", "", SERVICE_PROCMON, get(&m.invalid_utf8));
}

static void render_queue(struct sbuf *sb)
{
	int s;

	header(sb, "queue_events_dropped_total", "counter",
	       "Events dropped because the send queue was full.");
	series_u(sb, "queue_events_dropped_total", "", SERVICE_PROCMON, get(&m.queue_dropped));
	header(sb, "queue_size_current", "gauge", "Events waiting to be sent.");
	for (s = 0; s < SERVICE__COUNT; s++)
		series_d(sb, "queue_size_current", "", (enum service)s,
			 (double)atomic_load_explicit(&m.queue_size[s], memory_order_relaxed));
}

/* Snapshots are filemon's traffic; builds and runs are procmon's. */
static enum service endpoint_service(int ep)
{
	return ep == ENDPOINT_SNAPSHOT ? SERVICE_FILEMON : SERVICE_PROCMON;
}

static void render_api(struct sbuf *sb)
{
	char labels[64];
	int ep, i;

	header(sb, "api_requests_total", "counter",
	       "API requests by HTTP status (error: no response) and endpoint.");
	for (ep = 0; ep < ENDPOINT__COUNT; ep++) {
		for (i = 0; i < API_CODES; i++) {
			unsigned long long n = get(&m.api[ep][i]);

			if (!n)
				continue;
			if (i == 0)
				snprintf(labels, sizeof(labels),
					 "status_code=\"error\",endpoint_type=\"%s\"",
					 endpoint_names[ep]);
			else
				snprintf(labels, sizeof(labels),
					 "status_code=\"%d\",endpoint_type=\"%s\"",
					 i - 1 + API_CODE_MIN, endpoint_names[ep]);
			series_u(sb, "api_requests_total", labels, endpoint_service(ep), n);
		}
	}
	header(sb, "api_request_duration_seconds", "histogram",
	       "API request latency by endpoint.");
	for (ep = 0; ep < ENDPOINT__COUNT; ep++) {
		if (!histogram_count(&m.api_duration[ep]))
			continue;
		snprintf(labels, sizeof(labels), "endpoint_type=\"%s\"", endpoint_names[ep]);
		render_histogram(sb, "api_request_duration_seconds", labels,
				 endpoint_service(ep), &m.api_duration[ep]);
	}
}

static void render_liveness(struct sbuf *sb)
{
	int s;

	/* A service that never beat has no series: a 0 would read as "stale
	 * since 1970" on dashboards for a service that is not running. */
	header(sb, "poll_heartbeat_ts_seconds", "gauge",
	       "Wall-clock time the event source was last read.");
	for (s = 0; s < SERVICE__COUNT; s++)
		if (get(&m.hb_poll[s]))
			series_d(sb, "poll_heartbeat_ts_seconds", "", (enum service)s,
				 load_double(&m.hb_poll[s]));
	header(sb, "loop_heartbeat_ts_seconds", "gauge",
	       "Wall-clock time the event loop last turned.");
	for (s = 0; s < SERVICE__COUNT; s++)
		if (get(&m.hb_loop[s]))
			series_d(sb, "loop_heartbeat_ts_seconds", "", (enum service)s,
				 load_double(&m.hb_loop[s]));
	header(sb, "active_hosts_current", "gauge",
	       "Hosts with a build or run in the last 10 minutes.");
	series_u(sb, "active_hosts_current", "", SERVICE_PROCMON,
		 (unsigned long long)metrics_active_hosts(metrics_now()));
}

static void render_help_text(struct sbuf *sb, const char *help)
{
	/* HELP escapes only backslash and newline. */
	for (; *help; help++) {
		if (*help == '\\')
			sb_printf(sb, "\\\\");
		else if (*help == '\n')
			sb_printf(sb, "\\n");
		else
			sb_printf(sb, "%c", *help);
	}
}

static void render_generic_family(struct sbuf *sb, int first, int n, int nd)
{
	struct generic *g = &generics[first];
	const struct description *d = describe_find(g->name, nd);
	const char *type = d && d->type ? d->type : g->gauge ? "gauge" : "counter";
	int i;

	sb_printf(sb, "# HELP %s ", g->name);
	render_help_text(sb, d && d->help ? d->help : g->name);
	sb_printf(sb, "\n# TYPE %s %s\n", g->name, type);
	for (i = first; i < n; i++) {
		g = &generics[i];
		if (strcmp(g->name, generics[first].name) != 0)
			continue;
		if (g->gauge)
			series_d(sb, g->name, g->labels, g->svc, load_double(&g->value));
		else
			series_u(sb, g->name, g->labels, g->svc, get(&g->value));
	}
}

static void render_generic(struct sbuf *sb)
{
	int n = atomic_load_explicit(&ngeneric, memory_order_acquire);
	int nd = atomic_load_explicit(&ndesc, memory_order_acquire);
	int i, j;

	/* HELP/TYPE once per name, with all its series under it. */
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(generics[j].name, generics[i].name) == 0)
				break;
		if (j == i)
			render_generic_family(sb, i, n, nd);
	}
	header(sb, "metrics_overflow_total", "counter",
	       "Generic metric updates dropped because the series table was full.");
	series_u(sb, "metrics_overflow_total", "", SERVICE_PROCMON, get(&m.overflow));
	header(sb, "build_info", "gauge", "The running agent's version.");
	sb_printf(sb, "build_info{version=\"%s\"} 1\n", JCW_VERSION);
}

char *metrics_render(void)
{
	struct sbuf sb = { 0 };

	sb.p = malloc(8192);
	if (!sb.p)
		return NULL;
	sb.cap = 8192;
	sb.p[0] = '\0';
	render_pipeline(&sb);
	render_kernel(&sb);
	render_queue(&sb);
	render_api(&sb);
	render_liveness(&sb);
	render_generic(&sb);
	if (sb.oom) {
		free(sb.p);
		return NULL;
	}
	return sb.p;
}

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
		/* Service-less series such as build_info. */
		snprintf(key, sizeof(key), "%s{%s} ", name, labels);
		found = find_value(text, key, &v);
	}
	free(text);
	return found ? v : NAN;
}

bool metrics_known(const char *name)
{
	char key[256];
	char *text;
	bool known;

	if (!name)
		return false;
	pthread_mutex_lock(&generic_lock);
	known = describe_find(name, atomic_load_explicit(&ndesc, memory_order_relaxed)) != NULL;
	pthread_mutex_unlock(&generic_lock);
	if (known)
		return true;
	text = metrics_render();
	if (!text)
		return false;
	/* Any series of that name (fixed metrics always have a TYPE line). */
	snprintf(key, sizeof(key), "# TYPE %s ", name);
	known = strstr(text, key) != NULL;
	snprintf(key, sizeof(key), "\n%s{", name);
	known = known || strstr(text, key) != NULL;
	free(text);
	return known;
}

bool metrics_none(enum service svc, const char *name, const char *labels)
{
	return isnan(metrics_sample(svc, name, labels)) && metrics_known(name);
}

double metrics_value(enum service svc, const char *name, const char *labels)
{
	double v = metrics_sample(svc, name, labels);

	return isnan(v) ? 0 : v;
}
