/*
 * classifier.c - exe path -> process type, by an ordered regex table.
 */
#include "classifier.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const struct {
	enum process_type type;
	const char *pattern;
} default_rules[] = {
	{ PROCESS_GCC, "/usr/bin/x86_64-linux-gnu-gcc-[0-9]+" },
	{ PROCESS_GXX, "/usr/bin/x86_64-linux-gnu-g\\+\\+-[0-9]+" },
	{ PROCESS_GCC, "/usr/bin/aarch64-linux-gnu-gcc-[0-9]+" },
	{ PROCESS_GXX, "/usr/bin/aarch64-linux-gnu-g\\+\\+-[0-9]+" },
	{ PROCESS_CLANG, "/usr/lib/llvm-[0-9]+/bin/clang" },
	{ PROCESS_PYTHON, "/usr/bin/python3\\.[0-9]+" },
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
		return -1;
	for (i = 0; i < N_TYPES; i++) {
		if (strcmp(name, type_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

bool process_type_is_compiler(enum process_type t)
{
	return t == PROCESS_GCC || t == PROCESS_GXX || t == PROCESS_CLANG;
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
	struct classifier_rule *r;
	size_t cap = c->cap ? c->cap * 2 : 8;

	if (c->count < c->cap)
		return 0;
	r = realloc(c->rules, cap * sizeof(*r));
	if (!r)
		return -1;
	c->rules = r;
	c->cap = cap;
	return 0;
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
		return -1;
	}
	if (!type_classifies(type)) {
		if ((unsigned int)type < N_TYPES)
			snprintf(err, err ? errlen : 0, "unknown type \"%s\"", type_names[type]);
		else
			snprintf(err, err ? errlen : 0, "unknown type \"%d\"", (int)type);
		return -1;
	}
	if (grow(c) < 0) {
		snprintf(err, err ? errlen : 0, "out of memory");
		return -1;
	}

	/* Anchor here so a rule written as "/usr/bin/gcc" cannot match "/usr/bin/gcc-evil". */
	plen = strlen(pattern);
	anchored = malloc(plen + sizeof("^()$"));
	if (!anchored) {
		snprintf(err, err ? errlen : 0, "out of memory");
		return -1;
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
		return -1;
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
