/*
 * test_compile_args.c - a build's output, sources and options from argv,
 * as gcc itself would name them, and hostile command lines.
 */
#include "compile_args.h"

#include <errno.h>
#include <stdlib.h>

#include "testlib.h"

#define ARGV(...) ((char *const[]){ __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(a, cwd, ...) compile_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cwd, a)

#define HW "/home/coder/project/hw1"

/* The list joined with '|', to compare in one string. */
static char *joined(char **v, size_t n)
{
	size_t len = 1, i;
	char *s;

	for (i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	s = calloc(1, len);
	for (i = 0; i < n; i++) {
		if (i)
			strcat(s, "|");
		strcat(s, v[i]);
	}
	return s;
}

static void check_lists(const struct compile_args *a, const char *sources, const char *flags)
{
	char *s = joined(a->sources, a->n_sources), *f = joined(a->flags, a->n_flags);

	CHECK_STR(s, sources);
	CHECK_STR(f, flags);
	free(s);
	free(f);
}

static void test_link_with_output(void)
{
	struct compile_args a;

	CHECK_INT(PARSE(&a, HW, "gcc", "-Wall", "-O2", "-I", "inc", "main.c", "src/util.c",
			"-o", "prog", "-lm"), 0);
	CHECK_STR(a.output, HW "/prog");
	check_lists(&a, HW "/main.c|" HW "/src/util.c", "-Wall|-O2|-I|inc|-lm");
	CHECK(!a.compile_only);
	CHECK(a.links);
	compile_args_free(&a);
	CHECK_INT(PARSE(&a, HW, "gcc", "-o../bin/x", "./a.c", "/abs/b.cpp"), 0);
	CHECK_STR(a.output, "/home/coder/project/bin/x");
	check_lists(&a, HW "/a.c|/abs/b.cpp", "");
	compile_args_free(&a);
}

static void test_default_outputs(void)
{
	struct compile_args a;

	CHECK_INT(PARSE(&a, HW, "gcc", "main.c"), 0);
	CHECK_STR(a.output, HW "/a.out");
	CHECK(a.links);
	compile_args_free(&a);
	/* -c: the object is named after the source, in cwd (not its dir). */
	CHECK_INT(PARSE(&a, HW, "gcc", "-c", "src/a.c"), 0);
	CHECK_STR(a.output, HW "/a.o");
	CHECK(a.compile_only);
	CHECK(!a.links);
	check_lists(&a, HW "/src/a.c", "-c");
	compile_args_free(&a);
	CHECK_INT(PARSE(&a, HW, "g++", "-S", "x.tar.cpp"), 0);
	CHECK_STR(a.output, HW "/x.tar.s");
	CHECK(!a.compile_only);
	CHECK(!a.links);
	compile_args_free(&a);
	/* Several objects: no one output. */
	CHECK_INT(PARSE(&a, HW, "gcc", "-c", "a.c", "b.c"), 0);
	CHECK_STR(a.output, NULL);
	compile_args_free(&a);
	CHECK_INT(PARSE(&a, HW, "gcc", "-E", "a.c"), 0);
	CHECK_STR(a.output, NULL);
	CHECK(!a.links);
	compile_args_free(&a);
	CHECK_INT(PARSE(&a, HW, "gcc", "-fsyntax-only", "a.c"), 0);
	CHECK_STR(a.output, NULL);
	compile_args_free(&a);
	CHECK_INT(PARSE(&a, HW, "gcc", "-c", "a.c", "-o", "-"), 0);
	CHECK_STR(a.output, NULL);
	compile_args_free(&a);
	CHECK_INT(PARSE(&a, HW, "gcc", "a.c", "-o"), 0);	/* -o with nothing after it */
	CHECK_STR(a.output, NULL);
	compile_args_free(&a);
	/* Objects and libraries are inputs, not sources. */
	CHECK_INT(PARSE(&a, HW, "gcc", "a.o", "b.c", "libx.a", "-o", "prog"), 0);
	CHECK_STR(a.output, HW "/prog");
	check_lists(&a, HW "/b.c", "");
	compile_args_free(&a);
}

/* Option values are never sources, and "--" ends the options. */
static void test_option_values(void)
{
	struct compile_args a;

	CHECK_INT(PARSE(&a, HW, "gcc", "-include", "x.c", "-D", "y.c", "-MF", "d.c", "m.c",
			"--", "-weird.c"), 0);
	check_lists(&a, HW "/m.c|" HW "/-weird.c", "-include|x.c|-D|y.c|-MF|d.c");
	CHECK_STR(a.output, HW "/a.out");
	compile_args_free(&a);
	CHECK_INT(PARSE(&a, HW, "gcc", "-o", "a.c", "b.c"), 0);
	CHECK_STR(a.output, HW "/a.c");
	check_lists(&a, HW "/b.c", "");
	compile_args_free(&a);
	CHECK_INT(PARSE(&a, HW, "gcc", "-", "-x", "c"), 0);	/* stdin is an input */
	check_lists(&a, "", "-x|c");
	compile_args_free(&a);
}

static void test_hostile(void)
{
	char *const argv[] = { "gcc", "-c", "a.c", NULL };
	struct compile_args a;
	char *big[4001];
	int i;

	CHECK_INT(compile_args_parse(99, argv, HW, &a), 0);	/* argc lies: stops at NULL */
	check_lists(&a, HW "/a.c", "-c");
	compile_args_free(&a);
	CHECK_INT(compile_args_parse(3, NULL, HW, &a), 0);
	CHECK_STR(a.output, HW "/a.out");
	CHECK_INT(a.n_sources, 0);
	compile_args_free(&a);
	CHECK_INT(compile_args_parse(-5, argv, HW, &a), 0);
	CHECK_INT(a.n_flags, 0);
	compile_args_free(&a);
	CHECK_INT(compile_args_parse(3, argv, "relative", &a), -EINVAL);
	compile_args_free(&a);
	CHECK_INT(compile_args_parse(3, argv, NULL, &a), -EINVAL);
	compile_args_free(&a);
	/* Bytes as they come: a newline and invalid UTF-8 in names. */
	CHECK_INT(PARSE(&a, HW, "gcc", "../hw1/./a\nb.c", "\xff.c", "", "-o", "x/../y"), 0);
	check_lists(&a, HW "/a\nb.c|" HW "/\xff.c", "");
	CHECK_STR(a.output, HW "/y");
	compile_args_free(&a);
	/* Thousands of arguments, longer than PATH_MAX resolved. */
	big[0] = "gcc";
	for (i = 1; i < 4000; i++)
		big[i] = i % 2 ? "-Wall" : "s.c";
	big[4000] = NULL;
	CHECK_INT(compile_args_parse(4000, big, HW, &a), 0);
	CHECK_INT(a.n_sources, 1999);
	CHECK_INT(a.n_flags, 2000);
	compile_args_free(&a);
	{
		char *name = malloc(9000);

		memset(name, 'n', 8997);
		memcpy(name + 8997, ".c", 3);
		CHECK_INT(compile_args_parse(2, (char *const[]){ "gcc", name, NULL }, HW, &a), 0);
		CHECK_INT(a.n_sources, 1);
		if (a.n_sources)
			CHECK_INT(strlen(a.sources[0]), strlen(HW) + 1 + 8999);
		compile_args_free(&a);
		free(name);
	}
}

int main(void)
{
	RUN(test_link_with_output);
	RUN(test_default_outputs);
	RUN(test_option_values);
	RUN(test_hostile);
	return TEST_DONE();
}
