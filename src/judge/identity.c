/*
 * identity.c - parse container hostnames and workspace names.
 */
#include "identity.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define IDENTITY_DEFAULT_PREFIX "jcode-"
/* A UTS hostname is at most 64 bytes (__NEW_UTS_LEN). */
#define IDENTITY_HOST_MAX 64
#define IDENTITY_ID_MAX 20

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Not isalnum(): that would follow the locale, and names are ASCII. */
static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Length of the run of bytes at s accepted by ok (at most max + 1, so an
 * overlong run is detectable without scanning an unbounded string). */
static size_t span(const char *s, bool (*ok)(char), size_t max)
{
	size_t n = 0;

	while (n <= max && s[n] && ok(s[n]))
		n++;
	return n;
}

static void copy_field(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A pod-name suffix: visible ASCII only, so no newline or stray byte can
 * ride along into logs. */
static bool suffix_ok(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

/* "{subject}-{division}-{student_id}" then end, or '-' + suffix when allowed. */
static int parse_body(const char *s, bool allow_suffix, struct identity *out)
{
	size_t subj, div, id;
	const char *p = s;

	subj = span(p, is_alnum, IDENTITY_FIELD_LEN - 1);
	if (subj == 0 || p[subj] != '-')
		return -EINVAL;
	p += subj + 1;
	div = span(p, is_digit, IDENTITY_FIELD_LEN - 1);
	if (div == 0 || p[div] != '-')
		return -EINVAL;
	/* class_div must fit its field as a whole. */
	if (subj + 1 + div > IDENTITY_FIELD_LEN - 1)
		return -EINVAL;
	p += div + 1;
	id = span(p, is_digit, IDENTITY_ID_MAX);
	if (id == 0 || id > IDENTITY_ID_MAX)
		return -EINVAL;
	if (p[id] != '\0' && !(allow_suffix && p[id] == '-' && suffix_ok(p + id + 1)))
		return -EINVAL;

	copy_field(out->subject, s, subj);
	copy_field(out->division, s + subj + 1, div);
	copy_field(out->student_id, p, id);
	copy_field(out->class_div, s, subj + 1 + div);
	return 0;
}

int identity_parse(const char *hostname, const char *prefix, struct identity *out)
{
	size_t plen;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!hostname)
		return -EINVAL;
	if (!prefix)
		prefix = IDENTITY_DEFAULT_PREFIX;
	if (strnlen(hostname, IDENTITY_HOST_MAX + 1) > IDENTITY_HOST_MAX)
		return -EINVAL;
	plen = strlen(prefix);
	if (strncmp(hostname, prefix, plen) != 0)
		return -EINVAL;
	if (parse_body(hostname + plen, true, out) < 0) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	return 0;
}

int identity_parse_workspace(const char *name, struct identity *out)
{
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!name)
		return -EINVAL;
	return parse_body(name, false, out);
}

bool identity_is_workspace(const char *name)
{
	struct identity id;

	return identity_parse_workspace(name, &id) == 0;
}
