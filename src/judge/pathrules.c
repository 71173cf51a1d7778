/*
 * pathrules.c - lexical path rules shared by procmon and filemon.
 */
#include "pathrules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Normalise into a scratch buffer of the input's size (the result is never
 * longer than the input), so that "/long/component/.." fits outlen whenever
 * its result does, however long the detour.
 */
static size_t normalize_into(const char *path, char *buf)
{
	const char *p = path, *end;
	size_t len = 0, clen;

	while (*p) {
		while (*p == '/')
			p++;
		end = p + strcspn(p, "/");
		clen = (size_t)(end - p);
		if (clen == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && buf[len - 1] != '/')
				len--;
			if (len > 0)
				len--;	/* the '/' before the dropped component */
		} else if (clen > 1 || (clen == 1 && p[0] != '.')) {
			buf[len++] = '/';
			memcpy(buf + len, p, clen);
			len += clen;
		}
		p = end;
	}
	if (len == 0)
		buf[len++] = '/';
	buf[len] = '\0';
	return len;
}

int path_normalize(const char *path, char *out, size_t outlen)
{
	char *buf;
	size_t len;

	if (!path || path[0] != '/' || !out)
		return -EINVAL;
	buf = malloc(strlen(path) + 2);
	if (!buf)
		return -ENOMEM;
	len = normalize_into(path, buf);
	if (len >= outlen) {
		free(buf);
		return -ENAMETOOLONG;
	}
	memcpy(out, buf, len + 1);
	free(buf);
	return 0;
}

int path_resolve(const char *cwd, const char *path, char *out, size_t outlen)
{
	size_t clen, plen;
	char *joined;
	int rc;

	if (!path || !path[0])
		return -EINVAL;
	if (path[0] == '/')
		return path_normalize(path, out, outlen);
	if (!cwd || cwd[0] != '/')
		return -EINVAL;
	clen = strlen(cwd);
	plen = strlen(path);
	joined = malloc(clen + plen + 2);
	if (!joined)
		return -ENOMEM;
	memcpy(joined, cwd, clen);
	joined[clen] = '/';
	memcpy(joined + clen + 1, path, plen + 1);
	rc = path_normalize(joined, out, outlen);
	free(joined);
	return rc;
}

int homework_component(const char *s, size_t len, int hw_max)
{
	long long n = 0;
	size_t i;

	if (!s || len < 3 || s[0] != 'h' || s[1] != 'w' || hw_max < 0)
		return -EINVAL;
	if (s[2] == '0' && len > 3)
		return -EINVAL;
	for (i = 2; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		/* Checked at every digit, so n stays <= INT_MAX * 10 + 9: no overflow. */
		n = n * 10 + (s[i] - '0');
		if (n > hw_max)
			return -EINVAL;
	}
	return (int)n;
}

/* One piece of a root template: literal text or a placeholder. */
enum seg_kind { SEG_LITERAL, SEG_SUBJECT, SEG_DIVISION, SEG_STUDENT_ID };

struct segment {
	enum seg_kind kind;
	const char *text;	/* SEG_LITERAL: points into root->spec */
	size_t len;
};

#define ROOT_MAX_SEGMENTS 7	/* 3 placeholders and the literals around them */

struct root {
	char *spec;
	struct segment seg[ROOT_MAX_SEGMENTS];
	size_t nseg;
	bool templated;
};

struct workspace_roots {
	struct root *v;
	size_t n;
};

static const struct {
	const char *name;
	enum seg_kind kind;
} placeholders[] = {
	{ "{subject}", SEG_SUBJECT },
	{ "{division}", SEG_DIVISION },
	{ "{student_id}", SEG_STUDENT_ID },
};

/* Longest name identity.c accepts for each placeholder. */
static size_t field_max(enum seg_kind k)
{
	return k == SEG_STUDENT_ID ? 20 : IDENTITY_FIELD_LEN - 1;
}

static bool field_char(enum seg_kind k, char c)
{
	if (c >= '0' && c <= '9')
		return true;
	return k == SEG_SUBJECT && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

static int add_segment(struct root *r, enum seg_kind kind, const char *text, size_t len)
{
	if (kind == SEG_LITERAL && len == 0)
		return 0;
	if (r->nseg == ROOT_MAX_SEGMENTS)
		return -E2BIG;
	r->seg[r->nseg++] = (struct segment){ kind, text, len };
	return 0;
}

/* Absolute, not "/", already normalised: what config_check_root() admits. */
static bool root_path_ok(const char *spec)
{
	size_t len = spec ? strlen(spec) : 0;
	char *norm;
	bool ok;

	if (len < 2 || spec[0] != '/')
		return false;
	norm = malloc(len + 2);
	ok = norm && path_normalize(spec, norm, len + 2) == 0 && strcmp(norm, spec) == 0;
	free(norm);
	return ok;
}

static int compile_root(struct root *r, const char *spec, char *err, size_t errlen)
{
	const char *p, *lit;
	bool seen[4] = { false };
	size_t i;

	if (!root_path_ok(spec)) {
		snprintf(err, err ? errlen : 0, "\"%s\" is not an absolute, normalised directory",
			 spec ? spec : "");
		return -EINVAL;
	}
	r->spec = strdup(spec);
	if (!r->spec) {
		snprintf(err, err ? errlen : 0, "out of memory");
		return -ENOMEM;
	}
	for (p = lit = r->spec; *p; p++) {
		if (*p != '{' && *p != '}')
			continue;
		for (i = 0; i < 3; i++)
			if (starts_with(p, placeholders[i].name))
				break;
		if (*p == '}' || i == 3 || seen[placeholders[i].kind] ||
		    add_segment(r, SEG_LITERAL, lit, (size_t)(p - lit)) < 0 ||
		    add_segment(r, placeholders[i].kind, NULL, 0) < 0) {
			snprintf(err, err ? errlen : 0,
				 "\"%s\": placeholders are {subject}, {division}, {student_id}, each at most once",
				 spec);
			return -EINVAL;
		}
		seen[placeholders[i].kind] = true;
		r->templated = true;
		p += strlen(placeholders[i].name) - 1;
		lit = p + 1;
	}
	if (add_segment(r, SEG_LITERAL, lit, (size_t)(p - lit)) < 0) {
		snprintf(err, err ? errlen : 0, "\"%s\": too many parts", spec);
		return -E2BIG;
	}
	return 0;
}

void workspace_roots_free(struct workspace_roots *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		free(r->v[i].spec);
	free(r->v);
	free(r);
}

struct workspace_roots *workspace_roots_create(const char *const *roots, size_t n,
					       char *err, size_t errlen)
{
	struct workspace_roots *r = calloc(1, sizeof(*r));

	if (r)
		r->v = calloc(n ? n : 1, sizeof(*r->v));
	if (!r || !r->v) {
		free(r);
		snprintf(err, err ? errlen : 0, "out of memory");
		return NULL;
	}
	for (r->n = 0; r->n < n; r->n++) {
		if (compile_root(&r->v[r->n], roots ? roots[r->n] : NULL, err, errlen) < 0) {
			r->n++;		/* free its spec too */
			workspace_roots_free(r);
			return NULL;
		}
	}
	return r;
}

struct workspace_roots *workspace_roots_default(void)
{
	static const char *const defaults[] = PATHRULES_DEFAULT_ROOTS;

	return workspace_roots_create(defaults, sizeof(defaults) / sizeof(defaults[0]), NULL, 0);
}

static const char *id_field(const struct identity *id, enum seg_kind k)
{
	if (k == SEG_SUBJECT)
		return id->subject;
	return k == SEG_DIVISION ? id->division : id->student_id;
}

/* A root ends where a path component does. */
static size_t at_boundary(const char *path, size_t len)
{
	return path[len] == '/' || path[len] == '\0' ? len : 0;
}

/* Length of root r filled in with id's names at the start of path, or 0. */
static size_t match_exact(const struct root *r, const struct identity *id, const char *path)
{
	size_t i, len = 0, flen;
	const char *f;

	for (i = 0; i < r->nseg; i++) {
		const struct segment *s = &r->seg[i];

		f = s->kind == SEG_LITERAL ? s->text : id_field(id, s->kind);
		flen = s->kind == SEG_LITERAL ? s->len : strlen(f);
		if (strncmp(path + len, f, flen) != 0)
			return 0;
		len += flen;
	}
	return at_boundary(path, len);
}

/*
 * Length of root r at the start of path with any valid names in its
 * placeholders, or 0.  Backtracks over the placeholders' lengths (at most
 * three, each bounded by field_max()), so a hostile path costs little.
 */
static size_t match_any(const struct root *r, size_t i, const char *path, size_t len)
{
	const struct segment *s;
	size_t n, got;

	if (i == r->nseg)
		return at_boundary(path, len);
	s = &r->seg[i];
	if (s->kind == SEG_LITERAL)
		return strncmp(path + len, s->text, s->len) == 0 ?
		       match_any(r, i + 1, path, len + s->len) : 0;
	for (n = 0; n < field_max(s->kind) && field_char(s->kind, path[len + n]); n++)
		;
	for (; n > 0; n--) {
		got = match_any(r, i + 1, path, len + n);
		if (got)
			return got;
	}
	return 0;
}

/* The homework component right below a root of length rlen in norm. */
static int homework_below(const char *norm, size_t rlen, int hw_max, bool require_child,
			  const char **comp, size_t *clen)
{
	const char *end;

	if (rlen == 0 || norm[rlen] != '/')
		return -ENOENT;
	*comp = norm + rlen + 1;
	end = *comp + strcspn(*comp, "/");
	if (require_child && *end == '\0')
		return -ENOENT;
	*clen = (size_t)(end - *comp);
	return homework_component(*comp, *clen, hw_max);
}

static int find_homework(const struct workspace_roots *roots, const struct identity *id,
			 const char *norm, int hw_max, bool require_child,
			 const char **comp, size_t *clen)
{
	size_t i, rlen;
	int n;

	for (i = 0; i < roots->n; i++) {
		const struct root *r = &roots->v[i];

		rlen = id ? match_exact(r, id, norm) : match_any(r, 0, norm, 0);
		n = homework_below(norm, rlen, hw_max, require_child, comp, clen);
		if (n >= 0)
			return n;
	}
	for (i = 0; id && i < roots->n; i++) {
		const struct root *r = &roots->v[i];

		if (!r->templated)
			continue;
		rlen = match_any(r, 0, norm, 0);
		if (homework_below(norm, rlen, hw_max, require_child, comp, clen) >= 0)
			return PATH_HW_OTHER_STUDENT;
	}
	return -ENOENT;
}

int path_homework_in(const struct workspace_roots *roots, const struct identity *id,
		     const char *abs_path, int hw_max, bool require_child,
		     char *hw, size_t hwlen)
{
	const char *comp = NULL;
	size_t len, clen = 0;
	char *norm;
	int n = -ENOENT;

	if (!roots || !abs_path || abs_path[0] != '/')
		return -EINVAL;
	len = strlen(abs_path);
	norm = malloc(len + 2);
	if (!norm)
		return -ENOMEM;
	if (path_normalize(abs_path, norm, len + 2) == 0)
		n = find_homework(roots, id, norm, hw_max, require_child, &comp, &clen);
	if (n >= 0 && (hw || hwlen)) {
		if (!hw || clen >= hwlen) {
			n = -ENOSPC;
		} else {
			memcpy(hw, comp, clen);
			hw[clen] = '\0';
		}
	}
	free(norm);
	return n;
}

long path_homework_prefix(const struct workspace_roots *roots, const struct identity *id,
			  const char *norm_path, int hw_max)
{
	const char *comp = NULL;
	size_t clen = 0;
	int n;

	if (!roots || !norm_path || norm_path[0] != '/')
		return -EINVAL;
	n = find_homework(roots, id, norm_path, hw_max, true, &comp, &clen);
	if (n < 0)
		return n;
	return (long)((size_t)(comp - norm_path) + clen);
}

int path_homework(const char *abs_path, int hw_max, bool require_child, char *hw, size_t hwlen)
{
	struct workspace_roots *roots = workspace_roots_default();
	int n = path_homework_in(roots, NULL, abs_path, hw_max, require_child, hw, hwlen);

	workspace_roots_free(roots);
	return n;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/*
 * Walk one cluster of Python short options ("-u", "-uW", "-Werror").
 * Returns 1 when the next argv element is this cluster's value, 0 when not,
 * -1 when -m or -c ends the search (no script will run).
 */
static int python_cluster(const char *a)
{
	for (a++; *a; a++) {
		if (*a == 'm' || *a == 'c')
			return -1;
		if (*a == 'W' || *a == 'X')
			return a[1] == '\0';	/* else the rest is the value */
	}
	return 0;
}

const char *argv_python_script(int argc, char *const argv[])
{
	int i, rc;

	if (!argv)
		return NULL;
	for (i = 1; i < argc && argv[i]; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;	/* the script, or "-" for stdin */
		if (a[1] == '-') {
			if (strcmp(a, "--check-hash-based-pycs") == 0)
				i++;
			continue;
		}
		rc = python_cluster(a);
		if (rc < 0)
			return NULL;
		i += rc;
	}
	if (i >= argc || !argv[i] || strcmp(argv[i], "-") == 0)
		return NULL;
	/* Python runs whatever it was given; only a .py file is a script we track. */
	return ends_with(argv[i], ".py") ? argv[i] : NULL;
}

char *argv_join(int argc, char *const argv[])
{
	size_t len = 0, o = 0, n;
	char *out;
	int i, count = 0;

	for (i = 0; argv && i < argc && argv[i]; i++) {
		len += strlen(argv[i]) + 1;
		count++;
	}
	out = malloc(len + 1);
	if (!out)
		return NULL;
	for (i = 0; i < count; i++) {
		if (i > 0)
			out[o++] = ' ';
		n = strlen(argv[i]);
		memcpy(out + o, argv[i], n);
		o += n;
	}
	out[o] = '\0';
	return out;
}
