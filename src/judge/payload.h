/*
 * payload.h - turn one judged process into the API's path and JSON body.
 *
 * The API contract (README.md, "What is sent") fixes six fields per endpoint;
 * everything after them is an extra the backend ignores but people debugging
 * a student's run are glad to have (signal, duration, pids, truncation).
 * A build also carries "compiler" ("gcc-12") and a Python run
 * "python_version" ("3.12"), from the executable's path, or null when the
 * path shows none (classifier_compiler_name(), classifier_python_version()).
 */
#ifndef JCW_PAYLOAD_H
#define JCW_PAYLOAD_H

#include <stddef.h>

#include "classifier.h"
#include "identity.h"
#include "insight.h"
#include "metrics.h"
#include "process.h"

struct proc_report {                 /* what the pipeline decided about one process */
	enum endpoint_type endpoint;     /* ENDPOINT_BUILD or ENDPOINT_RUN */
	enum process_type type;          /* GCC/GXX/CLANG for build; PYTHON or USER_BINARY for run */
	const struct process *proc;
	const struct identity *id;
	const char *hw;                  /* "hw1" */
	const char *target_path;         /* absolute, normalised: source file / script / executable */
	const struct insight *insight;   /* stderr, diagnostics, argv...; NULL: none of those fields */
};

/* Flags for json_dumps() of payload bodies: compact, one line, and reals short
 * enough that 12.345 stays "12.345" (jansson's default 17 digits would not). */
#define PAYLOAD_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

/* Build the endpoint path ("/api/os-1/hw1/202012345/logs/build") and the JSON
 * body (compact, one line, no trailing newline).  Both malloc'd.  Returns 0,
 * or -ENOMEM, or -EINVAL for a report that names no endpoint (*path, *body
 * NULL). */
int payload_build(const struct proc_report *r, char **path, char **body);

/* ISO 8601 UTC with microseconds and explicit offset:
 * "2026-11-23T07:19:40.123456+00:00". */
void payload_format_time(long long wall_ns, char *buf, size_t len);

/* "SIGSEGV" for 11, NULL for 0, "SIG42" for numbers without a name.
 * Written to buf, which is returned. */
const char *payload_signal_name(int sig, char *buf, size_t len);

/* Exec to exit in milliseconds, to the microsecond; 0 for crafted times
 * that run backwards. */
double payload_duration_ms(const struct process *p);

#endif
