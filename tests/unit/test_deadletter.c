/*
 * test_deadletter.c - what a refused record leaves for a human: one exact
 * JSON line per record, appended, whatever the body or the reply holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deadletter.h"
#include "support.h"
#include "testlib.h"

static char dir[] = "/tmp/test_deadletter.XXXXXX";
static char file[128];

static void test_lines(void)
{
	CHECK_INT(deadletter_write(dir, "/api/os-1/hw1/2/logs/run",
				   "{\"exit_code\":1,\"event_id\":\"b-1-2\"}", 422,
				   "{\"detail\":\"bad\"}"), 0);
	/* A body that is not JSON is kept as a string; bad bytes repaired. */
	CHECK_INT(deadletter_write(dir, "/api/x\xff", "not json", 400, NULL), 0);
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
	CHECK_INT(deadletter_write(dir, "/p", "{}", 422, reply), 0);
	text = support_slurp(file);
	/* {"event_id":null,"path":"/p","status":422,"response":" then 1024 r's */
	CHECK(text != NULL && strstr(text, "\"response\":\"") != NULL);
	if (text)
		CHECK_INT(strspn(strstr(text, "\"response\":\"") + 12, "r"), DEADLETTER_RESPONSE_MAX);
	free(reply);
}

static void test_unwritable(void)
{
	CHECK_INT(deadletter_write("/nonexistent/dir", "/p", "{}", 422, ""), -1);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(file, sizeof(file), "%s/" DEADLETTER_FILE, dir);
	RUN(test_lines);
	RUN(test_long_reply_cut);
	RUN(test_unwritable);
	support_rm_rf(dir);
	return TEST_DONE();
}
