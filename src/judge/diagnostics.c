/*
 * diagnostics.c - see diagnostics.h.
 *
 * Each line is first cleaned (colour and link escapes, NULs and a CR
 * before the newline removed) into a scratch copy; the forms are then
 * matched on the clean text, so a coloured log reads like a plain one.
 */
#define _GNU_SOURCE		/* memmem */
#include "diagnostics.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

#define ESC 0x1b
#define BEL 0x07

/* Length of the escape sequence at s[0] == ESC: CSI ("ESC [ ... final"),
 * OSC ("ESC ] ... BEL" or "... ESC \"), or ESC and one byte. */
static size_t escape_len(const char *s, size_t n)
{
	size_t i = 2;

	if (n < 2)
		return n;
	if (s[1] == '[') {
		while (i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x3f)
			i++;
		while (i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x2f)
			i++;
		return i < n ? i + 1 : n;
	}
	if (s[1] == ']') {
		for (; i < n; i++) {
			if (s[i] == BEL)
				return i + 1;
			if (s[i] == ESC && i + 1 < n && s[i + 1] == '\\')
				return i + 2;
		}
		return n;
	}
	return 2;
}

/* s[0..n) without escapes, NULs and a trailing CR, into out (room n + 1). */
static size_t clean_line(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		if (s[i] == ESC) {
			i += escape_len(s + i, n - i);
			continue;
		}
		if (s[i] != '\0')
			out[o++] = s[i];
		i++;
	}
	while (o > 0 && out[o - 1] == '\r')
		o--;
	out[o] = '\0';
	return o;
}

struct severity_word {
	const char *word;	/* followed by ": " */
	enum diag_severity severity;
};

static const struct severity_word severities[] = {
	{ "error", DIAG_ERROR },
	{ "fatal error", DIAG_ERROR },
	{ "internal compiler error", DIAG_ERROR },
	{ "sorry, unimplemented", DIAG_ERROR },
	{ "warning", DIAG_WARNING },
	{ "note", DIAG_NOTE },
	{ "remark", DIAG_NOTE },
};

/* " SEVERITY: " at s: the severity, and *rest the message after it. */
static bool severity_at(const char *s, enum diag_severity *sev, const char **rest)
{
	size_t i, n;

	if (*s != ' ')
		return false;
	s++;
	for (i = 0; i < sizeof(severities) / sizeof(severities[0]); i++) {
		n = strlen(severities[i].word);
		if (strncmp(s, severities[i].word, n) == 0 && s[n] == ':' &&
		    (s[n + 1] == ' ' || s[n + 1] == '\0')) {
			*sev = severities[i].severity;
			*rest = s[n + 1] ? s + n + 2 : s + n + 1;
			return true;
		}
	}
	return false;
}

/* A decimal 1..999999999 at *s, advancing past it; 0 when none. */
static unsigned number(const char **s)
{
	unsigned v = 0;
	int digits = 0;

	while (isdigit((unsigned char)**s)) {
		if (++digits > 9)
			return 0;
		v = v * 10 + (unsigned)(**s - '0');
		(*s)++;
	}
	return v;
}

struct parsed {
	const char *file;	/* into the line; NULL when none */
	size_t file_len;
	unsigned line, column;
	enum diag_severity severity;
	const char *message;
};

/* ":LINE[:COL]: SEVERITY: " or ": SEVERITY: " at s (a ':'). */
static bool location_at(const char *s, struct parsed *d)
{
	const char *p = s + 1;

	d->line = d->column = 0;
	if (isdigit((unsigned char)*p)) {
		d->line = number(&p);
		if (!d->line || *p != ':')
			return false;
		p++;
		if (isdigit((unsigned char)*p)) {
			d->column = number(&p);
			if (!d->column || *p != ':')
				return false;
			p++;
		}
	}
	return severity_at(p, &d->severity, &d->message);
}

static const char *base_name(const char *s, size_t n)
{
	const char *b = s;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '/')
			b = s + i + 1;
	}
	return b;
}

/* Is s[0..n) the name of a program of the toolchain rather than a file? */
static bool tool_name(const char *s, size_t n)
{
	static const char *const tools[] = {
		"cc1", "cc1plus", "cc1obj", "collect2", "as", "ld", "ld.bfd", "ld.gold",
		"ld.lld", "lld", "lto1", "lto-wrapper", "cc", "c++", "cpp",
	};
	const char *b = base_name(s, n);
	size_t bn = n - (size_t)(b - s), i;

	for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		if (strlen(tools[i]) == bn && memcmp(b, tools[i], bn) == 0)
			return true;
	}
	/* gcc, gcc-12, x86_64-linux-gnu-g++-12, clang, clang-14 */
	return (memmem(b, bn, "gcc", 3) || memmem(b, bn, "g++", 3) || memmem(b, bn, "clang", 5)) &&
	       !memchr(b, '.', bn);
}

static bool compiler_form(const char *line, struct parsed *d)
{
	const char *c;

	for (c = strchr(line, ':'); c; c = strchr(c + 1, ':')) {
		if (c == line || !location_at(c, d))
			continue;
		d->file = line;
		d->file_len = (size_t)(c - line);
		if (!d->line && tool_name(line, d->file_len))
			d->file = NULL;
		return true;
	}
	return false;
}

/* "FILE:(.text+0x5)", "FILE:12" or "FILE" (after any "/usr/bin/ld: "). */
static void linker_location(const char *loc, size_t n, struct parsed *d)
{
	const char *p;
	size_t i;

	for (i = n; i >= 2; i--) {	/* the last ": " ends a tool's prefix */
		if (loc[i - 2] == ':' && loc[i - 1] == ' ') {
			loc += i;
			n -= i;
			break;
		}
	}
	d->file = n ? loc : NULL;
	d->file_len = n;
	p = memchr(loc, ':', n);
	if (!p)
		return;
	d->file_len = (size_t)(p - loc);
	if (p[1] != '(') {
		const char *q = p + 1;
		unsigned line = number(&q);

		if (line && q == loc + n)
			d->line = line;
		else
			d->file_len = n;	/* a ':' of the name itself */
	}
}

static bool linker_form(const char *line, struct parsed *d)
{
	static const char *const marks[] = { ": undefined reference to ", ": multiple definition of " };
	const char *m = NULL, *ld;
	size_t i;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]) && !m; i++)
		m = strstr(line, marks[i]);
	*d = (struct parsed){ .severity = DIAG_ERROR };
	if (m) {
		d->message = m + 2;
		linker_location(line, (size_t)(m - line), d);
		return true;
	}
	ld = strstr(line, "ld: cannot find ");
	if (ld && (ld == line || ld[-1] == '/')) {
		d->message = ld + 4;
		return true;
	}
	return false;
}

/* The driver's "ld returned 1 exit status" / "linker command failed". */
static bool link_summary(const struct parsed *d)
{
	return d->severity == DIAG_ERROR && !d->line &&
	       (strncmp(d->message, "ld returned ", 12) == 0 ||
		strncmp(d->message, "linker command failed", 21) == 0);
}

static char *dup_n(const char *s, size_t n)
{
	char *c = malloc(n + 1);

	if (c) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

static void count(struct diag_list *l, enum diag_severity s)
{
	if (s == DIAG_ERROR)
		l->errors++;
	else if (s == DIAG_WARNING)
		l->warnings++;
	else
		l->notes++;
}

static int add(struct diag_list *l, const struct parsed *d)
{
	struct diag *x;

	count(l, d->severity);
	if (l->n >= DIAG_LIST_MAX) {
		l->omitted++;
		return 0;
	}
	if (ARRAY_RESERVE(l->v, l->n, l->cap, 16) < 0)
		return -ENOMEM;
	x = &l->v[l->n];
	*x = (struct diag){ .line = d->line, .column = d->column, .severity = d->severity };
	x->message = strdup(d->message);
	x->file = d->file ? dup_n(d->file, d->file_len) : NULL;
	if (!x->message || (d->file && !x->file)) {
		free(x->message);
		free(x->file);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int parse_line(struct diag_list *l, const char *line)
{
	struct parsed d = { 0 };

	if (!compiler_form(line, &d) && !linker_form(line, &d))
		return 0;
	if (link_summary(&d) && l->errors)
		return 0;
	return add(l, &d);
}

int diag_parse(const char *text, size_t len, struct diag_list *l)
{
	char *scratch;
	size_t at = 0;
	int rc = 0;

	if (!text || !len)
		return 0;
	scratch = malloc(len + 1);
	if (!scratch)
		return -ENOMEM;
	while (at < len && rc == 0) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;

		clean_line(text + at, n, scratch);
		rc = parse_line(l, scratch);
		at += n + 1;
	}
	free(scratch);
	return rc;
}

void diag_list_free(struct diag_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].file);
		free(l->v[i].message);
	}
	free(l->v);
	*l = (struct diag_list){ 0 };
}

const char *diag_severity_name(enum diag_severity s)
{
	switch (s) {
	case DIAG_ERROR:
		return "error";
	case DIAG_WARNING:
		return "warning";
	default:
		return "note";
	}
}

/* The length of a dotted Python name at s ("json.decoder.JSONDecodeError"), 0 when none. */
static size_t python_name(const char *s)
{
	size_t i = 0;

	for (;;) {
		if (!(isalpha((unsigned char)s[i]) || s[i] == '_'))
			return 0;
		while (isalnum((unsigned char)s[i]) || s[i] == '_')
			i++;
		if (s[i] != '.')
			return i;
		i++;
	}
}

static bool is_traceback(const char *text, size_t len)
{
	return memmem(text, len, "Traceback (most recent call last):", 34) ||
	       memmem(text, len, "  File \"", 8);
}

/* Does line (clean) read "Name" or "Name: message"?  The name's length, or 0. */
static size_t exception_line(const char *line)
{
	size_t n = python_name(line);

	if (!n || line[n] == '\0')
		return n;
	if (line[n] == ':' && (line[n + 1] == ' ' || line[n + 1] == '\0'))
		return n;
	return 0;
}

int diag_python_exception(const char *text, size_t len, char *buf, size_t buflen)
{
	size_t end = len, start, n;
	char *line;
	int rc = 0;

	if (!text || !is_traceback(text, len))
		return -ENOENT;
	while (end > 0 && isspace((unsigned char)text[end - 1]))
		end--;
	start = end;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	line = malloc(end - start + 1);
	if (!line)
		return -ENOMEM;
	clean_line(text + start, end - start, line);
	n = exception_line(line);
	if (!n) {
		rc = -ENOENT;
	} else if (n >= buflen) {
		rc = -ENOSPC;
	} else {
		memcpy(buf, line, n);
		buf[n] = '\0';
	}
	free(line);
	return rc;
}

/* glibc's "prog: file.c:5: main: Assertion `x' failed." */
static bool glibc_assertion(const char *text, size_t len)
{
	const char *a = memmem(text, len, ": Assertion `", 13);

	return a && memmem(a, len - (size_t)(a - text), "' failed.", 9);
}

bool diag_crash_report(const char *text, size_t len)
{
	static const char *const marks[] = {
		"Assertion failed", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
		"WARNING: ThreadSanitizer", "WARNING: MemorySanitizer", ": runtime error: ",
		"AddressSanitizer:DEADLYSIGNAL",
	};
	size_t i;

	if (!text)
		return false;
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		if (memmem(text, len, marks[i], strlen(marks[i])))
			return true;
	}
	return glibc_assertion(text, len);
}
