/*
 * compile_args.c - see compile_args.h.
 */
#include "compile_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "pathrules.h"

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
static bool takes_value(const char *opt)
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

/* One argument of the walk: an option (with its separate value, or NULL),
 * or an input. */
struct arg {
	const char *arg;
	const char *value;
	bool option;
};

struct walk {
	int argc;
	char *const *argv;
	int i;
	bool options;		/* until "--" */
};

static void walk_start(struct walk *w, int argc, char *const argv[])
{
	*w = (struct walk){ .argc = argv ? argc : 0, .argv = argv, .i = 1, .options = true };
}

static bool walk_next(struct walk *w, struct arg *a)
{
	const char *s;

	for (;;) {
		if (w->i >= w->argc || !w->argv[w->i])
			return false;
		s = w->argv[w->i++];
		if (w->options && strcmp(s, "--") == 0) {
			w->options = false;
			continue;
		}
		break;
	}
	*a = (struct arg){ .arg = s, .option = w->options && s[0] == '-' && s[1] != '\0' };
	if (a->option && takes_value(s) && w->i < w->argc && w->argv[w->i])
		a->value = w->argv[w->i++];
	return true;
}

const char *argv_compiler_source(int argc, char *const argv[])
{
	struct walk w;
	struct arg a;

	walk_start(&w, argc, argv);
	while (walk_next(&w, &a)) {
		if (!a.option && is_source_name(a.arg))
			return a.arg;
	}
	return NULL;
}

/* path against cwd, normalised, malloc'd (as long as it needs). */
static char *absolute(const char *cwd, const char *path)
{
	size_t len = strlen(cwd) + strlen(path) + 2;
	char *out = malloc(len);

	if (out && path_resolve(cwd, path, out, len) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The lists under construction and their capacities. */
struct parse {
	struct compile_args *out;
	size_t cap_sources, cap_flags;
	const char *cwd;
	const char *output;	/* as written; NULL without -o */
	bool has_output, no_link;
	bool assemble_only;	/* -S */
};

static int push(char ***v, size_t *n, size_t *cap, char *s)
{
	if (!s)
		return -ENOMEM;
	if (ARRAY_RESERVE(*v, *n, *cap, 4) < 0) {
		free(s);
		return -ENOMEM;
	}
	(*v)[(*n)++] = s;
	return 0;
}

static int add_flag(struct parse *p, const char *s)
{
	return push(&p->out->flags, &p->out->n_flags, &p->cap_flags, strdup(s));
}

static bool no_link_option(const char *s)
{
	return strcmp(s, "-E") == 0 || strcmp(s, "-M") == 0 || strcmp(s, "-MM") == 0 ||
	       strcmp(s, "-fsyntax-only") == 0;
}

static int option(struct parse *p, const struct arg *a)
{
	int rc;

	if (strncmp(a->arg, "-o", 2) == 0) {	/* "-o x" or "-ox" */
		p->has_output = true;
		p->output = a->arg[2] ? a->arg + 2 : a->value;
		return 0;
	}
	if (strcmp(a->arg, "-c") == 0)
		p->out->compile_only = true;
	else if (strcmp(a->arg, "-S") == 0)
		p->assemble_only = true;
	else if (no_link_option(a->arg))
		p->no_link = true;
	rc = add_flag(p, a->arg);
	if (rc == 0 && a->value)
		rc = add_flag(p, a->value);
	return rc;
}

static int input(struct parse *p, const struct arg *a)
{
	if (!is_source_name(a->arg))
		return 0;
	return push(&p->out->sources, &p->out->n_sources, &p->cap_sources,
		    absolute(p->cwd, a->arg));
}

/* "dir/main.c" -> "main.o" (or .s), in cwd, as gcc names it. */
static char *object_name(const char *cwd, const char *source, char ext)
{
	const char *base = strrchr(source, '/'), *dot;
	size_t n;
	char *name, *abs;

	base = base ? base + 1 : source;
	dot = strrchr(base, '.');
	n = dot ? (size_t)(dot - base) : strlen(base);
	name = malloc(n + 3);
	if (!name)
		return NULL;
	memcpy(name, base, n);
	name[n] = '.';
	name[n + 1] = ext;
	name[n + 2] = '\0';
	abs = absolute(cwd, name);
	free(name);
	return abs;
}

/* What gcc writes, by its own rules; 0 or -ENOMEM. */
static int set_output(const struct parse *p)
{
	struct compile_args *a = p->out;
	const char *named = p->output;

	if (p->has_output) {
		if (!named || !named[0] || strcmp(named, "-") == 0)
			return 0;	/* "-o -": stdout */
		a->output = absolute(p->cwd, named);
	} else if (a->links) {
		a->output = absolute(p->cwd, "a.out");
	} else if (!p->no_link && a->n_sources == 1) {
		/* -c or -S: the source's last component, its suffix replaced */
		a->output = object_name(p->cwd, a->sources[0], p->assemble_only ? 's' : 'o');
	} else {
		return 0;	/* -E, -M to stdout; several objects */
	}
	return a->output ? 0 : -ENOMEM;
}

int compile_args_parse(int argc, char *const argv[], const char *cwd, struct compile_args *out)
{
	struct parse p = { .out = out, .cwd = cwd };
	struct walk w;
	struct arg a;
	int rc = 0;

	*out = (struct compile_args){ 0 };
	if (!cwd || cwd[0] != '/')
		return -EINVAL;
	walk_start(&w, argc, argv);
	while (rc == 0 && walk_next(&w, &a))
		rc = a.option ? option(&p, &a) : input(&p, &a);
	if (rc < 0)
		return rc;
	out->links = !out->compile_only && !p.assemble_only && !p.no_link;
	return set_output(&p);
}

static void free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void compile_args_free(struct compile_args *a)
{
	free(a->output);
	free_list(a->sources, a->n_sources);
	free_list(a->flags, a->n_flags);
	*a = (struct compile_args){ 0 };
}
