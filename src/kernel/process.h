/*
 * process.h - one finished process as the user side sees it, decoded from a
 * struct procmon_event (decoder.c) and judged by the pipeline (pipeline.c).
 */
#ifndef JCW_PROCESS_H
#define JCW_PROCESS_H

#include <stdbool.h>

#include "procmon.h"

/* Resource use of the whole thread group at its end (struct procmon_usage
 * in plain C types). */
struct proc_usage {
	unsigned long long cpu_ns, utime_ns, stime_ns, max_rss_kb, min_flt, maj_flt, read_bytes,
		write_bytes, ctx_switches;
	unsigned int threads, children;
};

struct process {
	unsigned int pid;
	unsigned int ppid;
	unsigned int uid;
	int exit_status;     /* low 8 bits the process passed to exit(), if it exited */
	int signal;          /* terminating signal number, 0 when it exited */
	bool core_dumped;
	int exit_code;       /* exit_status, or 128 + signal when killed (shell convention) */
	long long exec_ns;   /* CLOCK_MONOTONIC at exec */
	long long exit_ns;   /* CLOCK_MONOTONIC at the end of the last thread */
	long long exit_wall_ns; /* exit time, CLOCK_REALTIME nanoseconds */
	unsigned long long start_time; /* task start time (ns since boot): with the
				  * boot id and pid, names the process uniquely */
	unsigned int flags;  /* PROCMON_F_* as the kernel set them */
	char hostname[PROCMON_HOST_LEN];
	char *exe;           /* resolved executable path, as the process sees it */
	char *cwd;           /* working directory, as the process sees it */
	int argc;
	char **argv;         /* argc strings then NULL; raw bytes, maybe not UTF-8 */
	struct proc_usage usage; /* zero until the exit record */
};

/* Release what decoder_decode() allocated; safe on a zeroed struct. */
void process_free(struct process *p);

#endif
