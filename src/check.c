/*
 * check.c - the preflight behind `jcode-watcher check`.
 *
 * Each check prints what it found and, when it is not ok, the command that
 * fixes it: the person reading this is setting up a node, and "attach
 * failed: No such file or directory" from libbcc tells them nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"

#define CAP_SYS_PTRACE_BIT 19
#define CAP_SYS_ADMIN_BIT 21
#define CAP_PERFMON_BIT 38
#define CAP_BPF_BIT 39
#define MIN_WATCHES 65536

static const char *const status_word[] = { "ok", "WARN", "FAIL" };

static enum check_status report(FILE *out, enum check_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum check_status report(FILE *out, enum check_status st, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "%-6s", status_word[st]);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	return st;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void check_env_default(struct check_env *env)
{
	env->btf_path = "/sys/kernel/btf/vmlinux";
	env->modules_dir = "/lib/modules";
	env->kheaders_tar = "/sys/kernel/kheaders.tar.xz";
	env->kernel_headers = NULL;
	env->headers_search = NULL;
	env->state_dir = "/var/lib/jcode-watcher";
	env->machine = NULL;
	env->may_modprobe = true;
	env->debugfs_dir = "/sys/kernel/debug";
	env->proc_status = "/proc/self/status";
	env->inotify_watches = "/proc/sys/fs/inotify/max_user_watches";
	env->release = NULL;
	env->may_mount = true;
	env->scoped = false;
}

void check_env_from_config(struct check_env *env, const struct config *cfg)
{
	check_env_default(env);
	env->kernel_headers = cfg->kernel_headers;
	env->headers_search = &cfg->headers_search;
	env->state_dir = cfg->state_dir;
	env->scoped = config_scoped(cfg);
}

int check_use_headers(const struct check_env *env)
{
	struct kheaders_env kenv;
	struct kheaders_result res;
	char err[2048], what[2 * PATH_MAX + 256];

	check_headers_env(env, &kenv);
	if (kheaders_find(&kenv, &res, err, sizeof(err)) < 0) {
		log_error("headers", "%s", err);
		return -ENOENT;
	}
	if (kheaders_prepare(&kenv, &res, err, sizeof(err)) < 0) {
		kheaders_release(&res);
		log_error("headers", "%s", err);
		return -EIO;
	}
	kheaders_release(&res);
	if (kheaders_apply(&res) < 0) {
		log_error("headers", "setting BCC_KERNEL_SOURCE: %s", strerror(errno));
		return -errno;
	}
	kheaders_describe(&kenv, &res, what, sizeof(what));
	if (res.path[0])
		log_info("headers", "libbcc compiles against %s: %s", res.path, what);
	else
		log_info("headers", "libbcc compiles against %s", what);
	return 0;
}

/* 5.8 brings CAP_BPF/CAP_PERFMON and, with 5.3's bounded loops, what our BPF text uses. */
static enum check_status check_kernel(FILE *out, const char *release)
{
	int major, minor;

	if (sscanf(release, "%d.%d", &major, &minor) != 2)
		return report(out, CHECK_FAIL, "kernel: cannot parse release \"%s\" -- fix: run on Linux >= 5.8",
			      release);
	if (major < 5 || (major == 5 && minor < 8))
		return report(out, CHECK_FAIL,
			      "kernel: %s is older than 5.8 (needed for bounded loops and BTF) -- fix: upgrade the node's kernel",
			      release);
	return report(out, CHECK_OK, "kernel: %s (>= 5.8 needed for bounded loops and BTF)", release);
}

static enum check_status check_btf(FILE *out, const char *path)
{
	if (access(path, R_OK) == 0)
		return report(out, CHECK_OK, "btf: %s present (struct offsets read from the running kernel)",
			      path);
	return report(out, CHECK_WARN,
		      "btf: %s missing (%s): struct offsets then come from the kernel headers, which must match the running kernel exactly -- fix: use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
		      path, strerror(errno));
}

/* The nearest existing ancestor of path is writable: mkdir -p would work. */
static bool creatable(const char *path)
{
	char p[PATH_MAX], *slash;

	if ((size_t)snprintf(p, sizeof(p), "%s", path) >= sizeof(p))
		return false;
	for (;;) {
		if (access(p, F_OK) == 0)
			return is_dir(p) && access(p, W_OK | X_OK) == 0;
		slash = strrchr(p, '/');
		if (!slash || slash == p)
			return access("/", W_OK) == 0;
		*slash = '\0';
	}
}

void check_headers_env(const struct check_env *env, struct kheaders_env *kenv)
{
	memset(kenv, 0, sizeof(*kenv));
	kenv->release = env->release;
	kenv->machine = env->machine;
	kenv->explicit_dir = env->kernel_headers;
	kenv->modules_dir = env->modules_dir;
	kenv->kheaders_tar = env->kheaders_tar;
	kenv->search = env->headers_search;
	kenv->state_dir = env->state_dir;
	kenv->have_btf = access(env->btf_path, R_OK) == 0;
	kenv->may_modprobe = env->may_modprobe;
}

/*
 * libbcc needs some kernel headers for its helper includes; with BTF they
 * need not be the running kernel's (kheaders.h says where we look).
 */
static enum check_status check_headers(FILE *out, const struct check_env *env,
				       const char *release)
{
	struct kheaders_env kenv;
	struct kheaders_result res;
	char err[2048], what[2 * PATH_MAX + 256], missing[PATH_MAX + 64];

	check_headers_env(env, &kenv);
	kenv.release = release;
	if (kheaders_find(&kenv, &res, err, sizeof(err)) < 0)
		return report(out, CHECK_FAIL, "headers: %s", err);
	kheaders_release(&res);
	kheaders_describe(&kenv, &res, what, sizeof(what));
	if ((res.kind == KHEADERS_KERNEL || res.partner[0]) && !creatable(env->state_dir))
		return report(out, CHECK_FAIL,
			      "headers: %s must be built under %s/kernel-headers, which cannot be created -- fix: set STATE_DIR to a writable directory",
			      what, env->state_dir);
	if (res.kind == KHEADERS_MODULES)
		return report(out, CHECK_OK, "headers: %s", what);
	if (res.kind == KHEADERS_EXPLICIT)
		missing[0] = '\0';
	else
		snprintf(missing, sizeof(missing), "%s/%s/build missing; ", env->modules_dir, release);
	if (res.exact)
		return report(out, CHECK_OK, "headers: %susing %s", missing, what);
	return report(out, CHECK_WARN,
		      "headers: %susing %s -- fix (for exact headers): install linux-headers-%s",
		      missing, what, release);
}

static bool tracing_present(const char *debugfs_dir, char *path, size_t n)
{
	snprintf(path, n, "%s/tracing/events/sched/sched_process_exec", debugfs_dir);
	return is_dir(path);
}

/* libbcc 0.26 attaches tracepoints through <debugfs>/tracing only. */
static enum check_status check_tracing(FILE *out, const char *debugfs_dir, bool may_mount)
{
	static const char fix[] =
		"fix: mount -t debugfs none /sys/kernel/debug (in Kubernetes: mount hostPath /sys/kernel/debug into the pod)";
	char path[PATH_MAX + 64];
	int err;

	if (tracing_present(debugfs_dir, path, sizeof(path)))
		return report(out, CHECK_OK, "tracing: %s present", path);
	if (!may_mount)
		return report(out, CHECK_FAIL, "tracing: %s missing -- %s", path, fix);
	if (mount("none", debugfs_dir, "debugfs", 0, NULL) != 0) {
		err = errno;
		return report(out, CHECK_FAIL, "tracing: %s missing and mounting debugfs on %s failed (%s) -- %s",
			      path, debugfs_dir, strerror(err), fix);
	}
	if (tracing_present(debugfs_dir, path, sizeof(path)))
		return report(out, CHECK_OK, "tracing: mounted debugfs on %s; %s present", debugfs_dir,
			      path);
	return report(out, CHECK_FAIL,
		      "tracing: debugfs mounted on %s but %s missing -- fix: use a kernel with CONFIG_FTRACE and tracepoints",
		      debugfs_dir, path);
}

/* CapEff from a /proc/<pid>/status file; -1 when absent or unreadable. */
static int read_capeff(const char *path, unsigned long long *caps)
{
	char line[256];
	FILE *f = fopen(path, "r");
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", caps) == 1) {
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

static enum check_status check_caps(FILE *out, const char *status_path)
{
	static const char fix[] =
		"fix: run as root, or add SYS_ADMIN (or BPF and PERFMON) to the container's securityContext.capabilities";
	unsigned long long caps;

	if (read_capeff(status_path, &caps))
		return report(out, CHECK_FAIL, "capabilities: no CapEff line readable in %s -- %s",
			      status_path, fix);
	if (caps & (1ULL << CAP_SYS_ADMIN_BIT))
		return report(out, CHECK_OK, "capabilities: CapEff %016llx has CAP_SYS_ADMIN", caps);
	if ((caps & (1ULL << CAP_BPF_BIT)) && (caps & (1ULL << CAP_PERFMON_BIT)))
		return report(out, CHECK_OK, "capabilities: CapEff %016llx has CAP_BPF and CAP_PERFMON",
			      caps);
	return report(out, CHECK_FAIL,
		      "capabilities: CapEff %016llx lacks CAP_SYS_ADMIN and CAP_BPF+CAP_PERFMON -- %s",
		      caps, fix);
}

/* One watch per directory: a node full of student workspaces needs many. */
static enum check_status check_inotify(FILE *out, const char *path)
{
	long long n;
	char *end;
	char buf[64];
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return report(out, CHECK_FAIL, "inotify: cannot read %s (%s) -- fix: use a kernel with CONFIG_INOTIFY_USER",
			      path, strerror(errno));
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	errno = 0;
	n = ok ? strtoll(buf, &end, 10) : 0;
	if (!ok || errno || end == buf || (*end && *end != '\n'))
		return report(out, CHECK_FAIL, "inotify: %s does not hold a number -- fix: use a kernel with CONFIG_INOTIFY_USER",
			      path);
	if (n < MIN_WATCHES)
		return report(out, CHECK_WARN,
			      "inotify: max_user_watches is %lld (< %d, large workspace trees will not be fully watched) -- fix: sysctl fs.inotify.max_user_watches=524288",
			      n, MIN_WATCHES);
	return report(out, CHECK_OK, "inotify: max_user_watches is %lld", n);
}

/* Which students run here: the namespaces of other users' (and of more
 * privileged) processes are readable only with CAP_SYS_PTRACE. */
static enum check_status check_scope(FILE *out, const char *status_path)
{
	unsigned long long caps;

	if (read_capeff(status_path, &caps) == 0 && (caps & (1ULL << CAP_SYS_PTRACE_BIT)))
		return report(out, CHECK_OK, "filemon scope: CapEff %016llx has CAP_SYS_PTRACE: "
			      "the node's student containers can be seen", caps);
	return report(out, CHECK_WARN, "filemon scope: no CAP_SYS_PTRACE: the node's "
		      "student containers cannot all be seen, so WATCH_ALL=auto watches every "
		      "workspace -- fix: add SYS_PTRACE to the capabilities (pod securityContext, "
		      "the unit's CapabilityBoundingSet), or set WATCH_ALL=1 to say so");
}

static int check_procmon(FILE *out, const struct check_env *env, const char *release)
{
	int fails = 0;

	fails += check_kernel(out, release) == CHECK_FAIL;
	fails += check_btf(out, env->btf_path) == CHECK_FAIL;
	fails += check_headers(out, env, release) == CHECK_FAIL;
	fails += check_tracing(out, env->debugfs_dir, env->may_mount) == CHECK_FAIL;
	fails += check_caps(out, env->proc_status) == CHECK_FAIL;
	return fails;
}

int check_run(FILE *out, const struct check_env *env, unsigned monitors)
{
	struct utsname uts;
	const char *release = env->release;
	int fails = 0;

	if (!release) {
		if (uname(&uts) == 0)
			release = uts.release;
		else
			release = "unknown";
	}
	if (monitors & MONITOR_PROCMON)
		fails += check_procmon(out, env, release);
	if (monitors & MONITOR_FILEMON)
		fails += check_inotify(out, env->inotify_watches) == CHECK_FAIL;
	if ((monitors & MONITOR_FILEMON) && env->scoped)
		check_scope(out, env->proc_status);	/* warns at most */
	fflush(out);
	return fails;
}
