/*
 * fuzz.h - what the libFuzzer harnesses share.  Each harness feeds one
 * parser that takes hostile input (a student's file names, argv, hostname,
 * a kernel record, the spool on disk, the config file) and aborts on any
 * broken invariant, so that libFuzzer reports it like a crash.
 */
#ifndef JCW_FUZZ_H
#define JCW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_ASSERT(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
	abort(); } } while (0)

/* data as a NUL-terminated string (embedded NULs end it early). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
