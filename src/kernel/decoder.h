/*
 * decoder.h - turn one raw perf-buffer record into a struct process.
 *
 * The record points into the ring, which the kernel reuses as soon as the
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

/* Returns 0 and fills out (free with process_free), or -EINVAL (-ENOMEM) when the record is
 * malformed (out is then zeroed). */
int decoder_decode(const void *raw, size_t size, long long clock_offset_ns,
		   struct process *out);

/* Split the kernel's NUL-separated argv area into out->argv. */
int decoder_split_args(const char *args, size_t len, struct process *out);

#endif
