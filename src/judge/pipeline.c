/*
 * pipeline.c - see pipeline.h.
 */
#include "pipeline.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "active_hosts.h"
#include "builds.h"
#include "capture_buf.h"
#include "config.h"
#include "decoder.h"
#include "event_id.h"
#include "insight.h"
#include "payload.h"
#include "identity.h"
#include "log.h"
#include "loop.h"
#include "pathrules.h"
#include "proctable.h"
#include "trace_feed.h"

#define DIAG_MAX_DEFAULT 16384
#define TRACEBACK_MAX_DEFAULT 4096

struct pipeline {
	struct pipeline_config cfg;
	struct workspace_roots *roots;
	long long clock_offset_ns;
	long long clock_checked_ms;
	struct proctable table;		/* student processes from exec to exit */
	unsigned long long stale, evicted;	/* of the table's, already counted */
	struct builds builds;		/* which build wrote each program (built_by) */
	unsigned long long builds_evicted;	/* of builds', already counted */
	struct capture_budget budget;	/* stderr held, all processes together */
};

/* What the rules decided, before the payload is built. */
struct verdict {
	enum endpoint_type endpoint;
	enum process_type type;
	enum drop_reason drop;
	char hw[16];
	char target[PATH_MAX];
};

static void count_drop(enum drop_reason why, unsigned long long n)
{
	if (why > DROP_NONE && why < DROP__COUNT)
		metrics_add(M_PIPELINE_DROPPED, 0, why, n);
}

/* A target between its exec and its exit: what its report needs, and no
 * more (MAX_PROCESSES of them may wait for their exit at once). */
struct followed {
	struct proc_entry e;
	struct process proc;
	struct identity id;
	enum endpoint_type endpoint;
	enum process_type type;
	char hw[16];
	bool capturing;		/* its class is in CAPTURE: err is kept */
	bool kernel_cut;	/* the kernel cut a write or dropped some */
	struct capture_buf err;	/* takes memory only once something is written */
	char *built_by;		/* binary runs: the build that made it, or NULL */
	size_t hwdir_len;	/* target[0..hwdir_len) is its homework directory */
	char target[];		/* as long as the path */
};

static void release(struct proc_entry *e)
{
	struct followed *f;

	if (!e->followed) {
		free(e);
		return;
	}
	f = hashmap_entry(e, struct followed, e);
	capture_buf_free(&f->err);
	if (f->err.budget)
		metrics_set(M_CAPTURE_BYTES, 0, 0, (double)f->err.budget->used);
	free(f->built_by);
	process_free(&f->proc);
	free(f);
}

struct pipeline *pipeline_create(const struct pipeline_config *cfg)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	char err[256];

	if (!p)
		return NULL;
	p->cfg = *cfg;
	if (cfg->workspace_roots)
		p->roots = workspace_roots_create((const char *const *)cfg->workspace_roots,
						  cfg->n_workspace_roots, err, sizeof(err));
	else
		p->roots = workspace_roots_default();
	if (!p->roots) {
		log_error("pipeline", "workspace roots: %s", cfg->workspace_roots ? err : "out of memory");
		free(p);
		return NULL;
	}
	if (proctable_init(&p->table, cfg->max_processes, release) < 0) {
		workspace_roots_free(p->roots);
		free(p);
		return NULL;
	}
	if (builds_init(&p->builds, cfg->max_builds) < 0) {
		proctable_fini(&p->table);
		workspace_roots_free(p->roots);
		free(p);
		return NULL;
	}
	if (!p->cfg.diag_max_bytes)
		p->cfg.diag_max_bytes = DIAG_MAX_DEFAULT;
	if (!p->cfg.traceback_max_bytes)
		p->cfg.traceback_max_bytes = TRACEBACK_MAX_DEFAULT;
	p->budget.max = cfg->capture_budget ? cfg->capture_budget : PIPELINE_CAPTURE_BUDGET;
	p->clock_offset_ns = decoder_clock_offset();
	p->clock_checked_ms = loop_now_ms();
	return p;
}

void pipeline_destroy(struct pipeline *p)
{
	if (!p)
		return;
	proctable_fini(&p->table);
	builds_fini(&p->builds);
	workspace_roots_free(p->roots);
	free(p);
}

/* Is this path (absolute) in one of the student's homework directories?
 * Sets v->hw, or v->drop when not. */
static bool in_homework(const struct pipeline *p, const struct identity *id, struct verdict *v)
{
	int n = path_homework_in(p->roots, id, v->target, p->cfg.hw_max, true,
				 v->hw, sizeof(v->hw));

	if (n >= 0)
		return true;
	v->drop = n == PATH_HW_OTHER_STUDENT ? DROP_OTHER_STUDENT : DROP_OUTSIDE;
	return false;
}

/* A source file or script named in argv, resolved against cwd, inside a
 * homework directory. */
static bool source_in_homework(const struct pipeline *p, const struct process *proc,
			       const struct identity *id, const char *arg, struct verdict *v)
{
	if (!arg || path_resolve(proc->cwd, arg, v->target, sizeof(v->target)) < 0) {
		v->drop = DROP_NO_SOURCE;
		return false;
	}
	return in_homework(p, id, v);
}

/* clang re-executing itself as its own compiler proper or assembler
 * ("clang -cc1 ... main.c"), as gcc runs cc1 and as: not a student's
 * compile, and reporting it would log every build twice. */
static bool compiler_helper(const struct process *proc)
{
	return proc->argc > 1 && proc->argv[1] &&
	       (strcmp(proc->argv[1], "-cc1") == 0 || strcmp(proc->argv[1], "-cc1as") == 0);
}

static enum pipeline_result judge(const struct pipeline *p, const struct process *proc,
				  const struct identity *id, struct verdict *v)
{
	/* A program lying in a homework directory is the student's own,
	 * whatever its name: a binary called python3 or gcc included. */
	if (proc->exe && path_normalize(proc->exe, v->target, sizeof(v->target)) == 0) {
		if (in_homework(p, id, v)) {
			v->type = PROCESS_USER_BINARY;
			v->endpoint = ENDPOINT_RUN;
			return PIPELINE_SUCCESS;
		}
		if (v->drop == DROP_OTHER_STUDENT) {
			v->type = PROCESS_USER_BINARY;
			return PIPELINE_FILTERED;
		}
		v->drop = DROP_NONE;
		v->target[0] = '\0';
	}
	v->type = classifier_classify(p->cfg.classifier, proc->exe);
	if (process_type_is_compiler(v->type)) {
		if (compiler_helper(proc))
			return PIPELINE_NONTARGET;
		v->endpoint = ENDPOINT_BUILD;
		if (!source_in_homework(p, proc, id, argv_compiler_source(proc->argc, proc->argv), v))
			return PIPELINE_FILTERED;
		return PIPELINE_SUCCESS;
	}
	if (v->type == PROCESS_PYTHON) {
		v->endpoint = ENDPOINT_RUN;
		if (!source_in_homework(p, proc, id, argv_python_script(proc->argc, proc->argv), v))
			return PIPELINE_FILTERED;
		return PIPELINE_SUCCESS;
	}
	return PIPELINE_NONTARGET;
}

static void count_truncation(const struct process *proc)
{
	if (proc->flags & PROCMON_F_ARGS_TRUNCATED)
		metrics_add(M_EVENTS_TRUNCATED, 0, TRUNC_ARGV, 1);
	if (proc->flags & PROCMON_F_EXE_TRUNCATED)
		metrics_add(M_EVENTS_TRUNCATED, 0, TRUNC_EXE, 1);
	if (proc->flags & PROCMON_F_CWD_TRUNCATED)
		metrics_add(M_EVENTS_TRUNCATED, 0, TRUNC_CWD, 1);
}

static enum pipeline_result send_report(struct pipeline *p, const struct process *proc,
					const struct identity *id, enum endpoint_type endpoint,
					enum process_type type, const char *hw, const char *target,
					const struct insight *insight)
{
	struct proc_report r = {
		.endpoint = endpoint,
		.type = type,
		.proc = proc,
		.id = id,
		.hw = hw,
		.target_path = target,
		.insight = insight,
	};
	char *path, *body;

	if (payload_build(&r, &path, &body) < 0) {
		log_error("pipeline", "cannot build payload for pid %u", proc->pid);
		return PIPELINE_FAILURE;
	}
	log_debug("pipeline", "%s %s pid=%u exit=%d", process_type_name(type), path,
		  proc->pid, proc->exit_code);
	/* A full queue drops and counts inside the sender; the pipeline did
	 * its part either way. */
	sender_post(p->cfg.sender, SERVICE_PROCMON, endpoint, path, body);
	trace_feed(p->cfg.trace, &(struct trace_row){ .proc = proc, .id = id, .type = type,
			.hw = hw, .target = target, .result = "sent", .exited = true });
	active_host_seen(proc->hostname, (double)proc->exit_wall_ns / 1e9);
	return PIPELINE_SUCCESS;
}

/* Everything that can be decided at exec: who (the hostname), and whether
 * and as what the process is reported. */
static enum pipeline_result judge_exec(struct pipeline *p, const struct process *proc,
				       struct identity *id, struct verdict *v)
{
	enum pipeline_result result;

	count_truncation(proc);
	if (identity_parse(proc->hostname, p->cfg.host_prefix, id) < 0) {
		char esc[256];

		metrics_inc(M_IDENTITY_INVALID);
		log_debug("pipeline", "malformed hostname \"%s\" (pid %u): not a student container",
			  log_escape(proc->hostname, esc, sizeof(esc)), proc->pid);
		trace_feed(p->cfg.trace, &(struct trace_row){ .proc = proc,
				.result = "invalid_identity" });
		return PIPELINE_NONTARGET;
	}
	if (p->cfg.student_seen)
		p->cfg.student_seen(p->cfg.student_seen_arg, id);
	result = judge(p, proc, id, v);
	if (result != PIPELINE_SUCCESS)
		trace_feed(p->cfg.trace, &(struct trace_row){ .proc = proc, .id = id,
				.type = v->type, .hw = v->hw, .target = v->target,
				.result = result == PIPELINE_FILTERED ?
					  metrics_value_name(M_PIPELINE_DROPPED, v->drop) :
					  "nontarget" });
	if (result == PIPELINE_FILTERED) {
		char esc[512];

		count_drop(v->drop, 1);
		log_debug("pipeline", "%s pid %u of %s not reported (%s): %s",
			  process_type_name(v->type), proc->pid, proc->hostname,
			  metrics_value_name(M_PIPELINE_DROPPED, v->drop),
			  log_escape(v->target, esc, sizeof(esc)));
	}
	return result;
}

enum pipeline_result pipeline_process(struct pipeline *p, const struct process *proc)
{
	struct identity id;
	struct verdict v = { 0 };
	enum pipeline_result result = judge_exec(p, proc, &id, &v);

	if (result != PIPELINE_SUCCESS)
		return result;
	return send_report(p, proc, &id, v.endpoint, v.type, v.hw, v.target, NULL);
}

/* NTP may step the wall clock; refresh the monotonic->wall offset now and
 * then rather than per record. */
static long long clock_offset(struct pipeline *p)
{
	long long now = loop_now_ms();

	if (now - p->clock_checked_ms > 1000) {
		p->clock_offset_ns = decoder_clock_offset();
		p->clock_checked_ms = now;
	}
	return p->clock_offset_ns;
}

/* The table's drops since last time, into pipeline_evicted_total. */
static void count_evictions(struct pipeline *p)
{
	metrics_add(M_PIPELINE_EVICTED, 0, EVICT_FULL, p->table.evicted - p->evicted);
	metrics_add(M_PIPELINE_EVICTED, 0, EVICT_STALE, p->table.stale - p->stale);
	p->evicted = p->table.evicted;
	p->stale = p->table.stale;
}

/* The CAPTURE class of a target. */
static unsigned capture_class(enum process_type type)
{
	if (process_type_is_compiler(type))
		return CAPTURE_BUILD;
	return type == PROCESS_PYTHON ? CAPTURE_PYTHON : CAPTURE_BINARY;
}

/* A build keeps the head of its stderr (the first errors explain the
 * rest), a run the tail (the traceback, the assertion, come last). */
static void follow_output(struct pipeline *p, struct followed *f)
{
	unsigned cls = capture_class(f->type);
	long hwdir = path_homework_prefix(p->roots, &f->id, f->target, p->cfg.hw_max);

	f->hwdir_len = hwdir > 0 ? (size_t)hwdir : 0;
	f->capturing = (p->cfg.capture & cls) != 0;
	if (cls == CAPTURE_BUILD)
		capture_buf_init(&f->err, CAPTURE_HEAD, p->cfg.diag_max_bytes, &p->budget);
	else if (cls == CAPTURE_PYTHON)
		capture_buf_init(&f->err, CAPTURE_TAIL, p->cfg.traceback_max_bytes, &p->budget);
	else
		capture_buf_init(&f->err, CAPTURE_TAIL, INSIGHT_BINARY_STDERR_MAX, &p->budget);
	if (cls == CAPTURE_BINARY) {
		const char *by = builds_lookup(&p->builds, f->proc.hostname, f->target);

		f->built_by = by ? strdup(by) : NULL;
	}
}

static void count_capture(enum capture_drop why)
{
	metrics_add(M_CAPTURE_DROPPED, 0, why, 1);
}

void pipeline_output(struct pipeline *p, unsigned int tgid, unsigned long long start_time,
		     unsigned int flags, const char *data, size_t size)
{
	struct proc_entry *e = proctable_find(&p->table, tgid, start_time);
	struct followed *f;
	long kept;

	if (!e || !e->followed) {
		count_capture(CAPTURE_DROP_NOT_FOLLOWED);
		return;
	}
	f = hashmap_entry(e, struct followed, e);
	if (!f->capturing) {
		count_capture(CAPTURE_DROP_NOT_FOLLOWED);
		return;
	}
	if (flags & PROCMON_OUT_BUDGET)
		count_capture(CAPTURE_DROP_BUDGET);
	if (flags & PROCMON_OUT_CUT)
		count_capture(CAPTURE_DROP_CUT);
	f->kernel_cut = f->kernel_cut || (flags & (PROCMON_OUT_BUDGET | PROCMON_OUT_CUT));
	kept = capture_buf_append(&f->err, data, size);
	if (kept < 0)
		count_capture(CAPTURE_DROP_BUDGET);
	else if ((size_t)kept < size && f->err.mode == CAPTURE_HEAD)
		count_capture(CAPTURE_DROP_CUT);
	metrics_set(M_CAPTURE_BYTES, 0, 0, (double)p->budget.used);
}

/*
 * An exec: judged at once.  A target is followed to its exit; anything
 * else is counted now and remembered only as "seen" (the bare entry), so
 * that its exit is not mistaken for one whose exec was lost.
 */
static int on_exec_record(struct pipeline *p, const void *data, size_t size)
{
	struct verdict v = { 0 };
	struct process proc;
	struct identity id;
	struct followed *f;
	enum pipeline_result result;
	size_t tlen;

	if (decoder_decode_exec(data, size, &proc) < 0) {
		log_warn("pipeline", "malformed exec record of %zu bytes dropped", size);
		return PIPELINE_FAILURE;
	}
	result = judge_exec(p, &proc, &id, &v);
	tlen = strlen(v.target) + 1;
	f = result == PIPELINE_SUCCESS ? malloc(sizeof(*f) + tlen) : NULL;
	if (f) {
		*f = (struct followed){ .e.followed = true, .proc = proc, .id = id,
					.endpoint = v.endpoint, .type = v.type };
		memcpy(f->hw, v.hw, sizeof(f->hw));
		memcpy(f->target, v.target, tlen);
		follow_output(p, f);
		proctable_exec(&p->table, proc.pid, proc.start_time, &f->e);
		count_evictions(p);
		return -1;	/* counted at its exit */
	}
	/* Not a target (or no memory to follow it): seen, so that its exit is
	 * not taken for one whose exec was lost. */
	proctable_exec(&p->table, proc.pid, proc.start_time, calloc(1, sizeof(struct proc_entry)));
	count_evictions(p);
	process_free(&proc);
	return result == PIPELINE_SUCCESS ? PIPELINE_FAILURE : result;
}

/* A successful build's output, for the runs of the program it made. */
static void remember_build(struct pipeline *p, const struct followed *f, const struct insight *in)
{
	char id[EVENT_ID_LEN];

	if (!in->has_args || !in->args.output || f->proc.exit_code != 0)
		return;
	event_id_process(&f->proc, id, sizeof(id));
	if (builds_record(&p->builds, f->proc.hostname, in->args.output, in->args.links, id) < 0)
		log_warn("pipeline", "no memory to remember the output of build pid %u", f->proc.pid);
	metrics_add(M_BUILDS_EVICTED, 0, 0, p->builds.evicted - p->builds_evicted);
	p->builds_evicted = p->builds.evicted;
}

/* The report of a followed target at its exit, with what its stderr and
 * argv tell. */
static enum pipeline_result report_followed(struct pipeline *p, struct followed *f)
{
	struct insight_input ii = {
		.type = f->type, .proc = &f->proc, .err = f->capturing ? &f->err : NULL,
		.kernel_cut = f->kernel_cut, .homework_dir = f->target,
		.homework_dir_len = f->hwdir_len, .built_by = f->built_by,
	};
	struct insight in;
	enum pipeline_result result;

	if (insight_build(&ii, &in) < 0) {
		/* Without memory for the extras the report still goes out. */
		log_warn("pipeline", "no memory for the stderr and diagnostics of pid %u",
			 f->proc.pid);
		insight_free(&in);
		return send_report(p, &f->proc, &f->id, f->endpoint, f->type, f->hw, f->target,
				   NULL);
	}
	result = send_report(p, &f->proc, &f->id, f->endpoint, f->type, f->hw, f->target, &in);
	if (result == PIPELINE_SUCCESS && process_type_is_compiler(f->type))
		remember_build(p, f, &in);
	insight_free(&in);
	return result;
}

/* An exit: the report of a followed target; nothing for the rest. */
static int on_exit_record(struct pipeline *p, const void *data, size_t size)
{
	struct proc_exit ex;
	struct proc_entry *e;
	struct followed *f;
	enum pipeline_result result;

	if (decoder_decode_exit(data, size, &ex) < 0) {
		log_warn("pipeline", "malformed exit record of %zu bytes dropped", size);
		return PIPELINE_FAILURE;
	}
	e = proctable_exit(&p->table, ex.tgid, ex.start_time);
	count_evictions(p);
	if (!e) {
		metrics_inc(M_PIPELINE_UNMATCHED);
		return -1;
	}
	if (!e->followed) {
		release(e);
		return -1;
	}
	f = hashmap_entry(e, struct followed, e);
	decoder_apply_exit(&f->proc, &ex, clock_offset(p));
	result = report_followed(p, f);
	release(e);
	return result;
}

/* stderr of a marked process: to the followed target it belongs to.  Not
 * a process record, so in no pipeline_events_total bucket but failure. */
static int on_output_record(struct pipeline *p, const void *data, size_t size)
{
	struct proc_output o;

	if (decoder_decode_output(data, size, &o) < 0) {
		log_warn("pipeline", "malformed output record of %zu bytes dropped", size);
		return PIPELINE_FAILURE;
	}
	pipeline_output(p, o.tgid, o.start_time, o.flags, o.data, o.size);
	return -1;
}

void pipeline_record(void *arg, const void *data, size_t size)
{
	struct pipeline *p = arg;
	long long start = loop_now_ns();
	int result;

	switch (decoder_kind(data, size)) {
	case PROCMON_EXEC:
		result = on_exec_record(p, data, size);
		break;
	case PROCMON_EXIT:
		result = on_exit_record(p, data, size);
		break;
	case PROCMON_OUTPUT:
		result = on_output_record(p, data, size);
		break;
	default:
		log_warn("pipeline", "kernel record of %zu bytes and unknown kind dropped", size);
		result = PIPELINE_FAILURE;
		break;
	}
	if (result < 0)
		return;
	metrics_add(M_PIPELINE_EVENTS, 0, (unsigned)result, 1);
	metrics_observe(M_PIPELINE_DURATION, 0, (double)(loop_now_ns() - start) / 1e9);
}
