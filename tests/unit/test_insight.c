/*
 * test_insight.c - from a process's captured stderr to what the payload
 * says: diagnostics with homework-relative paths, argv, exceptions, and a
 * binary's stderr only when it crashed.
 */
#include "insight.h"

#include <stdlib.h>

#include "testlib.h"

#define HWDIR "/home/coder/project/hw1"

static struct process proc(char **argv, int argc, const char *cwd)
{
	return (struct process){ .pid = 1, .cwd = (char *)cwd, .argc = argc, .argv = argv };
}

static void fill(struct capture_buf *b, enum capture_mode mode, size_t max, const char *s)
{
	capture_buf_init(b, mode, max, NULL);
	capture_buf_append(b, s, strlen(s));
}

static void test_diag_paths(void)
{
	char *p;

	p = insight_diag_path("main.c", HWDIR, HWDIR, strlen(HWDIR));
	CHECK_STR(p, "main.c");
	free(p);
	p = insight_diag_path("../src/./a.c", HWDIR "/build", HWDIR, strlen(HWDIR));
	CHECK_STR(p, "src/a.c");
	free(p);
	p = insight_diag_path("/usr/include/stdio.h", HWDIR, HWDIR, strlen(HWDIR));
	CHECK_STR(p, "/usr/include/stdio.h");
	free(p);
	p = insight_diag_path("../hw10/x.c", HWDIR, HWDIR, strlen(HWDIR));	/* not hw1/ */
	CHECK_STR(p, "/home/coder/project/hw10/x.c");
	free(p);
	p = insight_diag_path("<command-line>", HWDIR, HWDIR, strlen(HWDIR));
	CHECK_STR(p, "<command-line>");
	free(p);
	p = insight_diag_path("my:file.c", HWDIR, HWDIR, strlen(HWDIR));
	CHECK_STR(p, "my:file.c");
	free(p);
	p = insight_diag_path("x.c", "relative", HWDIR, strlen(HWDIR));
	CHECK_STR(p, "x.c");
	free(p);
}

static void test_build(void)
{
	char *argv[] = { "gcc", "-Wall", "src/a.c", "-o", "prog", NULL };
	struct process p = proc(argv, 5, HWDIR);
	struct capture_buf err;
	struct insight in;
	struct insight_input ii = { .type = PROCESS_GCC, .proc = &p, .err = &err,
				    .homework_dir = HWDIR, .homework_dir_len = strlen(HWDIR) };

	fill(&err, CAPTURE_HEAD, 16384,
	     "src/a.c: In function 'main':\n"
	     "src/a.c:3:9: warning: unused variable 'x' [-Wunused-variable]\n"
	     "/usr/include/stdio.h:10:1: note: here\n");
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(in.has_stderr);
	CHECK(!in.stderr_cut);
	CHECK_INT(in.stderr_len, err.len);
	CHECK(in.has_diagnostics);
	CHECK_INT(in.diags.warnings, 1);
	CHECK_INT(in.diags.notes, 1);
	CHECK_INT(in.diags.n, 2);
	if (in.diags.n == 2) {
		CHECK_STR(in.diags.v[0].file, "src/a.c");
		CHECK_STR(in.diags.v[1].file, "/usr/include/stdio.h");
	}
	CHECK(in.has_args);
	CHECK_STR(in.args.output, HWDIR "/prog");
	CHECK(!in.has_exception);
	CHECK(!in.is_binary);
	insight_free(&in);
	/* The kernel cut a write: stderr is flagged though the buffer was not. */
	ii.kernel_cut = true;
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(in.stderr_cut);
	insight_free(&in);
	capture_buf_free(&err);
	/* Not captured: argv only, no stderr and no diagnostics. */
	ii.err = NULL;
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(!in.has_stderr);
	CHECK(!in.has_diagnostics);
	CHECK(in.has_args);
	insight_free(&in);
}

static void test_python(void)
{
	char *argv[] = { "python3", "div.py", NULL };
	struct process p = proc(argv, 2, HWDIR);
	struct capture_buf err;
	struct insight in;
	struct insight_input ii = { .type = PROCESS_PYTHON, .proc = &p, .err = &err };

	fill(&err, CAPTURE_TAIL, 4096, "Traceback (most recent call last):\n"
	     "  File \"/home/coder/project/hw1/div.py\", line 1, in <module>\n"
	     "ZeroDivisionError: division by zero\n");
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(in.has_exception);
	CHECK_STR(in.exception, "ZeroDivisionError");
	CHECK(in.has_stderr);
	CHECK(!in.has_args);
	CHECK(!in.has_diagnostics);
	insight_free(&in);
	capture_buf_free(&err);
	fill(&err, CAPTURE_TAIL, 4096, "just a warning\n");
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(in.has_exception);
	CHECK_STR(in.exception, "");		/* null */
	insight_free(&in);
	capture_buf_free(&err);
	ii.err = NULL;
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(!in.has_exception);
	CHECK(!in.has_stderr);
	insight_free(&in);
}

static void test_binary(void)
{
	char *argv[] = { "./prog", NULL };
	struct process p = proc(argv, 1, HWDIR);
	struct capture_buf err;
	struct insight in;
	struct insight_input ii = { .type = PROCESS_USER_BINARY, .proc = &p, .err = &err,
				    .built_by = "boot-1-77-123" };

	/* Exited normally with ordinary output on stderr: not sent. */
	fill(&err, CAPTURE_TAIL, INSIGHT_BINARY_STDERR_MAX, "enter a number: ");
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(!in.has_stderr);
	CHECK(in.is_binary);
	CHECK_STR(in.built_by, "boot-1-77-123");
	insight_free(&in);
	/* Killed by a signal: sent, whatever it says. */
	p.signal = 11;
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(in.has_stderr);
	CHECK_STR(in.stderr_text, "enter a number: ");
	insight_free(&in);
	capture_buf_free(&err);
	/* An assertion, or UBSan that lets the program go on and exit 0. */
	p.signal = 0;
	fill(&err, CAPTURE_TAIL, INSIGHT_BINARY_STDERR_MAX,
	     "u.c:3:11: runtime error: signed integer overflow\n");
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(in.has_stderr);
	insight_free(&in);
	capture_buf_free(&err);
	ii.built_by = NULL;
	ii.err = NULL;
	CHECK_INT(insight_build(&ii, &in), 0);
	CHECK(!in.has_stderr);
	CHECK(in.is_binary);
	CHECK_STR(in.built_by, NULL);
	insight_free(&in);
}

int main(void)
{
	RUN(test_diag_paths);
	RUN(test_build);
	RUN(test_python);
	RUN(test_binary);
	return TEST_DONE();
}
