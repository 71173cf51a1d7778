/*
 * payload.c - build the build/run log payloads of the JCode Analytics API.
 *
 * Field order is fixed (contract fields first, extras after) so the body is
 * byte-for-byte predictable: tests compare whole strings, and a human
 * reading the stdout mode finds the same shape every time.
 */
#define _GNU_SOURCE		/* sigabbrev_np */
#include "payload.h"

#include "event_id.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"
#include "loop.h"
#include "pathrules.h"

/* Days since 1970-01-01 to a proleptic Gregorian date: the civil_from_days
 * of Howard Hinnant's "chrono-Compatible Low-Level Date Algorithms". */
static void civil_from_days(long long z, long long *y, int *m, int *d)
{
	long long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Write v as exactly `width` decimal digits, right to left. */
static void digits(char *end, long long v, int width)
{
	while (width--) {
		*--end = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * "YYYY-MM-DDTHH:MM:SS.ffffff+00:00", by hand: gmtime_r, strftime and
 * snprintf made this a tenth of building a whole run's body.  wall_ns
 * spans 1677-2262, so the year always has four digits.
 */
void payload_format_time(long long wall_ns, char *buf, size_t len)
{
	long long sec = wall_ns / 1000000000LL, ns = wall_ns % 1000000000LL;
	long long days, sod, year;
	int month, day;
	char out[] = "YYYY-MM-DDTHH:MM:SS.ffffff+00:00";

	if (!buf || !len)
		return;
	if (ns < 0) {		/* floor, so times before 1970 still read right */
		ns += 1000000000LL;
		sec--;
	}
	days = sec / 86400;
	sod = sec % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &year, &month, &day);
	digits(out + 4, year, 4);
	digits(out + 7, month, 2);
	digits(out + 10, day, 2);
	digits(out + 13, sod / 3600, 2);
	digits(out + 16, sod / 60 % 60, 2);
	digits(out + 19, sod % 60, 2);
	digits(out + 26, ns / 1000, 6);
	if (len > sizeof(out))
		len = sizeof(out);
	memcpy(buf, out, len - 1);
	buf[len - 1] = '\0';
}

const char *payload_signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev;

	if (sig == 0 || !buf || !len)
		return NULL;
	abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;
	if (abbrev)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "SIG%d", sig);
	return buf;
}

#define BODY_HINT 2048	/* a run's body is about 900 bytes, a build's with stderr more */

/*
 * The body under construction, written front to back in the order below
 * (json_writer.h says why not through a jansson tree).  Any failed
 * allocation makes the writer bad, so the builders stay straight-line and
 * payload_build() checks once.
 */
struct body {
	struct jsonw w;
};

/* Students' bytes may be anything; an event must never be lost over them,
 * so they are repaired (json_writer.h), and the repair is counted. */
static void text_n(struct body *b, const char *s, size_t n)
{
	jsonw_text(&b->w, s, n);
}

static void text(struct body *b, const char *s)
{
	if (!s)
		s = "";
	text_n(b, s, strlen(s));
}

static void key(struct body *b, const char *k)
{
	jsonw_key(&b->w, k);
}

static void put_text(struct body *b, const char *k, const char *s)
{
	key(b, k);
	text(b, s);
}

static void put_text_or_null(struct body *b, const char *k, const char *s)
{
	key(b, k);
	if (s)
		text(b, s);
	else
		jsonw_null(&b->w);
}

static void put_ascii(struct body *b, const char *k, const char *s)
{
	key(b, k);
	if (s)
		jsonw_ascii(&b->w, s);
	else
		jsonw_null(&b->w);
}

static void put_int(struct body *b, const char *k, long long v)
{
	key(b, k);
	jsonw_int(&b->w, v);
}

static void put_bool(struct body *b, const char *k, bool v)
{
	key(b, k);
	jsonw_bool(&b->w, v);
}

/* Microsecond resolution, as milliseconds: the kernel clock is ns but
 * three decimals is all a human needs and keeps the number short.  The
 * same for every time in a body (duration_ms, cpu_ms, ...). */
static unsigned long long ns_us(unsigned long long ns)
{
	return ns / 1000 + (ns % 1000 >= 500);
}

static void put_millis(struct body *b, const char *k, unsigned long long ns)
{
	key(b, k);
	jsonw_millis(&b->w, ns_us(ns));
}

static void put_cmdline(struct body *b, const struct process *p)
{
	char *joined = argv_join(p->argc, p->argv);

	if (!joined) {
		b->w.bad = true;
		return;
	}
	put_text(b, "cmdline", joined);
	free(joined);
}

static void put_head(struct body *b, const struct process *p)
{
	char ts[48];

	payload_format_time(p->exit_wall_ns, ts, sizeof(ts));
	put_ascii(b, "timestamp", ts);
	put_int(b, "exit_code", p->exit_code);
	put_cmdline(b, p);
	put_text(b, "cwd", p->cwd);
}

static void put_truncated(struct body *b, unsigned int flags, const struct insight *in)
{
	key(b, "truncated");
	jsonw_array_begin(&b->w);
	if (flags & PROCMON_F_ARGS_TRUNCATED)
		jsonw_ascii(&b->w, "argv");
	if (flags & PROCMON_F_EXE_TRUNCATED)
		jsonw_ascii(&b->w, "exe");
	if (flags & PROCMON_F_CWD_TRUNCATED)
		jsonw_ascii(&b->w, "cwd");
	if (in && in->has_stderr && in->stderr_cut)
		jsonw_ascii(&b->w, "stderr");
	if (in && in->diags.omitted)
		jsonw_ascii(&b->w, "diagnostics");
	jsonw_array_end(&b->w);
}

/* exit - exec in ns; crafted times must not overflow (undefined): exit
 * before exec is 0, a difference past the range is held at its end. */
static unsigned long long duration_ns(const struct process *p)
{
	long long d;

	if (__builtin_sub_overflow(p->exit_ns, p->exec_ns, &d))
		d = p->exit_ns < p->exec_ns ? 0 : LLONG_MAX;
	return d < 0 ? 0 : (unsigned long long)d;
}

double payload_duration_ms(const struct process *p)
{
	return (double)ns_us(duration_ns(p)) / 1000.0;
}

static void put_extras(struct body *b, const struct process *p, const struct insight *in)
{
	char sigbuf[32], id[EVENT_ID_LEN];

	put_ascii(b, "signal", payload_signal_name(p->signal, sigbuf, sizeof(sigbuf)));
	put_bool(b, "core_dumped", p->core_dumped);
	put_millis(b, "duration_ms", duration_ns(p));
	put_int(b, "pid", p->pid);
	put_int(b, "ppid", p->ppid);
	put_int(b, "uid", p->uid);
	put_truncated(b, p->flags, in);
	put_text(b, "hostname", p->hostname);
	event_id_process(p, id, sizeof(id));
	put_ascii(b, "event_id", id);
}

/* Version fields: derived from the executable's path only (see
 * classifier.h), null when the path does not show one.  Their characters
 * come from a path, so they go through the same UTF-8 repair. */
static void put_compiler(struct body *b, const struct process *p)
{
	char name[128];

	key(b, "compiler");
	if (p->exe && classifier_compiler_name(p->exe, name, sizeof(name)) == 0)
		text(b, name);
	else
		jsonw_null(&b->w);
}

static void put_python_version(struct body *b, const struct process *p)
{
	char ver[16];
	bool known = p->exe && classifier_python_version(p->exe, ver, sizeof(ver)) == 0;

	put_ascii(b, "python_version", known ? ver : NULL);
}

/* Kernel counters are unsigned 64-bit; JSON integers here are signed. */
static void put_counter(struct body *b, const char *k, unsigned long long v)
{
	put_int(b, k, v > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)v);
}

static void put_usage(struct body *b, const struct proc_usage *u)
{
	put_millis(b, "cpu_ms", u->cpu_ns);
	put_millis(b, "cpu_user_ms", u->utime_ns);
	put_millis(b, "cpu_sys_ms", u->stime_ns);
	put_counter(b, "max_rss_kb", u->max_rss_kb);
	put_counter(b, "minor_faults", u->min_flt);
	put_counter(b, "major_faults", u->maj_flt);
	put_counter(b, "read_bytes", u->read_bytes);
	put_counter(b, "write_bytes", u->write_bytes);
	put_counter(b, "ctx_switches", u->ctx_switches);
	put_counter(b, "threads", u->threads);
	put_counter(b, "children", u->children);
}

/* A list of strings from argv, each repaired to UTF-8. */
static void put_string_list(struct body *b, const char *k, char *const *v, size_t n)
{
	key(b, k);
	jsonw_array_begin(&b->w);
	for (size_t i = 0; i < n; i++)
		text(b, v[i]);
	jsonw_array_end(&b->w);
}

static void count_or_null(struct body *b, const char *k, unsigned v)
{
	key(b, k);
	if (v)
		jsonw_int(&b->w, v);
	else
		jsonw_null(&b->w);
}

static void diagnostic(struct body *b, const struct diag *d)
{
	jsonw_object_begin(&b->w);
	put_text_or_null(b, "file", d->file);
	count_or_null(b, "line", d->line);
	count_or_null(b, "column", d->column);
	put_ascii(b, "severity", diag_severity_name(d->severity));
	put_text(b, "message", d->message);
	jsonw_object_end(&b->w);
}

static void put_diagnostics(struct body *b, const struct diag_list *l)
{
	key(b, "diagnostics");
	jsonw_array_begin(&b->w);
	for (size_t i = 0; i < l->n; i++)
		diagnostic(b, &l->v[i]);
	jsonw_array_end(&b->w);
}

static void put_stderr(struct body *b, const struct insight *in)
{
	if (!in->has_stderr)
		return;
	key(b, "stderr");
	text_n(b, in->stderr_text, in->stderr_len);
}

static void put_build_insight(struct body *b, const struct insight *in)
{
	if (in->has_args) {
		put_text_or_null(b, "output", in->args.output);
		put_string_list(b, "sources", in->args.sources, in->args.n_sources);
		put_string_list(b, "flags", in->args.flags, in->args.n_flags);
		put_bool(b, "compile_only", in->args.compile_only);
	}
	if (in->has_diagnostics) {
		put_int(b, "errors", (long long)in->diags.errors);
		put_int(b, "warnings", (long long)in->diags.warnings);
		put_diagnostics(b, &in->diags);
	}
	put_stderr(b, in);
}

static void put_run_insight(struct body *b, const struct insight *in)
{
	if (in->is_binary)
		put_text_or_null(b, "built_by", in->built_by);
	if (in->has_exception)
		put_text_or_null(b, "exception", in->exception[0] ? in->exception : NULL);
	put_stderr(b, in);
}

static void fill_build(struct body *b, const struct proc_report *r)
{
	put_head(b, r->proc);
	put_text(b, "binary_path", r->proc->exe);
	put_text(b, "target_path", r->target_path);
	put_compiler(b, r->proc);
	put_extras(b, r->proc, r->insight);
	put_usage(b, &r->proc->usage);
	if (r->insight)
		put_build_insight(b, r->insight);
}

static void fill_run(struct body *b, const struct proc_report *r)
{
	put_head(b, r->proc);
	put_text(b, "target_path", r->target_path);
	put_ascii(b, "process_type", r->type == PROCESS_PYTHON ? "python" : "binary");
	put_text(b, "binary_path", r->proc->exe);
	if (r->type == PROCESS_PYTHON)
		put_python_version(b, r->proc);
	put_extras(b, r->proc, r->insight);
	put_usage(b, &r->proc->usage);
	if (r->insight)
		put_run_insight(b, r->insight);
}

/* identity_parse() admits only [A-Za-z0-9-] and digits, and hw is
 * "hw<N>", so nothing here needs percent-encoding.  Joined by hand: the
 * path is built for every event, and asprintf's format parse cost more
 * than the copying. */
static char *make_path(const struct proc_report *r)
{
	const char *part[] = {
		"/api/", r->id->class_div, "/", r->hw, "/", r->id->student_id, "/logs/",
		r->endpoint == ENDPOINT_BUILD ? "build" : "run",
	};
	enum { N = sizeof(part) / sizeof(part[0]) };
	size_t len[N], total = 1;
	char *path, *at;

	for (size_t i = 0; i < N; i++)
		total += len[i] = strlen(part[i]);
	at = path = malloc(total);
	if (!path)
		return NULL;
	for (size_t i = 0; i < N; i++)
		at = mempcpy(at, part[i], len[i]);
	*at = '\0';
	return path;
}

int payload_build(const struct proc_report *r, char **path, char **body)
{
	struct body b;
	size_t replaced;

	*path = NULL;
	*body = NULL;
	if (!r || !r->proc || !r->id || !r->hw ||
	    (r->endpoint != ENDPOINT_BUILD && r->endpoint != ENDPOINT_RUN)) {
		errno = EINVAL;
		return -EINVAL;
	}
	jsonw_init(&b.w, BODY_HINT);
	jsonw_object_begin(&b.w);
	if (r->endpoint == ENDPOINT_BUILD)
		fill_build(&b, r);
	else
		fill_run(&b, r);
	jsonw_object_end(&b.w);
	replaced = b.w.replaced;
	*body = jsonw_finish(&b.w, NULL);
	if (*body)
		*path = make_path(r);
	if (!*path) {
		free(*body);
		*body = NULL;
		errno = ENOMEM;
		return -ENOMEM;
	}
	if (replaced)
		metrics_inc(M_INVALID_UTF8);
	return 0;
}
