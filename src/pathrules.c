/*
 * pathrules.c - lexical path rules shared by procmon and filemon.
 */
#include "pathrules.h"

#include <stdlib.h>
#include <string.h>

#include "identity.h"

#define ROOT_CODER "/home/coder/project"
#define ROOT_WORKSPACE "/workspace"

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
		return -1;
	buf = malloc(strlen(path) + 2);
	if (!buf)
		return -1;
	len = normalize_into(path, buf);
	if (len >= outlen) {
		free(buf);
		return -1;
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
		return -1;
	if (path[0] == '/')
		return path_normalize(path, out, outlen);
	if (!cwd || cwd[0] != '/')
		return -1;
	clen = strlen(cwd);
	plen = strlen(path);
	joined = malloc(clen + plen + 2);
	if (!joined)
		return -1;
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
		return -1;
	if (s[2] == '0' && len > 3)
		return -1;
	for (i = 2; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		/* Checked at every digit, so n stays <= INT_MAX * 10 + 9: no overflow. */
		n = n * 10 + (s[i] - '0');
		if (n > hw_max)
			return -1;
	}
	return (int)n;
}

/*
 * Length of the workspace root that path starts with (the root ends at a
 * '/' or the end of path), or 0 when it is under neither root.
 */
static size_t workspace_root_len(const char *path)
{
	struct identity id;
	const char *name, *end;
	size_t rlen = strlen(ROOT_CODER);
	char buf[256];

	if (strncmp(path, ROOT_CODER, rlen) == 0 &&
	    (path[rlen] == '/' || path[rlen] == '\0'))
		return rlen;

	rlen = strlen(ROOT_WORKSPACE);
	if (strncmp(path, ROOT_WORKSPACE "/", rlen + 1) != 0)
		return 0;
	name = path + rlen + 1;
	end = name + strcspn(name, "/");
	/* Longer than any name identity accepts: not a workspace. */
	if ((size_t)(end - name) >= sizeof(buf))
		return 0;
	memcpy(buf, name, (size_t)(end - name));
	buf[end - name] = '\0';
	if (identity_parse_workspace(buf, &id) < 0)
		return 0;
	return (size_t)(end - path);
}

int path_homework(const char *abs_path, int hw_max, bool require_child, char *hw, size_t hwlen)
{
	const char *comp, *end;
	size_t rlen, len;
	char *norm;
	int n = -1;

	if (!abs_path || abs_path[0] != '/')
		return -1;
	len = strlen(abs_path);
	norm = malloc(len + 2);
	if (!norm)
		return -1;
	if (path_normalize(abs_path, norm, len + 2) < 0)
		goto out;

	rlen = workspace_root_len(norm);
	if (rlen == 0 || norm[rlen] != '/')
		goto out;
	comp = norm + rlen + 1;
	end = comp + strcspn(comp, "/");
	if (require_child && *end == '\0')
		goto out;
	n = homework_component(comp, (size_t)(end - comp), hw_max);
	if (n < 0)
		goto out;
	if (hw || hwlen) {
		if (!hw || (size_t)(end - comp) >= hwlen) {
			n = -1;
			goto out;
		}
		memcpy(hw, comp, (size_t)(end - comp));
		hw[end - comp] = '\0';
	}
out:
	free(norm);
	return n;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool is_source_name(const char *s)
{
	static const char *const exts[] = { ".c", ".cpp", ".cc", ".cxx", ".c++", ".C" };
	size_t i;

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		if (ends_with(s, exts[i]))
			return true;
	}
	return false;
}

/* gcc/clang options whose value is the next argv element. */
static bool compiler_opt_takes_value(const char *opt)
{
	static const char *const opts[] = {
		"-o", "-I", "-include", "-D", "-U", "-MF", "-MT", "-MQ", "-x",
		"-isystem", "-iquote", "-idirafter", "-imacros", "-iprefix", "-L",
		"-Xlinker", "-Xassembler", "-Xpreprocessor", "-T", "-u", "-z",
		"--param", "-aux-info",
	};
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strcmp(opt, opts[i]) == 0)
			return true;
	}
	return false;
}

const char *argv_compiler_source(int argc, char *const argv[])
{
	bool options = true;
	int i;

	if (!argv)
		return NULL;
	/* A NULL element means argc lied: stop there rather than read past it. */
	for (i = 1; i < argc && argv[i]; i++) {
		const char *a = argv[i];

		if (options && strcmp(a, "--") == 0) {
			options = false;
			continue;
		}
		if (options && a[0] == '-' && a[1] != '\0') {
			if (compiler_opt_takes_value(a))
				i++;
			continue;
		}
		if (is_source_name(a))
			return a;
	}
	return NULL;
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
