/*
 * test_diagnostics.c - compiler, linker, Python and crash reports as
 * gcc 12, clang 14, GNU ld and Python 3.11 really print them (captured on
 * the CI machine), coloured and plain, and hostile text.
 */
#include "diagnostics.h"

#include <errno.h>
#include <stdlib.h>

#include "testlib.h"

static struct diag_list parse(const char *text)
{
	struct diag_list l = { 0 };

	CHECK_INT(diag_parse(text, strlen(text), &l), 0);
	return l;
}

static void check_diag(const struct diag_list *l, size_t i, const char *file, unsigned line,
		       unsigned column, const char *severity, const char *message)
{
	if (i >= l->n) {
		CHECK_INT(l->n, i + 1);
		return;
	}
	CHECK_STR(l->v[i].file, file);
	CHECK_INT(l->v[i].line, line);
	CHECK_INT(l->v[i].column, column);
	CHECK_STR(diag_severity_name(l->v[i].severity), severity);
	CHECK_STR(l->v[i].message, message);
}

#define GCC_SEMI_MSG "expected \xE2\x80\x98=\xE2\x80\x99, \xE2\x80\x98,\xE2\x80\x99, " \
	"\xE2\x80\x98;\xE2\x80\x99, \xE2\x80\x98" "asm\xE2\x80\x99 or \xE2\x80\x98__attribute__" \
	"\xE2\x80\x99 before \xE2\x80\x98return\xE2\x80\x99"

static void test_gcc_missing_semicolon(void)
{
	struct diag_list l = parse(
		"semi.c: In function \xE2\x80\x98main\xE2\x80\x99:\n"
		"semi.c:2:1: error: " GCC_SEMI_MSG "\n"
		"    2 | return 0;}\n"
		"      | ^~~~~~\n");

	CHECK_INT(l.n, 1);
	CHECK_INT(l.errors, 1);
	CHECK_INT(l.warnings, 0);
	check_diag(&l, 0, "semi.c", 2, 1, "error", GCC_SEMI_MSG);
	diag_list_free(&l);
}

/* gcc -fdiagnostics-color=always, byte for byte. */
static void test_gcc_colour(void)
{
	struct diag_list l = parse(
		"\033[01m\033[Ksemi.c:\033[m\033[K In function \xE2\x80\x98\033[01m\033[Kmain\033[m\033[K"
		"\xE2\x80\x99:\n"
		"\033[01m\033[Ksemi.c:2:1:\033[m\033[K \033[01;31m\033[Kerror: \033[m\033[Kexpected "
		"\xE2\x80\x98\033[01m\033[K=\033[m\033[K\xE2\x80\x99, \xE2\x80\x98\033[01m\033[K,\033[m"
		"\033[K\xE2\x80\x99, \xE2\x80\x98\033[01m\033[K;\033[m\033[K\xE2\x80\x99, \xE2\x80\x98"
		"\033[01m\033[Kasm\033[m\033[K\xE2\x80\x99 or \xE2\x80\x98\033[01m\033[K__attribute__"
		"\033[m\033[K\xE2\x80\x99 before \xE2\x80\x98\033[01m\033[Kreturn\033[m\033[K\xE2\x80\x99\n"
		"    2 | \033[01;31m\033[Kreturn\033[m\033[K 0;}\n"
		"      | \033[01;31m\033[K^~~~~~\033[m\033[K\n");

	CHECK_INT(l.n, 1);
	CHECK_INT(l.errors, 1);
	check_diag(&l, 0, "semi.c", 2, 1, "error", GCC_SEMI_MSG);
	diag_list_free(&l);
}

/* -Wall with colours and gcc's OSC 8 link around the option name. */
static void test_gcc_warning_with_link(void)
{
	struct diag_list l = parse(
		"\033[01m\033[Kunused.c:2:16:\033[m\033[K \033[01;35m\033[Kwarning: \033[m\033[Kunused "
		"variable \xE2\x80\x98\033[01m\033[Kunused\033[m\033[K\xE2\x80\x99 [\033[01;35m\033[K"
		"\033]8;;https://gcc.gnu.org/onlinedocs/gcc/Warning-Options.html#index-Wunused-variable"
		"\a-Wunused-variable\033]8;;\a\033[m\033[K]\n");

	CHECK_INT(l.errors, 0);
	CHECK_INT(l.warnings, 1);
	check_diag(&l, 0, "unused.c", 2, 16, "warning",
		   "unused variable \xE2\x80\x98unused\xE2\x80\x99 [-Wunused-variable]");
	diag_list_free(&l);
	/* The other OSC terminator, ESC \ . */
	l = parse("a.c:1:1: warning: x \033]8;;http://x\033\\-Wy\033]8;;\033\\ z\n");
	check_diag(&l, 0, "a.c", 1, 1, "warning", "x -Wy z");
	diag_list_free(&l);
}

static void test_undefined_reference(void)
{
	struct diag_list l = parse(
		"/usr/bin/ld: /tmp/ccJcqKJr.o: in function `main':\n"
		"undef.c:(.text+0x5): undefined reference to `f'\n"
		"collect2: error: ld returned 1 exit status\n");

	CHECK_INT(l.n, 1);
	CHECK_INT(l.errors, 1);
	check_diag(&l, 0, "undef.c", 0, 0, "error", "undefined reference to `f'");
	diag_list_free(&l);
	/* With -g the linker names file and line. */
	l = parse("/usr/bin/ld: /tmp/ccGsNbqx.o: in function `main':\n"
		  "/tmp/u12t/undef.c:2: undefined reference to `f'\n"
		  "collect2: error: ld returned 1 exit status\n");
	CHECK_INT(l.n, 1);
	check_diag(&l, 0, "/tmp/u12t/undef.c", 2, 0, "error", "undefined reference to `f'");
	diag_list_free(&l);
	/* clang driving the same ld. */
	l = parse("/usr/bin/ld: /tmp/undef-179cba.o: in function `main':\n"
		  "undef.c:(.text+0x10): undefined reference to `f'\n"
		  "clang: error: linker command failed with exit code 1 (use -v to see invocation)\n");
	CHECK_INT(l.n, 1);
	CHECK_INT(l.errors, 1);
	check_diag(&l, 0, "undef.c", 0, 0, "error", "undefined reference to `f'");
	diag_list_free(&l);
	/* Older binutils put the object's name first on the same line. */
	l = parse("/usr/bin/ld: main.o:(.text+0x5): undefined reference to `g'\n");
	check_diag(&l, 0, "main.o", 0, 0, "error", "undefined reference to `g'");
	diag_list_free(&l);
}

static void test_other_linker_errors(void)
{
	struct diag_list l = parse(
		"/usr/bin/ld: /tmp/ccd3Xdb1.o: in function `f':\n"
		"m2.c:(.text+0x0): multiple definition of `f'; /tmp/ccWtmDGE.o:m1.c:(.text+0x0): "
		"first defined here\n"
		"collect2: error: ld returned 1 exit status\n");

	CHECK_INT(l.n, 1);
	check_diag(&l, 0, "m2.c", 0, 0, "error",
		   "multiple definition of `f'; /tmp/ccWtmDGE.o:m1.c:(.text+0x0): first defined here");
	diag_list_free(&l);
	l = parse("/usr/bin/ld: cannot find -lnosuch: No such file or directory\n"
		  "collect2: error: ld returned 1 exit status\n");
	CHECK_INT(l.n, 1);
	CHECK_INT(l.errors, 1);
	check_diag(&l, 0, NULL, 0, 0, "error", "cannot find -lnosuch: No such file or directory");
	diag_list_free(&l);
}

/* A link that failed with nothing we recognise still shows one error. */
static void test_link_summary_alone(void)
{
	struct diag_list l = parse("something odd\ncollect2: error: ld returned 1 exit status\n");

	CHECK_INT(l.n, 1);
	CHECK_INT(l.errors, 1);
	check_diag(&l, 0, NULL, 0, 0, "error", "ld returned 1 exit status");
	diag_list_free(&l);
}

static void test_clang(void)
{
	struct diag_list l = parse(
		"semi.c:1:17: error: expected ';' at end of declaration\n"
		"int main(){int x\n"
		"                ^\n"
		"                ;\n"
		"1 error generated.\n");

	CHECK_INT(l.n, 1);
	CHECK_INT(l.errors, 1);
	check_diag(&l, 0, "semi.c", 1, 17, "error", "expected ';' at end of declaration");
	diag_list_free(&l);
	/* clang -fcolor-diagnostics */
	l = parse("\033[1msemi.c:1:17: \033[0m\033[0;1;31merror: \033[0m\033[1mexpected ';' at end of "
		  "declaration\033[0m\nint main(){int x\n");
	check_diag(&l, 0, "semi.c", 1, 17, "error", "expected ';' at end of declaration");
	diag_list_free(&l);
	l = parse("x.c:3:5: warning: unused variable 'y' [-Wunused-variable]\n"
		  "x.c:1:5: note: previous declaration is here\n"
		  "x.c:9:1: remark: loop not vectorized\n"
		  "1 warning generated.\n");
	CHECK_INT(l.n, 3);
	CHECK_INT(l.warnings, 1);
	CHECK_INT(l.notes, 2);
	check_diag(&l, 1, "x.c", 1, 5, "note", "previous declaration is here");
	diag_list_free(&l);
}

static void test_fatal_and_tools(void)
{
	struct diag_list l = parse(
		"fatal.c:1:10: fatal error: nope.h: No such file or directory\n"
		"    1 | #include \"nope.h\"\n"
		"compilation terminated.\n"
		"cc1: fatal error: nosuch.c: No such file or directory\n"
		"gcc: error: unrecognized command-line option '-Wbogus'\n"
		"x86_64-linux-gnu-gcc-12: warning: a.o: linker input file unused\n"
		"cc1plus: note: something\n"
		"a.c:7: error: no column here\n");

	CHECK_INT(l.n, 6);
	CHECK_INT(l.errors, 4);
	CHECK_INT(l.warnings, 1);
	CHECK_INT(l.notes, 1);
	check_diag(&l, 0, "fatal.c", 1, 10, "error", "nope.h: No such file or directory");
	check_diag(&l, 1, NULL, 0, 0, "error", "nosuch.c: No such file or directory");
	check_diag(&l, 2, NULL, 0, 0, "error", "unrecognized command-line option '-Wbogus'");
	check_diag(&l, 3, NULL, 0, 0, "warning", "a.o: linker input file unused");
	check_diag(&l, 5, "a.c", 7, 0, "error", "no column here");
	diag_list_free(&l);
}

static void test_paths_with_colons(void)
{
	struct diag_list l = parse("my:dir/a:b.c:3:5: error: x: y\n"
				   "weird:12:name.c:4:2: warning: w\n"
				   "a 1:2:3: error: spaces too\n"
				   /* what is not a line number is part of the name */
				   "a.c:0:2: error: line zero\n"
				   "a.c:12345678901:1: error: too long a number\n"
				   ":1:1: error: no name before\n"
				   "a.c:1:x: error: column not a number\n");

	CHECK_INT(l.n, 7);
	check_diag(&l, 3, "a.c:0", 2, 0, "error", "line zero");
	check_diag(&l, 4, "a.c:12345678901", 1, 0, "error", "too long a number");
	check_diag(&l, 5, ":1", 1, 0, "error", "no name before");
	check_diag(&l, 6, "a.c:1:x", 0, 0, "error", "column not a number");
	check_diag(&l, 0, "my:dir/a:b.c", 3, 5, "error", "x: y");
	check_diag(&l, 1, "weird:12:name.c", 4, 2, "warning", "w");
	check_diag(&l, 2, "a 1", 2, 3, "error", "spaces too");
	diag_list_free(&l);
}

static void test_crlf_nul_no_newline(void)
{
	static const char text[] = "a.c:1:2: error: one\r\nb.c:3:4: warn\0ing: two\r\nc.c:5:6: note: last";
	struct diag_list l = { 0 };

	CHECK_INT(diag_parse(text, sizeof(text) - 1, &l), 0);
	CHECK_INT(l.n, 3);
	check_diag(&l, 0, "a.c", 1, 2, "error", "one");
	check_diag(&l, 1, "b.c", 3, 4, "warning", "two");
	check_diag(&l, 2, "c.c", 5, 6, "note", "last");
	diag_list_free(&l);
}

/* Bytes that are not UTF-8 stay as they are: the payload repairs them. */
static void test_invalid_utf8_kept(void)
{
	struct diag_list l = parse("\xFF\xFE.c:1:1: error: bad \xC3(\n");

	check_diag(&l, 0, "\xFF\xFE.c", 1, 1, "error", "bad \xC3(");
	diag_list_free(&l);
}

static void test_not_diagnostics(void)
{
	struct diag_list l = parse(
		"In file included from a.c:1:\n"
		"                 from b.c:2,\n"
		"a.c: In function 'main':\n"
		"a.c:1:2: errors: plural is not a severity\n"
		"error: bare\n"
		"a.c:1:2:error: no space\n"
		"\n");

	CHECK_INT(l.n, 0);
	CHECK_INT(l.errors, 0);
	diag_list_free(&l);
	l = parse("");
	CHECK_INT(l.n, 0);
	CHECK_INT(diag_parse(NULL, 0, &l), 0);
	diag_list_free(&l);
}

/* 10,000 errors: every one counted, the first DIAG_LIST_MAX listed. */
static void test_ten_thousand(void)
{
	size_t cap = 10000 * 40, o = 0;
	char *text = malloc(cap);
	struct diag_list l = { 0 };
	int i;

	for (i = 1; i <= 10000; i++)
		o += (size_t)snprintf(text + o, cap - o, "f.c:%d:1: %s: m%d\n", i,
				      i % 4 ? "error" : "warning", i);
	CHECK_INT(diag_parse(text, o, &l), 0);
	CHECK_INT(l.errors, 7500);
	CHECK_INT(l.warnings, 2500);
	CHECK_INT(l.n, DIAG_LIST_MAX);
	CHECK_INT(l.omitted, 10000 - DIAG_LIST_MAX);
	check_diag(&l, DIAG_LIST_MAX - 1, "f.c", DIAG_LIST_MAX, 1, "warning", "m256");
	diag_list_free(&l);
	free(text);
}

/* A 4 MiB line of colons and digits costs linear time, and a huge
 * message is kept whole. */
static void test_huge_lines(void)
{
	size_t n = 4u << 20, i;
	char *text = malloc(n + 64);
	struct diag_list l = { 0 };

	for (i = 0; i < n; i++)
		text[i] = i % 3 == 2 ? ':' : '1';
	memcpy(text + n, ": error: end\n", 14);
	CHECK_INT(diag_parse(text, n + 13, &l), 0);
	CHECK_INT(l.n, 1);
	if (l.n)
		CHECK_INT(strlen(l.v[0].file), n - 5);	/* "...:11:1: error: end" */
	diag_list_free(&l);
	memset(text, 'x', n);
	memcpy(text, "a.c:1:1: error: ", 16);
	CHECK_INT(diag_parse(text, n, &l), 0);
	CHECK_INT(l.n, 1);
	if (l.n)
		CHECK_INT(strlen(l.v[0].message), n - 16);
	diag_list_free(&l);
	free(text);
}

static void check_exception(const char *text, const char *want)
{
	char buf[64];
	int rc = diag_python_exception(text, strlen(text), buf, sizeof(buf));

	if (!want) {
		CHECK_INT(rc, -ENOENT);
		return;
	}
	CHECK_INT(rc, 0);
	CHECK_STR(rc == 0 ? buf : NULL, want);
}

static void test_python_exception(void)
{
	check_exception("Traceback (most recent call last):\n"
			"  File \"/home/coder/project/hw1/div.py\", line 1, in <module>\n"
			"    print(1 / 0)\n"
			"          ~~^~~\n"
			"ZeroDivisionError: division by zero\n", "ZeroDivisionError");
	check_exception("Traceback (most recent call last):\n"
			"  File \"<string>\", line 1, in <module>\n"
			"ModuleNotFoundError: No module named 'nosuchmod'\n", "ModuleNotFoundError");
	check_exception("  File \"/tmp/u12t/syn.py\", line 1\n"
			"    def f(:\n"
			"          ^\n"
			"SyntaxError: invalid syntax\n", "SyntaxError");
	check_exception("Traceback (most recent call last):\n  File \"a.py\", line 3, in <module>\n"
			"KeyboardInterrupt\n", "KeyboardInterrupt");
	check_exception("Traceback (most recent call last):\r\n  File \"a.py\"\r\n"
			"json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\r\n\r\n",
			"json.decoder.JSONDecodeError");
	/* Python 3.13's colours. */
	check_exception("Traceback (most recent call last):\n  File \"a.py\", line 1\n"
			"\033[1;35mZeroDivisionError\033[0m: \033[35mdivision by zero\033[0m\n",
			"ZeroDivisionError");
	check_exception("Error: not a traceback\n", NULL);
	check_exception("Traceback (most recent call last):\n  File \"a.py\"\n    x = 1 +\n", NULL);
	check_exception("Traceback (most recent call last):\n9Bad: name\n", NULL);
	check_exception("Traceback (most recent call last):\nValueError:no space\n", NULL);
	check_exception("", NULL);
	check_exception("Traceback (most recent call last):\n", NULL);
	{
		char small[4];
		const char *t = "Traceback (most recent call last):\nValueError: x\n";

		CHECK_INT(diag_python_exception(t, strlen(t), small, sizeof(small)), -ENOSPC);
	}
}

static void check_crash(const char *text, bool want)
{
	CHECK_INT(diag_crash_report(text, strlen(text)), want);
}

static void test_crash_reports(void)
{
	check_crash("as: as.c:2: main: Assertion `0' failed.\n", true);
	check_crash("Assertion failed: 0 (as.c: main: 2)\n", true);
	check_crash("=================================================================\n"
		    "==1234==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6020\n", true);
	check_crash("\033[1m\033[31m==99==ERROR: LeakSanitizer: detected memory leaks\033[0m\n", true);
	check_crash("ub.c:3:11: runtime error: signed integer overflow: 2147483647 + 1\n", true);
	check_crash("WARNING: ThreadSanitizer: data race (pid=7)\n", true);
	check_crash("AddressSanitizer:DEADLYSIGNAL\n", true);
	check_crash("usage: prog N\n", false);
	check_crash("Assertion `x' is what I call it\n", false);
	check_crash("", false);
	CHECK(!diag_crash_report(NULL, 0));
	{
		static const char nul[] = "junk\0as: a.c:1: main: Assertion `p' failed.";

		CHECK(diag_crash_report(nul, sizeof(nul) - 1));
	}
}

int main(void)
{
	RUN(test_gcc_missing_semicolon);
	RUN(test_gcc_colour);
	RUN(test_gcc_warning_with_link);
	RUN(test_undefined_reference);
	RUN(test_other_linker_errors);
	RUN(test_link_summary_alone);
	RUN(test_clang);
	RUN(test_fatal_and_tools);
	RUN(test_paths_with_colons);
	RUN(test_crlf_nul_no_newline);
	RUN(test_invalid_utf8_kept);
	RUN(test_not_diagnostics);
	RUN(test_ten_thousand);
	RUN(test_huge_lines);
	RUN(test_python_exception);
	RUN(test_crash_reports);
	return TEST_DONE();
}
