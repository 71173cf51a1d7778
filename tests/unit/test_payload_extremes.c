/*
 * test_payload_extremes.c - a run's duration from crafted kernel times
 * (issue #8 item 6): exit - exec and its rounding overflowed a long long,
 * undefined behaviour that UBSan stops on, for times at the ends of the
 * range.  The duration is now held at the range's ends.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"
#include "event_id.h"
#include "event_id_testing.h"
#include "testlib.h"

static const struct identity ID = {
	.subject = "os", .division = "1", .student_id = "202012345", .class_div = "os-1",
};

/* duration_ms of a run with these kernel times, or -1 when no body. */
static double duration_of(long long exec_ns, long long exit_ns)
{
	char *argv[] = { "./main", NULL };
	struct process p = {
		.pid = 4242, .ppid = 4200, .uid = 1000,
		.exec_ns = exec_ns, .exit_ns = exit_ns,
		.exit_wall_ns = 1795418380LL * 1000000000LL,
		.hostname = "jcode-os-1-202012345",
		.cwd = "/home/coder/project/hw1", .exe = "/home/coder/project/hw1/main",
		.argc = 1, .argv = argv,
	};
	struct proc_report r = {
		.endpoint = ENDPOINT_RUN, .type = PROCESS_USER_BINARY, .proc = &p, .id = &ID,
		.hw = "hw1", .target_path = "/home/coder/project/hw1/main",
	};
	char *path = NULL, *body = NULL;
	json_t *root;
	double ms = -1;

	if (payload_build(&r, &path, &body) < 0)
		return -1;
	root = json_loads(body, 0, NULL);
	if (root && json_is_real(json_object_get(root, "duration_ms")))
		ms = json_real_value(json_object_get(root, "duration_ms"));
	json_decref(root);
	free(path);
	free(body);
	return ms;
}

static void test_duration_extremes(void)
{
	/* LLONG_MAX ns, rounded to whole microseconds, as milliseconds, as
	 * the body writes it (15 significant digits: 9223372036854.78). */
	char text[64];
	double max_ms;

	snprintf(text, sizeof(text), "%.15g", (double)(LLONG_MAX / 1000 + 1) / 1000.0);
	max_ms = strtod(text, NULL);
	CHECK_STR(text, "9223372036854.78");

	event_set_boot_id("boot-1");
	CHECK(duration_of(0, LLONG_MAX) == max_ms);
	CHECK(duration_of(LLONG_MIN, LLONG_MAX) == max_ms);
	CHECK(duration_of(-1, LLONG_MAX) == max_ms);
	CHECK(duration_of(LLONG_MAX, LLONG_MIN) == 0.0);
	CHECK(duration_of(LLONG_MAX, 0) == 0.0);
	CHECK(duration_of(5, 1) == 0.0);
	/* Ordinary times keep their rounding to the microsecond. */
	CHECK(duration_of(0, 1499) == 0.001);
	CHECK(duration_of(0, 1500) == 0.002);
	CHECK(duration_of(1000000000LL, 1012345678LL) == 12.346);
}

int main(void)
{
	RUN(test_duration_extremes);
	return TEST_DONE();
}
