/* test_check.c - the preflight against a fake /sys, /lib/modules and /proc tree. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "support.h"
#include "testlib.h"

#define ALL (MONITOR_PROCMON | MONITOR_FILEMON)

static char root[] = "/tmp/test_check.XXXXXX";
static char out_text[16384];

static char *at(const char *rel)
{
	static char bufs[32][512];
	static int next;
	char *b = bufs[next++ % 32];

	snprintf(b, sizeof(bufs[0]), "%s/%s", root, rel);
	return b;
}

static void mkdirs(const char *rel)
{
	char path[512], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void put(const char *rel, const char *text)
{
	FILE *f = fopen(at(rel), "w");

	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static void build_tree(void)
{
	mkdirs("sys/btf");
	put("sys/btf/vmlinux", "BTF");
	mkdirs("modules/6.18.44/build/include/linux");
	put("modules/6.18.44/build/include/linux/kconfig.h", "");
	mkdirs("modules/6.1.0/build");		/* headers without include/ */
	mkdirs("debug/tracing/events/sched/sched_process_exec");
	mkdirs("emptydebug");
	put("status_root", "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n"
			   "CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n");
	put("status_bpf", "Name:\tx\nCapEff:\t000000c000000000\n");
	put("status_bpf_only", "Name:\tx\nCapEff:\t0000008000000000\n");
	put("status_none", "Name:\tx\nCapEff:\t0000000000000000\n");
	put("status_nocapeff", "Name:\tx\nUid:\t0\n");
	put("watches_big", "524288\n");
	put("watches_small", "8192\n");
	put("watches_junk", "lots\n");
}

/* A tree where everything is present and fine. */
static void good_env(struct check_env *env)
{
	check_env_default(env);
	env->kheaders_tar = at("sys/kheaders.tar.xz");
	env->state_dir = at("state");
	env->machine = "x86_64";
	env->may_modprobe = false;
	env->btf_path = at("sys/btf/vmlinux");
	env->modules_dir = at("modules");
	env->debugfs_dir = at("debug");
	env->proc_status = at("status_root");
	env->inotify_watches = at("watches_big");
	env->release = "6.18.44";
	env->may_mount = false;
}

static int run(const struct check_env *env, unsigned monitors)
{
	FILE *f = fmemopen(out_text, sizeof(out_text) - 1, "w");
	int rc;

	memset(out_text, 0, sizeof(out_text));
	rc = check_run(f, env, monitors);
	fclose(f);
	return rc;
}

static int count_lines(void)
{
	int n = 0;
	const char *p;

	for (p = out_text; *p; p++)
		n += *p == '\n';
	return n;
}

#define CHECK_OUT(s) do { const char *s_ = (s); CHECK(strstr(out_text, s_) != NULL); \
	if (!strstr(out_text, s_)) fprintf(stderr, "  want: %s\n  got:\n%s", s_, out_text); } while (0)

static void test_defaults(void)
{
	struct check_env env;

	check_env_default(&env);
	CHECK_STR(env.btf_path, "/sys/kernel/btf/vmlinux");
	CHECK_STR(env.modules_dir, "/lib/modules");
	CHECK_STR(env.kheaders_tar, "/sys/kernel/kheaders.tar.xz");
	CHECK(env.kernel_headers == NULL);
	CHECK(env.headers_search == NULL);
	CHECK_STR(env.state_dir, "/var/lib/jcode-watcher");
	CHECK(env.machine == NULL);
	CHECK_INT(env.may_modprobe, 1);
	CHECK_STR(env.debugfs_dir, "/sys/kernel/debug");
	CHECK_STR(env.proc_status, "/proc/self/status");
	CHECK_STR(env.inotify_watches, "/proc/sys/fs/inotify/max_user_watches");
	CHECK(env.release == NULL);
	CHECK_INT(env.may_mount, 1);
}

static void test_all_ok(void)
{
	struct check_env env;
	char line[1024];

	good_env(&env);
	CHECK_INT(run(&env, ALL), 0);
	CHECK_INT(count_lines(), 6);
	CHECK_OUT("ok    kernel: 6.18.44 (>= 5.8 needed for bounded loops and BTF)\n");
	snprintf(line, sizeof(line), "ok    btf: %s present", env.btf_path);
	CHECK_OUT(line);
	snprintf(line, sizeof(line), "ok    headers: %s/modules/6.18.44/build\n", root);
	CHECK_OUT(line);
	snprintf(line, sizeof(line), "ok    tracing: %s/debug/tracing/events/sched/sched_process_exec present\n",
		 root);
	CHECK_OUT(line);
	CHECK_OUT("ok    capabilities: CapEff 000001ffffffffff has CAP_SYS_ADMIN\n");
	CHECK_OUT("ok    inotify: max_user_watches is 524288\n");
	CHECK(strstr(out_text, "FAIL") == NULL);
	CHECK(strstr(out_text, "WARN") == NULL);
}

static void test_everything_fails(void)
{
	struct check_env env;
	char line[1024];

	good_env(&env);
	env.release = "5.4.0";
	env.btf_path = at("sys/btf/missing");
	env.debugfs_dir = at("emptydebug");
	env.proc_status = at("status_none");
	env.inotify_watches = at("no_such_file");
	env.may_mount = false;
	/* kernel, headers, tracing, capabilities, inotify fail; BTF only warns */
	CHECK_INT(run(&env, ALL), 5);
	CHECK_INT(count_lines(), 6);
	CHECK_OUT("FAIL  kernel: 5.4.0 is older than 5.8");
	snprintf(line, sizeof(line), "WARN  btf: %s missing", env.btf_path);
	CHECK_OUT(line);
	CHECK_OUT("CONFIG_DEBUG_INFO_BTF=y");
	snprintf(line, sizeof(line),
		 "FAIL  headers: no headers for 5.4.0: %s/modules/5.4.0/build missing, %s/sys/kheaders.tar.xz missing, no linux-headers-5.4.0 in (KERNEL_HEADERS_SEARCH is empty); without BTF the struct offsets come from the headers, so they must be this exact kernel's -- fix: install linux-headers-5.4.0 (or use a kernel with CONFIG_DEBUG_INFO_BTF=y)\n",
		 root, root);
	CHECK_OUT(line);
	snprintf(line, sizeof(line),
		 "FAIL  tracing: %s/emptydebug/tracing/events/sched/sched_process_exec missing -- fix: mount -t debugfs none /sys/kernel/debug (in Kubernetes: mount hostPath /sys/kernel/debug",
		 root);
	CHECK_OUT(line);
	CHECK_OUT("FAIL  capabilities: CapEff 0000000000000000 lacks CAP_SYS_ADMIN and CAP_BPF+CAP_PERFMON -- fix: run as root");
	CHECK_OUT("add SYS_ADMIN");
	snprintf(line, sizeof(line), "FAIL  inotify: cannot read %s/no_such_file", root);
	CHECK_OUT(line);
}

static void test_caps(void)
{
	struct check_env env;

	good_env(&env);
	env.proc_status = at("status_bpf");
	CHECK_INT(run(&env, MONITOR_PROCMON), 0);
	CHECK_OUT("ok    capabilities: CapEff 000000c000000000 has CAP_BPF and CAP_PERFMON\n");
	/* CAP_BPF alone cannot open perf events for tracepoints */
	env.proc_status = at("status_bpf_only");
	CHECK_INT(run(&env, MONITOR_PROCMON), 1);
	CHECK_OUT("FAIL  capabilities: CapEff 0000008000000000 lacks");
	env.proc_status = at("status_nocapeff");
	CHECK_INT(run(&env, MONITOR_PROCMON), 1);
	CHECK_OUT("FAIL  capabilities: no CapEff line readable in");
	env.proc_status = at("no_such_status");
	CHECK_INT(run(&env, MONITOR_PROCMON), 1);
	CHECK_OUT("FAIL  capabilities: no CapEff line");
}

static void test_headers_without_include(void)
{
	struct check_env env;
	char line[1024];

	good_env(&env);
	env.release = "6.1.0";
	CHECK_INT(run(&env, MONITOR_PROCMON), 1);
	snprintf(line, sizeof(line),
		 "FAIL  headers: no kernel headers found for 6.1.0: %s/modules/6.1.0/build has no include/linux/kconfig.h, %s/sys/kheaders.tar.xz missing, no usable linux-headers-* in (KERNEL_HEADERS_SEARCH is empty) -- fix: install a headers package (Debian: linux-headers-cloud-amd64 or linux-headers-amd64, Ubuntu: linux-headers-generic), or set KERNEL_HEADERS\n",
		 root, root);
	CHECK_OUT(line);
	CHECK_OUT("ok    kernel: 6.1.0");
}

/* A header tree at rel: the flavour half, the shared half, or both. */
static void headers_tree(const char *rel, bool flavour, bool shared)
{
	char p[512];

	if (flavour) {
		snprintf(p, sizeof(p), "%s/include/generated", rel);
		mkdirs(p);
		snprintf(p, sizeof(p), "%s/include/generated/autoconf.h", rel);
		put(p, "");
		snprintf(p, sizeof(p), "%s/arch/x86/include/generated", rel);
		mkdirs(p);
	}
	if (shared) {
		snprintf(p, sizeof(p), "%s/include/linux", rel);
		mkdirs(p);
		snprintf(p, sizeof(p), "%s/include/linux/kconfig.h", rel);
		put(p, "");
		snprintf(p, sizeof(p), "%s/arch/x86/include/asm", rel);
		mkdirs(p);
	}
}

static struct strlist search_dirs;

/* /lib/modules/6.18.44/build gone, Debian's 6.1 split headers in src/. */
static void search_env(struct check_env *env)
{
	static char *dirs[1];

	good_env(env);
	env->modules_dir = at("nomodules");
	dirs[0] = at("src");
	search_dirs.v = dirs;
	search_dirs.n = 1;
	env->headers_search = &search_dirs;
}

static void test_headers_found_elsewhere(void)
{
	struct check_env env;
	char line[4096];

	search_env(&env);
	CHECK_INT(run(&env, MONITOR_PROCMON), 0);
	snprintf(line, sizeof(line),
		 "WARN  headers: %s/nomodules/6.18.44/build missing; using %s/src/linux-headers-6.1.0-27-cloud-amd64 + %s/src/linux-headers-6.1.0-27-common (release 6.1.0-27-cloud-amd64, not the running kernel's: safe because struct offsets come from BTF and libbcc uses these only for its helper includes) -- fix (for exact headers): install linux-headers-6.18.44\n",
		 root, root, root);
	CHECK_OUT(line);
	CHECK(strstr(out_text, "FAIL") == NULL);
	/* check only looks: nothing assembled */
	CHECK(access(at("state"), F_OK) != 0);

	/* without BTF they will not do */
	env.btf_path = at("sys/btf/missing");
	CHECK_INT(run(&env, MONITOR_PROCMON), 1);
	snprintf(line, sizeof(line),
		 "FAIL  headers: no headers for 6.18.44: %s/nomodules/6.18.44/build missing, %s/sys/kheaders.tar.xz missing, no linux-headers-6.18.44 in %s/src; without BTF the struct offsets come from the headers, so they must be this exact kernel's -- fix: install linux-headers-6.18.44 (or use a kernel with CONFIG_DEBUG_INFO_BTF=y)\n",
		 root, root, root);
	CHECK_OUT(line);

	/* the assembled tree needs STATE_DIR */
	env.btf_path = at("sys/btf/vmlinux");
	env.state_dir = at("status_root/sub");
	CHECK_INT(run(&env, MONITOR_PROCMON), 1);
	snprintf(line, sizeof(line),
		 "FAIL  headers: %s/src/linux-headers-6.1.0-27-cloud-amd64 + %s/src/linux-headers-6.1.0-27-common (release 6.1.0-27-cloud-amd64, not the running kernel's: safe because struct offsets come from BTF and libbcc uses these only for its helper includes) must be built under %s/status_root/sub/kernel-headers, which cannot be created -- fix: set STATE_DIR to a writable directory\n",
		 root, root, root);
	CHECK_OUT(line);
}

static void test_headers_exact_and_explicit(void)
{
	struct check_env env;
	char line[4096];

	search_env(&env);
	env.release = "6.1.0-27-cloud-amd64";
	CHECK_INT(run(&env, MONITOR_PROCMON), 0);
	snprintf(line, sizeof(line),
		 "ok    headers: %s/nomodules/6.1.0-27-cloud-amd64/build missing; using %s/src/linux-headers-6.1.0-27-cloud-amd64 + %s/src/linux-headers-6.1.0-27-common (release 6.1.0-27-cloud-amd64, the running kernel's)\n",
		 root, root, root);
	CHECK_OUT(line);

	/* KERNEL_HEADERS wins, even over a good /lib/modules */
	good_env(&env);
	env.kernel_headers = at("src/linux-headers-6.1.0-27-cloud-amd64");
	CHECK_INT(run(&env, MONITOR_PROCMON), 0);
	snprintf(line, sizeof(line),
		 "WARN  headers: using KERNEL_HEADERS=%s/src/linux-headers-6.1.0-27-cloud-amd64 + %s/src/linux-headers-6.1.0-27-common (release 6.1.0-27-cloud-amd64, not the running kernel's: safe because struct offsets come from BTF and libbcc uses these only for its helper includes) -- fix (for exact headers): install linux-headers-6.18.44\n",
		 root, root);
	CHECK_OUT(line);
}

/* The kernel's own headers: ok, and the tarball is not extracted by check. */
static void test_headers_kheaders(void)
{
	struct check_env env;
	char line[4096];

	search_env(&env);
	put("sys/kheaders.tar.xz", "xz");
	CHECK_INT(run(&env, MONITOR_PROCMON), 0);
	snprintf(line, sizeof(line),
		 "ok    headers: %s/nomodules/6.18.44/build missing; using %s/sys/kheaders.tar.xz (the running kernel's own headers), extracted to %s/state/kernel-headers\n",
		 root, root, root);
	CHECK_OUT(line);
	CHECK(access(at("state"), F_OK) != 0);
	unlink(at("sys/kheaders.tar.xz"));
}

static void test_kernel_versions(void)
{
	struct check_env env;

	good_env(&env);
	env.release = "5.8.0-generic";
	run(&env, MONITOR_PROCMON);
	CHECK_OUT("ok    kernel: 5.8.0-generic");
	env.release = "5.7.19";
	run(&env, MONITOR_PROCMON);
	CHECK_OUT("FAIL  kernel: 5.7.19 is older than 5.8");
	env.release = "4.19.0";
	run(&env, MONITOR_PROCMON);
	CHECK_OUT("FAIL  kernel: 4.19.0 is older");
	env.release = "garbage";
	run(&env, MONITOR_PROCMON);
	CHECK_OUT("FAIL  kernel: cannot parse release \"garbage\"");
}

static void test_btf_missing_is_warning(void)
{
	struct check_env env;

	good_env(&env);
	env.btf_path = at("sys/btf/nope");
	CHECK_INT(run(&env, MONITOR_PROCMON), 0);
	CHECK_OUT("WARN  btf: ");
	CHECK_OUT("offsets then come from the kernel headers");
}

static void test_mount_attempt_fails(void)
{
	struct check_env env;
	char line[1024];

	/* a mountpoint that does not exist: mount(2) fails without side effects */
	good_env(&env);
	env.debugfs_dir = at("no_debugfs_here");
	env.may_mount = true;
	CHECK_INT(run(&env, MONITOR_PROCMON), 1);
	snprintf(line, sizeof(line), "and mounting debugfs on %s/no_debugfs_here failed (", root);
	CHECK_OUT(line);
	CHECK_OUT("-- fix: mount -t debugfs none /sys/kernel/debug");
}

static void test_inotify(void)
{
	struct check_env env;

	good_env(&env);
	env.inotify_watches = at("watches_small");
	CHECK_INT(run(&env, MONITOR_FILEMON), 0);
	CHECK_INT(count_lines(), 1);
	CHECK_OUT("WARN  inotify: max_user_watches is 8192 (< 65536");
	CHECK_OUT("-- fix: sysctl fs.inotify.max_user_watches=524288\n");
	env.inotify_watches = at("watches_junk");
	CHECK_INT(run(&env, MONITOR_FILEMON), 1);
	CHECK_OUT("FAIL  inotify: ");
}

/* A node watching its own students says whether it can see them. */
static void test_scope(void)
{
	struct check_env env;

	good_env(&env);
	env.scoped = true;
	CHECK_INT(run(&env, MONITOR_FILEMON), 0);
	CHECK_INT(count_lines(), 2);
	CHECK_OUT("ok    filemon scope: CapEff 000001ffffffffff has CAP_SYS_PTRACE: the node's "
		  "student containers can be seen\n");
	env.proc_status = at("status_bpf");
	CHECK_INT(run(&env, MONITOR_FILEMON), 0);
	CHECK_OUT("WARN  filemon scope: no CAP_SYS_PTRACE: ");
	CHECK_OUT("-- fix: add SYS_PTRACE to the capabilities");
	env.scoped = false;
	CHECK_INT(run(&env, MONITOR_FILEMON), 0);
	CHECK_INT(count_lines(), 1);
}

/* filemon alone needs none of the eBPF prerequisites */
static void test_filemon_only(void)
{
	struct check_env env;

	good_env(&env);
	env.release = "4.0.0";
	env.proc_status = at("status_none");
	CHECK_INT(run(&env, MONITOR_FILEMON), 0);
	CHECK_INT(count_lines(), 1);
	CHECK(strstr(out_text, "kernel") == NULL);
	CHECK_INT(run(&env, 0), 0);
	CHECK_INT(count_lines(), 0);
}

static void test_uname_release(void)
{
	struct check_env env;
	struct utsname uts;
	char line[512];

	good_env(&env);
	env.release = NULL;
	uname(&uts);
	run(&env, MONITOR_PROCMON);
	snprintf(line, sizeof(line), "kernel: %s", uts.release);
	CHECK_OUT(line);
}

int main(void)
{

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	build_tree();
	headers_tree("src/linux-headers-6.1.0-27-cloud-amd64", true, false);
	headers_tree("src/linux-headers-6.1.0-27-common", false, true);
	put("src/linux-headers-6.1.0-27-cloud-amd64/include/generated/utsrelease.h",
	    "#define UTS_RELEASE \"6.1.0-27-cloud-amd64\"\n");
	RUN(test_defaults);
	RUN(test_all_ok);
	RUN(test_everything_fails);
	RUN(test_caps);
	RUN(test_headers_without_include);
	RUN(test_headers_found_elsewhere);
	RUN(test_headers_exact_and_explicit);
	RUN(test_headers_kheaders);
	RUN(test_kernel_versions);
	RUN(test_btf_missing_is_warning);
	RUN(test_mount_attempt_fails);
	RUN(test_inotify);
	RUN(test_scope);
	RUN(test_filemon_only);
	RUN(test_uname_release);
	support_rm_rf(root);
	return TEST_DONE();
}
