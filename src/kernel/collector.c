/*
 * collector.c - see collector.h.
 */
#define _GNU_SOURCE
#include "collector.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bcc/bcc_common.h>
#include <bcc/libbpf.h>
#include <bcc/perf_reader.h>
#include <linux/bpf.h>

#include "btf_offsets.h"
#include "log.h"
#include "metrics.h"

extern const char procmon_bpf_text[];

#define MAX_CPUS 1024
#define MAX_CFLAGS 64
/*
 * Waking the reader for every record made the exit probe the most expensive
 * part of a student's run (a cross-CPU wakeup per process) and the agent
 * spend a fifth of its time switching in.  The kernel now wakes us every
 * WAKEUP_EVENTS records, and a timer drains whatever is left every POLL_MS:
 * the price is at most POLL_MS of delay.
 */
#define WAKEUP_EVENTS 32
#define POLL_MS 10

struct probe {
	const char *category;
	const char *name;
	const char *func;
	int prog_fd;
	int perf_fd;  /* the attachment; closing it detaches */
};

struct collector {
	struct loop *loop;
	void *mod;
	struct probe probes[2];
	struct perf_reader *readers[MAX_CPUS];
	int nreaders;
	int stats_fd;
	long long poll_timer;
	int ncpus_possible;		/* as the kernel counts them: per-CPU values */
	unsigned long long *percpu;	/* ncpus_possible values, for the stats map */
	bool uses_btf;
	collector_record_fn *on_record;
	void *arg;
};

static void on_raw(void *cookie, void *raw, int size)
{
	struct collector *c = cookie;

	metrics_inc(M_BPF_COLLECTED);
	if (size > 0)
		c->on_record(c->arg, raw, (size_t)size);
}

static void on_lost(void *cookie, uint64_t lost)
{
	metrics_add(M_BPF_LOST, 0, 0, lost);
	log_warn("collector", "perf buffer overflowed: %llu records lost "
		 "(raise --perf-pages)", (unsigned long long)lost);
}

static void on_readable(struct loop *loop, int fd, unsigned events, void *arg)
{
	metrics_heartbeat_poll(SERVICE_PROCMON);
	perf_reader_event_read(arg);
}

int collector_prefix_flag(const char *prefix, char *buf, size_t len)
{
	size_t n = strlen(prefix);
	int w = snprintf(buf, len, "-DHOST_PREFIX_MATCH(h)=(1");

	if (n == 0 || n > 32 || w < 0 || (size_t)w >= len)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(buf + w, len - w, "&&(h)[%zu]==%d", i, (unsigned char)prefix[i]);

		if (k < 0 || (size_t)k >= len - w)
			return -EINVAL;
		w += k;
	}
	if ((size_t)w + 2 > len)
		return -EINVAL;
	strcpy(buf + w, ")");
	return 0;
}

/* Parse "0-3,5" from /sys/devices/system/cpu/{online,possible}: mark the
 * CPUs below max, return the highest listed + 1 (which may exceed max). */
static int read_cpu_list(const char *file, bool *cpus, int max)
{
	char line[1024], *p = line;
	FILE *f = fopen(file, "r");
	int count = 0;

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	while (*p && *p != '\n') {
		char *end;
		long a = strtol(p, &end, 10), b = a;

		if (end == p)
			return -EINVAL;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long i = a; i <= b && i < max; i++)
			cpus[i] = true;
		if (b + 1 > count)
			count = (int)b + 1;
		p = *end == ',' ? end + 1 : end;
	}
	return count;
}

static int build_cflags(const struct collector_config *cfg, char **flags, bool *uses_btf,
			char *err, size_t errlen)
{
	char btf_err[256], prefix[1024];
	int n;

	n = btf_offsets_cflags(cfg->btf_path, flags, MAX_CFLAGS - 4, btf_err, sizeof(btf_err));
	*uses_btf = n > 0;
	if (n < 0) {
		log_warn("collector", "%s; falling back to kernel header offsets, "
			 "which are wrong if the headers do not match the kernel", btf_err);
		n = 0;
	}
	if (collector_prefix_flag(cfg->host_prefix, prefix, sizeof(prefix)) < 0) {
		snprintf(err, errlen, "bad host prefix \"%s\"", cfg->host_prefix);
		goto fail;
	}
	if (!(flags[n++] = strdup(prefix)))
		goto oom;
	if (asprintf(&flags[n++], "-DMAX_PROCESSES=%d", cfg->max_processes) < 0)
		goto oom;
	return n;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	while (n > 0)
		free(flags[--n]);
	return -EINVAL;
}

static int load_probe(struct collector *c, struct probe *p, char *err, size_t errlen)
{
	static char log[1 << 20];
	void *insns = bpf_function_start(c->mod, p->func);
	size_t size = bpf_function_size(c->mod, p->func);

	if (!insns) {
		snprintf(err, errlen, "BPF function %s not found", p->func);
		return -ENOENT;
	}
	log[0] = '\0';
	/* Log level 4 (BPF_LOG_STATS) asks only for the verifier's summary:
	 * how close the program is to the 1M-instruction budget is worth
	 * knowing on every kernel we meet. */
	p->prog_fd = bcc_func_load(c->mod, BPF_PROG_TYPE_TRACEPOINT, p->func, insns, (int)size,
				   bpf_module_license(c->mod), bpf_module_kern_version(c->mod),
				   4, log, sizeof(log), NULL, 0);
	if (p->prog_fd >= 0) {
		char *stats = strstr(log, "processed ");

		if (stats)
			stats[strcspn(stats, "\n")] = '\0';
		log_info("collector", "%s verified: %s", p->func, stats ? stats : "(no stats)");
	} else {
		log_debug("collector", "%s: verifier stats: %s", p->func, log);
		/* Retry with the verifier's log to say why. */
		p->prog_fd = bcc_func_load(c->mod, BPF_PROG_TYPE_TRACEPOINT, p->func, insns,
					   (int)size, bpf_module_license(c->mod),
					   bpf_module_kern_version(c->mod), 1, log, sizeof(log),
					   NULL, 0);
		if (p->prog_fd < 0) {
			size_t l = strlen(log);

			snprintf(err, errlen, "loading %s failed: %s; verifier: %s", p->func,
				 strerror(errno), l > 1500 ? log + l - 1500 : log);
			return -errno;
		}
	}
	p->perf_fd = bpf_attach_tracepoint(p->prog_fd, p->category, p->name);
	if (p->perf_fd < 0) {
		snprintf(err, errlen, "attaching %s:%s failed: %s (is tracefs mounted? "
			 "try `jcode-watcher check`)", p->category, p->name, strerror(errno));
		return -errno;
	}
	return 0;
}

static long long poll_buffers(struct loop *loop, long long id, void *arg)
{
	struct collector *c = arg;

	metrics_heartbeat_poll(SERVICE_PROCMON);
	for (int i = 0; i < c->nreaders; i++)
		perf_reader_event_read(c->readers[i]);
	return POLL_MS;
}

static int open_buffers(struct collector *c, int pages, char *err, size_t errlen)
{
	static bool online[MAX_CPUS];
	int map_fd = bpf_table_fd(c->mod, "events");
	int n = read_cpu_list("/sys/devices/system/cpu/online", online, MAX_CPUS);

	if (n < 0 || map_fd < 0) {
		snprintf(err, errlen, "cannot list online CPUs or find the events map");
		return -ENOENT;
	}
	for (int cpu = 0; cpu < n; cpu++) {
		struct perf_reader *r;
		int fd;

		if (!online[cpu])
			continue;
		struct bcc_perf_buffer_opts opts = {
			.pid = -1, .cpu = cpu, .wakeup_events = WAKEUP_EVENTS,
		};

		r = bpf_open_perf_buffer_opts(on_raw, on_lost, c, pages, &opts);
		if (!r) {
			snprintf(err, errlen, "perf buffer for CPU %d: %s", cpu, strerror(errno));
			return -errno;
		}
		c->readers[c->nreaders++] = r;
		fd = perf_reader_fd(r);
		if (bpf_update_elem(map_fd, &cpu, &fd, 0) < 0 ||
		    loop_add_fd(c->loop, fd, LOOP_READ, on_readable, r) < 0) {
			snprintf(err, errlen, "registering perf buffer %d: %s", cpu, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int compile(struct collector *c, const struct collector_config *cfg,
		   char *err, size_t errlen)
{
	char *flags[MAX_CFLAGS];
	int n = build_cflags(cfg, flags, &c->uses_btf, err, errlen);

	if (n < 0)
		return -EINVAL;
	c->mod = bpf_module_create_c_from_string(procmon_bpf_text, 0, (const char **)flags, n,
						 true, NULL);
	while (n > 0)
		free(flags[--n]);
	if (!c->mod) {
		const char *src = getenv("BCC_KERNEL_SOURCE");

		/* kheaders.c chose the tree; say which, libbcc's own error is above. */
		snprintf(err, errlen, "libbcc could not compile the BPF program against the kernel "
			 "headers in %s (see `jcode-watcher check`; KERNEL_HEADERS picks others)",
			 src ? src : "/lib/modules/$(uname -r)/build");
		return -ENOEXEC;
	}
	return 0;
}

struct collector *collector_open(struct loop *loop, const struct collector_config *cfg,
				 collector_record_fn *on_record, void *arg,
				 char *err, size_t errlen)
{
	static bool possible[MAX_CPUS];
	struct collector *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->poll_timer = -1;
	c->stats_fd = -1;
	c->on_record = on_record;
	c->arg = arg;
	c->probes[0] = (struct probe){ "sched", "sched_process_exec",
		"tracepoint__sched__sched_process_exec", -1, -1 };
	c->probes[1] = (struct probe){ "sched", "sched_process_exit",
		"tracepoint__sched__sched_process_exit", -1, -1 };
	c->ncpus_possible = read_cpu_list("/sys/devices/system/cpu/possible", possible, MAX_CPUS);
	/* A per-CPU lookup writes one value per possible CPU, however many. */
	c->percpu = c->ncpus_possible > 0 ?
		calloc((size_t)c->ncpus_possible, sizeof(*c->percpu)) : NULL;
	if (!c->percpu) {
		snprintf(err, errlen, "cannot read /sys/devices/system/cpu/possible");
		goto fail;
	}
	if (compile(c, cfg, err, errlen) < 0)
		goto fail;
	c->stats_fd = bpf_table_fd(c->mod, "stats");
	/* Buffers first: an exit must never find nobody listening. */
	if (open_buffers(c, cfg->perf_pages, err, errlen) < 0)
		goto fail;
	c->poll_timer = loop_add_timer(loop, POLL_MS, poll_buffers, c);
	for (int i = 0; i < 2; i++)
		if (load_probe(c, &c->probes[i], err, errlen) < 0)
			goto fail;
	return c;
fail:
	collector_close(c);
	return NULL;
}

int collector_read_stats(struct collector *c, unsigned long long out[PROCMON_STAT__COUNT])
{
	if (c->stats_fd < 0)
		return -EBADF;
	for (int k = 0; k < PROCMON_STAT__COUNT; k++) {
		out[k] = 0;
		if (bpf_lookup_elem(c->stats_fd, &k, c->percpu) < 0)
			return -errno;
		for (int cpu = 0; cpu < c->ncpus_possible; cpu++)
			out[k] += c->percpu[cpu];
	}
	return 0;
}

/* Kernel counter -> metric.  tracked - emitted - stale - (processes alive)
 * is what the LRU evicted or a second exec replaced. */
static const enum metric stat_metrics[PROCMON_STAT__COUNT] = {
	[PROCMON_STAT_EXEC_SEEN] = M_BPF_EXECS,
	[PROCMON_STAT_EXEC_TRACKED] = M_BPF_TRACKED,
	[PROCMON_STAT_MAP_FULL] = M_BPF_MAP_FULL,
	[PROCMON_STAT_EXIT_EMITTED] = M_BPF_EMITTED,
	[PROCMON_STAT_EXIT_STALE] = M_BPF_STALE,
	[PROCMON_STAT_EXEC_OTHER_HOST] = M_BPF_EXEC_FILTERED,
};

int collector_export_stats(struct collector *c)
{
	unsigned long long st[PROCMON_STAT__COUNT];

	if (collector_read_stats(c, st) < 0)
		return -EIO;
	/* The kernel's counts are absolute: the series mirror them. */
	for (int k = 0; k < PROCMON_STAT__COUNT; k++)
		metrics_set(stat_metrics[k], 0, 0, (double)st[k]);
	return 0;
}

bool collector_uses_btf(const struct collector *c)
{
	return c->uses_btf;
}

void collector_close(struct collector *c)
{
	if (!c)
		return;
	for (int i = 0; i < 2; i++) {
		if (c->probes[i].perf_fd >= 0)
			close(c->probes[i].perf_fd);
		if (c->probes[i].prog_fd >= 0)
			close(c->probes[i].prog_fd);
	}
	if (c->poll_timer >= 0)
		loop_del_timer(c->loop, c->poll_timer);
	/* Detached: nothing new arrives, so one last read drains the rings. */
	for (int i = 0; i < c->nreaders; i++) {
		perf_reader_event_read(c->readers[i]);
		loop_del_fd(c->loop, perf_reader_fd(c->readers[i]));
		perf_reader_free(c->readers[i]);
	}
	if (c->mod)
		bpf_module_destroy(c->mod);
	free(c->percpu);
	free(c);
}
