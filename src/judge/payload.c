/*
 * payload.c - build the build/run log payloads of the JCode Analytics API.
 *
 * Field order is fixed (contract fields first, extras after) so the body is
 * byte-for-byte predictable: tests compare whole strings, and a human
 * reading the stdout mode finds the same shape every time.
 */
#define _GNU_SOURCE		/* sigabbrev_np, asprintf */
#include "payload.h"

#include "event_id.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_text.h"
#include "loop.h"
#include "pathrules.h"

void payload_format_time(long long wall_ns, char *buf, size_t len)
{
	long long sec = wall_ns / 1000000000LL;
	long long ns = wall_ns % 1000000000LL;
	time_t t;
	struct tm tm;
	char base[32];

	if (!buf || !len)
		return;
	if (ns < 0) {		/* floor, so times before 1970 still read right */
		ns += 1000000000LL;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm) || !strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "1970-01-01T00:00:00.000000+00:00");
		return;
	}
	snprintf(buf, len, "%s.%06lld+00:00", base, ns / 1000);
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

/*
 * The body under construction.  Any failed allocation marks it bad, so the
 * builders below stay straight-line and payload_build() checks once.
 */
struct body {
	json_t *obj;
	bool bad;
	bool replaced;		/* some string needed U+FFFD repair */
};

static void put(struct body *b, const char *key, json_t *v)
{
	/* json_object_set_new() releases v even when it fails.  Keys are
	 * our literals, ASCII: no need for jansson to check them again. */
	if (!v || json_object_set_new_nocheck(b->obj, key, v) < 0)
		b->bad = true;
}

/* A string this file made (digits, ASCII names): valid by construction. */
static json_t *ascii(const char *s)
{
	return json_string_nocheck(s);
}

/* Students' bytes may be anything; an event must never be lost over them,
 * so they are repaired (json_text.h), and the repair is counted. */
static json_t *text_n(struct body *b, const char *s, size_t n)
{
	size_t replaced;
	json_t *v = json_text(s, n, &replaced);

	if (replaced)
		b->replaced = true;
	return v;
}

static json_t *text(struct body *b, const char *s)
{
	if (!s)
		s = "";
	return text_n(b, s, strlen(s));
}

static void put_text(struct body *b, const char *key, const char *s)
{
	put(b, key, text(b, s));
}

static void put_cmdline(struct body *b, const struct process *p)
{
	char *joined = argv_join(p->argc, p->argv);

	if (!joined) {
		b->bad = true;
		return;
	}
	put_text(b, "cmdline", joined);
	free(joined);
}

static void put_head(struct body *b, const struct process *p)
{
	char ts[48];

	payload_format_time(p->exit_wall_ns, ts, sizeof(ts));
	put(b, "timestamp", ascii(ts));
	put(b, "exit_code", json_integer(p->exit_code));
	put_cmdline(b, p);
	put_text(b, "cwd", p->cwd);
}

static json_t *truncated_fields(unsigned int flags, const struct insight *in)
{
	json_t *a = json_array();

	if (!a)
		return NULL;
	if ((flags & PROCMON_F_ARGS_TRUNCATED) && json_array_append_new(a, ascii("argv")))
		goto fail;
	if ((flags & PROCMON_F_EXE_TRUNCATED) && json_array_append_new(a, ascii("exe")))
		goto fail;
	if ((flags & PROCMON_F_CWD_TRUNCATED) && json_array_append_new(a, ascii("cwd")))
		goto fail;
	if (in && in->has_stderr && in->stderr_cut &&
	    json_array_append_new(a, json_string("stderr")))
		goto fail;
	if (in && in->diags.omitted && json_array_append_new(a, json_string("diagnostics")))
		goto fail;
	return a;
fail:
	json_decref(a);
	return NULL;
}

/* Microsecond resolution, as milliseconds: the kernel clock is ns but
 * three decimals is all a human needs and keeps the number short.  The
 * same for every time in a body (duration_ms, cpu_ms, ...). */
static double ns_ms(unsigned long long ns)
{
	return (double)(ns / 1000 + (ns % 1000 >= 500)) / 1000.0;
}

double payload_duration_ms(const struct process *p)
{
	long long d;

	/* Crafted times must not overflow (undefined): exit before exec is 0,
	 * a difference past the range is held at its end. */
	if (__builtin_sub_overflow(p->exit_ns, p->exec_ns, &d))
		d = p->exit_ns < p->exec_ns ? 0 : LLONG_MAX;
	return ns_ms(d < 0 ? 0 : (unsigned long long)d);
}

static void put_extras(struct body *b, const struct process *p, const struct insight *in)
{
	char sigbuf[32], id[EVENT_ID_LEN];
	const char *sig = payload_signal_name(p->signal, sigbuf, sizeof(sigbuf));

	put(b, "signal", sig ? ascii(sig) : json_null());
	put(b, "core_dumped", json_boolean(p->core_dumped));
	put(b, "duration_ms", json_real(payload_duration_ms(p)));
	put(b, "pid", json_integer(p->pid));
	put(b, "ppid", json_integer(p->ppid));
	put(b, "uid", json_integer(p->uid));
	put(b, "truncated", truncated_fields(p->flags, in));
	put_text(b, "hostname", p->hostname);
	event_id_process(p, id, sizeof(id));
	put(b, "event_id", ascii(id));
}

/* Version fields: derived from the executable's path only (see
 * classifier.h), null when the path does not show one.  Their characters
 * come from a path, so they go through the same UTF-8 repair. */
static void put_compiler(struct body *b, const struct process *p)
{
	char name[128];

	if (p->exe && classifier_compiler_name(p->exe, name, sizeof(name)) == 0)
		put_text(b, "compiler", name);
	else
		put(b, "compiler", json_null());
}

static void put_python_version(struct body *b, const struct process *p)
{
	char ver[16];

	if (p->exe && classifier_python_version(p->exe, ver, sizeof(ver)) == 0)
		put(b, "python_version", ascii(ver));
	else
		put(b, "python_version", json_null());
}

/* Kernel counters are unsigned 64-bit; JSON integers here are signed. */
static json_t *counter(unsigned long long v)
{
	return json_integer(v > (unsigned long long)LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

static void put_usage(struct body *b, const struct proc_usage *u)
{
	put(b, "cpu_ms", json_real(ns_ms(u->cpu_ns)));
	put(b, "cpu_user_ms", json_real(ns_ms(u->utime_ns)));
	put(b, "cpu_sys_ms", json_real(ns_ms(u->stime_ns)));
	put(b, "max_rss_kb", counter(u->max_rss_kb));
	put(b, "minor_faults", counter(u->min_flt));
	put(b, "major_faults", counter(u->maj_flt));
	put(b, "read_bytes", counter(u->read_bytes));
	put(b, "write_bytes", counter(u->write_bytes));
	put(b, "ctx_switches", counter(u->ctx_switches));
	put(b, "threads", counter(u->threads));
	put(b, "children", counter(u->children));
}

/* A list of strings from argv, each repaired to UTF-8. */
static json_t *string_list(struct body *b, char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++) {
		if (json_array_append_new(a, text(b, v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *count_or_null(unsigned v)
{
	return v ? json_integer(v) : json_null();
}

static json_t *diagnostic(struct body *b, const struct diag *d)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "file", d->file ? text(b, d->file) : json_null()) < 0 ||
	    json_object_set_new(o, "line", count_or_null(d->line)) < 0 ||
	    json_object_set_new(o, "column", count_or_null(d->column)) < 0 ||
	    json_object_set_new(o, "severity", json_string(diag_severity_name(d->severity))) < 0 ||
	    json_object_set_new(o, "message", text(b, d->message)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *diagnostics(struct body *b, const struct diag_list *l)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < l->n; i++) {
		if (json_array_append_new(a, diagnostic(b, &l->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static void put_stderr(struct body *b, const struct insight *in)
{
	if (in->has_stderr)
		put(b, "stderr", text_n(b, in->stderr_text, in->stderr_len));
}

static void put_build_insight(struct body *b, const struct insight *in)
{
	if (in->has_args) {
		put(b, "output", in->args.output ? text(b, in->args.output) : json_null());
		put(b, "sources", string_list(b, in->args.sources, in->args.n_sources));
		put(b, "flags", string_list(b, in->args.flags, in->args.n_flags));
		put(b, "compile_only", json_boolean(in->args.compile_only));
	}
	if (in->has_diagnostics) {
		put(b, "errors", json_integer((json_int_t)in->diags.errors));
		put(b, "warnings", json_integer((json_int_t)in->diags.warnings));
		put(b, "diagnostics", diagnostics(b, &in->diags));
	}
	put_stderr(b, in);
}

static void put_run_insight(struct body *b, const struct insight *in)
{
	if (in->is_binary)
		put(b, "built_by", in->built_by ? json_string(in->built_by) : json_null());
	if (in->has_exception)
		put(b, "exception", in->exception[0] ? text(b, in->exception) : json_null());
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
	put(b, "process_type",
	    ascii(r->type == PROCESS_PYTHON ? "python" : "binary"));
	put_text(b, "binary_path", r->proc->exe);
	if (r->type == PROCESS_PYTHON)
		put_python_version(b, r->proc);
	put_extras(b, r->proc, r->insight);
	put_usage(b, &r->proc->usage);
	if (r->insight)
		put_run_insight(b, r->insight);
}

static char *make_path(const struct proc_report *r)
{
	const char *kind = r->endpoint == ENDPOINT_BUILD ? "build" : "run";
	char *path;

	/* identity_parse() admits only [A-Za-z0-9-] and digits, and hw is
	 * "hw<N>", so nothing here needs percent-encoding. */
	if (asprintf(&path, "/api/%s/%s/%s/logs/%s", r->id->class_div, r->hw,
		     r->id->student_id, kind) < 0)
		return NULL;
	return path;
}

/* json_dumps() grows a buffer from 16 bytes, doubling, then copies it out;
 * a body (about 1 KiB) fits the stack, so it is written once and copied
 * once into an allocation of its exact size. */
static char *dump(const json_t *obj)
{
	char stack[4096], *out;
	size_t n = json_dumpb(obj, stack, sizeof(stack), PAYLOAD_JSON_FLAGS);

	if (n == 0 || !(out = malloc(n + 1)))
		return NULL;
	if (n <= sizeof(stack))
		memcpy(out, stack, n);
	else if (json_dumpb(obj, out, n, PAYLOAD_JSON_FLAGS) != n) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	return out;
}

int payload_build(const struct proc_report *r, char **path, char **body)
{
	struct body b = { 0 };

	*path = NULL;
	*body = NULL;
	if (!r || !r->proc || !r->id || !r->hw ||
	    (r->endpoint != ENDPOINT_BUILD && r->endpoint != ENDPOINT_RUN)) {
		errno = EINVAL;
		return -EINVAL;
	}
	b.obj = json_object();
	if (!b.obj)
		return -ENOMEM;
	if (r->endpoint == ENDPOINT_BUILD)
		fill_build(&b, r);
	else
		fill_run(&b, r);
	if (!b.bad)
		*body = dump(b.obj);
	json_decref(b.obj);
	if (*body)
		*path = make_path(r);
	if (!*path) {
		free(*body);
		*body = NULL;
		errno = ENOMEM;
		return -ENOMEM;
	}
	if (b.replaced)
		metrics_inc(M_INVALID_UTF8);
	return 0;
}
