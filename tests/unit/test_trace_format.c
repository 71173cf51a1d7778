/*
 * test_trace_format.c - `jcode-watcher trace` rows: exact columns, the
 * filters, the hub's own lines, and a hostile command line that must not
 * forge a row or reach the terminal as an escape sequence.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "trace_format.h"

#define SENT "{\"time\":\"2026-12-03T08:12:01.123456+00:00\",\"student\":\"202012345\"," \
	"\"class_div\":\"os-1\",\"hostname\":\"jcode-os-1-202012345\",\"hw\":\"hw1\"," \
	"\"type\":\"build\",\"program\":\"gcc\",\"result\":\"sent\",\"exit_code\":0," \
	"\"signal\":null,\"duration_ms\":41.25,\"pid\":4242,\"cmdline\":\"gcc main.c -o a.out\"," \
	"\"target\":\"/home/coder/project/hw1/main.c\"}"
#define SEGV "{\"time\":\"2026-12-03T08:12:02.5+00:00\",\"student\":\"202012345\"," \
	"\"class_div\":\"os-1\",\"hostname\":\"jcode-os-1-202012345\",\"hw\":\"hw1\"," \
	"\"type\":\"binary\",\"program\":\"binary\",\"result\":\"sent\",\"exit_code\":139," \
	"\"signal\":\"SIGSEGV\",\"duration_ms\":1520.5,\"pid\":4243,\"cmdline\":\"./seg\"," \
	"\"target\":\"/home/coder/project/hw1/seg\"}"
#define FILTERED "{\"time\":\"2026-12-03T08:12:03.000001+00:00\",\"student\":\"202012345\"," \
	"\"class_div\":\"os-1\",\"hostname\":\"jcode-os-1-202012345\",\"hw\":null," \
	"\"type\":\"python\",\"program\":\"python\",\"result\":\"outside_homework\"," \
	"\"exit_code\":null,\"signal\":null,\"duration_ms\":null,\"pid\":4244," \
	"\"cmdline\":\"python3 /tmp/x.py\",\"target\":\"/tmp/x.py\"}"
#define INVALID "{\"time\":\"2026-12-03T08:12:04.000001+00:00\",\"student\":null," \
	"\"class_div\":null,\"hostname\":\"jcode-bad\",\"hw\":null,\"type\":\"other\"," \
	"\"program\":\"unknown\",\"result\":\"invalid_identity\",\"exit_code\":null," \
	"\"signal\":null,\"duration_ms\":null,\"pid\":9,\"cmdline\":\"/bin/true\",\"target\":null}"
/* argv: ./a.out "x\n08:00:00 202012345 hw1 ..." ESC[2J, a C1 CSI, a bidi override,
 * a backslash, a tab and U+2028. */
#define HOSTILE "{\"time\":\"2026-12-03T08:12:05.000001+00:00\",\"student\":\"202012345\"," \
	"\"class_div\":\"os-1\",\"hostname\":\"jcode-os-1-202012345\",\"hw\":\"hw1\"," \
	"\"type\":\"binary\",\"program\":\"binary\",\"result\":\"sent\",\"exit_code\":3," \
	"\"signal\":null,\"duration_ms\":0.678,\"pid\":4245," \
	"\"cmdline\":\"./a.out x\\n08:00:00 202012345   hw1  build     0    1.0ms rm -rf /" \
	"\\u001b[2J\\u009b31m\\u202eevil\\\\\\t\\u2028\xc3\xa9\",\"target\":\"/home/coder/project/hw1/a.out\"}"

static const struct trace_options table = { .output = TRACE_TABLE };
static const struct trace_options table_all = { .all = true, .output = TRACE_TABLE };

static void expect(const char *line, const struct trace_options *opt, int kind, const char *want)
{
	unsigned long long dropped = 0;
	char *out = NULL;
	int got = trace_format_line(line, strlen(line), opt, &out, &dropped);

	CHECK_INT(got, kind);
	CHECK_STR(out, want);
	free(out);
}

static void test_header(void)
{
	struct trace_options json = { .output = TRACE_JSON };

	CHECK_STR(trace_header(&table), "TIME     STUDENT     HW   TYPE   EXIT      DUR CMD\n");
	CHECK_STR(trace_header(&table_all),
		  "TIME     STUDENT     HW   TYPE   EXIT      DUR RESULT           CMD\n");
	CHECK_STR(trace_header(&json), "");
}

static void test_rows(void)
{
	expect(SENT, &table, TRACE_LINE_ROW,
	       "08:12:01 202012345   hw1  build     0   41.2ms gcc main.c -o a.out\n");
	expect(SEGV, &table, TRACE_LINE_ROW,
	       "08:12:02 202012345   hw1  binary  139    1.52s ./seg\n");
	expect(SENT, &table_all, TRACE_LINE_ROW,
	       "08:12:01 202012345   hw1  build     0   41.2ms sent             gcc main.c -o a.out\n");
	expect(FILTERED, &table_all, TRACE_LINE_ROW,
	       "08:12:03 202012345   -    python    -        - outside_homework python3 /tmp/x.py\n");
	expect(INVALID, &table_all, TRACE_LINE_ROW,
	       "08:12:04 -           -    other     -        - invalid_identity /bin/true\n");
}

static void test_filters(void)
{
	struct trace_options o = { .output = TRACE_TABLE };

	/* Without --all only what was sent. */
	expect(FILTERED, &o, TRACE_LINE_SKIP, NULL);
	expect(INVALID, &o, TRACE_LINE_SKIP, NULL);
	o.student = "202012345";
	expect(SENT, &o, TRACE_LINE_ROW,
	       "08:12:01 202012345   hw1  build     0   41.2ms gcc main.c -o a.out\n");
	o.student = "20201234";
	expect(SENT, &o, TRACE_LINE_SKIP, NULL);
	o.all = true;
	expect(INVALID, &o, TRACE_LINE_SKIP, NULL);	/* no student */
	o.student = NULL;
	o.type = "run";
	expect(SENT, &o, TRACE_LINE_SKIP, NULL);
	expect(SEGV, &o, TRACE_LINE_ROW,
	       "08:12:02 202012345   hw1  binary  139    1.52s sent             ./seg\n");
	expect(FILTERED, &o, TRACE_LINE_ROW,
	       "08:12:03 202012345   -    python    -        - outside_homework python3 /tmp/x.py\n");
	o.type = "python";
	expect(SEGV, &o, TRACE_LINE_SKIP, NULL);
	o.type = "build";
	expect(SENT, &o, TRACE_LINE_ROW,
	       "08:12:01 202012345   hw1  build     0   41.2ms sent             gcc main.c -o a.out\n");
	o.type = "other";
	expect(INVALID, &o, TRACE_LINE_ROW,
	       "08:12:04 -           -    other     -        - invalid_identity /bin/true\n");
	CHECK(trace_type_valid("binary"));
	CHECK(!trace_type_valid("gcc"));
	CHECK(!trace_type_valid(""));
}

/* One row, one line: nothing a student typed can reach the terminal raw. */
static void test_hostile_cmdline(void)
{
	expect(HOSTILE, &table, TRACE_LINE_ROW,
	       "08:12:05 202012345   hw1  binary    3    0.7ms ./a.out x\\n08:00:00 202012345"
	       "   hw1  build     0    1.0ms rm -rf /\\x1b[2J\\u009b31m\\u202eevil\\\\\\t\\u2028"
	       "\xc3\xa9\n");
}

static void test_json_is_ascii(void)
{
	struct trace_options o = { .output = TRACE_JSON };

	expect(SENT, &o, TRACE_LINE_ROW, SENT "\n");
	expect(HOSTILE, &o, TRACE_LINE_ROW,
	       "{\"time\":\"2026-12-03T08:12:05.000001+00:00\",\"student\":\"202012345\","
	       "\"class_div\":\"os-1\",\"hostname\":\"jcode-os-1-202012345\",\"hw\":\"hw1\","
	       "\"type\":\"binary\",\"program\":\"binary\",\"result\":\"sent\",\"exit_code\":3,"
	       "\"signal\":null,\"duration_ms\":0.678,\"pid\":4245,"
	       "\"cmdline\":\"./a.out x\\n08:00:00 202012345   hw1  build     0    1.0ms rm -rf /"
	       "\\u001B[2J\\u009B31m\\u202Eevil\\\\\\t\\u2028\\u00E9\","
	       "\"target\":\"/home/coder/project/hw1/a.out\"}\n");
	o.all = false;
	expect(FILTERED, &o, TRACE_LINE_SKIP, NULL);
}

static void test_hub_lines(void)
{
	unsigned long long dropped = 0;
	char *out = NULL;

	CHECK_INT(trace_format_line("{\"dropped\":17}", 14, &table, &out, &dropped),
		  TRACE_LINE_DROPPED);
	CHECK_INT(dropped, 17);
	CHECK(out == NULL);
	expect("{\"error\":\"too many trace clients\"}", &table, TRACE_LINE_ERROR,
	       "too many trace clients");
	expect("{\"error\":\"a\\u001b[2Jb\"}", &table, TRACE_LINE_ERROR, "a\\x1b[2Jb");
	expect("not json", &table, -EINVAL, NULL);
	expect("[1]", &table, -EINVAL, NULL);
	expect("{\"x\":1}", &table, -EINVAL, NULL);
}

static void test_escape(void)
{
	char *e;

	e = trace_escape("plain é 中 ok");
	CHECK_STR(e, "plain é 中 ok");
	free(e);
	/* Bytes that are not UTF-8 are shown, not passed on. */
	e = trace_escape("a\xff\xc3(b\x7f\r");
	CHECK_STR(e, "a\\xff\\xc3(b\\x7f\\r");
	free(e);
	e = trace_escape("");
	CHECK_STR(e, "");
	free(e);
}

int main(void)
{
	/* The TIME column is local time; pin it. */
	setenv("TZ", "UTC", 1);
	RUN(test_header);
	RUN(test_rows);
	RUN(test_filters);
	RUN(test_hostile_cmdline);
	RUN(test_json_is_ascii);
	RUN(test_hub_lines);
	RUN(test_escape);
	return TEST_DONE();
}
