/*
 * test_collector.c - what the collector feeds libbcc: struct offsets read
 * from the running kernel's BTF, and the hostname-prefix test.  Attaching
 * the probes is covered by the kernel end-to-end tests.
 */
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf_loader.h"
#include "btf_offsets.h"
#include "collector.h"
#include "config.h"
#include "loop.h"
#include "testlib.h"

static void test_prefix_flag(void)
{
	char buf[1024];

	CHECK_INT(bpf_loader_prefix_flag("jc-", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "-DHOST_PREFIX_MATCH(h)=(1&&(h)[0]==106&&(h)[1]==99&&(h)[2]==45)");
	/* Bytes are spelled as numbers: nothing the user types reaches the C
	 * text as characters. */
	CHECK_INT(bpf_loader_prefix_flag("a\"b", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "-DHOST_PREFIX_MATCH(h)=(1&&(h)[0]==97&&(h)[1]==34&&(h)[2]==98)");
	CHECK_INT(bpf_loader_prefix_flag("", buf, sizeof(buf)), -EINVAL);
	CHECK_INT(bpf_loader_prefix_flag("0123456789012345678901234567890123", buf, sizeof(buf)), -EINVAL);
	CHECK_INT(bpf_loader_prefix_flag("jcode-", buf, 20), -EINVAL);
}

/* CAPTURE's names as the BPF text tests them: exact, or a prefix for
 * "name*"; nothing at all when neither build nor python is asked for. */
static void test_capture_flag(void)
{
	char buf[4096];

	CHECK_INT(bpf_loader_capture_flag(CAPTURE_PYTHON, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "-DCAPTURE_NAME_MATCH(s)=(0||(1&&(s)[0]==112&&(s)[1]==121&&(s)[2]==116"
		  "&&(s)[3]==104&&(s)[4]==111&&(s)[5]==110&&(s)[6]==51))");
	CHECK_INT(bpf_loader_capture_flag(CAPTURE_BINARY, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "-DCAPTURE_NAME_MATCH(s)=(0)");
	CHECK_INT(bpf_loader_capture_flag(CAPTURE_BUILD, buf, sizeof(buf)), 0);
	/* "gcc" exactly, then "gcc-" and anything; "cc" is not "cc1" */
	{
		static const char gcc[] = "-DCAPTURE_NAME_MATCH(s)=(0||(1&&(s)[0]==103&&(s)[1]==99"
					  "&&(s)[2]==99&&(s)[3]==0)||(1&&(s)[0]==103&&(s)[1]==99"
					  "&&(s)[2]==99&&(s)[3]==45)||";

		CHECK(strncmp(buf, gcc, sizeof(gcc) - 1) == 0);
	}
	CHECK(strstr(buf, "||(1&&(s)[0]==99&&(s)[1]==99&&(s)[2]==0)||") != NULL);
	CHECK(strstr(buf, "112") == NULL);	/* no python */
	CHECK_INT(bpf_loader_capture_flag(CAPTURE_BUILD | CAPTURE_PYTHON, buf, 200), -EINVAL);
}

extern const char procmon_bpf_text[];

/* One MAX_PROCESSES default: the BPF text's fallback is the config's. */
static void test_max_processes_default(void)
{
	char *argv[] = { "jcode-watcher", NULL }, err[256], want[64];
	struct config c;

	unsetenv("MAX_PROCESSES");
	unsetenv("JCW_CONFIG");
	CHECK_INT(config_load(&c, 1, argv, err, sizeof(err)), 0);
	CHECK_INT(c.max_processes, 65536);
	snprintf(want, sizeof(want), "#ifndef MAX_PROCESSES\n#define MAX_PROCESSES %d\n",
		 c.max_processes);
	CHECK(strstr(procmon_bpf_text, want) != NULL);
	config_free(&c);
}

static void test_stable_offsets(void)
{
	/* Layouts that have not changed in a decade. */
	CHECK_INT(btf_offset(NULL, "list_head", "next"), 0);
	CHECK_INT(btf_offset(NULL, "list_head", "prev"), 8);
	CHECK_INT(btf_offset(NULL, "path", "mnt"), 0);
	CHECK_INT(btf_offset(NULL, "path", "dentry"), 8);
	/* qstr.len sits in an anonymous struct inside an anonymous union. */
	CHECK_INT(btf_offset(NULL, "qstr", "len"), 4);
	CHECK_INT(btf_offset(NULL, "qstr", "name"), 8);
	CHECK_INT(btf_offset(NULL, "new_utsname", "nodename"), 65);
	/* No member: the type's size, an array's stride (struct pid's
	 * numbers[]: { int nr; struct pid_namespace *ns; } since 4.15). */
	CHECK_INT(btf_offset(NULL, "upid", NULL), 16);
	CHECK_INT(btf_offset(NULL, "upid", "ns"), 8);
	CHECK_INT(btf_offset(NULL, "no_such_struct_jcw", NULL), -ENOENT);
}

static void test_nested_offsets(void)
{
	long d_name = btf_offset(NULL, "dentry", "d_name");
	long name = btf_offset(NULL, "dentry", "d_name.name");
	long uts = btf_offset(NULL, "uts_namespace", "name");

	CHECK(d_name > 0);
	CHECK_INT(name, d_name + 8);
	CHECK_INT(btf_offset(NULL, "uts_namespace", "name.nodename"), uts + 65);
	/* mm_struct keeps its fields in an anonymous struct. */
	CHECK(btf_offset(NULL, "mm_struct", "arg_end") ==
	      btf_offset(NULL, "mm_struct", "arg_start") + 8);
	CHECK_INT(btf_offset(NULL, "task_struct", "no_such_field"), -ENOENT);
	CHECK_INT(btf_offset(NULL, "no_such_struct", "x"), -ENOENT);
	CHECK_INT(btf_offset(NULL, "dentry", "d_name.nope"), -ENOENT);
}

static void test_cflags(void)
{
	char *flags[64], err[256];
	int n = btf_offsets_cflags(NULL, flags, 64, err, sizeof(err)), count = 0;

	while (btf_fields[count].macro)
		count++;
	CHECK_INT(n, count);
	for (int i = 0; i < n; i++) {
		char want[96];
		long off = btf_offset(NULL, btf_fields[i].type, btf_fields[i].member);

		snprintf(want, sizeof(want), "-D%s=%ld", btf_fields[i].macro, off);
		CHECK_STR(flags[i], want);
		CHECK(off >= 0);
		free(flags[i]);
	}
	CHECK_INT(btf_offsets_cflags("/nonexistent/vmlinux", flags, 64, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "/nonexistent/vmlinux") != NULL);
	/* Too small an array is an error, not an overflow. */
	CHECK_INT(btf_offsets_cflags(NULL, flags, 3, err, sizeof(err)), -ENOENT);
}

static void ignore_record(void *arg, const void *data, size_t size)
{
}

/* A compile failure names the header tree the search chose (kheaders.c). */
static void test_compile_error_names_headers(void)
{
	char dir[] = "/tmp/test_collector.XXXXXX", err[1024], want[1024];
	struct collector_config cfg = {
		.host_prefix = "jcode-", .ringbuf = collector_ringbuf_supported(),
		.ringbuf_bytes = 1 << 20, .perf_pages = 8, .max_processes = 64,
	};
	struct loop *loop = loop_create();
	struct collector *c;

	CHECK(loop != NULL);
	CHECK(mkdtemp(dir) != NULL);
	setenv("BCC_KERNEL_SOURCE", dir, 1);	/* no headers in it */
	c = collector_open(loop, &cfg, ignore_record, NULL, err, sizeof(err));
	unsetenv("BCC_KERNEL_SOURCE");
	CHECK(c == NULL);
	snprintf(want, sizeof(want),
		 "libbcc could not compile the BPF program against the kernel headers in %s (see `jcode-watcher check`; KERNEL_HEADERS picks others)",
		 dir);
	/* The loader child's words, then what the compiler printed. */
	CHECK(strncmp(err, want, strlen(want)) == 0);
	CHECK(strstr(err, "; compiler: ") != NULL);
	collector_close(c);
	loop_destroy(loop);
	rmdir(dir);
}

int main(void)
{
	const char *btf = "/sys/kernel/btf/vmlinux";

	RUN(test_prefix_flag);
	RUN(test_capture_flag);
	RUN(test_max_processes_default);
	/* The rest reads the running kernel's BTF: without it there is
	 * nothing to check against, which is a skip, not a failure. */
	if (access(btf, R_OK) != 0) {
		if (tl_failures)
			return TEST_DONE();
		fprintf(stderr, "SKIP: %s is not readable (%m): this kernel has no BTF, "
			"so the offset tests cannot run\n", btf);
		return 77;
	}
	RUN(test_stable_offsets);
	RUN(test_nested_offsets);
	RUN(test_cflags);
	RUN(test_compile_error_names_headers);
	return TEST_DONE();
}
