/*
 * pipeline.h - judge one finished process and, when it is a compile or a
 * run of student work, hand the payload to the sender.
 *
 *   raw record -> decoder -> identity -> classifier -> path rules -> event -> sender
 *
 * Every record ends in exactly one pipeline_events_total{result} bucket, and
 * every "filtered" one (a compiler, Python or a student program that is not
 * reported) also in one pipeline_dropped_total{reason} bucket:
 *   no_source         a compiler with no source file in argv, Python with no
 *                     .py script (-c, -m, stdin, the REPL)
 *   outside_homework  the source, script or program is not in a homework dir
 *   other_student     it is, but below a templated workspace root filled in
 *                     with another student's names than the hostname's
 */
#ifndef JCW_PIPELINE_H
#define JCW_PIPELINE_H

#include <stddef.h>

#include "classifier.h"
#include "config.h"
#include "metrics.h"
#include "process.h"
#include "sender.h"
#include "trace_hub.h"

struct identity;

struct pipeline_config {
	const char *host_prefix;
	int hw_max;
	const struct classifier *classifier;
	struct sender *sender;
	/* WORKSPACE_ROOTS (see pathrules.h); NULL = PATHRULES_DEFAULT_ROOTS. */
	char *const *workspace_roots;
	size_t n_workspace_roots;
	int max_processes;	/* followed from exec to exit at once; 0: the default */
	/* stderr: the classes captured (CAPTURE: CAPTURE_BUILD, CAPTURE_PYTHON,
	 * CAPTURE_BINARY of config.h), how much a build keeps of its head
	 * (DIAG_MAX_BYTES) and a Python run of its tail (TRACEBACK_MAX_BYTES);
	 * 0: the defaults (16 KiB, 4 KiB).  All of it together stays within
	 * capture_budget bytes (0: PIPELINE_CAPTURE_BUDGET). */
	unsigned capture;
	size_t diag_max_bytes, traceback_max_bytes, capture_budget;
	size_t max_builds;	/* outputs remembered for built_by; 0: BUILDS_MAX_DEFAULT */
	struct trace_hub *trace;	/* `jcode-watcher trace` clients; NULL: none */
	/* Told of every exec in a student container (a valid hostname), the
	 * shell's included, before it is judged: filemon watches the
	 * workspaces of the students on this node.  NULL: nobody. */
	void (*student_seen)(void *arg, const struct identity *id);
	void *student_seen_arg;
};

#define PIPELINE_CAPTURE_BUDGET (64u << 20)

struct pipeline;

/* NULL on ENOMEM or a malformed workspace root (logged). */
struct pipeline *pipeline_create(const struct pipeline_config *cfg);
void pipeline_destroy(struct pipeline *p);

/* collector_record_fn: decode a raw record (copying it out of the ring
 * before anything else) and process it. */
void pipeline_record(void *pipeline, const void *data, size_t size);

/*
 * What a followed process (or one it started: cc1, as, ld) wrote to
 * stderr: kept for its report when its class is captured.  An output for
 * a process not followed is dropped and counted
 * (capture_dropped_total{reason="not_followed"}); flags are the kernel's
 * PROCMON_OUT_* (a cut write, output dropped before this one).
 */
void pipeline_output(struct pipeline *p, unsigned int tgid, unsigned long long start_time,
		     unsigned int flags, const char *data, size_t size);

/* Judge one decoded process; returns what became of it. */
enum pipeline_result pipeline_process(struct pipeline *p, const struct process *proc);

#endif
