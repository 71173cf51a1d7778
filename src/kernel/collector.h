/*
 * collector.h - the kernel side's user-space half: compile the BPF text with
 * libbcc, attach the two sched tracepoints, and drain the per-CPU perf
 * buffers from the event loop.
 */
#ifndef JCW_COLLECTOR_H
#define JCW_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"
#include "procmon.h"

struct collector_config {
	const char *host_prefix;   /* only hostnames starting with this are collected */
	int perf_pages;            /* per CPU, power of two */
	int max_processes;         /* LRU map size */
	const char *btf_path;      /* NULL: the running kernel's BTF */
};

/*
 * Called for every record, with a pointer into the mmapped ring: valid only
 * during the call, read-only and possibly unaligned.  Copy before keeping.
 */
typedef void collector_record_fn(void *arg, const void *data, size_t size);

struct collector;

/* Compile, load and attach; register the perf buffers with loop.  Returns
 * NULL with a message in err on failure (compile errors, verifier log). */
struct collector *collector_open(struct loop *loop, const struct collector_config *cfg,
				 collector_record_fn *on_record, void *arg,
				 char *err, size_t errlen);

/* Sum the per-CPU kernel counters (enum procmon_stat). */
int collector_read_stats(struct collector *c, unsigned long long out[PROCMON_STAT__COUNT]);

/* Copy the kernel counters into /metrics (bpf_exec_filtered_total,
 * bpf_execs_total, bpf_processes_{tracked,emitted,stale}_total,
 * bpf_map_full_total).  Call now and then from the loop. */
int collector_export_stats(struct collector *c);

/* Whether offsets came from BTF (true) or from the headers (false). */
bool collector_uses_btf(const struct collector *c);

/* Build the HOST_PREFIX_MATCH(h) definition for prefix into buf. */
int collector_prefix_flag(const char *prefix, char *buf, size_t len);

/* Detach the probes and free everything. */
void collector_close(struct collector *c);

#endif
