/*
 * test_classifier.c - exe path classification and the rule table.
 */
#include <string.h>

#include "classifier.h"
#include "testlib.h"

static void test_default(void)
{
	struct classifier *c = classifier_create_default();

	CHECK(c != NULL);
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gcc-12"), PROCESS_GCC);
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gcc-9"), PROCESS_GCC);
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-g++-12"), PROCESS_GXX);
	CHECK_INT(classifier_classify(c, "/usr/bin/aarch64-linux-gnu-gcc-13"), PROCESS_GCC);
	CHECK_INT(classifier_classify(c, "/usr/bin/aarch64-linux-gnu-g++-13"), PROCESS_GXX);
	CHECK_INT(classifier_classify(c, "/usr/lib/llvm-14/bin/clang"), PROCESS_CLANG);
	CHECK_INT(classifier_classify(c, "/usr/lib/llvm-18/bin/clang"), PROCESS_CLANG);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.11"), PROCESS_PYTHON);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.12"), PROCESS_PYTHON);

	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gcc-12x"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gcc-"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gcc"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gcc-ar-12"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gxx-12"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "x/usr/bin/x86_64-linux-gnu-gcc-12"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/gcc"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.12-config"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3x12"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python2.7"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/lib/llvm-14/bin/clang-14"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/lib/llvm-/bin/clang"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/home/coder/project/hw1/a.out"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, ""), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, NULL), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(NULL, "/usr/bin/python3.11"), PROCESS_UNKNOWN);

	/* '$' must not match before a newline, '.' must not swallow one */
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.11\n"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.11\n/tmp/x"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3\n11"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gcc-12\xff"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "\xff\xfe\xc0\xaf"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.\xd9\xa1"), PROCESS_UNKNOWN);
	classifier_free(c);
}

static void test_custom_order(void)
{
	struct classifier *c = classifier_create();
	char err[128];

	CHECK(c != NULL);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.11"), PROCESS_UNKNOWN);
	/* the first rule that matches wins, so a broad early rule shadows later ones */
	CHECK_INT(classifier_add(c, PROCESS_CLANG, "/usr/bin/.*", err, sizeof(err)), 0);
	CHECK_INT(classifier_add(c, PROCESS_PYTHON, "/usr/bin/python3\\.[0-9]+", err, sizeof(err)), 0);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.11"), PROCESS_CLANG);
	CHECK_INT(classifier_classify(c, "/opt/python3.11"), PROCESS_UNKNOWN);
	classifier_free(c);

	c = classifier_create();
	CHECK_INT(classifier_add(c, PROCESS_PYTHON, "/usr/bin/python3\\.[0-9]+", err, sizeof(err)), 0);
	CHECK_INT(classifier_add(c, PROCESS_CLANG, "/usr/bin/.*", err, sizeof(err)), 0);
	CHECK_INT(classifier_add(c, PROCESS_GCC, "/opt/gcc-[0-9]+/bin/gcc|/usr/local/bin/gcc", err, sizeof(err)), 0);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.11"), PROCESS_PYTHON);
	CHECK_INT(classifier_classify(c, "/usr/bin/tcc"), PROCESS_CLANG);
	/* the alternation is anchored as a whole */
	CHECK_INT(classifier_classify(c, "/opt/gcc-13/bin/gcc"), PROCESS_GCC);
	CHECK_INT(classifier_classify(c, "/usr/local/bin/gcc"), PROCESS_GCC);
	CHECK_INT(classifier_classify(c, "/opt/gcc-13/bin/gcc-evil"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/evil/usr/local/bin/gcc"), PROCESS_UNKNOWN);
	classifier_free(c);
}

/* Many rules: the table must grow past its first allocation. */
static void test_many_rules(void)
{
	struct classifier *c = classifier_create();
	char pat[64], path[64];
	int i, ok = 0;

	for (i = 0; i < 100; i++) {
		snprintf(pat, sizeof(pat), "/opt/t%d/cc", i);
		ok += classifier_add(c, i % 2 ? PROCESS_GCC : PROCESS_CLANG, pat, NULL, 0) == 0;
	}
	CHECK_INT(ok, 100);
	snprintf(path, sizeof(path), "/opt/t%d/cc", 77);
	CHECK_INT(classifier_classify(c, path), PROCESS_GCC);
	CHECK_INT(classifier_classify(c, "/opt/t100/cc"), PROCESS_UNKNOWN);
	classifier_free(c);
}

static void test_errors(void)
{
	struct classifier *c = classifier_create();
	char err[128];

	CHECK_INT(classifier_add(c, PROCESS_GCC, "/usr/bin/(gcc", err, sizeof(err)), -1);
	CHECK(strncmp(err, "bad regex: ", 11) == 0);
	CHECK(strlen(err) > 11);
	CHECK_INT(classifier_add(c, PROCESS_GCC, "[z-a]", err, sizeof(err)), -1);
	CHECK(strncmp(err, "bad regex: ", 11) == 0);

	CHECK_INT(classifier_add(c, PROCESS_UNKNOWN, "/x", err, sizeof(err)), -1);
	CHECK_STR(err, "unknown type \"unknown\"");
	CHECK_INT(classifier_add(c, PROCESS_USER_BINARY, "/x", err, sizeof(err)), -1);
	CHECK_STR(err, "unknown type \"binary\"");
	CHECK_INT(classifier_add(c, (enum process_type)42, "/x", err, sizeof(err)), -1);
	CHECK_STR(err, "unknown type \"42\"");

	/* a tiny or absent buffer still reports failure, truncated or not at all */
	CHECK_INT(classifier_add(c, PROCESS_GCC, "(", err, 4), -1);
	CHECK_STR(err, "bad");
	CHECK_INT(classifier_add(c, PROCESS_GCC, "(", NULL, 0), -1);
	CHECK_INT(classifier_add(c, PROCESS_GCC, NULL, err, sizeof(err)), -1);
	CHECK_INT(classifier_add(NULL, PROCESS_GCC, "/x", err, sizeof(err)), -1);

	/* failed adds leave no rule behind */
	CHECK_INT(classifier_classify(c, "/x"), PROCESS_UNKNOWN);
	/* a stray ')' cannot break out of the anchoring */
	CHECK_INT(classifier_add(c, PROCESS_GCC, "/a)|(/b", err, sizeof(err)), 0);
	CHECK_INT(classifier_classify(c, "/a/evil"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/evil/b"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/a"), PROCESS_GCC);
	classifier_free(c);
	classifier_free(NULL);
}

static void test_names(void)
{
	int t;

	CHECK_STR(process_type_name(PROCESS_UNKNOWN), "unknown");
	CHECK_STR(process_type_name(PROCESS_GCC), "gcc");
	CHECK_STR(process_type_name(PROCESS_GXX), "g++");
	CHECK_STR(process_type_name(PROCESS_CLANG), "clang");
	CHECK_STR(process_type_name(PROCESS_PYTHON), "python");
	CHECK_STR(process_type_name(PROCESS_USER_BINARY), "binary");
	CHECK_STR(process_type_name((enum process_type)99), "unknown");
	CHECK_STR(process_type_name((enum process_type)-1), "unknown");

	for (t = PROCESS_UNKNOWN; t <= PROCESS_USER_BINARY; t++)
		CHECK_INT(process_type_parse(process_type_name(t)), t);
	CHECK_INT(process_type_parse("GCC"), -1);
	CHECK_INT(process_type_parse("gxx"), -1);
	CHECK_INT(process_type_parse(""), -1);
	CHECK_INT(process_type_parse(NULL), -1);
	CHECK_INT(process_type_parse("gcc "), -1);

	CHECK(process_type_is_compiler(PROCESS_GCC));
	CHECK(process_type_is_compiler(PROCESS_GXX));
	CHECK(process_type_is_compiler(PROCESS_CLANG));
	CHECK(!process_type_is_compiler(PROCESS_PYTHON));
	CHECK(!process_type_is_compiler(PROCESS_USER_BINARY));
	CHECK(!process_type_is_compiler(PROCESS_UNKNOWN));
}

int main(void)
{
	RUN(test_default);
	RUN(test_custom_order);
	RUN(test_many_rules);
	RUN(test_errors);
	RUN(test_names);
	return TEST_DONE();
}
