/*
 * test_contract.c - the test receiver's validator refuses what the backend
 * would refuse, and takes what the agent sends (extras included).
 */
#include "contract.h"

#include <errno.h>
#include <stdlib.h>

#include "testlib.h"

#define BUILD "/api/os-1/hw1/202012345/logs/build"
#define RUN_PATH "/api/os-1/hw1/202012345/logs/run"
#define GOOD_BUILD "{\"timestamp\":\"2026-11-23T07:19:40.123456+00:00\",\"exit_code\":1," \
	"\"cmdline\":\"gcc a.c\",\"cwd\":\"/w\",\"binary_path\":\"/usr/bin/gcc\"," \
	"\"target_path\":\"/w/a.c\",\"diagnostics\":[],\"stderr\":\"x\"}"
#define GOOD_RUN "{\"timestamp\":\"2026-11-23T07:19:40Z\",\"exit_code\":0,\"cmdline\":\"./a\"," \
	"\"cwd\":\"/w\",\"target_path\":\"/w/a\",\"process_type\":\"binary\",\"built_by\":null}"

static char why[256];

static int check(const char *url, const char *body)
{
	why[0] = '\0';
	return contract_check(url, body, why, sizeof(why));
}

static void test_accepts(void)
{
	CHECK_INT(check(BUILD, GOOD_BUILD), 0);
	CHECK_INT(check(RUN_PATH, GOOD_RUN), 0);
	CHECK_INT(check("/api/os-1/hw1/202012345/src%40a.c/20261123_071940", "{\"bytes\":5}"), 0);
	CHECK_INT(check("/api/os-1/hw1/202012345/a.c/20261123_071940.1", "{\"bytes\":0}"), 0);
}

static void test_refuses(void)
{
	CHECK_INT(check("/api/os-1/hw1/20x/logs/build", GOOD_BUILD), -EINVAL);
	CHECK_STR(why, "path: student_id \"20x\" is not a valid integer");
	CHECK_INT(check(BUILD, "{\"timestamp\":\"2026-11-23T07:19:40+00:00\",\"exit_code\":1,"
		  "\"cmdline\":\"gcc a.c\",\"cwd\":\"/w\",\"target_path\":\"/w/a.c\"}"), -EINVAL);
	CHECK_STR(why, "build: missing field binary_path");
	CHECK_INT(check(BUILD, "{\"timestamp\":\"2026-11-23T07:19:40+00:00\",\"exit_code\":\"1\","
		  "\"cmdline\":\"gcc a.c\",\"cwd\":\"/w\",\"binary_path\":\"b\",\"target_path\":\"t\"}"),
		  -EINVAL);
	CHECK_STR(why, "build: field exit_code has the wrong type");
	CHECK_INT(check(BUILD, "{\"timestamp\":\"2026-11-23 07:19:40\",\"exit_code\":1,"
		  "\"cmdline\":\"gcc a.c\",\"cwd\":\"/w\",\"binary_path\":\"b\",\"target_path\":\"t\"}"),
		  -EINVAL);
	CHECK_STR(why, "build: field timestamp has the wrong type");
	CHECK_INT(check(RUN_PATH, "{\"timestamp\":\"2026-11-23T07:19:40.5+09:00\",\"exit_code\":0,"
		  "\"cmdline\":\"./a\",\"cwd\":\"/w\",\"target_path\":\"/w/a\",\"process_type\":\"elf\"}"),
		  -EINVAL);
	CHECK_STR(why, "run: field process_type has the wrong type");
	CHECK_INT(check(RUN_PATH, "{\"timestamp\":\"2026-11-23T07:19:40.+09:00\",\"exit_code\":0,"
		  "\"cmdline\":\"./a\",\"cwd\":\"/w\",\"target_path\":\"/w/a\",\"process_type\":\"binary\"}"),
		  -EINVAL);
	CHECK_INT(check(RUN_PATH, "[1]"), -EINVAL);
	CHECK_STR(why, "run: body is not a JSON object");
	CHECK_INT(check(RUN_PATH, "{\"timestamp\":"), -EINVAL);
	CHECK_INT(check("/api/os-1/hw1/202012345/a.c/2026112_071940", "{\"bytes\":5}"), -EINVAL);
	CHECK_INT(check("/api/os-1/hw1/202012345/a.c/20261123_071940", "{\"bytes\":5.5}"), -EINVAL);
	CHECK_STR(why, "snapshot: field bytes has the wrong type");
	CHECK_INT(check("/other", "{}"), -ENOENT);
	CHECK_INT(check("/api/a/b/c", "{}"), -ENOENT);
	CHECK_INT(check(NULL, "{}"), -ENOENT);
}

int main(void)
{
	RUN(test_accepts);
	RUN(test_refuses);
	return TEST_DONE();
}
