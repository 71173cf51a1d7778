/*
 * e2e_loader.c - the BPF loader child failing for real: a BPF text that does
 * not compile (through the test-only JCW_TEST_BPF_TEXT) and one the kernel's
 * verifier refuses.  Either way the agent says why, with the compiler's or
 * the verifier's own words, and exits 1 at once instead of hanging.  And
 * JCW_LOADER_EXE, the benchmarks' way to name the image the loader child
 * re-executes (valgrind refuses to exec /proc/self/exe), is really used.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "support.h"
#include "testlib.h"

static const char *bin;

/* Run the agent with BPF text `text`; its exit status, output in out. */
static int run_with_text(const char *text, char *out, size_t outlen)
{
	char path[] = "/tmp/jcw-bad-bpf-XXXXXX", env[96];
	int fd = mkstemp(path), status;

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	close(fd);
	snprintf(env, sizeof(env), "JCW_TEST_BPF_TEXT=%s METRICS_PORT=0", path);
	/* A loader that hung would hang us: the timeout makes that status 124. */
	status = agent_run_capture(bin, env, NULL, 60, out, outlen);
	unlink(path);
	return status;
}

static void test_does_not_compile(void)
{
	static char out[65536];

	CHECK_INT(run_with_text("int broken( { return ; }\n", out, sizeof(out)), 1);
	CHECK(strstr(out, "test only: BPF text from JCW_TEST_BPF_TEXT=") != NULL);
	CHECK(strstr(out, "ERROR procmon: libbcc could not compile the BPF program") != NULL);
	/* clang's own words, on the agent's one error line. */
	CHECK(strstr(out, "; compiler: ") != NULL);
	CHECK(strstr(out, "error: expected") != NULL);
	if (tl_failures)
		fputs(out, stderr);
}

/* Compiles, but the verifier refuses to load it: an unbounded read. */
static void test_verifier_refuses(void)
{
	static char out[65536];
	const char *text =
		"TRACEPOINT_PROBE(sched, sched_process_exec)\n"
		"{\n"
		"\tchar *p = (char *)(long)bpf_get_current_pid_tgid();\n"
		"\treturn *p;\n"
		"}\n"
		"TRACEPOINT_PROBE(sched, sched_process_exit) { return 0; }\n"
		"BPF_PERCPU_ARRAY(stats, u64, 8);\n"
		"BPF_PERF_OUTPUT(events);\n";

	CHECK_INT(run_with_text(text, out, sizeof(out)), 1);
	CHECK(strstr(out, "ERROR procmon: loading tracepoint__sched__sched_process_exec failed") !=
	      NULL);
	CHECK(strstr(out, "verifier: ") != NULL);
	if (tl_failures)
		fputs(out, stderr);
}

/* A loader image that cannot be executed: the child's exec fails (status
 * 127) and the agent says so and exits 1.  Had the variable been ignored,
 * /proc/self/exe would load the probes and the agent would run on. */
static void test_loader_exe_is_used(void)
{
	static char out[65536];

	CHECK_INT(agent_run_capture(bin, "JCW_LOADER_EXE=/nonexistent/jcode-watcher METRICS_PORT=0",
				    NULL, 20, out, sizeof(out)), 1);
	CHECK(strstr(out, "test only: the BPF loader runs /nonexistent/jcode-watcher") != NULL);
	CHECK(strstr(out, "ERROR procmon: ") != NULL);
	CHECK(strstr(out, "status 127") != NULL);
	if (tl_failures)
		fputs(out, stderr);
}

/*
 * A kernel without BTF: the struct offsets come from the kernel headers,
 * which the BPF text then parses (with BTF it skips them, to start
 * faster).  The text must still compile, load and attach every probe.
 * The headers here may be another release's, so the records themselves
 * are not checked: only that the fallback path builds.
 */
static void test_header_offsets_without_btf(void)
{
	char log[] = "/tmp/jcw-nobtf-XXXXXX", port_env[32], *out;
	char *env[] = { port_env, "JCW_TEST_BTF_PATH=/nonexistent/vmlinux", NULL };
	int port = free_port(), fd = mkstemp(log);
	pid_t pid;

	CHECK(fd >= 0);
	snprintf(port_env, sizeof(port_env), "METRICS_PORT=%d", port);
	pid = agent_spawn(bin, env, NULL, log);
	CHECK_INT(agent_wait_ready(pid, port, 120000, log), 0);
	CHECK(agent_metric(port, "bpf_probes_attached{service=\"procmon\"}") == 7);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	out = support_slurp(log);
	CHECK(out && strstr(out, "cannot load BTF from /nonexistent/vmlinux") != NULL);
	CHECK(out && strstr(out, "offsets from kernel headers") != NULL);
	if (tl_failures && out)
		fputs(out, stderr);
	close(fd);
	unlink(log);
}

int main(int argc, char **argv)
{
	int skip = e2e_require_kernel();

	if (skip)
		return skip;
	if (argc < 2) {
		fprintf(stderr, "usage: %s path/to/jcode-watcher\n", argv[0]);
		return 2;
	}
	bin = argv[1];
	RUN(test_does_not_compile);
	RUN(test_verifier_refuses);
	RUN(test_loader_exe_is_used);
	RUN(test_header_offsets_without_btf);
	return TEST_DONE();
}
