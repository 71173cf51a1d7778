/*
 * test_log.c - level parsing, line format on stderr and in a file, rotation
 * and escaping.
 */
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "testlib.h"

static char tmpdir[] = "/tmp/test_log.XXXXXX";

static void clean_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

/* True when line starts with "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static int is_timestamp(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t i;

	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return 0;
	}
	return 1;
}

static void test_level_parse(void)
{
	CHECK_INT(log_level_parse("DEBUG"), LOG_DEBUG);
	CHECK_INT(log_level_parse("debug"), LOG_DEBUG);
	CHECK_INT(log_level_parse("Info"), LOG_INFO);
	CHECK_INT(log_level_parse("WARNING"), LOG_WARN);
	CHECK_INT(log_level_parse("warn"), LOG_WARN);
	CHECK_INT(log_level_parse("ERROR"), LOG_ERROR);
	CHECK_INT(log_level_parse("critical"), LOG_ERROR);
	CHECK_INT(log_level_parse("verbose"), -EINVAL);
	CHECK_INT(log_level_parse(""), -EINVAL);
	CHECK_INT(log_level_parse("INFOX"), -EINVAL);
	CHECK_INT(log_level_parse(NULL), -EINVAL);
}

static void test_escape(void)
{
	char out[64];

	CHECK_STR(log_escape("a\nb\\c\xff", out, sizeof(out)), "a\\nb\\\\c\\xff");
	CHECK_STR(log_escape("t\tr\r\x01\x7f", out, sizeof(out)), "t\\tr\\r\\x01\\x7f");
	/* Valid UTF-8 passes; overlong '/' and a lone surrogate do not. */
	CHECK_STR(log_escape("h\xc3\xa9llo \xe2\x82\xac", out, sizeof(out)), "h\xc3\xa9llo \xe2\x82\xac");
	CHECK_STR(log_escape("\xc0\xaf", out, sizeof(out)), "\\xc0\\xaf");
	CHECK_STR(log_escape("\xed\xa0\x80", out, sizeof(out)), "\\xed\\xa0\\x80");
	CHECK_STR(log_escape("\xe2\x82", out, sizeof(out)), "\\xe2\\x82");
	CHECK_STR(log_escape("\xf0\x9f\x98\x80!", out, sizeof(out)), "\xf0\x9f\x98\x80!");
	CHECK_STR(log_escape("\xf4\x90\x80\x80", out, sizeof(out)), "\\xf4\\x90\\x80\\x80");
	/* Truncation never splits an escape or a character. */
	CHECK_STR(log_escape("ab\n", out, 4), "ab");
	CHECK_STR(log_escape("ab\xff", out, 6), "ab");
	CHECK_STR(log_escape("a\xc3\xa9", out, 3), "a");
	CHECK_STR(log_escape("abc", out, 1), "");
	CHECK_STR(log_escape(NULL, out, sizeof(out)), "");
}

/* Run fn with stderr redirected into a file; return what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	char path[256];
	int saved, fd;

	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, STDERR_FILENO);
	close(fd);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	return support_slurp(path);
}

static void log_some(void)
{
	log_set_level(LOG_INFO);
	log_debug("mod", "hidden %d", 1);
	log_warn("sender", "POST %s -> %d", "/api/build", 503);
	log_info("main", "trailing newline\n");
}

static void test_stderr_format(void)
{
	char *out = capture_stderr(log_some);
	char *second;

	CHECK(out != NULL);
	if (!out)
		return;
	CHECK(is_timestamp(out));
	CHECK_STR(strtok(out + 24, "\n"), " WARN  sender: POST /api/build -> 503");
	second = out + strlen(out) + 1;
	CHECK(is_timestamp(second));
	CHECK_STR(second + 24, " INFO  main: trailing newline\n");
	CHECK_INT(strlen(second), 24 + strlen(" INFO  main: trailing newline\n"));
}

/* LOG_FORMAT=json: each line one object, message text escaped by jansson. */
static void log_json_lines(void)
{
	log_set_json(true);
	log_set_level(LOG_INFO);
	log_warn("sender", "POST %s -> %d \"quoted\"", "/api/build", 503);
	log_set_json(false);
}

static void test_json_format(void)
{
	char *out = capture_stderr(log_json_lines);
	json_t *o;

	CHECK(out != NULL);
	if (!out)
		return;
	CHECK(strchr(out, '\n') == out + strlen(out) - 1);	/* one line */
	o = json_loads(out, 0, NULL);
	CHECK(o != NULL);
	CHECK_STR(json_string_value(json_object_get(o, "level")), "WARN");
	CHECK_STR(json_string_value(json_object_get(o, "module")), "sender");
	CHECK_STR(json_string_value(json_object_get(o, "msg")), "POST /api/build -> 503 \"quoted\"");
	CHECK(is_timestamp(json_string_value(json_object_get(o, "ts"))));
	CHECK_INT(strncmp(out, "{\"ts\":\"", 7), 0);
	json_decref(o);
}

/* Under journald stderr lines carry <N>; only when JOURNAL_STREAM names
 * the stderr we really have. */
static char journal_env[64];

static void log_journal_lines(void)
{
	struct stat st;

	fstat(STDERR_FILENO, &st);
	snprintf(journal_env, sizeof(journal_env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", journal_env, 1);
	CHECK(log_detect_journal());
	log_set_level(LOG_DEBUG);
	log_error("a", "e");
	log_warn("a", "w");
	log_info("a", "i");
	log_debug("a", "d");
	setenv("JOURNAL_STREAM", "1:2", 1);
	CHECK(!log_detect_journal());
	log_info("a", "plain");
	unsetenv("JOURNAL_STREAM");
	log_detect_journal();
	log_set_level(LOG_INFO);
}

static void test_journal_priorities(void)
{
	char *out = capture_stderr(log_journal_lines), *line;
	const char *want[] = { "<3>", "<4>", "<6>", "<7>" };
	int n = 0;

	CHECK(out != NULL);
	if (!out)
		return;
	for (line = strtok(out, "\n"); line && n < 4; line = strtok(NULL, "\n"), n++) {
		CHECK(strncmp(line, want[n], 3) == 0);
		CHECK(is_timestamp(line + 3));
	}
	CHECK_INT(n, 4);
	CHECK(line && is_timestamp(line));	/* no prefix without a matching stream */
	CHECK(line && strstr(line, " INFO  a: plain") != NULL);
}

static void test_file_output(void)
{
	char path[256];
	char *out;

	snprintf(path, sizeof(path), "%s/agent.log", tmpdir);
	CHECK_INT(log_open_file(path, 0, 0), 0);
	log_set_level(LOG_DEBUG);
	log_debug("bpf", "debug %s", "on");
	log_error("api", "x=%d", 42);
	log_set_level(LOG_ERROR);
	log_warn("api", "filtered");
	log_close();
	log_set_level(LOG_INFO);
	log_info("api", "after close");

	out = support_slurp(path);
	CHECK(out != NULL);
	if (!out)
		return;
	CHECK_INT(strlen(out), 2 * 24 + strlen(" DEBUG bpf: debug on\n") + strlen(" ERROR api: x=42\n"));
	CHECK(is_timestamp(out));
	CHECK(strncmp(out + 24, " DEBUG bpf: debug on\n", 21) == 0);
	CHECK(is_timestamp(out + 45));
	CHECK_STR(out + 45 + 24, " ERROR api: x=42\n");
	clean_dir(tmpdir);
}

static void test_open_errors(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/missing/agent.log", tmpdir);
	errno = 0;
	CHECK_INT(log_open_file(path, 100, 1), -ENOENT);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(log_open_file("", 100, 1), -EINVAL);
	CHECK_INT(errno, EINVAL);
}

/* Every line is 41 bytes: 24 timestamp + " INFO  t: msg NN\n". */
static void write_lines(int from, int to)
{
	int i;

	for (i = from; i <= to; i++)
		log_info("t", "msg %02d", i);
}

/* The numbers of the "msg NN" lines in a file, e.g. "0506". */
static const char *msgs_in(const char *path)
{
	static char ids[64];
	char *text = support_slurp(path), *p;
	size_t n = 0;

	ids[0] = '\0';
	if (!text)
		return "(missing)";
	for (p = text; (p = strstr(p, "msg ")) && n + 2 < sizeof(ids); p += 6) {
		ids[n++] = p[4];
		ids[n++] = p[5];
	}
	ids[n] = '\0';
	return ids;
}

static void test_rotation_numbered(void)
{
	char path[256], p1[300], p2[300], p3[300];

	snprintf(path, sizeof(path), "%s/r.log", tmpdir);
	snprintf(p1, sizeof(p1), "%s.1", path);
	snprintf(p2, sizeof(p2), "%s.2", path);
	snprintf(p3, sizeof(p3), "%s.3", path);
	/* 100 bytes hold two lines; the third rotates. */
	CHECK_INT(log_open_file(path, 100, 2), 0);
	log_set_level(LOG_INFO);
	write_lines(1, 7);
	log_close();

	CHECK_INT(support_count_entries(tmpdir), 3);
	CHECK_STR(msgs_in(path), "07");
	CHECK_STR(msgs_in(p1), "0506");
	CHECK_STR(msgs_in(p2), "0304");
	CHECK(access(p3, F_OK) != 0);

	/* Reopening appends and counts the existing size. */
	CHECK_INT(log_open_file(path, 100, 2), 0);
	write_lines(8, 9);
	log_close();
	CHECK_INT(support_count_entries(tmpdir), 3);
	CHECK_STR(msgs_in(path), "09");
	CHECK_STR(msgs_in(p1), "0708");
	CHECK_STR(msgs_in(p2), "0506");
	clean_dir(tmpdir);
}

static void test_rotation_timestamped(void)
{
	char path[256];
	DIR *d;
	struct dirent *e;
	int rotated = 0, shaped = 0;

	snprintf(path, sizeof(path), "%s/t.log", tmpdir);
	CHECK_INT(log_open_file(path, 100, 0), 0);
	write_lines(1, 5);
	log_close();

	CHECK_INT(support_count_entries(tmpdir), 3);
	CHECK_STR(msgs_in(path), "05");
	d = opendir(tmpdir);
	while (d && (e = readdir(d))) {
		const char *n = e->d_name;

		if (strncmp(n, "t.log.", 6) != 0)
			continue;
		rotated++;
		/* t.log.YYYYMMDDTHHMMSS or t.log.YYYYMMDDTHHMMSS.1 */
		if (strlen(n) >= 21 && n[14] == 'T' &&
		    strspn(n + 6, "0123456789") == 8 && strspn(n + 15, "0123456789") == 6 &&
		    (n[21] == '\0' || strcmp(n + 21, ".1") == 0))
			shaped++;
	}
	if (d)
		closedir(d);
	CHECK_INT(rotated, 2);
	CHECK_INT(shaped, 2);
	clean_dir(tmpdir);
}

static void log_to_full_device(void)
{
	CHECK_INT(log_open_file("/dev/full", 100, 1), 0);
	log_warn("x", "first");
	log_warn("x", "second");
	log_close();
}

static void test_failing_file_keeps_stderr(void)
{
	char *out = capture_stderr(log_to_full_device);

	CHECK(out != NULL);
	if (!out)
		return;
	CHECK(strstr(out, " WARN  x: first\n") != NULL);
	CHECK(strstr(out, " WARN  x: second\n") != NULL);
	/* The failure is reported once, not once per line. */
	CHECK(strstr(out, "log: write to /dev/full failed") != NULL);
	CHECK(strstr(strstr(out, "failed") + 1, "log: write to") == NULL);
	/* Not a regular file: never renamed away. */
	CHECK(access("/dev/full.1", F_OK) != 0);
}

/* The lines of a capture without their 24-byte timestamps. */
static char *strip_stamps(char *text)
{
	static char out[8192];
	size_t o = 0;

	out[0] = '\0';
	for (char *line = text; line && *line && o < sizeof(out) - 1; ) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);

		if (!is_timestamp(line) || len < 24) {
			snprintf(out + o, sizeof(out) - o, "[bad line]\n");
			return out;
		}
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%.*s", (int)(len - 24), line + 24);
		line += len;
	}
	return out;
}

static void log_burst(void)
{
	char path[256];
	int i;

	snprintf(path, sizeof(path), "%s/burst.log", tmpdir);
	CHECK_INT(log_open_file(path, 0, 0), 0);
	log_set_level(LOG_INFO);
	/* At most 3 lines of a kind per 200 ms. */
	log_set_rate_limit(3, 200);
	for (i = 1; i <= 10; i++)
		log_warn("spool", "cannot write: record %d", i);
	/* Another message, another module, another level: not suppressed. */
	log_warn("spool", "other %d", 1);
	log_warn("sender", "cannot write: record %d", 1);
	log_error("spool", "cannot write: record %d", 1);
	log_warn("spool", "other %d", 2);
	usleep(300 * 1000);	/* the window is over */
	log_warn("spool", "cannot write: record %d", 11);
	for (i = 12; i <= 15; i++)
		log_warn("spool", "cannot write: record %d", i);
	/* What is still suppressed is told at close. */
	log_close();
	log_set_rate_limit(0, 0);
	for (i = 1; i <= 5; i++)
		log_warn("spool", "cannot write: record %d", i);
}

/* Issue #8: a full SPOOL_DIR logged one line per record, without end. */
static void log_twice(void)
{
	log_info("x", "once");
	log_info("x", "once");
	log_close();
}

#define BURST_LINES \
		  " WARN  spool: cannot write: record 1\n" \
		  " WARN  spool: cannot write: record 2\n" \
		  " WARN  spool: cannot write: record 3\n" \
		  " WARN  spool: other 1\n" \
		  " WARN  sender: cannot write: record 1\n" \
		  " ERROR spool: cannot write: record 1\n" \
		  " WARN  spool: other 2\n" \
		  " WARN  spool: cannot write: record 11 (7 similar messages suppressed)\n" \
		  " WARN  spool: cannot write: record 12\n" \
		  " WARN  spool: cannot write: record 13\n" \
		  " WARN  spool: 2 similar messages suppressed: \"cannot write: record %d\"\n"

static void test_rate_limit(void)
{
	char *out = capture_stderr(log_burst), path[256];

	CHECK(out != NULL);
	if (!out)
		return;
	CHECK_STR(strip_stamps(out),
		  BURST_LINES
		  /* Without a limit, every line. */
		  " WARN  spool: cannot write: record 1\n"
		  " WARN  spool: cannot write: record 2\n"
		  " WARN  spool: cannot write: record 3\n"
		  " WARN  spool: cannot write: record 4\n"
		  " WARN  spool: cannot write: record 5\n");
	/* The file got the same lines, up to its close. */
	snprintf(path, sizeof(path), "%s/burst.log", tmpdir);
	CHECK_STR(strip_stamps(support_slurp(path)), BURST_LINES);
	clean_dir(tmpdir);
	/* One suppressed line is a message, not messages. */
	log_set_rate_limit(1, 60000);
	out = capture_stderr(log_twice);
	CHECK_STR(out ? strip_stamps(out) : NULL,
		  " INFO  x: once\n"
		  " INFO  x: 1 similar message suppressed: \"once\"\n");
	log_set_rate_limit(0, 0);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	/* The other tests count every line; test_rate_limit sets its own. */
	log_set_rate_limit(0, 0);
	RUN(test_level_parse);
	RUN(test_escape);
	RUN(test_stderr_format);
	RUN(test_json_format);
	RUN(test_journal_priorities);
	RUN(test_file_output);
	RUN(test_open_errors);
	RUN(test_rotation_numbered);
	RUN(test_rotation_timestamped);
	RUN(test_failing_file_keeps_stderr);
	RUN(test_rate_limit);
	clean_dir(tmpdir);
	rmdir(tmpdir);
	return TEST_DONE();
}
