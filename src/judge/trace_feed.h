/*
 * trace_feed.h - one judged process as a line for `jcode-watcher trace`:
 * compact JSON, handed to the trace hub only while a client listens.
 *
 *   {"time":"2026-12-03T08:12:01.123456+00:00","student":"202012345",
 *    "class_div":"os-1","hostname":"jcode-os-1-202012345","hw":"hw1",
 *    "type":"build","program":"gcc","result":"sent","exit_code":0,
 *    "signal":null,"duration_ms":41.2,"pid":4242,"cmdline":"gcc main.c",
 *    "target":"/home/coder/project/hw1/main.c"}
 *
 * type is build (any compiler), python, binary or other; result is "sent"
 * or why not: no_source, outside_homework, other_student (the names of
 * pipeline_dropped_total), nontarget, invalid_identity.  What is not sent
 * is judged at exec and never followed to its exit, so its exit_code,
 * signal and duration_ms are null and time is when it was judged.
 */
#ifndef JCW_TRACE_FEED_H
#define JCW_TRACE_FEED_H

#include <stdbool.h>

#include "classifier.h"
#include "identity.h"
#include "process.h"
#include "trace_hub.h"

struct trace_row {
	const struct process *proc;
	const struct identity *id;	/* NULL: the hostname names no student */
	enum process_type type;
	const char *hw;			/* "hw1"; NULL or "" when none */
	const char *target;		/* source, script or program; NULL or "" when none */
	const char *result;		/* "sent" or the reason it was not */
	bool exited;			/* proc's exit fields are filled in */
};

/* The line, malloc'd, without a newline; NULL on ENOMEM. */
char *trace_feed_line(const struct trace_row *row);

/* Publish row when someone listens; costs one pointer test when nobody does. */
void trace_feed(struct trace_hub *hub, const struct trace_row *row);

#endif
