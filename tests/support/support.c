/* support.c - small helpers shared by tests and benchmarks. */
#include "support.h"

#include <time.h>

double support_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
