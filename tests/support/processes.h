/*
 * processes.h - finished processes, as the kernel side would hand them to
 * the pipeline, for the unit tests of what judges them.
 */
#ifndef JCW_TEST_PROCESSES_H
#define JCW_TEST_PROCESSES_H

#include "pipeline.h"

/* Their exit on the wall clock: 2026-11-23T07:19:40.123456Z. */
#define TEST_EXIT_WALL_NS 1795418380123456000LL

/* Pid 77 (parent 7, uid 1000) in host ran exe in cwd with argv for 2.5 ms
 * and ended with exit_code, or killed by sig; the pipeline's verdict. */
enum pipeline_result test_process_run(struct pipeline *pl, const char *host, const char *exe,
				      const char *cwd, int argc, char **argv, int exit_code,
				      int sig);

#endif
