/*
 * test_decoder.c - the kernel's exec and exit records to struct process:
 * exact fields, and malformed records rejected rather than read past.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "decoder.h"
#include "exec_record.h"
#include "testlib.h"

/* An exec record and the exit record of the same process. */
struct rec {
	struct procmon_exec x;
	struct procmon_exit e;
};

static size_t make_record(struct rec *r, const char *args, size_t args_len,
			  unsigned int exit_code)
{
	memset(r, 0, sizeof(*r));
	r->x.head = (struct procmon_head){ .kind = PROCMON_EXEC, .tgid = 4242, .start_time = 77 };
	r->x.ppid = 4200;
	r->x.uid = 1000;
	r->x.exec_ns = 5000000000ULL;
	strcpy(r->x.hostname, "jcode-os-1-202012345");
	r->x.args_total = args_len;
	r->e.head = (struct procmon_head){ .kind = PROCMON_EXIT, .tgid = 4242, .start_time = 77 };
	r->e.exit_ns = 5012345678ULL;
	r->e.exit_code = exit_code;
	return exec_record_pack(&r->x, "/usr/bin/x86_64-linux-gnu-gcc-12", "/home/coder/project/hw1",
				args, args_len);
}

/* Both records, as the pipeline joins them. */
static int decode(const void *exec, size_t size, const struct procmon_exit *exit_rec,
		  long long clock_offset, struct process *p)
{
	struct proc_exit e;
	int rc = decoder_decode_exec(exec, size, p);

	if (rc < 0)
		return rc;
	rc = decoder_decode_exit(exit_rec, sizeof(*exit_rec), &e);
	if (rc < 0) {
		process_free(p);
		return rc;
	}
	decoder_apply_exit(p, &e, clock_offset);
	return 0;
}

static void test_fields(void)
{
	static struct rec ev;
	size_t size = make_record(&ev, "gcc\0main.c\0-o\0a.out\0", 20, 0x0300);
	struct process p;

	CHECK_INT(decode(&ev.x, size, &ev.e, 1000, &p), 0);
	CHECK_INT(p.pid, 4242);
	CHECK_INT(p.ppid, 4200);
	CHECK_INT(p.uid, 1000);
	CHECK_INT(p.exit_status, 3);
	CHECK_INT(p.signal, 0);
	CHECK_INT(p.exit_code, 3);
	CHECK(!p.core_dumped);
	CHECK_INT(p.exec_ns, 5000000000LL);
	CHECK_INT(p.exit_ns, 5012345678LL);
	CHECK_INT(p.exit_wall_ns, 5012346678LL);
	CHECK_STR(p.hostname, "jcode-os-1-202012345");
	CHECK_STR(p.exe, "/usr/bin/x86_64-linux-gnu-gcc-12");
	CHECK_STR(p.cwd, "/home/coder/project/hw1");
	CHECK_INT(p.argc, 4);
	CHECK_STR(p.argv[0], "gcc");
	CHECK_STR(p.argv[1], "main.c");
	CHECK_STR(p.argv[3], "a.out");
	CHECK(p.argv[4] == NULL);
	process_free(&p);
	CHECK(p.argv == NULL && p.exe == NULL);
}

static void test_signals(void)
{
	static struct rec ev;
	size_t size = make_record(&ev, "./seg\0", 6, 11);
	struct process p;

	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_INT(p.signal, 11);
	CHECK_INT(p.exit_code, 139);
	CHECK(!p.core_dumped);
	process_free(&p);

	/* SIGABRT with a core dump: 6 | 0x80. */
	size = make_record(&ev, "./abort\0", 8, 0x86);
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_INT(p.signal, 6);
	CHECK_INT(p.exit_code, 134);
	CHECK(p.core_dumped);
	process_free(&p);

	/* exit(255) */
	size = make_record(&ev, "x\0", 2, 0xff00);
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_INT(p.exit_code, 255);
	CHECK_INT(p.signal, 0);
	process_free(&p);
}

static void test_args_shapes(void)
{
	static struct rec ev;
	struct process p;
	size_t size;

	/* Empty argument in the middle, and a truncated last one (no NUL). */
	size = make_record(&ev, "prog\0\0last-cut", 15, 0);
	ev.x.flags = PROCMON_F_ARGS_TRUNCATED;
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_INT(p.argc, 3);
	CHECK_STR(p.argv[0], "prog");
	CHECK_STR(p.argv[1], "");
	CHECK_STR(p.argv[2], "last-cut");
	CHECK_INT(p.flags, PROCMON_F_ARGS_TRUNCATED);
	process_free(&p);

	/* No argv at all (a fault reading it). */
	size = make_record(&ev, "", 0, 0);
	ev.x.flags = PROCMON_F_ARGS_FAULT;
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_INT(p.argc, 0);
	CHECK(p.argv != NULL && p.argv[0] == NULL);
	process_free(&p);

	/* Bytes that are not UTF-8 pass through untouched (sanitised later). */
	size = make_record(&ev, "a\xff\xfe\0", 4, 0);
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_STR(p.argv[0], "a\xff\xfe");
	process_free(&p);
}

static void test_malformed(void)
{
	static struct rec ev;
	size_t size = make_record(&ev, "gcc\0", 4, 0);
	struct process p;

	CHECK_INT(decode(NULL, size, &ev.e, 0, &p), -EINVAL);
	CHECK_INT(decode(&ev.x, 10, &ev.e, 0, &p), -EINVAL);
	/* Claims more argv than the record holds. */
	CHECK_INT(decode(&ev.x, size - 1, &ev.e, 0, &p), -EINVAL);
	ev.x.args_size = PROCMON_ARGS_LEN + 1;
	CHECK_INT(decode(&ev.x, sizeof(ev.x), &ev.e, 0, &p), -EINVAL);
	/* Hostname without its NUL. */
	make_record(&ev, "gcc\0", 4, 0);
	memset(ev.x.hostname, 'h', sizeof(ev.x.hostname));
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), -EINVAL);
	CHECK(p.exe == NULL && p.argv == NULL);
	CHECK(p.exe == NULL && p.argv == NULL);
}

/*
 * exe, cwd and argv packed one after the other: each size is checked
 * against the record and its field before anything is read, and each
 * string must end in its NUL where its size says.
 */
static void test_packed_sizes(void)
{
	static struct rec ev;
	size_t size = make_record(&ev, "gcc\0", 4, 0);
	const size_t exe = sizeof("/usr/bin/x86_64-linux-gnu-gcc-12");
	const size_t cwd = sizeof("/home/coder/project/hw1");
	struct process p;

	CHECK_INT(size, offsetof(struct procmon_exec, data) + exe + cwd + 4);
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_STR(p.exe, "/usr/bin/x86_64-linux-gnu-gcc-12");
	CHECK_STR(p.cwd, "/home/coder/project/hw1");
	CHECK_STR(p.argv[0], "gcc");
	process_free(&p);

	/* No exe (a kernel thread's mm had none): one NUL. */
	size = exec_record_pack(&ev.x, "", "/", "k\0", 2);
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_STR(p.exe, "");
	CHECK_STR(p.cwd, "/");
	CHECK_STR(p.argv[0], "k");
	process_free(&p);

	/* Sizes the record cannot hold, or a field could not. */
	size = make_record(&ev, "gcc\0", 4, 0);
	ev.x.exe_size = 0;
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), -EINVAL);
	ev.x.exe_size = PROCMON_PATH_LEN + 1;
	CHECK_INT(decode(&ev.x, sizeof(ev.x), &ev.e, 0, &p), -EINVAL);
	ev.x.exe_size = (__u16)exe;
	ev.x.cwd_size = PROCMON_PATH_LEN + 1;
	CHECK_INT(decode(&ev.x, sizeof(ev.x), &ev.e, 0, &p), -EINVAL);
	ev.x.cwd_size = (__u16)(cwd + 1);	/* one byte more than the record holds */
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), -EINVAL);
	CHECK(p.exe == NULL && p.cwd == NULL && p.argv == NULL);

	/* A string whose last byte is not its NUL: cut short by one, or the
	 * NUL overwritten. */
	size = make_record(&ev, "gcc\0", 4, 0);
	ev.x.exe_size = (__u16)(exe - 1);
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), -EINVAL);
	make_record(&ev, "gcc\0", 4, 0);
	ev.x.data[exe + cwd - 1] = 'x';
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), -EINVAL);

	/* The longest fields there are, and an empty argv. */
	memset(ev.x.data, 'e', PROCMON_PATH_LEN - 1);
	ev.x.data[PROCMON_PATH_LEN - 1] = '\0';
	memset(ev.x.data + PROCMON_PATH_LEN, 'c', PROCMON_PATH_LEN - 1);
	ev.x.data[2 * PROCMON_PATH_LEN - 1] = '\0';
	ev.x.exe_size = ev.x.cwd_size = PROCMON_PATH_LEN;
	ev.x.args_size = 0;
	size = offsetof(struct procmon_exec, data) + 2 * PROCMON_PATH_LEN;
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_INT(strlen(p.exe), PROCMON_PATH_LEN - 1);
	CHECK_INT(strlen(p.cwd), PROCMON_PATH_LEN - 1);
	CHECK_INT(p.cwd[0], 'c');
	CHECK_INT(p.argc, 0);
	process_free(&p);
	CHECK_INT(decode(&ev.x, size - 1, &ev.e, 0, &p), -EINVAL);
}

static void test_unaligned(void)
{
	static struct rec ev;
	size_t size = make_record(&ev, "gcc\0", 4, 0x100);
	char *buf = malloc(size + 1);
	struct process p;

	/* The ring hands out records at any alignment. */
	memcpy(buf + 1, &ev.x, size);
	CHECK_INT(decode(buf + 1, size, &ev.e, 0, &p), 0);
	CHECK_INT(p.exit_code, 1);
	CHECK_INT(p.pid, 4242);
	process_free(&p);
	free(buf);
}

/*
 * Times at the ends of the range (issue #8 item 6): exit time plus the clock
 * offset overflowed a long long, undefined behaviour, before the sum was
 * held at the end of the range; a kernel time past LLONG_MAX is no time the
 * kernel wrote and the record is refused as malformed.
 */
static void test_time_extremes(void)
{
	static struct rec ev;
	size_t size = make_record(&ev, "x\0", 2, 0);
	struct process p;

	ev.x.exec_ns = 0;
	ev.e.exit_ns = (unsigned long long)LLONG_MAX;
	CHECK_INT(decode(&ev.x, size, &ev.e, 1000000000000000000LL, &p), 0);
	CHECK_INT(p.exit_ns, LLONG_MAX);
	CHECK_INT(p.exit_wall_ns, LLONG_MAX);
	process_free(&p);

	CHECK_INT(decode(&ev.x, size, &ev.e, LLONG_MAX, &p), 0);
	CHECK_INT(p.exit_wall_ns, LLONG_MAX);
	process_free(&p);

	/* The far negative end does not overflow: exit time is never negative. */
	ev.e.exit_ns = 7;
	CHECK_INT(decode(&ev.x, size, &ev.e, LLONG_MIN, &p), 0);
	CHECK_INT(p.exit_wall_ns, LLONG_MIN + 7);
	process_free(&p);

	ev.e.exit_ns = ~0ULL;
	CHECK_INT(decode(&ev.x, size, &ev.e, 1000, &p), -EINVAL);
	CHECK(p.exe == NULL && p.argv == NULL);
	ev.e.exit_ns = (unsigned long long)LLONG_MAX + 1;
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), -EINVAL);
	ev.e.exit_ns = 5;
	ev.x.exec_ns = ~0ULL;
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), -EINVAL);
}

/* The kinds, the exit record's own checks, and records of one kind read
 * as the other. */
static void test_kinds_and_exit(void)
{
	static struct rec ev;
	size_t size = make_record(&ev, "gcc\0", 4, 0x8b);
	struct proc_exit e;
	struct process p;
	char odd[sizeof(ev.e) + 1], padded[sizeof(ev.e) + 8];

	CHECK_INT(decoder_kind(&ev.x, size), PROCMON_EXEC);
	CHECK_INT(decoder_kind(&ev.e, sizeof(ev.e)), PROCMON_EXIT);
	CHECK_INT(decoder_kind(&ev.e, sizeof(struct procmon_head) - 1), -EINVAL);
	CHECK_INT(decoder_kind(NULL, 100), -EINVAL);

	CHECK_INT(decoder_decode_exit(&ev.e, sizeof(ev.e), &e), 0);
	CHECK_INT(e.tgid, 4242);
	CHECK_INT(e.start_time, 77);
	CHECK_INT(e.exit_ns, 5012345678LL);
	CHECK_INT(e.exit_code, 0x8b);
	/* 112 bytes, or 116 as the perf buffer pads them (the e2e run on the perf
	 * buffer met this); shorter, or longer than padding, is not an exit
	 * record.  Unaligned is fine. */
	CHECK_INT(decoder_decode_exit(&ev.e, sizeof(ev.e) - 1, &e), -EINVAL);
	memcpy(odd + 1, &ev.e, sizeof(ev.e));
	CHECK_INT(decoder_decode_exit(odd + 1, sizeof(ev.e), &e), 0);
	CHECK_INT(e.tgid, 4242);
	CHECK_INT(decoder_decode_exit(&ev, sizeof(ev.e) + 4, &e), -EINVAL);	/* an exec's head */
	memset(padded, 0, sizeof(padded));
	memcpy(padded, &ev.e, sizeof(ev.e));
	CHECK_INT(decoder_decode_exit(padded, sizeof(ev.e) + 4, &e), 0);
	CHECK_INT(decoder_decode_exit(padded, sizeof(ev.e) + 8, &e), -EINVAL);
	/* One kind read as the other is refused. */
	CHECK_INT(decoder_decode_exit(&ev.x, sizeof(ev.e), &e), -EINVAL);
	CHECK_INT(decoder_decode_exec(&ev.e, sizeof(ev.e), &p), -EINVAL);
	ev.x.head.kind = PROCMON_EXIT;
	CHECK_INT(decoder_decode_exec(&ev.x, size, &p), -EINVAL);
	CHECK(p.exe == NULL && p.argv == NULL);
	/* The exec record alone: ids and start time, no end yet. */
	make_record(&ev, "gcc\0", 4, 0);
	CHECK_INT(decoder_decode_exec(&ev.x, size, &p), 0);
	CHECK_INT(p.pid, 4242);
	CHECK_INT(p.start_time, 77);
	CHECK_INT(p.exit_ns, 0);
	CHECK_INT(p.exit_code, 0);
	process_free(&p);
}

/* The usage rides in the exit record, every field to its own place. */
static void test_usage(void)
{
	static struct rec ev;
	size_t size = make_record(&ev, "./prog\0", 7, 0);
	struct process p;

	ev.e.usage = (struct procmon_usage){
		.cpu_ns = 301000000ULL, .utime_ns = 299000000ULL, .stime_ns = 2000000ULL,
		.max_rss_kb = 103424, .min_flt = 25700, .maj_flt = 3, .read_bytes = 832,
		.write_bytes = 10485760, .ctx_switches = 17, .threads = 4, .children = 5,
	};
	ev.e.usage.read_bytes = ~0ULL;	/* passed on as is: the payload clamps */
	CHECK_INT(decode(&ev.x, size, &ev.e, 0, &p), 0);
	CHECK_INT(p.usage.cpu_ns, 301000000ULL);
	CHECK_INT(p.usage.utime_ns, 299000000ULL);
	CHECK_INT(p.usage.stime_ns, 2000000ULL);
	CHECK_INT(p.usage.max_rss_kb, 103424);
	CHECK_INT(p.usage.min_flt, 25700);
	CHECK_INT(p.usage.maj_flt, 3);
	CHECK(p.usage.read_bytes == ~0ULL);
	CHECK_INT(p.usage.write_bytes, 10485760);
	CHECK_INT(p.usage.ctx_switches, 17);
	CHECK_INT(p.usage.threads, 4);
	CHECK_INT(p.usage.children, 5);
	process_free(&p);
	/* The exec alone has none yet. */
	CHECK_INT(decoder_decode_exec(&ev.x, size, &p), 0);
	CHECK_INT(p.usage.cpu_ns, 0);
	CHECK_INT(p.usage.threads, 0);
	process_free(&p);
}

/* Output records: data points into the record, exactly size bytes of it;
 * a record shorter than its size, a size past PROCMON_OUTPUT_LEN, more than
 * padding after it, or another kind is refused. */
static void test_output(void)
{
	static struct procmon_output o;
	static char odd[sizeof(o) + 9];
	const size_t head = offsetof(struct procmon_output, data);
	struct proc_output out;

	memset(&o, 0, sizeof(o));
	o.head = (struct procmon_head){ .kind = PROCMON_OUTPUT, .tgid = 90, .start_time = 900 };
	o.writer_tgid = 91;
	o.size = 5;
	o.flags = PROCMON_OUT_CUT | PROCMON_OUT_BUDGET;
	memcpy(o.data, "err\nX", 5);
	CHECK_INT(decoder_kind(&o, head + 5), PROCMON_OUTPUT);
	CHECK_INT(decoder_decode_output(&o, head + 5, &out), 0);
	CHECK_INT(out.tgid, 90);
	CHECK_INT(out.start_time, 900);
	CHECK_INT(out.writer_tgid, 91);
	CHECK_INT(out.flags, PROCMON_OUT_CUT | PROCMON_OUT_BUDGET);
	CHECK_INT(out.size, 5);
	CHECK(out.data == o.data && !memcmp(out.data, "err\nX", 5));
	/* padded by the perf buffer: up to 7 bytes */
	CHECK_INT(decoder_decode_output(&o, head + 5 + 7, &out), 0);
	CHECK_INT(out.size, 5);
	CHECK_INT(decoder_decode_output(&o, head + 5 + 8, &out), -EINVAL);
	/* truncated: the record ends before its size says */
	CHECK_INT(decoder_decode_output(&o, head + 4, &out), -EINVAL);
	CHECK(out.data == NULL && out.size == 0);
	CHECK_INT(decoder_decode_output(&o, head - 1, &out), -EINVAL);
	CHECK_INT(decoder_decode_output(NULL, head + 5, &out), -EINVAL);
	/* empty write: a record of its head only */
	o.size = 0;
	CHECK_INT(decoder_decode_output(&o, head, &out), 0);
	CHECK_INT(out.size, 0);
	/* oversize: more than the kernel ever keeps, even if the bytes are there */
	o.size = PROCMON_OUTPUT_LEN;
	CHECK_INT(decoder_decode_output(&o, sizeof(o), &out), 0);
	CHECK_INT(out.size, PROCMON_OUTPUT_LEN);
	o.size = PROCMON_OUTPUT_LEN + 1;
	CHECK_INT(decoder_decode_output(&o, sizeof(o), &out), -EINVAL);
	o.size = ~0u;	/* head + size must not wrap */
	CHECK_INT(decoder_decode_output(&o, sizeof(o), &out), -EINVAL);
	/* unaligned */
	o.size = 5;
	memcpy(odd + 1, &o, head + 5);
	CHECK_INT(decoder_decode_output(odd + 1, head + 5, &out), 0);
	CHECK_INT(out.writer_tgid, 91);
	CHECK(out.data == odd + 1 + head);
	/* another kind */
	o.head.kind = PROCMON_EXIT;
	CHECK_INT(decoder_decode_output(&o, head + 5, &out), -EINVAL);
}

static void test_clock_offset(void)
{
	long long off = decoder_clock_offset();

	/* Wall clock is well past 2020; monotonic starts near boot. */
	CHECK(off > 1577836800LL * 1000000000LL);
}

int main(void)
{
	RUN(test_fields);
	RUN(test_signals);
	RUN(test_args_shapes);
	RUN(test_malformed);
	RUN(test_packed_sizes);
	RUN(test_unaligned);
	RUN(test_time_extremes);
	RUN(test_kinds_and_exit);
	RUN(test_usage);
	RUN(test_output);
	RUN(test_clock_offset);
	return TEST_DONE();
}
