/*
 * bpf_loader.h - compile, load and attach the BPF program in a short-lived
 * child, and take the result back as file descriptors.
 *
 * Why a child: libbcc brings LLVM and clang.  Merely linking it costs a
 * process 66 MB, and one compile leaves 160 MB behind.  The agent never
 * maps it: a forked child re-executes the agent binary as the loader,
 * which dlopen()s libbcc, compiles the BPF text, loads
 * the programs, creates the maps and attaches the tracepoints, then passes
 * the ring (or perf) buffer map, the stats map and the two attachments
 * over a Unix socket (SCM_RIGHTS) and exits, taking LLVM's memory with it.
 * An attachment lives as long as any process holds its fd, so the probes
 * stay attached to the agent.
 */
#ifndef JCW_BPF_LOADER_H
#define JCW_BPF_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct bpf_loader_config {
	const char *host_prefix;	/* only hostnames starting with this are reported */
	const char *btf_path;		/* NULL: the running kernel's BTF */
	bool ringbuf;			/* BPF_RINGBUF_OUTPUT, else the perf buffer */
	long long ringbuf_bytes;	/* power of two, a multiple of the page size */
	int max_processes;		/* student processes noted in the kernel at once */
	unsigned capture;		/* CAPTURE_* (config.h): whose stderr; 0 = no write probe */
	long long capture_budget;	/* bytes of stderr one capture root may send (0: 64 KiB) */
	const char *bpf_text;		/* NULL: the text built into the agent */
	int timeout_ms;			/* for the child's answer (compiling takes 0.5-2 s) */
	/* Re-exec this binary as the loader (`BPF_LOADER_ARG`): the agent
	 * has threads by then, and a lock one of them held at fork() would
	 * hang a child that went on to dlopen() and malloc().  NULL: load in
	 * the forked child itself (single-threaded tests). */
	const char *exe;
};

/* argv[1] of the re-executed loader; main() hands it to bpf_loader_main(). */
#define BPF_LOADER_ARG "__bpf-loader"

/* The loader process's main: arguments as bpf_loader_run() writes them.
 * The BPF text comes from JCW_TEST_BPF_TEXT (a file) when set. */
int bpf_loader_main(int argc, char **argv);

/* The probes; the write ones only when something is captured. */
enum {
	BPF_ATTACH_EXEC, BPF_ATTACH_EXIT, BPF_ATTACH_FORK,
	BPF_ATTACH_WRITE, BPF_ATTACH_WRITE_EXIT, BPF_ATTACH_WRITEV, BPF_ATTACH_WRITEV_EXIT,
	BPF_ATTACH__COUNT
};

struct bpf_handles {
	int events_fd;			/* BPF_MAP_TYPE_RINGBUF or PERF_EVENT_ARRAY */
	int stats_fd;			/* per-CPU array of enum procmon_stat */
	int attach_fd[BPF_ATTACH__COUNT];	/* closing one detaches its probe; -1: not attached */
	int attached;			/* how many of them are */
	bool ringbuf;
	bool uses_btf;			/* struct offsets from BTF, not the headers */
};

/* Build the HOST_PREFIX_MATCH(h) definition for prefix into buf: the test
 * spelled out byte by byte, so no string constant lands in .rodata.
 * 0, or -EINVAL (empty, longer than 32, or buf too small). */
int bpf_loader_prefix_flag(const char *prefix, char *buf, size_t len);

/* Build the CAPTURE_NAME_MATCH(s) definition for the CAPTURE_BUILD and
 * CAPTURE_PYTHON bits of capture: a test of a NUL-terminated name against
 * the compiler names (gcc, g++, cc, c++, clang, clang++, each also with a
 * "-VERSION" suffix) and python3*, spelled out byte by byte.  0, or
 * -EINVAL when buf is too small. */
int bpf_loader_capture_flag(unsigned capture, char *buf, size_t len);

/*
 * Run the loader child.  0 with every fd in out, or a negative errno with
 * a one-line reason in err: the compiler's or the verifier's message, or
 * how the child died ("BPF loader (pid 123) was killed by SIGSEGV").
 */
int bpf_loader_run(const struct bpf_loader_config *cfg, struct bpf_handles *out,
		   char *err, size_t errlen);

/* Close what bpf_loader_run() handed over: detaches the probes. */
void bpf_handles_close(struct bpf_handles *h);

/*
 * The mechanism underneath, for tests: fork, run child(arg, sock) in the
 * child (it sends one reply and up to maxfds fds with fdpass_send(), then
 * returns its exit status), and wait for the reply.  Returns the number of
 * fds received, or a negative errno with why in err (timeout, a crash, an
 * exit without an answer).  The reply is a struct bpf_loader_reply.
 */
struct bpf_loader_reply {
	int status;			/* 0, or the negative errno of the failure */
	bool ringbuf;
	bool uses_btf;
	unsigned attached;		/* bit i: probe i attached, its fd sent in order */
	char error[2048];		/* the reason, when status < 0 */
};

typedef int bpf_loader_child_fn(void *arg, int sock);

int bpf_loader_spawn(bpf_loader_child_fn *child, void *arg, int timeout_ms,
		     struct bpf_loader_reply *reply, int *fds, int maxfds,
		     char *err, size_t errlen);

#endif
