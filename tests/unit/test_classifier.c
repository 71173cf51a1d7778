/*
 * test_classifier.c - exe path classification and the rule table.
 */
#include <errno.h>
#include <stdio.h>
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
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gcc-ar-12"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/x86_64-linux-gnu-gxx-12"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "x/usr/bin/x86_64-linux-gnu-gcc-12"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.12-config"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3x12"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/python2.7"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/lib/llvm-/bin/clang-"), PROCESS_UNKNOWN);
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

/* Issue #7: interpreters and compilers wherever the image installs them. */
static void test_default_anywhere(void)
{
	static const struct {
		const char *exe;
		enum process_type want;
	} cases[] = {
		{ "/usr/local/bin/python3.12", PROCESS_PYTHON },	/* official python images */
		{ "/usr/local/bin/python3", PROCESS_PYTHON },
		{ "/opt/conda/bin/python3.11", PROCESS_PYTHON },
		{ "/opt/conda/envs/ml/bin/python3.10", PROCESS_PYTHON },
		{ "/root/.pyenv/versions/3.12.1/bin/python3.12", PROCESS_PYTHON },
		{ "/home/coder/.pyenv/versions/3.13.0/bin/python3.13", PROCESS_PYTHON },
		{ "/home/coder/.local/share/uv/python/cpython-3.12.1-linux-x86_64-gnu/bin/python3.12",
		  PROCESS_PYTHON },
		{ "/home/coder/venv/bin/python3", PROCESS_PYTHON },
		{ "/usr/bin/python3", PROCESS_PYTHON },
		{ "/usr/bin/gcc", PROCESS_GCC },
		{ "/usr/bin/gcc-12", PROCESS_GCC },
		{ "/usr/local/bin/gcc-14", PROCESS_GCC },
		{ "/usr/bin/x86_64-linux-gnu-gcc", PROCESS_GCC },
		{ "/usr/bin/arm-linux-gnueabihf-gcc-12", PROCESS_GCC },
		{ "/usr/bin/x86_64-alpine-linux-musl-gcc", PROCESS_GCC },
		{ "/usr/bin/g++", PROCESS_GXX },
		{ "/usr/bin/g++-12", PROCESS_GXX },
		{ "/usr/bin/aarch64-linux-gnu-g++", PROCESS_GXX },
		{ "/usr/bin/clang", PROCESS_CLANG },
		{ "/usr/bin/clang-16", PROCESS_CLANG },
		{ "/usr/lib/llvm-14/bin/clang-14", PROCESS_CLANG },
		{ "/usr/bin/clang++", PROCESS_CLANG },
		{ "/usr/bin/clang++-16", PROCESS_CLANG },
		{ "/usr/bin/x86_64-linux-gnu-clang-16", PROCESS_CLANG },
		/* near misses: other tools that share a prefix */
		{ "/usr/bin/python3-config", PROCESS_UNKNOWN },
		{ "/usr/bin/python3.11-config", PROCESS_UNKNOWN },
		{ "/usr/bin/x86_64-linux-gnu-python3.11-config", PROCESS_UNKNOWN },
		{ "/usr/bin/pythonw", PROCESS_UNKNOWN },
		{ "/usr/bin/python", PROCESS_UNKNOWN },
		{ "/usr/bin/python3w", PROCESS_UNKNOWN },
		{ "/usr/bin/python3.", PROCESS_UNKNOWN },
		{ "/usr/bin/ipython3", PROCESS_UNKNOWN },
		{ "/usr/lib/gcc/x86_64-linux-gnu/12/cc1", PROCESS_UNKNOWN },
		{ "/usr/lib/gcc/x86_64-linux-gnu/12/cc1plus", PROCESS_UNKNOWN },
		{ "/usr/lib/gcc/x86_64-linux-gnu/12/collect2", PROCESS_UNKNOWN },
		{ "/usr/lib/gcc/x86_64-linux-gnu/12/lto-wrapper", PROCESS_UNKNOWN },
		{ "/usr/bin/x86_64-linux-gnu-as", PROCESS_UNKNOWN },
		{ "/usr/bin/x86_64-linux-gnu-ld.bfd", PROCESS_UNKNOWN },
		{ "/usr/bin/as", PROCESS_UNKNOWN },
		{ "/usr/bin/ld", PROCESS_UNKNOWN },
		{ "/usr/bin/cc", PROCESS_UNKNOWN },
		{ "/usr/bin/gcc-ar", PROCESS_UNKNOWN },
		{ "/usr/bin/gcc-nm", PROCESS_UNKNOWN },
		{ "/usr/bin/gcc-ar-12", PROCESS_UNKNOWN },
		{ "/usr/bin/x86_64-linux-gnu-gcc-ranlib-12", PROCESS_UNKNOWN },
		{ "/usr/bin/x86_64-linux-gnu-gcov-12", PROCESS_UNKNOWN },
		{ "/usr/bin/clang-format", PROCESS_UNKNOWN },
		{ "/usr/bin/clang-tidy", PROCESS_UNKNOWN },
		{ "/usr/bin/clang-format-14", PROCESS_UNKNOWN },
		{ "/usr/lib/llvm-14/bin/clang-cpp", PROCESS_UNKNOWN },
		{ "/usr/bin/clangd", PROCESS_UNKNOWN },
		{ "/usr/bin/mygcc", PROCESS_UNKNOWN },
		{ "/usr/bin/gcc.sh", PROCESS_UNKNOWN },
		{ "/usr/bin/-gcc", PROCESS_UNKNOWN },
		{ "/usr/bin/linux-gcc", PROCESS_UNKNOWN },
		{ "/usr/bin/x86_64-linux-gnu-", PROCESS_UNKNOWN },
		{ "/usr/bin/gcc/", PROCESS_UNKNOWN },
		{ "gcc", PROCESS_UNKNOWN },
		{ "python3", PROCESS_UNKNOWN },
	};
	struct classifier *c = classifier_create_default();
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = classifier_classify(c, cases[i].exe);

		CHECK_INT(got, cases[i].want);
		if (got != (int)cases[i].want)
			fprintf(stderr, "  for \"%s\"\n", cases[i].exe);
	}
	classifier_free(c);
}

/* The README's override example, as config.c hands it over. */
static void test_readme_override(void)
{
	struct classifier *c = classifier_create();
	char err[128];

	CHECK_INT(classifier_add(c, process_type_parse("gcc"), "/opt/gcc-[0-9]+/bin/gcc", err, sizeof(err)), 0);
	CHECK_INT(classifier_add(c, process_type_parse("python"), "/usr/bin/python3\\.[0-9]+", err, sizeof(err)), 0);
	CHECK_INT(classifier_classify(c, "/opt/gcc-13/bin/gcc"), PROCESS_GCC);
	CHECK_INT(classifier_classify(c, "/usr/bin/python3.11"), PROCESS_PYTHON);
	/* an override replaces the defaults */
	CHECK_INT(classifier_classify(c, "/usr/local/bin/python3.11"), PROCESS_UNKNOWN);
	CHECK_INT(classifier_classify(c, "/usr/bin/gcc"), PROCESS_UNKNOWN);
	classifier_free(c);
}

static const char *compiler(const char *exe)
{
	static char buf[64];

	return classifier_compiler_name(exe, buf, sizeof(buf)) == 0 ? buf : NULL;
}

static const char *pyver(const char *exe)
{
	static char buf[16];

	return classifier_python_version(exe, buf, sizeof(buf)) == 0 ? buf : NULL;
}

static void test_compiler_name(void)
{
	char small[7];

	CHECK_STR(compiler("/usr/bin/x86_64-linux-gnu-gcc-12"), "gcc-12");
	CHECK_STR(compiler("/usr/bin/x86_64-linux-gnu-g++-12"), "g++-12");
	CHECK_STR(compiler("/usr/bin/aarch64-linux-gnu-gcc-13"), "gcc-13");
	CHECK_STR(compiler("/usr/bin/arm-linux-gnueabihf-gcc-12"), "gcc-12");
	CHECK_STR(compiler("/usr/bin/x86_64-alpine-linux-musl-gcc"), "gcc");
	CHECK_STR(compiler("/usr/bin/x86_64-linux-gnu-clang-16"), "clang-16");
	CHECK_STR(compiler("/usr/bin/gcc"), "gcc");
	CHECK_STR(compiler("/usr/local/bin/gcc-14"), "gcc-14");
	CHECK_STR(compiler("/usr/bin/g++"), "g++");
	CHECK_STR(compiler("/usr/bin/clang-16"), "clang-16");
	CHECK_STR(compiler("/usr/bin/clang++"), "clang++");
	/* Debian's clang is a plain "clang" under llvm-N: the directory tells */
	CHECK_STR(compiler("/usr/lib/llvm-14/bin/clang"), "clang-14");
	CHECK_STR(compiler("/usr/lib/llvm-18/bin/clang++"), "clang++-18");
	CHECK_STR(compiler("/usr/lib/llvm-14/bin/clang-14"), "clang-14");
	CHECK_STR(compiler("/usr/lib/llvm-x/bin/clang"), "clang");
	CHECK_STR(compiler("/usr/lib/llvm-/bin/clang"), "clang");
	CHECK_STR(compiler("/llvm-1/bin/clang"), "clang-1");
	CHECK_STR(compiler("/bin/clang"), "clang");
	CHECK_STR(compiler("/opt/llvm-7/clang"), "clang");
	/* a custom rule's compiler keeps its own name */
	CHECK_STR(compiler("/opt/gcc-13/bin/gcc"), "gcc");
	CHECK_STR(compiler("/opt/tcc/tcc"), "tcc");
	CHECK_STR(compiler("/opt/x-"), "x-");
	CHECK_STR(compiler("/"), NULL);
	CHECK_STR(compiler(""), NULL);
	CHECK_STR(compiler(NULL), NULL);
	CHECK_INT(classifier_compiler_name("/usr/bin/gcc-12", small, sizeof(small)), 0);
	CHECK_STR(small, "gcc-12");
	CHECK_INT(classifier_compiler_name("/usr/bin/gcc-123", small, sizeof(small)), -ENOSPC);
	CHECK_INT(classifier_compiler_name("/usr/bin/gcc", NULL, 0), -EINVAL);
}

static void test_python_version(void)
{
	char small[4];

	CHECK_STR(pyver("/usr/bin/python3.11"), "3.11");
	CHECK_STR(pyver("/usr/local/bin/python3.12"), "3.12");
	CHECK_STR(pyver("/opt/conda/bin/python3.11"), "3.11");
	CHECK_STR(pyver("/root/.pyenv/versions/3.12.1/bin/python3.12"), "3.12");
	CHECK_STR(pyver("/root/.pyenv/versions/3.12.1/bin/python3"), "3.12");
	CHECK_STR(pyver("/root/.pyenv/versions/3.13.0rc1/bin/python3"), "3.13");
	CHECK_STR(pyver("/root/.pyenv/versions/3.14-dev/bin/python3"), "3.14");
	CHECK_STR(pyver("/u/.local/share/uv/python/cpython-3.12.1-linux-x86_64-gnu/bin/python3"), "3.12");
	CHECK_STR(pyver("/u/.local/share/uv/python/cpython-3.13.0+freethreaded-linux-x86_64-gnu/bin/python3"),
		  "3.13");
	/* the version nearest the executable wins */
	CHECK_STR(pyver("/opt/3.9/versions/3.12.1/bin/python3"), "3.12");
	CHECK_STR(pyver("/usr/bin/python3"), NULL);
	CHECK_STR(pyver("/opt/conda/bin/python3"), NULL);
	CHECK_STR(pyver("/opt/4.1/bin/python3"), NULL);
	CHECK_STR(pyver("/opt/3.x/bin/python3"), NULL);
	CHECK_STR(pyver("/opt/3./bin/python3"), NULL);
	CHECK_STR(pyver("/opt/3.12_/bin/python3"), NULL);
	CHECK_STR(pyver("/opt/v3.12/bin/python3"), NULL);
	CHECK_STR(pyver("/opt/3.12345/bin/python3"), NULL);
	CHECK_STR(pyver("/usr/bin/python3.11-config"), NULL);
	CHECK_STR(pyver("/usr/bin/python3.11d"), NULL);
	CHECK_STR(pyver("/3.12"), NULL);
	CHECK_STR(pyver("python3.12"), "3.12");
	CHECK_STR(pyver(""), NULL);
	CHECK_STR(pyver(NULL), NULL);
	CHECK_INT(classifier_python_version("/usr/bin/python3.11", small, sizeof(small)), -ENOENT);
	CHECK_INT(classifier_python_version("/usr/bin/python3.9", small, sizeof(small)), 0);
	CHECK_STR(small, "3.9");
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

	CHECK_INT(classifier_add(c, PROCESS_GCC, "/usr/bin/(gcc", err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, "bad regex: ", 11) == 0);
	CHECK(strlen(err) > 11);
	CHECK_INT(classifier_add(c, PROCESS_GCC, "[z-a]", err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, "bad regex: ", 11) == 0);

	CHECK_INT(classifier_add(c, PROCESS_UNKNOWN, "/x", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "unknown type \"unknown\"");
	CHECK_INT(classifier_add(c, PROCESS_USER_BINARY, "/x", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "unknown type \"binary\"");
	CHECK_INT(classifier_add(c, (enum process_type)42, "/x", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "unknown type \"42\"");

	/* a tiny or absent buffer still reports failure, truncated or not at all */
	CHECK_INT(classifier_add(c, PROCESS_GCC, "(", err, 4), -EINVAL);
	CHECK_STR(err, "bad");
	CHECK_INT(classifier_add(c, PROCESS_GCC, "(", NULL, 0), -EINVAL);
	CHECK_INT(classifier_add(c, PROCESS_GCC, NULL, err, sizeof(err)), -EINVAL);
	CHECK_INT(classifier_add(NULL, PROCESS_GCC, "/x", err, sizeof(err)), -EINVAL);

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
	CHECK_INT(process_type_parse("GCC"), -EINVAL);
	CHECK_INT(process_type_parse("gxx"), -EINVAL);
	CHECK_INT(process_type_parse(""), -EINVAL);
	CHECK_INT(process_type_parse(NULL), -EINVAL);
	CHECK_INT(process_type_parse("gcc "), -EINVAL);

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
	RUN(test_default_anywhere);
	RUN(test_readme_override);
	RUN(test_compiler_name);
	RUN(test_python_version);
	RUN(test_custom_order);
	RUN(test_many_rules);
	RUN(test_errors);
	RUN(test_names);
	return TEST_DONE();
}
