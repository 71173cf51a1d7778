/*
 * procmon.h - the one struct shared by the kernel side (procmon.bpf.c, beside
 * it) and the user side (src/kernel/collector.c, decoder.c).
 *
 * The BPF text gets this file inlined at build time (see cmake/EmbedBpf.cmake),
 * so both sides always agree on the layout.  Keep every field naturally
 * aligned and the variable part (args) last: the kernel submits only
 * offsetof(args) + args_size bytes.
 */
#ifndef JCW_PROCMON_H
#define JCW_PROCMON_H

#ifndef __KERNEL__
#include <linux/types.h>
#endif

#define PROCMON_HOST_LEN   65     /* __NEW_UTS_LEN + 1 */
#define PROCMON_PATH_LEN   1024   /* bytes of exe / cwd kept, NUL included */
#define PROCMON_PATH_DEPTH 64     /* walk steps (components + mount crossings); power of 2 */
#define PROCMON_ARGS_LEN   8192   /* bytes of argv kept (NUL-separated) */

/* flags: what the kernel could not deliver whole.  Never silent. */
#define PROCMON_F_ARGS_TRUNCATED 0x01u /* argv longer than PROCMON_ARGS_LEN */
#define PROCMON_F_EXE_TRUNCATED  0x02u /* exe path too long or too deep */
#define PROCMON_F_CWD_TRUNCATED  0x04u /* cwd path too long or too deep */
#define PROCMON_F_ARGS_FAULT     0x08u /* argv memory could not be read */
#define PROCMON_F_NO_EXE         0x10u /* mm->exe_file was NULL */

/* Indexes of the per-CPU stats array, read by the user side for /metrics. */
enum procmon_stat {
	PROCMON_STAT_EXEC_SEEN,      /* every exec the probe ran for */
	PROCMON_STAT_EXEC_OTHER_HOST,/* skipped: hostname lacks the prefix */
	PROCMON_STAT_EXEC_TRACKED,   /* stored in the process map */
	PROCMON_STAT_MAP_FULL,       /* map update failed */
	PROCMON_STAT_EXIT_EMITTED,   /* one record per process, at its end */
	PROCMON_STAT_EXIT_STALE,     /* map entry belonged to a reused pid */
	PROCMON_STAT__COUNT
};

struct procmon_event {
	__u64 exec_ns;        /* bpf_ktime_get_ns() at exec (CLOCK_MONOTONIC) */
	__u64 exit_ns;        /* ... at the exit of the thread group's last task */
	__u64 start_time;     /* task start_time: tells a reused pid apart */
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 exit_code;      /* raw task->exit_code: status << 8 | core 0x80 | signal */
	__u32 flags;          /* PROCMON_F_* */
	__u32 args_size;      /* bytes used in args, NULs included */
	__u32 args_total;     /* arg_end - arg_start as the kernel saw it */
	__u32 pad;
	char hostname[PROCMON_HOST_LEN];
	char exe[PROCMON_PATH_LEN];
	char cwd[PROCMON_PATH_LEN];
	char args[PROCMON_ARGS_LEN];
};

/* The layout both compilers must agree on: clang -target bpf inside libbcc
 * and the host's cc.  A field moved or resized on one side only would make
 * the decoder read garbage silently; here it fails to compile on both. */
#define PROCMON_ASSERT_AT(field, off) \
	_Static_assert(__builtin_offsetof(struct procmon_event, field) == (off), \
		       "struct procmon_event: " #field " moved")
PROCMON_ASSERT_AT(exec_ns, 0);
PROCMON_ASSERT_AT(exit_ns, 8);
PROCMON_ASSERT_AT(start_time, 16);
PROCMON_ASSERT_AT(tgid, 24);
PROCMON_ASSERT_AT(exit_code, 36);
PROCMON_ASSERT_AT(args_total, 48);
PROCMON_ASSERT_AT(hostname, 56);
PROCMON_ASSERT_AT(exe, 56 + PROCMON_HOST_LEN);
PROCMON_ASSERT_AT(cwd, 56 + PROCMON_HOST_LEN + PROCMON_PATH_LEN);
PROCMON_ASSERT_AT(args, 56 + PROCMON_HOST_LEN + 2 * PROCMON_PATH_LEN);
_Static_assert(sizeof(struct procmon_event) == 10368, "struct procmon_event: size changed");

#endif
