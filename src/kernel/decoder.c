/*
 * decoder.c - see decoder.h.
 */
#define _GNU_SOURCE
#include "decoder.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long long decoder_clock_offset(void)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &rt);
	return ((long long)rt.tv_sec - mono.tv_sec) * 1000000000LL + (rt.tv_nsec - mono.tv_nsec);
}

void process_free(struct process *p)
{
	if (!p)
		return;
	free(p->exe);
	free(p->cwd);
	if (p->argv)
		free(p->argv[0]);   /* the one block holding every string */
	free(p->argv);
	memset(p, 0, sizeof(*p));
}

/*
 * argv keeps one allocation for all strings (argv[0] points at its start)
 * plus the pointer array.  An argument cut by truncation has no closing NUL
 * in the record; it is kept, the flag says it is cut.
 */
int decoder_split_args(const char *args, size_t len, struct process *out)
{
	char *buf = malloc(len + 1);
	int argc = 0;
	size_t i;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, args, len);
	buf[len] = '\0';
	for (i = 0; i < len; i++)
		if (buf[i] == '\0')
			argc++;
	if (len > 0 && buf[len - 1] != '\0')
		argc++;
	out->argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!out->argv) {
		free(buf);
		return -ENOMEM;
	}
	out->argc = argc;
	for (int k = 0, start = 0; k < argc; k++) {
		out->argv[k] = buf + start;
		start += (int)strlen(buf + start) + 1;
	}
	if (argc == 0)
		free(buf);
	return 0;
}

/* a + b, held at the ends of the range instead of overflowing: the kernel
 * fields are checked, but the clock offset is whatever CLOCK_REALTIME was
 * set to. */
static long long add_sat(long long a, long long b)
{
	long long sum;

	if (!__builtin_add_overflow(a, b, &sum))
		return sum;
	return b > 0 ? LLONG_MAX : LLONG_MIN;
}

static void decode_status(unsigned int code, struct process *p)
{
	/* task->exit_code: the wait(2) status word. */
	p->signal = code & 0x7f;
	p->core_dumped = (code & 0x80) != 0;
	p->exit_status = (code >> 8) & 0xff;
	p->exit_code = p->signal ? 128 + p->signal : p->exit_status;
}

int decoder_kind(const void *raw, size_t size)
{
	struct procmon_head h;

	if (!raw || size < sizeof(h))
		return -EINVAL;
	memcpy(&h, raw, sizeof(h));
	return (int)h.kind;
}

/* A string of the record's data: size bytes, the last its NUL. */
static bool packed_string(const char *at, unsigned int size)
{
	return size >= 1 && size <= PROCMON_PATH_LEN && at[size - 1] == '\0';
}

int decoder_decode_exec(const void *raw, size_t size, struct process *out)
{
	const size_t head = offsetof(struct procmon_exec, data);
	struct procmon_exec ev;  /* aligned copy of the fixed part */
	const char *data = (const char *)raw + head;

	memset(out, 0, sizeof(*out));
	if (!raw || size < head)
		return -EINVAL;
	memcpy(&ev, raw, head);
	/* The sizes are 16 and 32 bits: their sum cannot wrap a size_t, so
	 * the strings are checked only once the record is known to hold them. */
	if (ev.head.kind != PROCMON_EXEC || ev.args_size > PROCMON_ARGS_LEN ||
	    head + ev.exe_size + ev.cwd_size + ev.args_size > size)
		return -EINVAL;
	if (!packed_string(data, ev.exe_size) || !packed_string(data + ev.exe_size, ev.cwd_size))
		return -EINVAL;
	if (strnlen(ev.hostname, sizeof(ev.hostname)) == sizeof(ev.hostname))
		return -EINVAL;
	/* CLOCK_MONOTONIC ns past LLONG_MAX is 292 years of uptime: not a time
	 * the kernel wrote, and it would not fit the signed arithmetic later. */
	if (ev.exec_ns > (__u64)LLONG_MAX)
		return -EINVAL;

	out->pid = ev.head.tgid;
	out->start_time = ev.head.start_time;
	out->ppid = ev.ppid;
	out->uid = ev.uid;
	out->flags = ev.flags;
	out->exec_ns = (long long)ev.exec_ns;
	memcpy(out->hostname, ev.hostname, sizeof(out->hostname));
	out->exe = strdup(data);
	out->cwd = strdup(data + ev.exe_size);
	if (!out->exe || !out->cwd ||
	    decoder_split_args(data + ev.exe_size + ev.cwd_size, ev.args_size, out) < 0) {
		process_free(out);
		return -ENOMEM;
	}
	return 0;
}

int decoder_decode_exit(const void *raw, size_t size, struct proc_exit *out)
{
	struct procmon_exit ev;

	memset(out, 0, sizeof(*out));
	/* The perf buffer pads a sample to 8 bytes with its size word: up to
	 * 7 bytes more than was written.  Any more is not an exit record. */
	if (!raw || size < sizeof(ev) || size > sizeof(ev) + 7)
		return -EINVAL;
	memcpy(&ev, raw, sizeof(ev));
	if (ev.head.kind != PROCMON_EXIT || ev.exit_ns > (__u64)LLONG_MAX)
		return -EINVAL;
	out->tgid = ev.head.tgid;
	out->start_time = ev.head.start_time;
	out->exit_ns = (long long)ev.exit_ns;
	out->exit_code = ev.exit_code;
	out->usage = (struct proc_usage){
		.cpu_ns = ev.usage.cpu_ns, .utime_ns = ev.usage.utime_ns,
		.stime_ns = ev.usage.stime_ns, .max_rss_kb = ev.usage.max_rss_kb,
		.min_flt = ev.usage.min_flt, .maj_flt = ev.usage.maj_flt,
		.read_bytes = ev.usage.read_bytes, .write_bytes = ev.usage.write_bytes,
		.ctx_switches = ev.usage.ctx_switches, .threads = ev.usage.threads,
		.children = ev.usage.children,
	};
	return 0;
}

int decoder_decode_output(const void *raw, size_t size, struct proc_output *out)
{
	const size_t head = offsetof(struct procmon_output, data);
	struct procmon_output ev;	/* aligned copy of the fixed part */

	memset(out, 0, sizeof(*out));
	if (!raw || size < head)
		return -EINVAL;
	memcpy(&ev, raw, head);
	/* The same padding rule as an exit record: the kernel submits
	 * head + size bytes, the perf buffer may round that up by 7. */
	if (ev.head.kind != PROCMON_OUTPUT || ev.size > PROCMON_OUTPUT_LEN ||
	    head + ev.size > size || size > head + ev.size + 7)
		return -EINVAL;
	out->tgid = ev.head.tgid;
	out->start_time = ev.head.start_time;
	out->writer_tgid = ev.writer_tgid;
	out->flags = ev.flags;
	out->size = ev.size;
	out->data = (const char *)raw + head;
	return 0;
}

void decoder_apply_exit(struct process *p, const struct proc_exit *e, long long clock_offset_ns)
{
	p->exit_ns = e->exit_ns;
	p->exit_wall_ns = add_sat(e->exit_ns, clock_offset_ns);
	decode_status(e->exit_code, p);
	p->usage = e->usage;
}
