/*
 * identity.h - who a container belongs to, from its name.
 *
 * The only thing the kernel tells us about a student is the UTS hostname of
 * the container ("jcode-os-1-202012345"), and filemon only sees workspace
 * directory names ("os-1-202012345").  Both are parsed here with one rule so
 * the two monitors can never disagree about a student.
 */
#ifndef JCW_IDENTITY_H
#define JCW_IDENTITY_H

#include <stdbool.h>

#define IDENTITY_FIELD_LEN 65

struct identity {
	char subject[IDENTITY_FIELD_LEN];    /* "os" */
	char division[IDENTITY_FIELD_LEN];   /* "1" */
	char student_id[IDENTITY_FIELD_LEN]; /* "202012345" */
	char class_div[IDENTITY_FIELD_LEN];  /* "os-1" */
};

/* Parse a UTS hostname "jcode-{subject}-{division}-{student_id}[-suffix]".
 * subject [A-Za-z0-9]+, division [0-9]+, student_id [0-9]+ (1..20 digits); after the id
 * only end of string or '-' followed by anything (a Kubernetes pod hash). Prefix is
 * given (default "jcode-"). Returns 0, or -EINVAL when malformed (out is then zeroed).
 *
 * A NULL prefix means "jcode-".  "Anything" in the suffix is printable ASCII
 * without spaces: a hostname longer than a UTS name (64 bytes), or carrying
 * control or non-ASCII bytes, is not a real pod name and is rejected. */
int identity_parse(const char *hostname, const char *prefix, struct identity *out);

/* Same rule for a workspace directory name "{subject}-{division}-{student_id}" (no prefix,
 * no suffix allowed) as filemon sees under WATCH_ROOT. */
int identity_parse_workspace(const char *name, struct identity *out);

/* Whether name is such a workspace directory name. */
bool identity_is_workspace(const char *name);

#endif
