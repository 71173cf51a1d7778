/*
 * bpf_loader.c - see bpf_loader.h.
 *
 * The parent forks, waits for one reply on a SOCK_SEQPACKET socketpair,
 * then reaps the child.  The child resolves libbcc with dlopen()/dlsym()
 * (the agent binary does not link it), compiles, loads, attaches, sends,
 * and _exit()s without tearing anything down: its copies of the fds close
 * with it, the agent's keep the probes attached.
 */
#define _GNU_SOURCE
#include "bpf_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bcc/bcc_common.h>
#include <bcc/libbpf.h>
#include <linux/bpf.h>

#include "btf_offsets.h"
#include "config.h"
#include "fdpass.h"
#include "fsutil.h"
#include "log.h"
#include "procmon.h"

extern const char procmon_bpf_text[];

#define MOD "loader"
#define LIBBCC "libbcc.so.0"
#define MAX_CFLAGS 96
#define VERIFIER_LOG (1 << 20)

/* ---- the parent's side ---------------------------------------------- */

static void describe_status(int status, pid_t pid, char *err, size_t errlen)
{
	if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));

		snprintf(err, errlen, "BPF loader (pid %d) was killed by SIG%s before it answered",
			 (int)pid, abbrev ? abbrev : "?");
	} else {
		snprintf(err, errlen, "BPF loader (pid %d) exited with status %d without an answer",
			 (int)pid, WEXITSTATUS(status));
	}
}

/* The reply, or -ETIMEDOUT / -EPIPE when none came. */
static int await_reply(int sock, int timeout_ms, struct bpf_loader_reply *reply, int *fds,
		       int maxfds)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	int n;

	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return fdpass_recv(sock, reply, sizeof(*reply), fds, maxfds);
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

int bpf_loader_spawn(bpf_loader_child_fn *child, void *arg, int timeout_ms,
		     struct bpf_loader_reply *reply, int *fds, int maxfds,
		     char *err, size_t errlen)
{
	int sv[2], n, status = 0;
	pid_t pid;

	memset(reply, 0, sizeof(*reply));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		n = -errno;
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return n;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(child(arg, sv[1]) & 0xff);
	}
	close(sv[1]);
	n = await_reply(sv[0], timeout_ms, reply, fds, maxfds);
	close(sv[0]);
	if (n == -ETIMEDOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n == -ETIMEDOUT) {
		snprintf(err, errlen, "BPF loader (pid %d) gave no answer in %d ms; killed",
			 (int)pid, timeout_ms);
		return n;
	}
	if (n == -EPIPE) {
		describe_status(status, pid, err, errlen);
		return -ECHILD;
	}
	if (n < 0) {
		snprintf(err, errlen, "reading the BPF loader's answer: %s", strerror(-n));
		return n;
	}
	if (reply->status < 0) {
		reply->error[sizeof(reply->error) - 1] = '\0';
		snprintf(err, errlen, "%s", reply->error);
		close_fds(fds, n);
		return reply->status;
	}
	return n;
}

/* ---- the child's side ------------------------------------------------- */

/* libbcc's entry points, resolved at run time: the agent does not link it. */
struct bcc {
	__typeof__(bpf_module_create_c_from_string) *create;
	__typeof__(bpf_function_start) *function_start;
	__typeof__(bpf_function_size) *function_size;
	__typeof__(bpf_module_license) *license;
	__typeof__(bpf_module_kern_version) *kern_version;
	__typeof__(bcc_func_load) *func_load;
	__typeof__(bpf_attach_tracepoint) *attach_tracepoint;
	__typeof__(bpf_table_fd) *table_fd;
	__typeof__(bpf_module_destroy) *destroy;
};

static int resolve(struct bcc *b, char *err, size_t errlen)
{
	void *h = dlopen(LIBBCC, RTLD_NOW | RTLD_LOCAL);
	struct { const char *name; void **slot; } syms[] = {
		{ "bpf_module_create_c_from_string", (void **)&b->create },
		{ "bpf_function_start", (void **)&b->function_start },
		{ "bpf_function_size", (void **)&b->function_size },
		{ "bpf_module_license", (void **)&b->license },
		{ "bpf_module_kern_version", (void **)&b->kern_version },
		{ "bcc_func_load", (void **)&b->func_load },
		{ "bpf_attach_tracepoint", (void **)&b->attach_tracepoint },
		{ "bpf_table_fd", (void **)&b->table_fd },
		{ "bpf_module_destroy", (void **)&b->destroy },
	};

	if (!h) {
		snprintf(err, errlen, "cannot load " LIBBCC " (package libbpfcc): %s", dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			snprintf(err, errlen, LIBBCC " has no %s", syms[i].name);
			return -ENOENT;
		}
	}
	return 0;
}

int bpf_loader_prefix_flag(const char *prefix, char *buf, size_t len)
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

/* The names CAPTURE marks at exec; a trailing '*' is any rest. */
static const struct {
	unsigned capture;
	const char *pattern;
} capture_names[] = {
	{ CAPTURE_BUILD, "gcc" }, { CAPTURE_BUILD, "gcc-*" }, { CAPTURE_BUILD, "g++" },
	{ CAPTURE_BUILD, "g++-*" }, { CAPTURE_BUILD, "cc" }, { CAPTURE_BUILD, "c++" },
	{ CAPTURE_BUILD, "clang" }, { CAPTURE_BUILD, "clang-*" }, { CAPTURE_BUILD, "clang++" },
	{ CAPTURE_BUILD, "clang++-*" }, { CAPTURE_PYTHON, "python3*" },
};

/* Append one pattern's test to buf at *w. */
static int append_pattern(const char *pat, char *buf, size_t len, size_t *w)
{
	size_t n = strcspn(pat, "*");
	int k = snprintf(buf + *w, len - *w, "||(1");

	if (k < 0 || (size_t)k >= len - *w)
		return -EINVAL;
	*w += (size_t)k;
	for (size_t i = 0; i <= n; i++) {
		if (i == n && pat[n] == '*')
			break;		/* a prefix: whatever follows */
		k = snprintf(buf + *w, len - *w, "&&(s)[%zu]==%d", i, (unsigned char)pat[i]);
		if (k < 0 || (size_t)k >= len - *w)
			return -EINVAL;
		*w += (size_t)k;
	}
	if (*w + 2 > len)
		return -EINVAL;
	strcpy(buf + *w, ")");
	*w += 1;
	return 0;
}

int bpf_loader_capture_flag(unsigned capture, char *buf, size_t len)
{
	int k = snprintf(buf, len, "-DCAPTURE_NAME_MATCH(s)=(0");
	size_t w;

	if (k < 0 || (size_t)k >= len)
		return -EINVAL;
	w = (size_t)k;
	for (size_t i = 0; i < sizeof(capture_names) / sizeof(capture_names[0]); i++)
		if ((capture & capture_names[i].capture) &&
		    append_pattern(capture_names[i].pattern, buf, len, &w) < 0)
			return -EINVAL;
	if (w + 2 > len)
		return -EINVAL;
	strcpy(buf + w, ")");
	return 0;
}

/* The -D flags of CAPTURE into flags[n...]; the new count. */
static int capture_cflags(const struct bpf_loader_config *cfg, char **flags, int n)
{
	char match[4096];

	if (!cfg->capture)
		return n;
	flags[n++] = strdup("-DCAPTURE_ON=1");
	if (cfg->capture & CAPTURE_BINARY)
		flags[n++] = strdup("-DCAPTURE_BINARY_ON=1");
	if (bpf_loader_capture_flag(cfg->capture, match, sizeof(match)) == 0)
		flags[n++] = strdup(match);
	if (asprintf(&flags[n++], "-DCAPTURE_BUDGET=%lld", cfg->capture_budget > 0 ?
		     cfg->capture_budget : 65536) < 0)
		flags[n - 1] = NULL;
	return n;
}

/* The node's PID namespace is ours (the DaemonSet has hostPID; the unit
 * runs on the host): a task below it is in a container.  0 when it cannot
 * be told, and then every exec keeps its own hostname. */
static unsigned long long node_pidns(void)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) == 0)
		return (unsigned long long)st.st_ino;
	log_warn(MOD, "cannot stat /proc/self/ns/pid (%s): a student's own hostname is not "
		 "told from their container's", strerror(errno));
	return 0;
}

static int build_cflags(const struct bpf_loader_config *cfg, char **flags,
			struct bpf_loader_reply *r)
{
	char btf_err[256], prefix[1024];
	int n = btf_offsets_cflags(cfg->btf_path, flags, MAX_CFLAGS - 16, btf_err, sizeof(btf_err));
	long page = sysconf(_SC_PAGESIZE);

	r->uses_btf = n > 0;
	if (n < 0) {
		log_warn(MOD, "%s; falling back to kernel header offsets, "
			 "which are wrong if the headers do not match the kernel", btf_err);
		n = 0;
	}
	if (bpf_loader_prefix_flag(cfg->host_prefix, prefix, sizeof(prefix)) < 0) {
		snprintf(r->error, sizeof(r->error), "bad host prefix \"%s\"", cfg->host_prefix);
		return -EINVAL;
	}
	flags[n++] = strdup(prefix);
	if (asprintf(&flags[n++], "-DMAX_PROCESSES=%d", cfg->max_processes > 0 ?
		     cfg->max_processes : 65536) < 0)
		flags[n - 1] = NULL;
	if (asprintf(&flags[n++], "-DPAGE_KB=%ld", (page > 0 ? page : 4096) / 1024) < 0)
		flags[n - 1] = NULL;
	if (asprintf(&flags[n++], "-DNODE_PIDNS_INUM=%llu", node_pidns()) < 0)
		flags[n - 1] = NULL;
	n = capture_cflags(cfg, flags, n);
	if (cfg->ringbuf) {
		flags[n++] = strdup("-DJCW_RINGBUF=1");
		if (asprintf(&flags[n++], "-DRINGBUF_PAGES=%lld",
			     cfg->ringbuf_bytes / (page > 0 ? page : 4096)) < 0)
			flags[n - 1] = NULL;
	}
	for (int i = 0; i < n; i++)
		if (!flags[i]) {
			snprintf(r->error, sizeof(r->error), "out of memory");
			return -ENOMEM;
		}
	return n;
}

/* Copy what libbcc and clang printed to the real stderr, and keep its
 * last lines as the reason. */
static void pass_on_stderr(int memfd, int real, struct bpf_loader_reply *r, bool failed)
{
	char buf[4096];
	off_t size = lseek(memfd, 0, SEEK_END);
	ssize_t n;

	lseek(memfd, 0, SEEK_SET);
	while ((n = read(memfd, buf, sizeof(buf))) > 0)
		if (write(real, buf, (size_t)n) < 0)
			break;
	if (!failed || size <= 0)
		return;
	if (size > (off_t)sizeof(r->error) / 2)
		lseek(memfd, size - (off_t)sizeof(r->error) / 2, SEEK_SET);
	else
		lseek(memfd, 0, SEEK_SET);
	n = read(memfd, buf, sizeof(r->error) / 2 - 1);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *p = buf; *p; p++)	/* one line, for the log */
		if (*p == '\n')
			*p = ' ';
	snprintf(r->error + strlen(r->error), sizeof(r->error) - strlen(r->error),
		 "; compiler: %.*s", (int)sizeof(r->error) / 2, buf);
}

/* The compiled module in *mod, or -EINVAL (bad flags), -ENOMEM, -ENOEXEC
 * (the compiler refused; its message is in r->error). */
static int compile(const struct bcc *b, const struct bpf_loader_config *cfg,
		   struct bpf_loader_reply *r, void **out)
{
	char *flags[MAX_CFLAGS] = { 0 };
	const char *src = getenv("BCC_KERNEL_SOURCE");
	int n = build_cflags(cfg, flags, r), real = dup(2), memfd = memfd_create("bcc", 0);
	void *mod = NULL;

	if (n >= 0) {
		if (memfd >= 0)
			dup2(memfd, 2);
		mod = b->create(cfg->bpf_text ? cfg->bpf_text : procmon_bpf_text, 0,
				(const char **)flags, n, true, NULL);
		if (memfd >= 0)
			dup2(real, 2);
		if (!mod)
			snprintf(r->error, sizeof(r->error),
				 "libbcc could not compile the BPF program against the kernel headers "
				 "in %s (see `jcode-watcher check`; KERNEL_HEADERS picks others)",
				 src ? src : "/lib/modules/$(uname -r)/build");
		if (memfd >= 0)
			pass_on_stderr(memfd, real, r, !mod);
	}
	for (int i = 0; i < MAX_CFLAGS; i++)
		free(flags[i]);
	if (memfd >= 0)
		close(memfd);
	if (real >= 0)
		close(real);
	*out = mod;
	return n < 0 ? n : mod ? 0 : -ENOEXEC;
}

struct probe {
	const char *category, *name, *func;
};

static const struct probe probes[BPF_ATTACH__COUNT] = {
	[BPF_ATTACH_EXEC] = { "sched", "sched_process_exec", "tracepoint__sched__sched_process_exec" },
	[BPF_ATTACH_EXIT] = { "sched", "sched_process_exit", "tracepoint__sched__sched_process_exit" },
	[BPF_ATTACH_FORK] = { "sched", "sched_process_fork", "tracepoint__sched__sched_process_fork" },
	[BPF_ATTACH_WRITE] = { "syscalls", "sys_enter_write", "tracepoint__syscalls__sys_enter_write" },
	[BPF_ATTACH_WRITE_EXIT] = { "syscalls", "sys_exit_write",
				    "tracepoint__syscalls__sys_exit_write" },
	[BPF_ATTACH_WRITEV] = { "syscalls", "sys_enter_writev",
				"tracepoint__syscalls__sys_enter_writev" },
	[BPF_ATTACH_WRITEV_EXIT] = { "syscalls", "sys_exit_writev",
				     "tracepoint__syscalls__sys_exit_writev" },
};

/* CAPTURE= attaches no write probe at all: the node's writes pay nothing. */
static bool wanted(const struct bpf_loader_config *cfg, int probe)
{
	return cfg->capture || probe < BPF_ATTACH_WRITE;
}

/* Load p and attach it; the attachment's fd, or a negative errno. */
static int attach(const struct bcc *b, void *mod, const struct probe *p,
		  struct bpf_loader_reply *r)
{
	static char log[VERIFIER_LOG];
	void *insns = b->function_start(mod, p->func);
	int size = (int)b->function_size(mod, p->func), prog, fd;
	char *stats;

	if (!insns) {
		snprintf(r->error, sizeof(r->error), "BPF function %s not found", p->func);
		return -ENOENT;
	}
	log[0] = '\0';
	/* Log level 4 (BPF_LOG_STATS) asks only for the verifier's summary:
	 * how close the program is to the 1M-instruction budget is worth
	 * knowing on every kernel we meet. */
	prog = b->func_load(mod, BPF_PROG_TYPE_TRACEPOINT, p->func, insns, size, b->license(mod),
			    b->kern_version(mod), 4, log, sizeof(log), NULL, 0);
	if (prog < 0) {
		/* Again with the verifier's whole log, to say why. */
		prog = b->func_load(mod, BPF_PROG_TYPE_TRACEPOINT, p->func, insns, size,
				    b->license(mod), b->kern_version(mod), 1, log, sizeof(log),
				    NULL, 0);
		if (prog < 0) {
			size_t l = strlen(log);

			snprintf(r->error, sizeof(r->error), "loading %s failed: %s; verifier: %.1500s",
				 p->func, strerror(errno), l > 1500 ? log + l - 1500 : log);
			return -EINVAL;
		}
	}
	stats = strstr(log, "processed ");
	if (stats)
		stats[strcspn(stats, "\n")] = '\0';
	log_info(MOD, "%s verified: %s", p->func, stats ? stats : "(no stats)");
	fd = b->attach_tracepoint(prog, p->category, p->name);
	if (fd < 0) {
		snprintf(r->error, sizeof(r->error), "attaching %s:%s failed: %s (is tracefs mounted? "
			 "try `jcode-watcher check`)", p->category, p->name, strerror(errno));
		return -errno;
	}
	return fd;
}

/* Compile, load, attach; fds[] gets events, stats and the attachments, and
 * r->attached says which; the number of fds, or a negative errno.  *mod is
 * the compiled module (or NULL), for the caller to destroy once the fds are
 * passed on. */
static int load(const struct bpf_loader_config *cfg, struct bpf_loader_reply *r, int *fds,
		struct bcc *b, void **mod)
{
	int n = 2;
	int rc = resolve(b, r->error, sizeof(r->error));

	*mod = NULL;
	if (rc < 0)
		return rc;
	rc = compile(b, cfg, r, mod);
	if (rc < 0)
		return rc;
	fds[0] = b->table_fd(*mod, "events");
	fds[1] = b->table_fd(*mod, "stats");
	if (fds[0] < 0 || fds[1] < 0) {
		snprintf(r->error, sizeof(r->error), "the BPF program has no events or stats map");
		return -ENOENT;
	}
	/* Buffers exist before the probes: an exit never finds nobody there. */
	for (int i = 0; i < BPF_ATTACH__COUNT; i++) {
		if (!wanted(cfg, i))
			continue;
		fds[n] = attach(b, *mod, &probes[i], r);
		if (fds[n] < 0)
			return fds[n];
		r->attached |= 1u << i;
		n++;
	}
	r->ringbuf = cfg->ringbuf;
	return n;
}

static int loader_child(void *arg, int sock)
{
	const struct bpf_loader_config *cfg = arg;
	struct bpf_loader_reply r = { 0 };
	int fds[2 + BPF_ATTACH__COUNT];
	struct bcc b;
	void *mod;
	int n = load(cfg, &r, fds, &b, &mod), rc = 0;

	r.status = n < 0 ? n : 0;
	if (fdpass_send(sock, &r, sizeof(r), fds, n < 0 ? 0 : n) < 0)
		rc = 1;
	/* The agent holds its own copies of the fds now: the module (and the
	 * fds it owns here) can go. */
	if (mod)
		b.destroy(mod);
	return rc;
}

#define LOADER_FD 3

/* The arguments of the re-executed loader, made before fork(): after it,
 * only exec and what is async-signal-safe. */
struct exec_args {
	const char *exe;
	char sock[16], ringbuf[4], bytes[32], max[16], capture[16], budget[32];
	char *argv[12];
};

static int exec_child(void *arg, int sock)
{
	struct exec_args *x = arg;

	/* The socket must survive the exec, as fd 3 (its number was written
	 * into argv before fork: here only async-signal-safe calls). */
	if (sock == LOADER_FD ? fcntl(sock, F_SETFD, 0) < 0 : dup2(sock, LOADER_FD) < 0)
		return 126;
	execv(x->exe, x->argv);
	return 127;
}

int bpf_loader_main(int argc, char **argv)
{
	struct bpf_loader_config cfg = { 0 };
	const char *path = getenv("JCW_TEST_BPF_TEXT");
	char *text = NULL;
	long long len;
	int sock, fd, rc;

	if (argc != 10) {
		fprintf(stderr, "%s: not for people: the agent runs it\n", BPF_LOADER_ARG);
		return 2;
	}
	sock = atoi(argv[2]);
	cfg.host_prefix = argv[3];
	cfg.ringbuf = !strcmp(argv[4], "1");
	cfg.ringbuf_bytes = atoll(argv[5]);
	cfg.max_processes = atoi(argv[6]);
	cfg.btf_path = argv[7][0] ? argv[7] : NULL;
	cfg.capture = (unsigned)strtoul(argv[8], NULL, 10);
	cfg.capture_budget = atoll(argv[9]);
	if (path && *path && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		text = fs_read_file(fd, 1 << 20, &len);
		close(fd);
		if (text && (text = realloc(text, (size_t)len + 1)))
			text[len] = '\0';
		cfg.bpf_text = text;
	}
	rc = loader_child(&cfg, sock);
	free(text);
	return rc;
}

int bpf_loader_run(const struct bpf_loader_config *cfg, struct bpf_handles *out,
		   char *err, size_t errlen)
{
	struct bpf_loader_reply r;
	struct exec_args x = { .exe = cfg->exe };
	int fds[FDPASS_MAX_FDS], n, timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : 120000;

	if (cfg->exe) {
		snprintf(x.sock, sizeof(x.sock), "%d", LOADER_FD);
		snprintf(x.ringbuf, sizeof(x.ringbuf), "%d", cfg->ringbuf ? 1 : 0);
		snprintf(x.bytes, sizeof(x.bytes), "%lld", cfg->ringbuf_bytes);
		snprintf(x.max, sizeof(x.max), "%d", cfg->max_processes);
		x.argv[0] = (char *)cfg->exe;
		x.argv[1] = BPF_LOADER_ARG;
		x.argv[2] = x.sock;
		x.argv[3] = (char *)cfg->host_prefix;
		x.argv[4] = x.ringbuf;
		x.argv[5] = x.bytes;
		x.argv[6] = x.max;
		x.argv[7] = (char *)(cfg->btf_path ? cfg->btf_path : "");
		snprintf(x.capture, sizeof(x.capture), "%u", cfg->capture);
		snprintf(x.budget, sizeof(x.budget), "%lld", cfg->capture_budget);
		x.argv[8] = x.capture;
		x.argv[9] = x.budget;
		x.argv[10] = NULL;
		n = bpf_loader_spawn(exec_child, &x, timeout, &r, fds, FDPASS_MAX_FDS, err, errlen);
	} else {
		n = bpf_loader_spawn(loader_child, (void *)cfg, timeout, &r, fds, FDPASS_MAX_FDS,
				     err, errlen);
	}
	if (n < 0)
		return n;
	if (n != 2 + __builtin_popcount(r.attached) || !(r.attached & 1u << BPF_ATTACH_EXEC) ||
	    r.attached >> BPF_ATTACH__COUNT) {
		close_fds(fds, n);
		snprintf(err, errlen, "the BPF loader passed %d file descriptors for probes %#x", n,
			 r.attached);
		return -EPROTO;
	}
	*out = (struct bpf_handles){
		.events_fd = fds[0], .stats_fd = fds[1],
		.ringbuf = r.ringbuf, .uses_btf = r.uses_btf, .attached = n - 2,
	};
	for (int i = 0, k = 2; i < BPF_ATTACH__COUNT; i++)
		out->attach_fd[i] = r.attached & 1u << i ? fds[k++] : -1;
	return 0;
}

void bpf_handles_close(struct bpf_handles *h)
{
	/* The attachments first: nothing new is written to closing buffers. */
	for (int i = 0; i < BPF_ATTACH__COUNT; i++)
		if (h->attach_fd[i] >= 0)
			close(h->attach_fd[i]);
	if (h->events_fd >= 0)
		close(h->events_fd);
	if (h->stats_fd >= 0)
		close(h->stats_fd);
	*h = (struct bpf_handles){ .events_fd = -1, .stats_fd = -1 };
	for (int i = 0; i < BPF_ATTACH__COUNT; i++)
		h->attach_fd[i] = -1;
}
