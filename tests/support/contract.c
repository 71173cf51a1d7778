/*
 * contract.c - see contract.h.
 */
#define _GNU_SOURCE		/* strchrnul */
#include "contract.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum field_type { T_STRING, T_DATETIME, T_INTEGER, T_PROCESS_TYPE };

struct field {
	const char *name;
	enum field_type type;
};

static const struct field build_fields[] = {
	{ "timestamp", T_DATETIME }, { "exit_code", T_INTEGER }, { "cmdline", T_STRING },
	{ "cwd", T_STRING }, { "binary_path", T_STRING }, { "target_path", T_STRING },
};
static const struct field run_fields[] = {
	{ "timestamp", T_DATETIME }, { "exit_code", T_INTEGER }, { "cmdline", T_STRING },
	{ "cwd", T_STRING }, { "target_path", T_STRING }, { "process_type", T_PROCESS_TYPE },
};
static const struct field snapshot_fields[] = { { "bytes", T_INTEGER } };

static int fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return n > 0;
}

/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM): the contract wants the offset. */
static bool datetime(const char *s)
{
	size_t n = strlen(s), i = 19;

	if (n < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2) || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
	    !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return false;
	if (s[i] == '.') {
		for (i++; isdigit((unsigned char)s[i]); i++)
			;
		if (i == 20)
			return false;
	}
	if (s[i] == 'Z')
		return s[i + 1] == '\0';
	return (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) && s[i + 3] == ':' &&
	       digits(s + i + 4, 2) && s[i + 6] == '\0';
}

static bool type_ok(json_t *v, enum field_type t)
{
	const char *s = json_string_value(v);

	switch (t) {
	case T_STRING:
		return json_is_string(v);
	case T_DATETIME:
		return s && datetime(s);
	case T_INTEGER:
		return json_is_integer(v);
	case T_PROCESS_TYPE:
		return s && (strcmp(s, "python") == 0 || strcmp(s, "binary") == 0);
	}
	return false;
}

static int check_body(const char *what, const char *body, const struct field *f, size_t n,
		      char *why, size_t len)
{
	json_error_t e;
	json_t *o = json_loads(body, 0, &e);
	size_t i;
	int rc = 0;

	if (!json_is_object(o)) {
		json_decref(o);
		return fail(why, len, "%s: body is not a JSON object", what);
	}
	for (i = 0; i < n && rc == 0; i++) {
		json_t *v = json_object_get(o, f[i].name);

		if (!v)
			rc = fail(why, len, "%s: missing field %s", what, f[i].name);
		else if (!type_ok(v, f[i].type))
			rc = fail(why, len, "%s: field %s has the wrong type", what, f[i].name);
	}
	json_decref(o);
	return rc;
}

/* Split "/api/a/b/c/d/e" into its components after "api"; their count. */
static size_t split(const char *url, const char *part[], size_t len[], size_t max)
{
	const char *p;
	size_t n = 0;

	if (strncmp(url, "/api/", 5) != 0)
		return 0;
	for (p = url + 5; n < max; n++) {
		const char *end = strchrnul(p, '/');

		part[n] = p;
		len[n] = (size_t)(end - p);
		if (!*end)
			return n + 1;
		p = end + 1;
	}
	return max + 1;
}

int contract_check(const char *url, const char *body, char *why, size_t len)
{
	const char *part[6];
	size_t plen[6], n = split(url ? url : "", part, plen, 5);

	if (n != 5) {
		fail(why, len, "%s: not an API path", url ? url : "(null)");
		return -ENOENT;
	}
	if (!digits(part[2], plen[2]))
		return fail(why, len, "path: student_id \"%.*s\" is not a valid integer",
			    (int)plen[2], part[2]);
	if (plen[3] == 4 && memcmp(part[3], "logs", 4) == 0) {
		if (plen[4] == 5 && memcmp(part[4], "build", 5) == 0)
			return check_body("build", body, build_fields, 6, why, len);
		if (plen[4] == 3 && memcmp(part[4], "run", 3) == 0)
			return check_body("run", body, run_fields, 6, why, len);
	}
	if (plen[4] < 15 || !digits(part[4], 8) || part[4][8] != '_' || !digits(part[4] + 9, 6) ||
	    (plen[4] > 15 && part[4][15] != '.'))
		return fail(why, len, "path: timestamp \"%.*s\" is not YYYYMMDD_HHMMSS",
			    (int)plen[4], part[4]);
	return check_body("snapshot", body, snapshot_fields, 1, why, len);
}

size_t contract_fields_before_insight(const json_t *body)
{
	static const char *const insight[] = {
		"cpu_ms", "cpu_user_ms", "cpu_sys_ms", "max_rss_kb", "minor_faults",
		"major_faults", "read_bytes", "write_bytes", "ctx_switches", "threads", "children",
		"output", "sources", "flags", "compile_only", "errors", "warnings", "diagnostics",
		"stderr", "exception", "built_by",
	};
	size_t n = json_object_size(body), i;

	for (i = 0; i < sizeof(insight) / sizeof(insight[0]); i++) {
		if (json_object_get(body, insight[i]))
			n--;
	}
	return n;
}
