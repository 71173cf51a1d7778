/*
 * fuzz_pathrules.c - a student's cwd, file names and argv through the path
 * rules.  Input: NUL-separated fields; the first is cwd, the rest argv.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "fuzz.h"
#include "pathrules.h"

#define MAX_ARGS 64

/* A homework number, or one of the documented errors (no student given,
 * so never PATH_HW_OTHER_STUDENT). */
static bool homework_result_ok(int n)
{
	if (n >= 0)
		return n <= PATHRULES_HW_MAX_DEFAULT;
	return n == -ENOENT || n == -EINVAL || n == -ENOSPC;
}

static void check_path(const char *path)
{
	char norm[PATH_MAX], hw[16];
	int n;

	if (path_normalize(path, norm, sizeof(norm)) == 0) {
		FUZZ_ASSERT(memchr(norm, '\0', sizeof(norm)) != NULL);
		FUZZ_ASSERT(strstr(norm, "/../") == NULL && strstr(norm, "/./") == NULL);
	}
	n = path_homework(path, PATHRULES_HW_MAX_DEFAULT, true, hw, sizeof(hw));
	FUZZ_ASSERT(homework_result_ok(n));
	n = path_homework(path, PATHRULES_HW_MAX_DEFAULT, false, hw, sizeof(hw));
	FUZZ_ASSERT(homework_result_ok(n));
	homework_component(path, strlen(path), PATHRULES_HW_MAX_DEFAULT);
}

/* The same argv as a build: every name it gives is absolute and normalised. */
static void check_compile_args(const char *cwd, int argc, char *argv[])
{
	struct compile_args a;
	int rc = compile_args_parse(argc, argv, cwd, &a);
	size_t i;

	FUZZ_ASSERT(rc == 0 || rc == -EINVAL);
	FUZZ_ASSERT(rc == 0 || cwd[0] != '/');
	if (a.output)
		FUZZ_ASSERT(a.output[0] == '/' && strstr(a.output, "/./") == NULL &&
			    strstr(a.output, "//") == NULL);
	for (i = 0; i < a.n_sources; i++)
		FUZZ_ASSERT(a.sources[i][0] == '/' && strstr(a.sources[i], "/../") == NULL);
	FUZZ_ASSERT(!(a.compile_only && a.links));
	FUZZ_ASSERT(a.n_sources == 0 || argv_compiler_source(argc, argv) != NULL);
	compile_args_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[MAX_ARGS + 1], resolved[PATH_MAX];
	const char *cwd, *src;
	char *joined;
	int argc = 0;
	size_t i = 0;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	cwd = buf;
	i = strlen(buf) + 1;
	while (i < size + 1 && argc < MAX_ARGS) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;

	check_path(cwd);
	src = argv_compiler_source(argc, argv);
	if (src) {
		check_path(src);
		if (path_resolve(cwd, src, resolved, sizeof(resolved)) == 0)
			check_path(resolved);
	}
	src = argv_python_script(argc, argv);
	if (src && path_resolve(cwd, src, resolved, sizeof(resolved)) == 0)
		check_path(resolved);
	check_compile_args(cwd, argc, argv);
	joined = argv_join(argc, argv);
	FUZZ_ASSERT(joined != NULL);
	free(joined);
	free(buf);
	return 0;
}
