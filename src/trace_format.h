/*
 * trace_format.h - the client side of `jcode-watcher trace`: which of the
 * agent's lines (judge/trace_feed.h) to show, and how.
 *
 * The table is execsnoop's kind of view:
 *
 *   TIME     STUDENT     HW   TYPE   EXIT      DUR CMD
 *   08:12:01 202012345   hw1  build     0   41.2ms gcc main.c -o a.out
 *
 * with a RESULT column before CMD under --all.  Everything in a row but
 * the padding comes from students (argv above all), so every field is
 * escaped: a control character, DEL, a C1 control (U+0080..U+009F, which
 * terminals also obey), a line or paragraph separator or a bidirectional
 * override becomes \n, \t, \r, \\, \xHH or \uHHHH, and no command line can
 * start a second row, move the cursor or recolour the terminal.  -o json
 * prints each shown line as ASCII-only JSON, for the same reason.
 */
#ifndef JCW_TRACE_FORMAT_H
#define JCW_TRACE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

enum trace_output { TRACE_TABLE, TRACE_JSON };

struct trace_options {
	bool all;		/* also what was not sent, with why */
	const char *student;	/* only this student id; NULL: everyone */
	const char *type;	/* build, run (python or binary), python, binary, other; NULL: any */
	enum trace_output output;
};

/* What one line of the agent's turned into. */
enum trace_line_kind {
	TRACE_LINE_ROW,		/* *out is the text to print (with its newline) */
	TRACE_LINE_SKIP,	/* a row the options leave out */
	TRACE_LINE_DROPPED,	/* {"dropped":N}: *dropped = N rows this client missed */
	TRACE_LINE_ERROR,	/* {"error":"..."}: *out is the agent's message, escaped */
};

/* Is this a --type the client knows? */
bool trace_type_valid(const char *type);

/* The table's header line (with its newline), or "" for JSON. */
const char *trace_header(const struct trace_options *opt);

/* Judge and format one line (len bytes, no newline).  Returns a
 * trace_line_kind, *out malloc'd for ROW and ERROR; or -EINVAL for a line
 * that is not one of the agent's, -ENOMEM. */
int trace_format_line(const char *line, size_t len, const struct trace_options *opt,
		      char **out, unsigned long long *dropped);

/* Escape s for a terminal (see above) into a malloc'd string; NULL on ENOMEM. */
char *trace_escape(const char *s);

#endif
