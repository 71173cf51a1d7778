/*
 * collector.c - see collector.h.
 *
 * The BPF program is compiled, loaded and attached by a short-lived child
 * (bpf_loader.c); what comes back is file descriptors.  Here libbpf reads
 * them: a ring buffer (one for every CPU, records in order) or, on kernels
 * before 5.8, the per-CPU perf buffer.  Neither path maps libbcc.
 */
#define _GNU_SOURCE
#include "collector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_loader.h"
#include "log.h"
#include "metrics.h"

#define MOD "collector"
/*
 * Waking the reader for every record made the exit probe the most expensive
 * part of a student's run (a cross-CPU wakeup per process).  The ring's
 * records are written without a wakeup (BPF_RB_NO_WAKEUP) and a timer
 * drains them every POLL_MS: the price is at most POLL_MS of delay.
 */
#define POLL_MS 10

struct collector {
	struct loop *loop;
	struct bpf_handles h;
	struct ring_buffer *rb;
	struct perf_buffer *pb;
	int epoll_fd;
	long long poll_timer;
	int ncpus;			/* possible CPUs: per-CPU map values */
	unsigned long long *percpu;
	collector_record_fn *on_record;
	void *arg;
};

bool collector_ringbuf_supported(void)
{
	return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
}

static int on_ring(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;

	metrics_inc(M_BPF_COLLECTED);
	c->on_record(c->arg, data, size);
	return 0;
}

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	(void)cpu;
	on_ring(ctx, data, size);
}

static void on_lost(void *ctx, int cpu, __u64 lost)
{
	(void)ctx;
	metrics_add(M_BPF_LOST, 0, 0, lost);
	log_warn(MOD, "perf buffer of CPU %d overflowed: %llu records lost (raise PERF_PAGES)",
		 cpu, (unsigned long long)lost);
}

static void drain(struct collector *c)
{
	metrics_heartbeat_poll(SERVICE_PROCMON);
	if (c->rb)
		ring_buffer__consume(c->rb);
	else
		perf_buffer__consume(c->pb);
}

static void on_readable(struct loop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	drain(arg);
}

static long long on_poll(struct loop *loop, long long id, void *arg)
{
	(void)loop;
	(void)id;
	drain(arg);
	return POLL_MS;
}

static int open_reader(struct collector *c, const struct collector_config *cfg,
		       char *err, size_t errlen)
{
	if (c->h.ringbuf) {
		c->rb = ring_buffer__new(c->h.events_fd, on_ring, c, NULL);
		c->epoll_fd = c->rb ? ring_buffer__epoll_fd(c->rb) : -1;
	} else {
		/* The fallback for kernels before 5.8: libbpf's perf buffer wakes
		 * us per record (its raw mode would batch; not worth it there). */
		c->pb = perf_buffer__new(c->h.events_fd, (size_t)cfg->perf_pages, on_sample,
					 on_lost, c, NULL);
		c->epoll_fd = c->pb ? perf_buffer__epoll_fd(c->pb) : -1;
	}
	if (c->epoll_fd < 0) {
		snprintf(err, errlen, "cannot read the %s buffer: %s",
			 c->h.ringbuf ? "ring" : "perf", strerror(errno));
		return -errno;
	}
	return 0;
}

struct collector *collector_open(struct loop *loop, const struct collector_config *cfg,
				 collector_record_fn *on_record, void *arg,
				 char *err, size_t errlen)
{
	struct bpf_loader_config lc = {
		.host_prefix = cfg->host_prefix,
		.btf_path = cfg->btf_path,
		.ringbuf = cfg->ringbuf,
		.ringbuf_bytes = cfg->ringbuf_bytes,
		.max_processes = cfg->max_processes,
		.capture = cfg->capture,
		.capture_budget = cfg->capture_budget,
		.bpf_text = cfg->bpf_text,
		.exe = cfg->exe,
	};
	struct collector *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->on_record = on_record;
	c->arg = arg;
	c->poll_timer = -1;
	c->h = (struct bpf_handles){ .events_fd = -1, .stats_fd = -1 };
	for (int i = 0; i < BPF_ATTACH__COUNT; i++)
		c->h.attach_fd[i] = -1;
	c->ncpus = libbpf_num_possible_cpus();
	c->percpu = c->ncpus > 0 ? calloc((size_t)c->ncpus, sizeof(*c->percpu)) : NULL;
	if (!c->percpu) {
		snprintf(err, errlen, "cannot count the possible CPUs");
		goto fail;
	}
	if (bpf_loader_run(&lc, &c->h, err, errlen) < 0 || open_reader(c, cfg, err, errlen) < 0)
		goto fail;
	if (loop_add_fd(loop, c->epoll_fd, LOOP_READ, on_readable, c) < 0) {
		snprintf(err, errlen, "cannot poll the BPF buffer: %s", strerror(errno));
		goto fail;
	}
	c->poll_timer = loop_add_timer(loop, POLL_MS, on_poll, c);
	metrics_set(M_BPF_PROBES, 0, 0, c->h.attached);
	log_info(MOD, "%d probes attached; stderr capture %s", c->h.attached,
		 c->h.attach_fd[BPF_ATTACH_WRITE] >= 0 ? "on (write and writev probes)" :
		 "off (CAPTURE is empty: no write probe)");
	return c;
fail:
	collector_close(c);
	return NULL;
}

int collector_read_stats(struct collector *c, unsigned long long out[PROCMON_STAT__COUNT])
{
	if (c->h.stats_fd < 0)
		return -EBADF;
	for (int k = 0; k < PROCMON_STAT__COUNT; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(c->h.stats_fd, &k, c->percpu) < 0)
			return -errno;
		for (int cpu = 0; cpu < c->ncpus; cpu++)
			out[k] += c->percpu[cpu];
	}
	return 0;
}

/* Kernel counter -> metric.  tracked - emitted - stale is what is alive,
 * or what an output failure lost. */
static const struct {
	enum procmon_stat stat;
	enum metric metric;
	unsigned label;		/* the metric's label value, when it has one */
} stat_metrics[] = {
	{ PROCMON_STAT_EXEC_SEEN, M_BPF_EXECS, 0 },
	{ PROCMON_STAT_EXEC_TRACKED, M_BPF_TRACKED, 0 },
	{ PROCMON_STAT_MAP_FULL, M_BPF_MAP_FULL, 0 },
	{ PROCMON_STAT_EXIT_EMITTED, M_BPF_EMITTED, 0 },
	{ PROCMON_STAT_EXIT_STALE, M_BPF_STALE, 0 },
	{ PROCMON_STAT_EXEC_OTHER_HOST, M_BPF_EXEC_FILTERED, BPF_FILTER_HOSTNAME },
	{ PROCMON_STAT_EXEC_UNTRUSTED, M_BPF_EXEC_FILTERED, BPF_FILTER_CONTAINER },
	{ PROCMON_STAT_OUTPUT_FAILED, M_BPF_OUTPUT_FAILED, 0 },
	{ PROCMON_STAT_OUTPUT_EMITTED, M_BPF_STDERR_RECORDS, 0 },
	{ PROCMON_STAT_OUTPUT_CUT, M_BPF_STDERR_CUT, 0 },
	{ PROCMON_STAT_OUTPUT_DROPPED, M_BPF_STDERR_DROPPED, 0 },
	{ PROCMON_STAT_EXEC_OWN_UTS, M_BPF_EXEC_OWN_UTS, 0 },
};

int collector_export_stats(struct collector *c)
{
	unsigned long long st[PROCMON_STAT__COUNT];
	int rc = collector_read_stats(c, st);

	if (rc < 0)
		return rc;
	/* The kernel's counts are absolute: the series mirror them.  A stat
	 * without a row here is not exported (rather than landing on metric 0). */
	for (size_t k = 0; k < sizeof(stat_metrics) / sizeof(stat_metrics[0]); k++)
		metrics_set(stat_metrics[k].metric, 0, stat_metrics[k].label,
			    (double)st[stat_metrics[k].stat]);
	return 0;
}

bool collector_uses_btf(const struct collector *c)
{
	return c->h.uses_btf;
}

bool collector_uses_ringbuf(const struct collector *c)
{
	return c->h.ringbuf;
}

void collector_close(struct collector *c)
{
	if (!c)
		return;
	if (c->poll_timer > 0)
		loop_del_timer(c->loop, c->poll_timer);
	if (c->epoll_fd > 0)
		loop_del_fd(c->loop, c->epoll_fd);
	/* Detach first, then drain what the probes wrote before. */
	for (int i = 0; i < BPF_ATTACH__COUNT; i++) {
		if (c->h.attach_fd[i] >= 0)
			close(c->h.attach_fd[i]);
		c->h.attach_fd[i] = -1;
	}
	if (c->rb || c->pb)
		drain(c);
	ring_buffer__free(c->rb);
	perf_buffer__free(c->pb);
	bpf_handles_close(&c->h);
	free(c->percpu);
	free(c);
}
