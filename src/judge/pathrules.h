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

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "compile_args.h"
#include "identity.h"

#define PATHRULES_HW_MAX_DEFAULT 20

/* The built-in WORKSPACE_ROOTS, in order. */
#define PATHRULES_DEFAULT_ROOTS \
	{ "/home/coder/project", "/config/workspace", \
	  "/workspace/{subject}-{division}-{student_id}" }

/*
 * The workspace roots, compiled once at start-up.  A root is an absolute,
 * normalised directory (config_check_root()); "{subject}", "{division}" and
 * "{student_id}" in it stand for the student's own names, so a templated
 * root matches only the student the event belongs to.
 */
struct workspace_roots;

/* Compile roots[0..n-1].  NULL with a message in err (may be NULL when
 * errlen is 0) when a root is malformed, or on ENOMEM. */
struct workspace_roots *workspace_roots_create(const char *const *roots, size_t n,
					       char *err, size_t errlen);
/* PATHRULES_DEFAULT_ROOTS; NULL on ENOMEM. */
struct workspace_roots *workspace_roots_default(void);
void workspace_roots_free(struct workspace_roots *r);

/* path_homework_in(): the path lies in a homework directory, but below a
 * templated root filled in with ANOTHER student's names. */
#define PATH_HW_OTHER_STUDENT (-EACCES)	/* another student's directory */

/* Lexically normalise an absolute path: collapse repeated '/', drop "." components,
 * ".." removes the previous component (never above "/"), no trailing '/' except "/" itself.
 * Returns 0, or -EINVAL if path is not absolute or empty, -ENAMETOOLONG if the
 * result would not fit outlen
 * (or on ENOMEM). */
int path_normalize(const char *path, char *out, size_t outlen);

/* Absolute path stays; relative path is joined to cwd (which must be absolute), then normalised.
 * An empty path names nothing and gives -EINVAL. */
int path_resolve(const char *cwd, const char *path, char *out, size_t outlen);

/* Is this one path component (not NUL-terminated: s,len) a homework directory name?
 * "hw" then a decimal N, 0 <= N <= hw_max, no sign, no leading zero except "hw0".
 * Returns N or -EINVAL. */
int homework_component(const char *s, size_t len, int hw_max);

/* For an absolute path, find the homework directory: the FIRST component under a
 * workspace root, where the roots are PATHRULES_DEFAULT_ROOTS and no identity is
 * checked (a templated component must satisfy identity_parse_workspace).  The path is normalised first, so ".." cannot step out
 * of the homework dir.  The path must have at least one component below the homework
 * dir when require_child is true (a source file, a binary) and may BE the homework dir
 * when false (a cwd).  Writes e.g. "hw1" to hw (size hwlen; hw may be NULL when hwlen
 * is 0) and returns N, else -ENOENT (-ENOSPC when hw is too small, -EINVAL for a
 * relative path). */
int path_homework(const char *abs_path, int hw_max, bool require_child, char *hw, size_t hwlen);

/*
 * The same rule with a list of roots.  A homework directory is the first
 * component below any root (tried in order; the first root giving one wins).
 * With an identity (the container's hostname), a templated root is that
 * student's root only; a path that would be in a homework directory below
 * the same root filled in with other names gives PATH_HW_OTHER_STUDENT.
 * With id NULL (nothing to check against), a placeholder matches any name
 * identity_parse_workspace() would accept for it.  Returns N, -ENOENT or
 * PATH_HW_OTHER_STUDENT; hw as for path_homework().
 */
int path_homework_in(const struct workspace_roots *roots, const struct identity *id,
		     const char *abs_path, int hw_max, bool require_child,
		     char *hw, size_t hwlen);

/* For a path already normalised that lies below a homework directory (a
 * target): the length of the homework directory's own path, the prefix
 * "/home/coder/project/hw1" of ".../hw1/src/a.c".  Errors as
 * path_homework_in() with require_child. */
long path_homework_prefix(const struct workspace_roots *roots, const struct identity *id,
			  const char *norm_path, int hw_max);

/* A compiler's source file: argv_compiler_source() in compile_args.h, the
 * one reader of compiler argv. */

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
