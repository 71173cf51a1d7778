/*
 * procmon.h - the records shared by the kernel side (procmon.bpf.c, beside
 * it) and the user side (src/kernel/collector.c, decoder.c).
 *
 * The BPF text gets this file inlined at build time (see cmake/EmbedBpf.cmake),
 * so both sides always agree on the layout.  Keep every field naturally
 * aligned and the variable part (data) last: the kernel submits only the
 * bytes it used.
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
	PROCMON_STAT_EXEC_TRACKED,   /* exec record emitted, process noted in `live` */
	PROCMON_STAT_MAP_FULL,       /* `live` was full: its exit will not be reported */
	PROCMON_STAT_EXIT_EMITTED,   /* exit record emitted, at the group's end */
	PROCMON_STAT_EXIT_STALE,     /* `live` entry belonged to a reused pid */
	PROCMON_STAT_OUTPUT_FAILED,  /* a record the ring/perf buffer had no room for */
	PROCMON_STAT_OUTPUT_EMITTED, /* stderr (PROCMON_OUTPUT) records emitted */
	PROCMON_STAT_OUTPUT_CUT,     /* writes longer than PROCMON_OUTPUT_LEN: cut */
	PROCMON_STAT_OUTPUT_DROPPED, /* writes dropped: budget spent or ring full */
	PROCMON_STAT_EXEC_OWN_UTS,   /* reported under its container's hostname, not its own */
	PROCMON_STAT_EXEC_UNTRUSTED, /* skipped: its container's init renamed it, or is gone */
	PROCMON_STAT__COUNT
};

/*
 * Two records per process: one at exec, one at the group's end.  User
 * space joins them by (tgid, start_time) (src/judge/proctable.c); the
 * kernel keeps only the start time of a live student process.  Every
 * record starts with struct procmon_head.
 */
enum procmon_kind { PROCMON_EXEC = 1, PROCMON_EXIT = 2, PROCMON_OUTPUT = 3 };

struct procmon_head {
	__u32 kind;           /* enum procmon_kind */
	__u32 tgid;
	__u64 start_time;     /* the group leader's start time: tells a reused pid apart */
};

struct procmon_exec {
	struct procmon_head head;
	__u64 exec_ns;        /* bpf_ktime_get_ns() at exec (CLOCK_MONOTONIC) */
	__u32 ppid;
	__u32 uid;
	__u32 flags;          /* PROCMON_F_* */
	__u32 args_size;      /* bytes of argv in data, NULs included */
	__u32 args_total;     /* arg_end - arg_start as the kernel saw it */
	__u16 exe_size;       /* bytes of exe in data, its NUL included: 1 to PROCMON_PATH_LEN */
	__u16 cwd_size;       /* the same for cwd */
	char hostname[PROCMON_HOST_LEN];
	/*
	 * exe, cwd and argv, packed: exe_size bytes, cwd_size bytes, then
	 * args_size; the record ends there.  A fixed field for each would put
	 * 2 KiB of mostly NULs through the ring per exec, and the cache
	 * misses of writing them were a third of the exec probe's time.
	 */
	char data[2 * PROCMON_PATH_LEN + PROCMON_ARGS_LEN];
};

/* Resource use of the whole thread group, read in the kernel at its last exit. */
struct procmon_usage {
	__u64 cpu_ns;         /* scheduler runtime of every thread, dead and alive */
	__u64 utime_ns;       /* user CPU of every thread */
	__u64 stime_ns;       /* system CPU of every thread */
	__u64 max_rss_kb;     /* peak resident set, KiB */
	__u64 min_flt;
	__u64 maj_flt;
	__u64 read_bytes;     /* bytes through read-family syscalls (ioac rchar), all threads */
	__u64 write_bytes;    /* bytes through write-family syscalls (ioac wchar), all threads */
	__u64 ctx_switches;   /* voluntary + involuntary, all threads */
	__u32 threads;        /* most threads alive at once */
	__u32 children;       /* processes it forked (not threads) */
};

struct procmon_exit {
	struct procmon_head head;
	__u64 exit_ns;        /* bpf_ktime_get_ns() when the group's last task exited */
	__u32 exit_code;      /* status << 8 | core 0x80 | signal, as wait(2) reports it */
	__u32 pad;
	struct procmon_usage usage;
};

#define PROCMON_OUTPUT_LEN 1024   /* bytes of one write kept per record */
#define PROCMON_OUT_CUT    0x01u  /* this write was longer: bytes past `size` were dropped */
#define PROCMON_OUT_BUDGET 0x02u  /* the per-process budget ran out before this record */

/* What a marked task wrote to fd 2.  head names the capture root: the
 * process marked at exec (gcc, python3, a student binary); descendants
 * (cc1, as, ld) inherit the mark at fork and their writes carry the root's
 * tgid and start_time in head, the writer in writer_tgid. */
struct procmon_output {
	struct procmon_head head;     /* kind = PROCMON_OUTPUT */
	__u32 writer_tgid;
	__u32 size;                   /* bytes used in data */
	__u32 flags;                  /* PROCMON_OUT_* */
	__u32 pad;
	char data[PROCMON_OUTPUT_LEN];/* variable: the record ends after size bytes */
};

/* The layout both compilers must agree on: clang -target bpf inside libbcc
 * and the host's cc.  A field moved or resized on one side only would make
 * the decoder read garbage silently; here it fails to compile on both. */
#define PROCMON_ASSERT_EXEC(field, off) \
	_Static_assert(__builtin_offsetof(struct procmon_exec, field) == (off), \
		       "struct procmon_exec: " #field " moved")
PROCMON_ASSERT_EXEC(head.kind, 0);
PROCMON_ASSERT_EXEC(head.tgid, 4);
PROCMON_ASSERT_EXEC(head.start_time, 8);
PROCMON_ASSERT_EXEC(exec_ns, 16);
PROCMON_ASSERT_EXEC(ppid, 24);
PROCMON_ASSERT_EXEC(args_total, 40);
PROCMON_ASSERT_EXEC(exe_size, 44);
PROCMON_ASSERT_EXEC(cwd_size, 46);
PROCMON_ASSERT_EXEC(hostname, 48);
PROCMON_ASSERT_EXEC(data, 48 + PROCMON_HOST_LEN);
_Static_assert(__builtin_offsetof(struct procmon_exit, exit_ns) == 16 &&
	       __builtin_offsetof(struct procmon_exit, exit_code) == 24 &&
	       __builtin_offsetof(struct procmon_exit, usage) == 32 &&
	       sizeof(struct procmon_exit) == 112, "struct procmon_exit: layout changed");
_Static_assert(sizeof(struct procmon_usage) == 80 &&
	       __builtin_offsetof(struct procmon_usage, ctx_switches) == 64 &&
	       __builtin_offsetof(struct procmon_usage, threads) == 72 &&
	       __builtin_offsetof(struct procmon_usage, children) == 76,
	       "struct procmon_usage: layout changed");
_Static_assert(__builtin_offsetof(struct procmon_output, writer_tgid) == 16 &&
	       __builtin_offsetof(struct procmon_output, size) == 20 &&
	       __builtin_offsetof(struct procmon_output, flags) == 24 &&
	       __builtin_offsetof(struct procmon_output, data) == 32 &&
	       sizeof(struct procmon_output) == 32 + PROCMON_OUTPUT_LEN,
	       "struct procmon_output: layout changed");

#endif
