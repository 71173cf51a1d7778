/*
 * test_deadletter.c - what a refused record leaves for a human: one exact
 * JSON line per record, appended, whatever the body or the reply holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deadletter.h"
#include "metrics_testing.h"
#include "support.h"
#include "testlib.h"

static char dir[] = "/tmp/test_deadletter.XXXXXX";
static char file[128];

static void test_lines(void)
{
	CHECK_INT(deadletter_write(dir, "/api/os-1/hw1/2/logs/run",
				   "{\"exit_code\":1,\"event_id\":\"b-1-2\"}", 422,
				   "{\"detail\":\"bad\"}", 0), 0);
	/* A body that is not JSON is kept as a string; bad bytes repaired. */
	CHECK_INT(deadletter_write(dir, "/api/x\xff", "not json", 400, NULL, 0), 0);
	CHECK_STR(support_slurp(file),
		  "{\"event_id\":\"b-1-2\",\"path\":\"/api/os-1/hw1/2/logs/run\",\"status\":422,"
		  "\"response\":\"{\\\"detail\\\":\\\"bad\\\"}\",\"body\":{\"exit_code\":1,"
		  "\"event_id\":\"b-1-2\"}}\n"
		  "{\"event_id\":null,\"path\":\"/api/x\xef\xbf\xbd\",\"status\":400,"
		  "\"response\":\"\",\"body\":\"not json\"}\n");
}

static void test_long_reply_cut(void)
{
	char *reply = malloc(5000), *text;

	memset(reply, 'r', 4999);
	reply[4999] = '\0';
	remove(file);
	CHECK_INT(deadletter_write(dir, "/p", "{}", 422, reply, 0), 0);
	text = support_slurp(file);
	/* {"event_id":null,"path":"/p","status":422,"response":" then 1024 r's */
	CHECK(text != NULL && strstr(text, "\"response\":\"") != NULL);
	if (text)
		CHECK_INT(strspn(strstr(text, "\"response\":\"") + 12, "r"), DEADLETTER_RESPONSE_MAX);
	free(reply);
}

static void test_unwritable(void)
{
	CHECK_INT(deadletter_write("/nonexistent/dir", "/p", "{}", 422, "", 0), -ENOENT);
}

static long long size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Dead letter i: a line of exactly LINE bytes (i < 10). */
#define LINE 86
static int letter(int i, long long max)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"event_id\":\"e-%02d\"}", i);
	return deadletter_write(dir, "/p", body, 422, "", max);
}

static double rotations(void)
{
	return metrics_sample(SERVICE_PROCMON, "api_dead_letter_rotations_total", "");
}

/* Issue #8: dead-letter.jsonl grew without bound.  At max bytes it moves
 * to dead-letter.jsonl.1 (replacing the older one) and starts anew. */
static void test_rotation_at_bound(void)
{
	const long long max = 2 * LINE + LINE / 2;
	char old[160];

	snprintf(old, sizeof(old), "%s.1", file);
	remove(file);
	remove(old);
	metrics_reset();
	CHECK_INT(letter(1, max), 0);
	CHECK_INT(size_of(file), LINE);
	CHECK_INT(letter(2, max), 0);
	CHECK_INT(size_of(file), 2 * LINE);
	CHECK_INT(size_of(old), -1);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_dead_letter_rotations_total", ""), 0, 0);
	CHECK_INT(letter(3, max), 0);	/* 3 * LINE > max: rotate first */
	CHECK_INT(size_of(file), LINE);
	CHECK_INT(size_of(old), 2 * LINE);
	CHECK(strstr(support_slurp(file), "\"e-03\"") != NULL);
	CHECK_DBL(rotations(), 1, 0);
	CHECK_INT(letter(4, max), 0);
	CHECK_INT(letter(5, max), 0);
	CHECK_INT(size_of(file), LINE);
	CHECK_INT(size_of(old), 2 * LINE);
	CHECK_DBL(rotations(), 2, 0);
	{
		/* The older .1 (letters 1 and 2) is gone; 3 and 4 are kept. */
		const char *t = support_slurp(old);

		CHECK(t && strstr(t, "\"e-03\"") && strstr(t, "\"e-04\"") && !strstr(t, "\"e-02\""));
	}
	CHECK(strstr(support_slurp(file), "\"e-05\"") != NULL);

	/* One line longer than the bound still gets written, alone. */
	{
		char *big = malloc(400);

		memset(big, 'x', 399);
		big[399] = '\0';
		CHECK_INT(deadletter_write(dir, "/p", big, 422, "", max), 0);
		free(big);
	}
	CHECK_INT(size_of(old), LINE);
	CHECK(size_of(file) > max);
	CHECK_DBL(rotations(), 3, 0);
	CHECK_INT(letter(6, max), 0);
	CHECK_INT(size_of(file), LINE);
	CHECK(size_of(old) > max);
	CHECK_DBL(rotations(), 4, 0);

	/* max <= 0: the default bound, 16 MiB. */
	CHECK_INT(letter(7, 0), 0);
	CHECK_INT(size_of(file), 2 * LINE);
	CHECK_DBL(rotations(), 4, 0);
	CHECK_INT(DEADLETTER_MAX_DEFAULT, 16 << 20);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(file, sizeof(file), "%s/" DEADLETTER_FILE, dir);
	RUN(test_lines);
	RUN(test_long_reply_cut);
	RUN(test_unwritable);
	RUN(test_rotation_at_bound);
	support_rm_rf(dir);
	return TEST_DONE();
}
