/*
 * builds.h - which build made a program: the "built_by" of a binary run.
 *
 * Every successful build's output is remembered under its student
 * container's hostname and the output's absolute path (every student's
 * workspace is /home/coder/project in its own container, so the path alone
 * names nothing), with the build's event id.  A run of a student binary
 * asks for its executable: the last build that wrote that file.  A build
 * that writes no program (-c, -S) replaces what was known of its output
 * too, since the file is no longer the program built before.  Bounded: the
 * oldest output goes when full, counted in evicted.
 */
#ifndef JCW_BUILDS_H
#define JCW_BUILDS_H

#include <stdbool.h>
#include <stddef.h>

#include "hashmap.h"

#define BUILDS_MAX_DEFAULT 4096

struct build_output;

struct builds {
	struct hashmap map;
	struct build_output *oldest, *newest;
	size_t max;
	unsigned long long evicted;	/* outputs forgotten because the table was full */
};

/* 0 or -ENOMEM; max 0 is BUILDS_MAX_DEFAULT. */
int builds_init(struct builds *b, size_t max);
void builds_fini(struct builds *b);

/* A successful build on host wrote output (absolute), a program when
 * executable.  0, or -ENOMEM (the table is unchanged). */
int builds_record(struct builds *b, const char *host, const char *output, bool executable,
		  const char *event_id);

/* The event id of the last build that wrote this program, or NULL (never
 * built here, forgotten, or last written by a build of no program). */
const char *builds_lookup(const struct builds *b, const char *host, const char *path);

static inline size_t builds_count(const struct builds *b)
{
	return b->map.count;
}

#endif
