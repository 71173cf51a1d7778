/*
 * classifier.h - what kind of program a process ran, from its executable.
 *
 * Upstream decides by full-matching the resolved exe path against a short
 * table of regexes; the table is data here so deployments with other
 * toolchains can extend it without a rebuild.  Whether an unknown program is
 * a student's own binary depends on where it lives, which pathrules decides.
 */
#ifndef JCW_CLASSIFIER_H
#define JCW_CLASSIFIER_H

#include <stdbool.h>
#include <stddef.h>

enum process_type {
	PROCESS_UNKNOWN,
	PROCESS_GCC,
	PROCESS_GXX,
	PROCESS_CLANG,
	PROCESS_PYTHON,
	PROCESS_USER_BINARY,
};

/* Ordered table of (type, compiled full-match POSIX ERE on the resolved exe path). */
struct classifier;

/* Empty table; NULL on ENOMEM. */
struct classifier *classifier_create(void);

/* Upstream's rules (x86_64 and their aarch64 twins); NULL on ENOMEM. */
struct classifier *classifier_create_default(void);

/* Add a rule; pattern is a POSIX extended regex that must match the WHOLE path.
 * Returns 0, or -EINVAL (-ENOMEM) with a human message in err ("bad regex: ..." / "unknown type \"x\"").
 * type must be a classifying type (gcc, g++, clang, python), not unknown/binary.
 * err may be NULL when errlen is 0. */
int classifier_add(struct classifier *c, enum process_type type, const char *pattern,
		   char *err, size_t errlen);

/* First matching rule wins; PROCESS_UNKNOWN when none (user binaries are decided later by path). */
enum process_type classifier_classify(const struct classifier *c, const char *exe_path);

void classifier_free(struct classifier *c);

/* "unknown", "gcc", "g++", "clang", "python", "binary"; "unknown" for out-of-range values. */
const char *process_type_name(enum process_type t);

/* Inverse of process_type_name(); -EINVAL if unknown name. */
int process_type_parse(const char *name);

/* gcc, g++, clang */
bool process_type_is_compiler(enum process_type t);

/*
 * The "compiler" payload field: the executable's name without its directory
 * and without a leading target triplet, i.e. from the first '-'-separated
 * part that starts with "gcc", "g++", "clang", "c++" or "cc" on
 * ("/usr/bin/x86_64-linux-gnu-gcc-12" -> "gcc-12", "clang-16", "g++",
 * "tcc" when no such part).  A plain "clang" or "clang++" in a directory
 * "llvm-N" (Debian, Ubuntu) becomes "clang-N" / "clang++-N".  Returns 0, or
 * -EINVAL when exe has no name, -ENOSPC when the result does not fit len.
 */
int classifier_compiler_name(const char *exe, char *buf, size_t len);

/*
 * The "python_version" payload field, "3.12": from a name "pythonX.Y", else
 * from the directory component nearest the executable that is a version
 * X.Y[...] ("3.12.1" in pyenv's versions/3.12.1, "cpython-3.12.1-linux-..."
 * in uv's tree), X being 2 or 3.
 * Returns 0, or -ENOENT when the path shows no version (-ENOSPC when len
 * is too small).
 */
int classifier_python_version(const char *exe, char *buf, size_t len);

#endif
