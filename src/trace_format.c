/*
 * trace_format.c - see trace_format.h.
 */
#define _GNU_SOURCE
#include "trace_format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "utf8.h"

/* The columns, one format for the header and the rows, so they align. */
#define ROW_HEAD "%-8s %-11s %-4s %-6s %4s %8s "
#define ROW_RESULT "%-16s "

static const char *const types[] = { "build", "run", "python", "binary", "other" };

bool trace_type_valid(const char *type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(type, types[i]))
			return true;
	return false;
}

const char *trace_header(const struct trace_options *opt)
{
	static char head[128];

	if (opt->output == TRACE_JSON)
		return "";
	if (opt->all)
		snprintf(head, sizeof(head), ROW_HEAD ROW_RESULT "%s\n", "TIME", "STUDENT", "HW",
			 "TYPE", "EXIT", "DUR", "RESULT", "CMD");
	else
		snprintf(head, sizeof(head), ROW_HEAD "%s\n", "TIME", "STUDENT", "HW", "TYPE",
			 "EXIT", "DUR", "CMD");
	return head;
}

/* Characters a terminal acts on, or that reorder or break what follows. */
static bool unsafe(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	       cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static size_t escape_one(unsigned cp, char *o)
{
	switch (cp) {
	case '\n':
		return (size_t)sprintf(o, "\\n");
	case '\t':
		return (size_t)sprintf(o, "\\t");
	case '\r':
		return (size_t)sprintf(o, "\\r");
	}
	if (cp < 0x80)
		return (size_t)sprintf(o, "\\x%02x", cp);
	return (size_t)sprintf(o, "\\u%04x", cp);
}

char *trace_escape(const char *s)
{
	size_t n = strlen(s), i = 0, o = 0, len;
	/* The worst case: every byte a lone bad byte, \xHH. */
	char *out = malloc(4 * n + 1);
	unsigned cp;

	if (!out)
		return NULL;
	while (i < n) {
		len = utf8_decode(s + i, n - i, &cp);
		if (len == 0) {		/* not UTF-8: show the byte */
			o += (size_t)sprintf(out + o, "\\x%02x", (unsigned char)s[i]);
			i++;
			continue;
		}
		if (cp == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (unsafe(cp)) {
			o += escape_one(cp, out + o);
		} else {
			memcpy(out + o, s + i, len);
			o += len;
		}
		i += len;
	}
	out[o] = '\0';
	return out;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool type_matches(const char *want, const char *type)
{
	if (!want)
		return true;
	if (!type)
		return false;
	if (!strcmp(want, "run"))
		return !strcmp(type, "python") || !strcmp(type, "binary");
	return !strcmp(want, type);
}

static bool shown(json_t *o, const struct trace_options *opt)
{
	const char *result = str(o, "result"), *student = str(o, "student");

	if (!opt->all && (!result || strcmp(result, "sent")))
		return false;
	if (opt->student && (!student || strcmp(opt->student, student)))
		return false;
	return type_matches(opt->type, str(o, "type"));
}

/* HH:MM:SS in local time, from the agent's ISO 8601 UTC time. */
static void clock_time(const char *iso, char *buf, size_t len)
{
	struct tm tm = { 0 };
	time_t t;

	if (!iso || !strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	t = timegm(&tm);
	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%H:%M:%S", &tm))
		snprintf(buf, len, "-");
}

static void exit_text(json_t *o, char *buf, size_t len)
{
	json_t *v = json_object_get(o, "exit_code");

	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, len, "-");
}

static void duration_text(json_t *o, char *buf, size_t len)
{
	json_t *v = json_object_get(o, "duration_ms");
	double ms = json_number_value(v);

	if (!json_is_number(v))
		snprintf(buf, len, "-");
	else if (ms < 1000)
		snprintf(buf, len, "%.1fms", ms);
	else
		snprintf(buf, len, "%.2fs", ms / 1000);
}

/* The fields as escaped text, in the order of the columns. */
enum { F_STUDENT, F_HW, F_TYPE, F_RESULT, F_CMD, NFIELDS };
static const char *const field_keys[NFIELDS] = { "student", "hw", "type", "result", "cmdline" };

static char *table_row(json_t *o, const struct trace_options *opt)
{
	char when[16], code[16], dur[24], *f[NFIELDS] = { 0 }, *row = NULL;
	int i;

	clock_time(str(o, "time"), when, sizeof(when));
	exit_text(o, code, sizeof(code));
	duration_text(o, dur, sizeof(dur));
	for (i = 0; i < NFIELDS; i++) {
		const char *v = str(o, field_keys[i]);

		f[i] = trace_escape(v && *v ? v : "-");
		if (!f[i])
			goto out;
	}
	if (opt->all && asprintf(&row, ROW_HEAD ROW_RESULT "%s\n", when, f[F_STUDENT], f[F_HW],
				 f[F_TYPE], code, dur, f[F_RESULT], f[F_CMD]) < 0)
		row = NULL;
	if (!opt->all && asprintf(&row, ROW_HEAD "%s\n", when, f[F_STUDENT], f[F_HW], f[F_TYPE],
				  code, dur, f[F_CMD]) < 0)
		row = NULL;
out:
	for (i = 0; i < NFIELDS; i++)
		free(f[i]);
	return row;
}

static char *json_row(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
				       JSON_REAL_PRECISION(15));
	char *row = NULL;

	if (text && asprintf(&row, "%s\n", text) < 0)
		row = NULL;
	free(text);
	return row;
}

/* {"dropped":N} and {"error":"..."}: the hub's own lines. */
static int hub_line(json_t *o, char **out, unsigned long long *dropped)
{
	json_t *d = json_object_get(o, "dropped");
	const char *e = str(o, "error");

	if (json_is_integer(d) && json_integer_value(d) > 0) {
		*dropped = (unsigned long long)json_integer_value(d);
		return TRACE_LINE_DROPPED;
	}
	if (!e)
		return -EINVAL;
	*out = trace_escape(e);
	return *out ? TRACE_LINE_ERROR : -ENOMEM;
}

int trace_format_line(const char *line, size_t len, const struct trace_options *opt,
		      char **out, unsigned long long *dropped)
{
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	int rc;

	*out = NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	if (!json_object_get(o, "result"))
		rc = hub_line(o, out, dropped);
	else if (!shown(o, opt))
		rc = TRACE_LINE_SKIP;
	else if (!(*out = opt->output == TRACE_JSON ? json_row(o) : table_row(o, opt)))
		rc = -ENOMEM;
	else
		rc = TRACE_LINE_ROW;
	json_decref(o);
	return rc;
}
