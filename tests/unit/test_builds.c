/*
 * test_builds.c - which build made a program: the "gcc -c a.c;
 * gcc a.o b.c -o prog; ./prog", students apart, rebuilds, a full table.
 */
#include "builds.h"

#include <stdio.h>

#include "testlib.h"

#define HOST "jcode-os-1-202012345"
#define HW "/home/coder/project/hw1"

static void test_object_then_program(void)
{
	struct builds b;

	CHECK_INT(builds_init(&b, 0), 0);
	CHECK_INT(builds_record(&b, HOST, HW "/a.o", false, "id-1"), 0);
	CHECK_INT(builds_record(&b, HOST, HW "/prog", true, "id-2"), 0);
	CHECK_STR(builds_lookup(&b, HOST, HW "/prog"), "id-2");
	CHECK_STR(builds_lookup(&b, HOST, HW "/a.o"), NULL);	/* an object is no program */
	CHECK_STR(builds_lookup(&b, HOST, HW "/other"), NULL);
	CHECK_INT(builds_count(&b), 2);
	builds_fini(&b);
}

static void test_rebuild_replaces(void)
{
	struct builds b;

	CHECK_INT(builds_init(&b, 0), 0);
	builds_record(&b, HOST, HW "/a.out", true, "id-1");
	builds_record(&b, HOST, HW "/a.out", true, "id-7");
	CHECK_STR(builds_lookup(&b, HOST, HW "/a.out"), "id-7");
	CHECK_INT(builds_count(&b), 1);
	/* "gcc -c x.c -o a.out" overwrote the program with an object. */
	builds_record(&b, HOST, HW "/a.out", false, "id-8");
	CHECK_STR(builds_lookup(&b, HOST, HW "/a.out"), NULL);
	builds_fini(&b);
}

/* Every student's workspace has the same path, in their own container. */
static void test_students_apart(void)
{
	struct builds b;

	CHECK_INT(builds_init(&b, 0), 0);
	builds_record(&b, "jcode-os-1-202012345", HW "/a.out", true, "mine");
	builds_record(&b, "jcode-os-1-202099999", HW "/a.out", true, "theirs");
	CHECK_STR(builds_lookup(&b, "jcode-os-1-202012345", HW "/a.out"), "mine");
	CHECK_STR(builds_lookup(&b, "jcode-os-1-202099999", HW "/a.out"), "theirs");
	/* The separator cannot be forged: "h" + "x/y" is not "hx" + "/y". */
	builds_record(&b, "h", "x/y", true, "one");
	CHECK_STR(builds_lookup(&b, "hx", "/y"), NULL);
	CHECK_STR(builds_lookup(&b, "h", "x/y"), "one");
	builds_fini(&b);
}

static void test_bounded(void)
{
	struct builds b;
	char path[64], id[16];
	int i;

	CHECK_INT(builds_init(&b, 100), 0);
	for (i = 0; i < 250; i++) {
		snprintf(path, sizeof(path), HW "/p%d", i);
		snprintf(id, sizeof(id), "id-%d", i);
		CHECK_INT(builds_record(&b, HOST, path, true, id), 0);
	}
	CHECK_INT(builds_count(&b), 100);
	CHECK_INT(b.evicted, 150);
	CHECK_STR(builds_lookup(&b, HOST, HW "/p149"), NULL);
	CHECK_STR(builds_lookup(&b, HOST, HW "/p150"), "id-150");
	CHECK_STR(builds_lookup(&b, HOST, HW "/p249"), "id-249");
	/* A rebuild makes an output the newest again: p150 now outlives p151. */
	builds_record(&b, HOST, HW "/p150", true, "again");
	builds_record(&b, HOST, HW "/new", true, "n");
	CHECK_STR(builds_lookup(&b, HOST, HW "/p151"), NULL);
	CHECK_STR(builds_lookup(&b, HOST, HW "/p150"), "again");
	CHECK_INT(b.evicted, 151);
	builds_fini(&b);
}

int main(void)
{
	RUN(test_object_then_program);
	RUN(test_rebuild_replaces);
	RUN(test_students_apart);
	RUN(test_bounded);
	return TEST_DONE();
}
