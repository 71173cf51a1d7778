/*
 * snapshot_testing.h - switches for tests of snapshot.c only; the agent
 * never calls them.
 */
#ifndef JCW_SNAPSHOT_TESTING_H
#define JCW_SNAPSHOT_TESTING_H

#include <stdbool.h>

/* false forces snapshot_open_beneath() to take the O_NOFOLLOW openat walk
 * (kernels without openat2), so tests cover both paths on one kernel. */
void snapshot_use_openat2(bool on);

#endif
