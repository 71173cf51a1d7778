/*
 * compile_args.h - what a gcc/clang command line says: its sources, its
 * output, its options.  The one reader of a compiler's argv: the pipeline
 * finds a build's source with argv_compiler_source(), the payload describes
 * the build with compile_args_parse(); both walk argv the same way.
 *
 * The walk: argv[0] is the program; "--" ends the options; an argument
 * starting with '-' (not "-" alone, which is stdin) is an option, and the
 * options that take a separate value (-o -I -include -D -U -MF -MT -MQ -x
 * -isystem -iquote -idirafter -imacros -iprefix -L -Xlinker -Xassembler
 * -Xpreprocessor -T -u -z --param -aux-info) take the next element with
 * them; joined forms ("-ofoo", "-I/x") are one option.  Everything else is
 * an input: a source (.c .cpp .cc .cxx .c++ .C), an object, a library.
 * A NULL element ends argv early (argc may lie).  Nothing is looked up on
 * disk: argv belongs to another mount namespace.
 */
#ifndef JCW_COMPILE_ARGS_H
#define JCW_COMPILE_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct compile_args {
	char *output;		/* absolute; NULL when the build writes no one file
				 * (-E to stdout, -o -, -c or -S with several sources) */
	char **sources;		/* every source file, absolute, in argv order */
	size_t n_sources;
	char **flags;		/* the options as given, a separate value as its own
				 * element; -o and its value are output instead */
	size_t n_flags;
	bool compile_only;	/* -c */
	bool links;		/* the output is an executable: none of -c -S -E -M -MM
				 * -fsyntax-only */
};

/*
 * Parse argv (argc elements at most) of a compiler run in cwd (absolute).
 * The output is the -o value, or what gcc names it without one: a.out when
 * linking, the source's name with .o (-c) or .s (-S) in cwd for one source.
 * Relative names are resolved against cwd and normalised.  0, -EINVAL
 * (cwd not absolute), or -ENOMEM; free with compile_args_free() either way.
 */
int compile_args_parse(int argc, char *const argv[], const char *cwd, struct compile_args *out);

void compile_args_free(struct compile_args *a);

/* The first source file in argv, as written (the element itself), or NULL. */
const char *argv_compiler_source(int argc, char *const argv[]);

#endif
