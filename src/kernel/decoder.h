/*
 * decoder.h - turn the kernel's exec and exit records into a struct process.
 *
 * A record points into the ring, which the kernel reuses as soon as the
 * callback returns (upstream read it later and lost 73 % of a burst), so the
 * decoder copies everything out at once and validates every length: a short
 * or inconsistent record is rejected, never read past.
 */
#ifndef JCW_DECODER_H
#define JCW_DECODER_H

#include <stddef.h>

#include "process.h"

/* CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns: converts bpf_ktime_get_ns(). */
long long decoder_clock_offset(void);

/* Split the kernel's NUL-separated argv area into out->argv. */
int decoder_split_args(const char *args, size_t len, struct process *out);

/* How a process ended, from its exit record (struct procmon_exit). */
struct proc_exit {
	unsigned int tgid;
	unsigned long long start_time;
	long long exit_ns;		/* CLOCK_MONOTONIC */
	unsigned int exit_code;		/* the wait(2) status word */
	struct proc_usage usage;
};

/* What a marked task wrote to stderr (struct procmon_output).  tgid and
 * start_time name the capture root, writer_tgid the task that wrote. */
struct proc_output {
	unsigned int tgid;
	unsigned long long start_time;
	unsigned int writer_tgid;
	unsigned int flags;		/* PROCMON_OUT_* */
	size_t size;
	const char *data;		/* INTO the record: copy before the callback returns */
};

/* The kind of a kernel record (enum procmon_kind), or -EINVAL when it is
 * too short to have one.  Records may be unaligned: nothing is read in
 * place. */
int decoder_kind(const void *raw, size_t size);

/* An exec record (variable size: exe, cwd and argv packed after the fixed
 * part, exe_size + cwd_size + args_size bytes).
 * 0 with out filled (exit fields zero; free with process_free()), or
 * -EINVAL for a malformed record (never read past), -ENOMEM. */
int decoder_decode_exec(const void *raw, size_t size, struct process *out);

/* An exit record: sizeof(struct procmon_exit), and up to 7 bytes of the
 * perf buffer's alignment padding.  0 or -EINVAL. */
int decoder_decode_exit(const void *raw, size_t size, struct proc_exit *out);

/* An output record: its head and size bytes of data, up to 7 bytes of
 * perf-buffer padding after them.  0 or -EINVAL (never reads past size). */
int decoder_decode_output(const void *raw, size_t size, struct proc_output *out);

/* Put the end into p: exit times (wall clock from clock_offset_ns, held at
 * the ends of the range) and the status split into exit_status, signal,
 * core_dumped and the shell's exit_code, and the usage. */
void decoder_apply_exit(struct process *p, const struct proc_exit *e, long long clock_offset_ns);

#endif
