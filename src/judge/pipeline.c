/*
 * pipeline.c - see pipeline.h.
 */
#include "pipeline.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "active_hosts.h"
#include "decoder.h"
#include "payload.h"
#include "identity.h"
#include "log.h"
#include "loop.h"
#include "pathrules.h"

struct pipeline {
	struct pipeline_config cfg;
	struct workspace_roots *roots;
	long long clock_offset_ns;
	long long clock_checked_ms;
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
	p->clock_offset_ns = decoder_clock_offset();
	p->clock_checked_ms = loop_now_ms();
	return p;
}

void pipeline_destroy(struct pipeline *p)
{
	if (!p)
		return;
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
					const struct identity *id, const struct verdict *v)
{
	struct proc_report r = {
		.endpoint = v->endpoint,
		.type = v->type,
		.proc = proc,
		.id = id,
		.hw = v->hw,
		.target_path = v->target,
	};
	char *path, *body;

	if (payload_build(&r, &path, &body) < 0) {
		log_error("pipeline", "cannot build payload for pid %u", proc->pid);
		return PIPELINE_FAILURE;
	}
	log_debug("pipeline", "%s %s pid=%u exit=%d", process_type_name(v->type), path,
		  proc->pid, proc->exit_code);
	/* A full queue drops and counts inside the sender; the pipeline did
	 * its part either way. */
	sender_post(p->cfg.sender, SERVICE_PROCMON, v->endpoint, path, body);
	active_host_seen(proc->hostname, (double)proc->exit_wall_ns / 1e9);
	return PIPELINE_SUCCESS;
}

enum pipeline_result pipeline_process(struct pipeline *p, const struct process *proc)
{
	struct identity id;
	struct verdict v = { 0 };
	enum pipeline_result result;

	count_truncation(proc);
	if (identity_parse(proc->hostname, p->cfg.host_prefix, &id) < 0) {
		char esc[256];

		metrics_inc(M_IDENTITY_INVALID);
		log_debug("pipeline", "malformed hostname \"%s\" (pid %u): not a student container",
			  log_escape(proc->hostname, esc, sizeof(esc)), proc->pid);
		return PIPELINE_NONTARGET;
	}
	result = judge(p, proc, &id, &v);
	if (result == PIPELINE_FILTERED) {
		char esc[512];

		count_drop(v.drop, 1);
		log_debug("pipeline", "%s pid %u of %s not reported (%s): %s",
			  process_type_name(v.type), proc->pid, proc->hostname,
			  metrics_value_name(M_PIPELINE_DROPPED, v.drop),
			  log_escape(v.target, esc, sizeof(esc)));
	}
	if (result != PIPELINE_SUCCESS)
		return result;
	return send_report(p, proc, &id, &v);
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

void pipeline_record(void *arg, const void *data, size_t size)
{
	struct pipeline *p = arg;
	long long start = loop_now_ns();
	struct process proc;
	enum pipeline_result result;

	if (decoder_decode(data, size, clock_offset(p), &proc) < 0) {
		log_warn("pipeline", "malformed kernel record of %zu bytes dropped", size);
		result = PIPELINE_FAILURE;
	} else {
		result = pipeline_process(p, &proc);
		process_free(&proc);
	}
	metrics_add(M_PIPELINE_EVENTS, 0, result, 1);
	metrics_observe(M_PIPELINE_DURATION, 0, (double)(loop_now_ns() - start) / 1e9);
}
