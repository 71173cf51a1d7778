/*
 * diagnostics.h - what a compiler's, Python's or a program's standard
 * error says, read the way a human would.
 *
 * The input is whatever the process wrote (capture_buf.c): any bytes,
 * colour codes (gcc -fdiagnostics-color=always, clang's colours, gcc's OSC 8
 * links), NULs, CRLF, lines of any length.  Nothing here trusts it.
 *
 * Compiler diagnostics (gcc and clang):
 *   FILE:LINE:COL: SEVERITY: MESSAGE       the usual form
 *   FILE:LINE: SEVERITY: MESSAGE           -fno-show-column
 *   PROG: SEVERITY: MESSAGE                a tool without a location
 *                                          ("cc1: fatal error: x.c: No such file")
 *   LOC: undefined reference to `f'        the linker (GNU ld): an error without a
 *   LOC: multiple definition of `f'...     line, LOC being FILE:(.text+0x5),
 *                                          or FILE:LINE with debug information
 *   .../ld: cannot find -lfoo: ...         the linker: an error, no file
 * SEVERITY is error, fatal error, internal compiler error or "sorry,
 * unimplemented" (all counted as "error"), warning, or note (and clang's
 * remark, as "note").  FILE may hold ':' ("my:file.c:3:5: error: ..."): the
 * location ends at the FIRST ":LINE[:COL]: SEVERITY: " that follows it.
 * Everything else (source excerpts, carets, "In function", "N errors
 * generated", "compilation terminated.") is context, not a diagnostic.
 *
 * The driver's closing line, "collect2: error: ld returned 1 exit status"
 * or "clang: error: linker command failed with exit code 1", is listed and
 * counted only when no error came before it: it repeats the linker's own
 * errors (one undefined reference is one error, not two), but a link that
 * failed without a line we recognise still shows as an error.
 */
#ifndef JCW_DIAGNOSTICS_H
#define JCW_DIAGNOSTICS_H

#include <stdbool.h>
#include <stddef.h>

/* Diagnostics listed at most; the counts go on past it (omitted says how
 * many were not listed). */
#define DIAG_LIST_MAX 256

enum diag_severity { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE };

struct diag {
	char *file;		/* as the compiler printed it; NULL when none */
	unsigned line, column;	/* 0 when not given */
	enum diag_severity severity;
	char *message;		/* colour codes and NULs removed; may not be UTF-8 */
};

struct diag_list {
	struct diag *v;
	size_t n, cap;
	unsigned long errors, warnings, notes;
	unsigned long omitted;	/* past DIAG_LIST_MAX: counted, not listed */
};

/* Parse text[0..len) into l (zeroed by the caller or by diag_list_free()).
 * 0, or -ENOMEM (l then holds what was parsed before). */
int diag_parse(const char *text, size_t len, struct diag_list *l);

void diag_list_free(struct diag_list *l);

/* "error", "warning", "note". */
const char *diag_severity_name(enum diag_severity s);

/*
 * Python: the exception type of a traceback's final line ("ZeroDivisionError"
 * of "ZeroDivisionError: division by zero", "json.decoder.JSONDecodeError",
 * "KeyboardInterrupt"), when the text is a traceback (it has a
 * "Traceback (most recent call last):" line or a '  File "' line, as a
 * SyntaxError's has).  Written to buf.  0, -ENOENT when there is none,
 * -ENOSPC when it does not fit.
 */
int diag_python_exception(const char *text, size_t len, char *buf, size_t buflen);

/* A student program's report of its own failure: a failed assert()
 * (glibc's "Assertion `x' failed.", musl's "Assertion failed:"), or a
 * sanitizer's (AddressSanitizer, LeakSanitizer, ThreadSanitizer,
 * MemorySanitizer, UBSan's "runtime error:"). */
bool diag_crash_report(const char *text, size_t len);

#endif
