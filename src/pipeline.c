/*
 * pipeline.c - see pipeline.h.
 */
#include "pipeline.h"

#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include "decoder.h"
#include "event.h"
#include "identity.h"
#include "log.h"
#include "loop.h"
#include "pathrules.h"

struct pipeline {
	struct pipeline_config cfg;
	long long clock_offset_ns;
	long long clock_checked_ms;
};

/* What the rules decided, before the payload is built. */
struct verdict {
	enum endpoint_type endpoint;
	enum process_type type;
	char hw[16];
	char target[PATH_MAX];
};

struct pipeline *pipeline_create(const struct pipeline_config *cfg)
{
	struct pipeline *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->clock_offset_ns = decoder_clock_offset();
	p->clock_checked_ms = loop_now_ms();
	return p;
}

void pipeline_destroy(struct pipeline *p)
{
	free(p);
}

/* A source file or script named in argv, resolved against cwd, inside a
 * homework directory. */
static bool source_in_homework(const struct pipeline *p, const struct process *proc,
			       const char *arg, struct verdict *v)
{
	if (!arg || path_resolve(proc->cwd, arg, v->target, sizeof(v->target)) < 0)
		return false;
	return path_homework(v->target, p->cfg.hw_max, true, v->hw, sizeof(v->hw)) >= 0;
}

static enum pipeline_result judge(const struct pipeline *p, const struct process *proc,
				  struct verdict *v)
{
	v->type = classifier_classify(p->cfg.classifier, proc->exe);
	if (process_type_is_compiler(v->type)) {
		v->endpoint = ENDPOINT_BUILD;
		if (!source_in_homework(p, proc, argv_compiler_source(proc->argc, proc->argv), v))
			return PIPELINE_FILTERED;
		return PIPELINE_SUCCESS;
	}
	if (v->type == PROCESS_PYTHON) {
		v->endpoint = ENDPOINT_RUN;
		if (!source_in_homework(p, proc, argv_python_script(proc->argc, proc->argv), v))
			return PIPELINE_FILTERED;
		return PIPELINE_SUCCESS;
	}
	/* Anything else counts only when the program itself lives in a
	 * homework directory: a student's own binary. */
	if (path_normalize(proc->exe, v->target, sizeof(v->target)) < 0 ||
	    path_homework(v->target, p->cfg.hw_max, true, v->hw, sizeof(v->hw)) < 0)
		return PIPELINE_NONTARGET;
	v->type = PROCESS_USER_BINARY;
	v->endpoint = ENDPOINT_RUN;
	return PIPELINE_SUCCESS;
}

static void count_truncation(const struct process *proc)
{
	if (proc->flags & PROCMON_F_ARGS_TRUNCATED)
		metrics_truncated(TRUNC_ARGV);
	if (proc->flags & PROCMON_F_EXE_TRUNCATED)
		metrics_truncated(TRUNC_EXE);
	if (proc->flags & PROCMON_F_CWD_TRUNCATED)
		metrics_truncated(TRUNC_CWD);
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

	if (event_build(&r, &path, &body) < 0) {
		log_error("pipeline", "cannot build payload for pid %u", proc->pid);
		return PIPELINE_FAILURE;
	}
	log_debug("pipeline", "%s %s pid=%u exit=%d", process_type_name(v->type), path,
		  proc->pid, proc->exit_code);
	/* A full queue drops and counts inside the sender; the pipeline did
	 * its part either way. */
	sender_post(p->cfg.sender, SERVICE_PROCMON, v->endpoint, path, body);
	metrics_active_host(proc->hostname, (double)proc->exit_wall_ns / 1e9);
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

		metrics_identity_invalid();
		log_debug("pipeline", "malformed hostname \"%s\" (pid %u): not a student container",
			  log_escape(proc->hostname, esc, sizeof(esc)), proc->pid);
		return PIPELINE_NONTARGET;
	}
	result = judge(p, proc, &v);
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
	metrics_pipeline_event(result);
	metrics_pipeline_duration((double)(loop_now_ns() - start) / 1e9);
}
