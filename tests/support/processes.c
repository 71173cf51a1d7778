/* processes.c - finished processes for the pipeline's unit tests. */
#include "processes.h"

#include <stdio.h>

enum pipeline_result test_process_run(struct pipeline *pl, const char *host, const char *exe,
				      const char *cwd, int argc, char **argv, int exit_code,
				      int sig)
{
	struct process p = {
		.pid = 77, .ppid = 7, .uid = 1000,
		.exit_status = exit_code, .signal = sig,
		.exit_code = sig ? 128 + sig : exit_code,
		.exec_ns = 1000000000LL, .exit_ns = 1002500000LL,
		.exit_wall_ns = TEST_EXIT_WALL_NS,
		.exe = (char *)exe, .cwd = (char *)cwd, .argc = argc, .argv = argv,
	};

	snprintf(p.hostname, sizeof(p.hostname), "%s", host);
	return pipeline_process(pl, &p);
}
