/*
 * test_identity.c - hostname and workspace-name parsing.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "identity.h"
#include "testlib.h"

static bool is_zeroed(const struct identity *id)
{
	static const struct identity zero;

	return memcmp(id, &zero, sizeof(zero)) == 0;
}

/* A rejected name must also leave out zeroed, even if out held a student. */
static void check_bad_host(const char *host, int line)
{
	struct identity id;
	int rc;

	memset(&id, 'x', sizeof(id));
	rc = identity_parse(host, NULL, &id);
	if (rc != -1 || !is_zeroed(&id))
		fprintf(stderr, "  (bad hostname case at line %d)\n", line);
	CHECK_INT(rc, -EINVAL);
	CHECK(is_zeroed(&id));
}

#define BAD_HOST(h) check_bad_host(h, __LINE__)

static void test_basic(void)
{
	struct identity id;

	CHECK_INT(identity_parse("jcode-os-1-202012345", "jcode-", &id), 0);
	CHECK_STR(id.subject, "os");
	CHECK_STR(id.division, "1");
	CHECK_STR(id.student_id, "202012345");
	CHECK_STR(id.class_div, "os-1");

	CHECK_INT(identity_parse("jcode-os-1-202012345", NULL, &id), 0);
	CHECK_STR(id.class_div, "os-1");

	CHECK_INT(identity_parse("jcode-DataStruct2-12-7", NULL, &id), 0);
	CHECK_STR(id.subject, "DataStruct2");
	CHECK_STR(id.division, "12");
	CHECK_STR(id.student_id, "7");
	CHECK_STR(id.class_div, "DataStruct2-12");
}

static void test_suffix(void)
{
	struct identity id;

	CHECK_INT(identity_parse("jcode-os-1-202012345-7f9c-abcde", NULL, &id), 0);
	CHECK_STR(id.student_id, "202012345");
	CHECK_STR(id.class_div, "os-1");
	CHECK_INT(identity_parse("jcode-os-1-202012345-0", NULL, &id), 0);
	CHECK_STR(id.student_id, "202012345");
	/* a bare '-' after the id: upstream's prefix match takes it too */
	CHECK_INT(identity_parse("jcode-os-1-202012345-", NULL, &id), 0);
	CHECK_STR(id.student_id, "202012345");
}

static void test_prefix(void)
{
	struct identity id;

	CHECK_INT(identity_parse("lab-c-3-42", "lab-", &id), 0);
	CHECK_STR(id.class_div, "c-3");
	CHECK_STR(id.student_id, "42");
	CHECK_INT(identity_parse("jcode-os-1-2", "lab-", &id), -EINVAL);
	CHECK_INT(identity_parse("os-1-2", "", &id), 0);
	CHECK_STR(id.class_div, "os-1");
}

static void test_bad(void)
{
	char longname[201];

	BAD_HOST(NULL);
	BAD_HOST("");
	BAD_HOST("jcode-");
	BAD_HOST("jcode-os");
	BAD_HOST("jcode-os-1");
	BAD_HOST("jcode-os-1-");
	BAD_HOST("jcode-os-1-2020x");
	BAD_HOST("jcode--1-2");
	BAD_HOST("jcode-os--2");
	BAD_HOST("jcode-os-a-2");
	BAD_HOST("jcode-os-1--2");
	BAD_HOST("jcode-o_s-1-2");
	BAD_HOST("jcode-os-+1-2");
	BAD_HOST("jcode-os-1-+2");
	BAD_HOST("jcode-os-1- 2");
	BAD_HOST("Jcode-os-1-2");
	BAD_HOST("xjcode-os-1-2");
	BAD_HOST(" jcode-os-1-2");
	BAD_HOST("jcode-os-1-2\n");
	BAD_HOST("jcode-os-1-2\nX");
	BAD_HOST("jcode-os-1-2-\nfake");
	BAD_HOST("jcode-os-1-2 ");
	BAD_HOST("jcode-os-1-2-a b");
	BAD_HOST("jcode-\xed\x95\x9c-1-2");
	BAD_HOST("jcode-os\xff-1-2");
	BAD_HOST("jcode-os-1-2-\xff");
	BAD_HOST("jcode-os-1-2-\xc3\xa9");
	BAD_HOST("jcode-os-\xd9\xa1-2");          /* Arabic-Indic digit one */
	BAD_HOST("jcode-os-1-123456789012345678901"); /* 21 digits */

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	BAD_HOST(longname);
	memcpy(longname, "jcode-os-1-2-", 13);
	BAD_HOST(longname);                        /* longer than a UTS name */
	memcpy(longname, "jcode-", 6);             /* 194-char subject */
	memcpy(longname + 190, "-1-2", 5);
	BAD_HOST(longname);

	CHECK_INT(identity_parse("jcode-os-1-2", NULL, NULL), -EINVAL);
}

static void test_limits(void)
{
	struct identity id;
	char host[80];

	/* 20 digits is the longest id */
	CHECK_INT(identity_parse("jcode-os-1-12345678901234567890", NULL, &id), 0);
	CHECK_STR(id.student_id, "12345678901234567890");
	CHECK_INT(identity_parse("jcode-os-1-0", NULL, &id), 0);
	CHECK_STR(id.student_id, "0");

	/* the longest UTS hostname (64) is fine, 65 is not */
	memset(host, 0, sizeof(host));
	memcpy(host, "jcode-os-1-2-", 13);
	memset(host + 13, 'z', 64 - 13);
	CHECK_INT(identity_parse(host, NULL, &id), 0);
	host[64] = 'z';
	CHECK_INT(identity_parse(host, NULL, &id), -EINVAL);
}

static void test_workspace(void)
{
	struct identity id;
	char name[300];

	CHECK_INT(identity_parse_workspace("os-1-202012345", &id), 0);
	CHECK_STR(id.subject, "os");
	CHECK_STR(id.division, "1");
	CHECK_STR(id.student_id, "202012345");
	CHECK_STR(id.class_div, "os-1");

	CHECK_INT(identity_parse_workspace("os-1-202012345-abc", &id), -EINVAL);
	CHECK(is_zeroed(&id));
	CHECK_INT(identity_parse_workspace("os-1-202012345-", &id), -EINVAL);
	CHECK_INT(identity_parse_workspace("jcode-os-1-202012345", &id), -EINVAL);
	CHECK_INT(identity_parse_workspace("os-1-", &id), -EINVAL);
	CHECK_INT(identity_parse_workspace("os-1-2x", &id), -EINVAL);
	CHECK_INT(identity_parse_workspace("-1-2", &id), -EINVAL);
	CHECK_INT(identity_parse_workspace("", &id), -EINVAL);
	CHECK_INT(identity_parse_workspace(NULL, &id), -EINVAL);
	CHECK_INT(identity_parse_workspace("os-1-2\n", &id), -EINVAL);
	CHECK_INT(identity_parse_workspace("os-1-2/", &id), -EINVAL);
	CHECK_INT(identity_parse_workspace("os-1-2", NULL), -EINVAL);
	CHECK(identity_is_workspace("os-1-202012345"));
	CHECK(!identity_is_workspace("jcode-os-1-202012345"));
	CHECK(!identity_is_workspace(NULL));

	/* subject fits its field (64) but class_div would not */
	memset(name, 0, sizeof(name));
	memset(name, 's', 64);
	memcpy(name + 64, "-1-2", 4);
	CHECK_INT(identity_parse_workspace(name, &id), -EINVAL);
	CHECK(is_zeroed(&id));
	name[63] = '\0';
	memcpy(name + 62, "-1-2", 5);            /* 62-char subject: class_div 64 */
	CHECK_INT(identity_parse_workspace(name, &id), 0);
	CHECK_INT(strlen(id.class_div), 64);
	memset(name, 's', 250);
	memcpy(name + 250, "-1-2", 5);
	CHECK_INT(identity_parse_workspace(name, &id), -EINVAL);
}

int main(void)
{
	RUN(test_basic);
	RUN(test_suffix);
	RUN(test_prefix);
	RUN(test_bad);
	RUN(test_limits);
	RUN(test_workspace);
	return TEST_DONE();
}
