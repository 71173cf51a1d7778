/*
 * insight.h - what a finished build or run tells an instructor beyond its
 * exit status: its stderr, the diagnostics in it, a Python exception, the
 * build that made a program, and (builds) what argv asked for.
 *
 * The pipeline gathers the process's stderr (capture_buf.c) and asks for
 * an insight at its exit; the payload writes it out.  What is not known is
 * absent, not empty: a run whose stderr was not captured (CAPTURE) has no
 * stderr, diagnostics or exception fields at all.
 */
#ifndef JCW_INSIGHT_H
#define JCW_INSIGHT_H

#include <stdbool.h>
#include <stddef.h>

#include "capture_buf.h"
#include "classifier.h"
#include "compile_args.h"
#include "diagnostics.h"
#include "process.h"

/* The tail of a binary run's stderr kept (sent only when it crashed). */
#define INSIGHT_BINARY_STDERR_MAX 4096

struct insight_input {
	enum process_type type;		/* a compiler, PROCESS_PYTHON or PROCESS_USER_BINARY */
	const struct process *proc;	/* ended: exit status and signal known */
	const struct capture_buf *err;	/* NULL: stderr was not captured */
	bool kernel_cut;		/* the kernel cut or dropped some of it */
	const char *homework_dir;	/* absolute; diagnostics' paths are made relative to it */
	size_t homework_dir_len;
	const char *built_by;		/* binary runs: the build's event id, or NULL */
};

struct insight {
	bool has_stderr;		/* send the stderr field */
	char *stderr_text;		/* kept bytes, NUL-terminated (may hold NULs) */
	size_t stderr_len;
	bool stderr_cut;		/* bytes were left out: "stderr" in truncated */
	bool has_diagnostics;		/* builds with stderr */
	struct diag_list diags;		/* files relative to the homework directory when in it */
	bool has_args;			/* builds */
	struct compile_args args;
	bool has_exception;		/* Python runs with stderr */
	char exception[128];		/* "" for null */
	bool is_binary;
	const char *built_by;		/* binary runs; NULL for null */
};

/* 0 or -ENOMEM; release with insight_free() either way. */
int insight_build(const struct insight_input *in, struct insight *out);
void insight_free(struct insight *in);

/*
 * A diagnostic's file as the payload names it: resolved against cwd and
 * made relative to the homework directory when it lies in it ("src/a.c"),
 * else absolute; a pseudo-file ("<command-line>", "<stdin>") unchanged.
 * malloc'd; NULL on ENOMEM.
 */
char *insight_diag_path(const char *file, const char *cwd, const char *hwdir, size_t hwdir_len);

#endif
