/*
 * pathrules.h - which file a compile or run was about, and which homework.
 *
 * procmon (from argv and cwd) and filemon (from watched paths) must agree on
 * what counts as a homework directory, so the rules live here once.  All
 * work is lexical: the paths belong to another mount namespace, so nothing
 * here touches the file system.  Paths are bytes; no encoding is assumed.
 */
#ifndef JCW_PATHRULES_H
#define JCW_PATHRULES_H

#include <stdbool.h>
#include <stddef.h>

#define PATHRULES_HW_MAX_DEFAULT 20

/* Lexically normalise an absolute path: collapse repeated '/', drop "." components,
 * ".." removes the previous component (never above "/"), no trailing '/' except "/" itself.
 * Returns 0, or -1 if path is not absolute, empty, or the result would not fit outlen
 * (or on ENOMEM). */
int path_normalize(const char *path, char *out, size_t outlen);

/* Absolute path stays; relative path is joined to cwd (which must be absolute), then normalised.
 * An empty path names nothing and gives -1. */
int path_resolve(const char *cwd, const char *path, char *out, size_t outlen);

/* Is this one path component (not NUL-terminated: s,len) a homework directory name?
 * "hw" then a decimal N, 0 <= N <= hw_max, no sign, no leading zero except "hw0".
 * Returns N or -1. */
int homework_component(const char *s, size_t len, int hw_max);

/* For an absolute path, find the homework directory: the FIRST component under a
 * workspace root, where the roots are "/home/coder/project" and
 * "/workspace/{subject}-{division}-{student_id}" (that last component must satisfy
 * identity_parse_workspace).  The path is normalised first, so ".." cannot step out
 * of the homework dir.  The path must have at least one component below the homework
 * dir when require_child is true (a source file, a binary) and may BE the homework dir
 * when false (a cwd).  Writes e.g. "hw1" to hw (size hwlen; hw may be NULL when hwlen
 * is 0) and returns N, else -1 (also when hw is too small). */
int path_homework(const char *abs_path, int hw_max, bool require_child, char *hw, size_t hwlen);

/* Source file from a compiler argv (argv[0] is the program): the first non-option argument
 * whose name ends in .c .cpp .cc .cxx .c++ or .C, skipping the value of options that take a
 * separate argument (-o -I -include -D -U -MF -MT -MQ -x -isystem -iquote -idirafter
 * -imacros -iprefix -L -Xlinker -Xassembler -Xpreprocessor -T -u -z --param -aux-info).
 * Joined forms ("-ofoo", "-I/x") are single options. "--" ends options.
 * Returns the argv element or NULL. */
const char *argv_compiler_source(int argc, char *const argv[]);

/* Python script: the script Python would run, if its name ends ".py".  Options (with the
 * values of -W, -X, --check-hash-based-pycs, joined or separate, also inside clusters
 * like "-uW x") are skipped; the first other argument is the script and the rest are its
 * own arguments.  NULL when -m or -c comes first (module / command mode), for "-" (stdin),
 * or when there is no script. */
const char *argv_python_script(int argc, char *const argv[]);

/* argv joined with single spaces into a malloc'd string (NULL only on ENOMEM).
 * argc <= 0 gives "". */
char *argv_join(int argc, char *const argv[]);

#endif
