/*
 * classifier.c - exe path -> process type, by an ordered regex table.
 */
#include "classifier.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

struct classifier_rule {
	enum process_type type;
	regex_t re;
};

struct classifier {
	struct classifier_rule *rules;
	size_t count;
	size_t cap;
};

static const char *const type_names[] = {
	[PROCESS_UNKNOWN] = "unknown",
	[PROCESS_GCC] = "gcc",
	[PROCESS_GXX] = "g++",
	[PROCESS_CLANG] = "clang",
	[PROCESS_PYTHON] = "python",
	[PROCESS_USER_BINARY] = "binary",
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

/*
 * Images install compilers and Python anywhere (/usr/local/bin, conda,
 * pyenv, uv, a venv's base interpreter), so the defaults look only at the
 * executable's own name: any directory, then exactly the name.  A name with
 * anything after it (python3-config, gcc-ar, clang-format) does not match.
 * A target triplet ("x86_64-linux-gnu-", "aarch64-alpine-linux-musl-") may
 * lead a gcc, g++ or clang name.
 */
#define ANY_DIR "(/.*)?/"
#define TRIPLET "([a-z0-9_]+-)+linux(-[a-z0-9_]+)?-"
#define VERSION "(-[0-9]+)?"

static const struct {
	enum process_type type;
	const char *pattern;
} default_rules[] = {
	{ PROCESS_GCC, ANY_DIR "(" TRIPLET ")?gcc" VERSION },
	{ PROCESS_GXX, ANY_DIR "(" TRIPLET ")?g\\+\\+" VERSION },
	{ PROCESS_CLANG, ANY_DIR "(" TRIPLET ")?clang(\\+\\+)?" VERSION },
	{ PROCESS_PYTHON, ANY_DIR "python3(\\.[0-9]+)?" },
};

const char *process_type_name(enum process_type t)
{
	if ((unsigned int)t >= N_TYPES)
		return type_names[PROCESS_UNKNOWN];
	return type_names[t];
}

int process_type_parse(const char *name)
{
	size_t i;

	if (!name)
		return -EINVAL;
	for (i = 0; i < N_TYPES; i++) {
		if (strcmp(name, type_names[i]) == 0)
			return (int)i;
	}
	return -EINVAL;
}

bool process_type_is_compiler(enum process_type t)
{
	return t == PROCESS_GCC || t == PROCESS_GXX || t == PROCESS_CLANG;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_compiler_stem(const char *s)
{
	static const char *const stems[] = { "gcc", "g++", "clang", "c++", "cc" };
	size_t i;

	for (i = 0; i < sizeof(stems) / sizeof(stems[0]); i++) {
		if (starts_with(s, stems[i]))
			return true;
	}
	return false;
}

/* "llvm-14" as the directory just above "bin/clang": its number, or NULL. */
static const char *llvm_version(const char *exe, const char *name, size_t *vlen)
{
	const char *end = name - 1, *dir;	/* end: the '/' before the name */

	if (end - exe < (long)strlen("/llvm-1/bin") || strncmp(end - 4, "/bin", 4) != 0)
		return NULL;
	end -= 4;
	for (dir = end; dir > exe && dir[-1] != '/'; dir--)
		;
	if (!starts_with(dir, "llvm-"))
		return NULL;
	dir += 5;
	*vlen = (size_t)(end - dir);
	if (*vlen == 0 || strspn(dir, "0123456789") != *vlen)
		return NULL;
	return dir;
}

int classifier_compiler_name(const char *exe, char *buf, size_t len)
{
	const char *name, *p, *ver;
	size_t vlen;
	int n;

	if (!exe || !buf || !len)
		return -EINVAL;
	name = base_name(exe);
	if (!*name)
		return -EINVAL;
	/* Drop the triplet: everything before the compiler's own name. */
	for (p = name; *p && !is_compiler_stem(p); p++) {
		p = strchr(p, '-');
		if (!p)
			break;
	}
	if (!p || !*p)
		p = name;
	ver = (!strcmp(p, "clang") || !strcmp(p, "clang++")) ? llvm_version(exe, name, &vlen) : NULL;
	if (ver)
		n = snprintf(buf, len, "%s-%.*s", p, (int)vlen, ver);
	else
		n = snprintf(buf, len, "%s", p);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* "X.Y" at s, X in 2..3, when followed by the end of the component or by
 * '.', '-', '+' or a letter ("3.12.1", "3.13.0rc1", "3.12-dev"). */
static int version_at(const char *s, const char *end, char *buf, size_t len)
{
	size_t minor;
	char next;
	int n;

	if (end - s < 3 || (s[0] != '2' && s[0] != '3') || s[1] != '.')
		return -ENOENT;
	minor = strspn(s + 2, "0123456789");
	if (minor == 0 || minor > 4 || s + 2 + minor > end)
		return -ENOENT;
	next = s + 2 + minor < end ? s[2 + minor] : '\0';
	if (next && next != '.' && next != '-' && next != '+' && !(next >= 'a' && next <= 'z'))
		return -ENOENT;
	n = snprintf(buf, len, "%c.%.*s", s[0], (int)minor, s + 2);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int classifier_python_version(const char *exe, char *buf, size_t len)
{
	const char *name, *end, *comp;

	if (!exe || !buf || !len)
		return -EINVAL;
	name = base_name(exe);
	if (starts_with(name, "python") &&
	    version_at(name + 6, name + strlen(name), buf, len) == 0 &&
	    strspn(name + 6, "0123456789.") == strlen(name + 6))
		return 0;
	/* Directories, nearest first: pyenv's versions/3.12.1, uv's cpython-3.12.1-... */
	if (name == exe)
		return -ENOENT;
	for (end = name - 1; end > exe; end = comp - 1) {
		for (comp = end; comp > exe && comp[-1] != '/'; comp--)
			;
		if (version_at(comp, end, buf, len) == 0)
			return 0;
		if (starts_with(comp, "cpython-") && end - comp > 8 &&
		    version_at(comp + 8, end, buf, len) == 0)
			return 0;
	}
	return -ENOENT;
}

static bool type_classifies(enum process_type t)
{
	return process_type_is_compiler(t) || t == PROCESS_PYTHON;
}

struct classifier *classifier_create(void)
{
	return calloc(1, sizeof(struct classifier));
}

struct classifier *classifier_create_default(void)
{
	struct classifier *c = classifier_create();
	size_t i;

	if (!c)
		return NULL;
	for (i = 0; i < sizeof(default_rules) / sizeof(default_rules[0]); i++) {
		if (classifier_add(c, default_rules[i].type, default_rules[i].pattern,
				   NULL, 0) < 0) {
			classifier_free(c);
			return NULL;
		}
	}
	return c;
}

static int grow(struct classifier *c)
{
	return ARRAY_RESERVE(c->rules, c->count, c->cap, 8);
}

int classifier_add(struct classifier *c, enum process_type type, const char *pattern,
		   char *err, size_t errlen)
{
	struct classifier_rule *rule;
	char *anchored;
	size_t plen;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!c || !pattern) {
		if (err && errlen)
			snprintf(err, errlen, "bad regex: no pattern");
		return -EINVAL;
	}
	if (!type_classifies(type)) {
		if ((unsigned int)type < N_TYPES)
			snprintf(err, err ? errlen : 0, "unknown type \"%s\"", type_names[type]);
		else
			snprintf(err, err ? errlen : 0, "unknown type \"%d\"", (int)type);
		return -EINVAL;
	}
	if (grow(c) < 0) {
		snprintf(err, err ? errlen : 0, "out of memory");
		return -ENOMEM;
	}

	/* Anchor here so a rule written as "/usr/bin/gcc" cannot match "/usr/bin/gcc-evil". */
	plen = strlen(pattern);
	anchored = malloc(plen + sizeof("^()$"));
	if (!anchored) {
		snprintf(err, err ? errlen : 0, "out of memory");
		return -ENOMEM;
	}
	memcpy(anchored, "^(", 2);
	memcpy(anchored + 2, pattern, plen);
	memcpy(anchored + 2 + plen, ")$", 3);

	rule = &c->rules[c->count];
	rc = regcomp(&rule->re, anchored, REG_EXTENDED);
	free(anchored);
	if (rc != 0) {
		char msg[256];

		regerror(rc, &rule->re, msg, sizeof(msg));
		snprintf(err, err ? errlen : 0, "bad regex: %s", msg);
		return -EINVAL;
	}
	rule->type = type;
	c->count++;
	return 0;
}

/*
 * The pattern was wrapped in ^( )$, but a pattern with a stray ')' such as
 * "a)|(b" can still escape that wrapping, so check the span of the match too.
 */
static bool full_match(const regex_t *re, const char *s)
{
	regmatch_t m;

	if (regexec(re, s, 1, &m, 0) != 0)
		return false;
	return m.rm_so == 0 && (size_t)m.rm_eo == strlen(s);
}

enum process_type classifier_classify(const struct classifier *c, const char *exe_path)
{
	size_t i;

	if (!c || !exe_path)
		return PROCESS_UNKNOWN;
	for (i = 0; i < c->count; i++) {
		if (full_match(&c->rules[i].re, exe_path))
			return c->rules[i].type;
	}
	return PROCESS_UNKNOWN;
}

void classifier_free(struct classifier *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->count; i++)
		regfree(&c->rules[i].re);
	free(c->rules);
	free(c);
}
