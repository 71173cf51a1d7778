/*
 * collector.h - the kernel side's user-space half: have the BPF program
 * compiled, loaded and attached (bpf_loader.h: in a short-lived child),
 * then drain its ring buffer (or per-CPU perf buffer) from the event loop.
 */
#ifndef JCW_COLLECTOR_H
#define JCW_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"
#include "procmon.h"

struct collector_config {
	const char *host_prefix;   /* only hostnames starting with this are collected */
	bool ringbuf;              /* the ring buffer (collector_ringbuf_supported()) */
	long long ringbuf_bytes;   /* its size, a power of two */
	int perf_pages;            /* else: per CPU, power of two */
	int max_processes;         /* student processes noted in the kernel at once */
	unsigned capture;          /* CAPTURE_* bits: whose stderr; 0 = no write probe */
	long long capture_budget;  /* bytes of stderr one capture root may send; 0 = 64 KiB */
	const char *btf_path;      /* NULL: the running kernel's BTF */
	const char *bpf_text;      /* NULL: the built-in text (tests give broken ones) */
	const char *exe;           /* the loader re-executes this (bpf_loader.h); NULL: fork only */
};

/* Does this kernel have BPF ring buffers (5.8+)?  Asks the kernel. */
bool collector_ringbuf_supported(void);

/*
 * Called for every record, with a pointer into the mmapped ring: valid only
 * during the call, read-only and possibly unaligned.  Copy before keeping.
 */
typedef void collector_record_fn(void *arg, const void *data, size_t size);

struct collector;

/* Compile, load and attach (in the loader child); register the buffer with
 * loop.  Returns NULL with a message in err on failure (compile errors,
 * verifier log, a crashed loader). */
struct collector *collector_open(struct loop *loop, const struct collector_config *cfg,
				 collector_record_fn *on_record, void *arg,
				 char *err, size_t errlen);

/* Sum the per-CPU kernel counters (enum procmon_stat). */
int collector_read_stats(struct collector *c, unsigned long long out[PROCMON_STAT__COUNT]);

/* Copy the kernel counters into /metrics (bpf_exec_filtered_total,
 * bpf_execs_total, bpf_processes_{tracked,emitted,stale}_total,
 * bpf_map_full_total, bpf_output_failed_total, bpf_stderr_{records,cut,
 * dropped}_total).  Call now and then. */
int collector_export_stats(struct collector *c);

/* Whether offsets came from BTF (true) or from the headers (false). */
bool collector_uses_btf(const struct collector *c);

/* Whether records come through the ring buffer (or the perf buffer). */
bool collector_uses_ringbuf(const struct collector *c);

/* Detach the probes and free everything. */
void collector_close(struct collector *c);

#endif
