/*
 * test_kheaders.c - the header search and the assembled tree, against fake
 * /lib/modules, /usr/src, image and kheaders trees in a temp dir.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kheaders.h"
#include "support.h"
#include "testlib.h"

static char root[] = "/tmp/test_kheaders.XXXXXX";

static char *at(const char *rel)
{
	static char bufs[32][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 32];

	snprintf(b, sizeof(bufs[0]), "%s/%s", root, rel);
	return b;
}

static void mkdirs(const char *path)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		mkdir(p, 0755);
		*c = '/';
	}
	mkdir(p, 0755);
}

/* Write rel (under root), creating its directories. */
static void put(const char *rel, const char *text)
{
	char *path = at(rel), dir[PATH_MAX];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdirs(dir);
	f = fopen(path, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static void utsrelease(const char *tree, const char *release)
{
	char rel[PATH_MAX], text[256];

	snprintf(rel, sizeof(rel), "%s/include/generated/utsrelease.h", tree);
	snprintf(text, sizeof(text), "#define UTS_RELEASE \"%s\"\n", release);
	put(rel, text);
}

/* The flavour half: generated config, as Debian's -cloud-amd64 / Ubuntu's -generic. */
static void flavour_half(const char *tree, const char *release)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/include/generated/autoconf.h", tree);
	put(rel, "#define CONFIG_X86_64 1\n");
	snprintf(rel, sizeof(rel), "%s/include/config/auto.conf", tree);
	put(rel, "CONFIG_X86_64=y\n");
	snprintf(rel, sizeof(rel), "%s/arch/x86/include/generated/asm/cpufeaturemasks.h", tree);
	put(rel, "/* generated */\n");
	snprintf(rel, sizeof(rel), "%s/Makefile", tree);
	put(rel, "include flavour\n");
	utsrelease(tree, release);
}

/* The shared half: generic and arch headers, as Debian's -common. */
static void shared_half(const char *tree)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/include/linux/kconfig.h", tree);
	put(rel, "#include <generated/autoconf.h>\n");
	snprintf(rel, sizeof(rel), "%s/include/uapi/linux/bpf.h", tree);
	put(rel, "/* bpf */\n");
	snprintf(rel, sizeof(rel), "%s/arch/x86/include/asm/ptrace.h", tree);
	put(rel, "/* ptrace */\n");
	snprintf(rel, sizeof(rel), "%s/arch/arm64/include/asm/ptrace.h", tree);
	put(rel, "/* arm64 */\n");
	snprintf(rel, sizeof(rel), "%s/Makefile", tree);
	put(rel, "shared\n");
}

static void whole_tree(const char *tree, const char *release)
{
	flavour_half(tree, release);
	shared_half(tree);
}

static struct strlist search_list;

static void env_init(struct kheaders_env *env, const char *release, bool btf)
{
	static char *dirs[2];

	dirs[0] = at("usr/src");
	dirs[1] = at("opt/kernel-headers");
	search_list.v = dirs;
	search_list.n = 2;
	memset(env, 0, sizeof(*env));
	env->release = release;
	env->machine = "x86_64";
	env->modules_dir = at("lib/modules");
	env->kheaders_tar = at("sys/kernel/kheaders.tar.xz");
	env->search = &search_list;
	env->state_dir = at("state");
	env->have_btf = btf;
	env->may_modprobe = false;
}

static void fresh_root(void)
{
	support_rm_rf(root);
	mkdir(root, 0755);
	mkdirs(at("lib/modules"));
	mkdirs(at("usr/src"));
	mkdirs(at("opt/kernel-headers"));
}

static const char *link_of(const char *rel)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink(at(rel), buf, sizeof(buf) - 1);

	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void test_version_cmp(void)
{
	/* closest minor first, whatever the patch level */
	CHECK(kheaders_version_cmp("6.5.0-10-amd64", "6.8.0-45-generic", "6.1.0-27-cloud-amd64") < 0);
	CHECK(kheaders_version_cmp("6.18.44-fc-v595", "6.12.1", "6.1.0-56-cloud-amd64") < 0);
	/* same minor: closest ABI number */
	CHECK(kheaders_version_cmp("6.1.0-28-cloud-amd64", "6.1.0-27-cloud-amd64",
				   "6.1.0-30-cloud-amd64") < 0);
	/* same distance: the same flavour wins, then the newer */
	CHECK(kheaders_version_cmp("6.1.0-28-cloud-amd64", "6.1.0-27-amd64",
				   "6.1.0-27-cloud-amd64") > 0);
	CHECK(kheaders_version_cmp("6.1.0-28-cloud-amd64", "6.1.0-27-amd64",
				   "6.1.0-29-amd64") > 0);
	CHECK_INT(kheaders_version_cmp("6.1.0", "6.1.0-1-amd64", "6.1.0-1-amd64"), 0);
	/* junk never crashes and sorts after any version */
	CHECK(kheaders_version_cmp("6.1.0", "6.1.0-1", "junk") < 0);
}

/* Debian: linux-headers-6.1.0-27-cloud-amd64 + linux-headers-6.1.0-27-common. */
static void test_debian_split(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048], line[4096], want[4096];

	fresh_root();
	flavour_half("usr/src/linux-headers-6.1.0-27-cloud-amd64", "6.1.0-27-cloud-amd64");
	shared_half("usr/src/linux-headers-6.1.0-27-common");
	env_init(&env, "6.18.44-fc-v595", true);
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_INT(res.kind, KHEADERS_SEARCH);
	CHECK_INT(res.exact, 0);
	CHECK_STR(res.found, at("usr/src/linux-headers-6.1.0-27-cloud-amd64"));
	CHECK_STR(res.partner, at("usr/src/linux-headers-6.1.0-27-common"));
	CHECK_STR(res.version, "6.1.0-27-cloud-amd64");
	CHECK_STR(res.path, "");
	/* find writes nothing */
	CHECK(!exists(at("state")));
	kheaders_describe(&env, &res, line, sizeof(line));
	snprintf(want, sizeof(want),
		 "%s/usr/src/linux-headers-6.1.0-27-cloud-amd64 + %s/usr/src/linux-headers-6.1.0-27-common (release 6.1.0-27-cloud-amd64, not the running kernel's: safe because struct offsets come from BTF and libbcc uses these only for its helper includes)",
		 root, root);
	CHECK_STR(line, want);

	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.path, at("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64"));
	/* one unified tree, as libbcc's BCC_KERNEL_SOURCE wants it */
	CHECK_STR(link_of("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/include/linux"),
		  at("usr/src/linux-headers-6.1.0-27-common/include/linux"));
	CHECK_STR(link_of("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/include/generated"),
		  at("usr/src/linux-headers-6.1.0-27-cloud-amd64/include/generated"));
	CHECK_STR(link_of("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/arch/x86/include/asm"),
		  at("usr/src/linux-headers-6.1.0-27-common/arch/x86/include/asm"));
	CHECK_STR(link_of("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/arch/x86/include/generated"),
		  at("usr/src/linux-headers-6.1.0-27-cloud-amd64/arch/x86/include/generated"));
	CHECK_STR(link_of("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/arch/arm64"),
		  at("usr/src/linux-headers-6.1.0-27-common/arch/arm64"));
	/* the flavour's Makefile wins over the shared one */
	CHECK_STR(link_of("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/Makefile"),
		  at("usr/src/linux-headers-6.1.0-27-cloud-amd64/Makefile"));
	CHECK(exists(at("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/include/linux/kconfig.h")));
	/* /usr/src untouched */
	CHECK_INT(support_count_entries(at("usr/src/linux-headers-6.1.0-27-cloud-amd64/include")), 2);
	CHECK_INT(support_count_entries(at("usr/src/linux-headers-6.1.0-27-common/include")), 2);
	snprintf(want, sizeof(want), "%s/usr/src/linux-headers-6.1.0-27-cloud-amd64\n%s/usr/src/linux-headers-6.1.0-27-common\n",
		 root, root);
	CHECK_STR(support_slurp(at("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/.jcw-source")),
		  want);
	/* a second start with the same choice reuses the tree: a file put there survives */
	put("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/extra", "x");
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), 0);
	CHECK(exists(at("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/extra")));
	/* made from something else: rebuilt in place, no leftovers */
	put("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/.jcw-source", "other\n");
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), 0);
	CHECK(!exists(at("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/extra")));
	CHECK(exists(at("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64/include/linux/kconfig.h")));
	CHECK_INT(support_count_entries(at("state/kernel-headers")), 1);
	CHECK_INT(kheaders_apply(&res), 0);
	CHECK_STR(getenv("BCC_KERNEL_SOURCE"), res.path);
}

/* Ubuntu: linux-headers-6.8.0-45-generic + linux-headers-6.8.0-45, shipped in the image dir. */
static void test_ubuntu_split_in_image_dir(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048];

	fresh_root();
	flavour_half("opt/kernel-headers/linux-headers-6.8.0-45-generic", "6.8.0-45-generic");
	shared_half("opt/kernel-headers/linux-headers-6.8.0-45");
	env_init(&env, "6.8.0-50-generic", true);
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_INT(res.kind, KHEADERS_SEARCH);
	CHECK_STR(res.found, at("opt/kernel-headers/linux-headers-6.8.0-45-generic"));
	CHECK_STR(res.partner, at("opt/kernel-headers/linux-headers-6.8.0-45"));
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.path, at("state/kernel-headers/linux-headers-6.8.0-45-generic"));
	CHECK_STR(link_of("state/kernel-headers/linux-headers-6.8.0-45-generic/include/linux"),
		  at("opt/kernel-headers/linux-headers-6.8.0-45/include/linux"));
	CHECK(exists(at("state/kernel-headers/linux-headers-6.8.0-45-generic/arch/x86/include/generated/asm/cpufeaturemasks.h")));
}

/* A unified tree (or Ubuntu's link farm) is used where it is: nothing built. */
static void test_unified_tree_used_in_place(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048];

	fresh_root();
	whole_tree("usr/src/linux-headers-6.12.5", "6.12.5");
	env_init(&env, "6.18.44-fc-v595", true);
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.partner, "");
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.path, at("usr/src/linux-headers-6.12.5"));
	CHECK(!exists(at("state")));
}

/* Closest version first; an exact version in a later dir wins; a lone -common is no candidate. */
static void test_closest_version(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048];

	fresh_root();
	flavour_half("usr/src/linux-headers-6.1.0-27-cloud-amd64", "6.1.0-27-cloud-amd64");
	shared_half("usr/src/linux-headers-6.1.0-27-common");
	flavour_half("usr/src/linux-headers-6.8.0-45-generic", "6.8.0-45-generic");
	shared_half("usr/src/linux-headers-6.8.0-45");
	flavour_half("usr/src/linux-headers-6.6.0-1-amd64", "6.6.0-1-amd64");	/* no -common */
	shared_half("usr/src/linux-headers-6.12.0-1-common");			/* no flavour */
	whole_tree("opt/kernel-headers/linux-headers-6.7.0", "6.7.0");
	/* an arm64-only pair is no use on x86 */
	put("usr/src/linux-headers-6.5.0-9-arm64/include/generated/autoconf.h", "");
	put("usr/src/linux-headers-6.5.0-9-arm64/arch/arm64/include/generated/x.h", "");
	put("usr/src/linux-headers-6.5.0-9-common/include/linux/kconfig.h", "");
	put("usr/src/linux-headers-6.5.0-9-common/arch/arm64/include/asm/x.h", "");
	env_init(&env, "6.5.0-10-amd64", true);
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	/* 6.5 (arm64) and 6.6 (no shared half) are closer; /usr/src before the image */
	CHECK_STR(res.found, at("usr/src/linux-headers-6.8.0-45-generic"));
	env.release = "6.1.0-30-cloud-amd64";
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.found, at("usr/src/linux-headers-6.1.0-27-cloud-amd64"));
	env.release = "6.7.0";
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.found, at("opt/kernel-headers/linux-headers-6.7.0"));
	CHECK_INT(res.exact, 1);
}

static void test_modules_dir_first(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048], line[4096];

	fresh_root();
	whole_tree("usr/src/linux-headers-6.1.0-27-cloud-amd64", "6.1.0-27-cloud-amd64");
	whole_tree("lib/modules/6.18.44/build", "6.18.44");
	env_init(&env, "6.18.44", false);
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_INT(res.kind, KHEADERS_MODULES);
	CHECK_INT(res.exact, 1);
	CHECK_STR(res.found, at("lib/modules/6.18.44/build"));
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.path, "");
	kheaders_describe(&env, &res, line, sizeof(line));
	CHECK_STR(line, at("lib/modules/6.18.44/build"));
	CHECK_INT(kheaders_apply(&res), 0);
	CHECK(getenv("BCC_KERNEL_SOURCE") == NULL);
	/* a build dir without include/linux/kconfig.h does not count */
	support_rm_rf(at("lib/modules/6.18.44/build/include/linux"));
	env.have_btf = true;
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_INT(res.kind, KHEADERS_SEARCH);
}

static int make_tarball(void)
{
	char cmd[PATH_MAX * 2];

	whole_tree("kh-src", "6.18.44");
	mkdirs(at("sys/kernel"));
	snprintf(cmd, sizeof(cmd), "tar -cJf %s -C %s include arch",
		 at("sys/kernel/kheaders.tar.xz"), at("kh-src"));
	return system(cmd);
}

static void test_kernel_tarball(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048], line[4096], want[4096];

	fresh_root();
	whole_tree("usr/src/linux-headers-6.18.44", "6.18.44");	/* exact, yet kheaders comes first */
	CHECK_INT(make_tarball(), 0);
	env_init(&env, "6.18.44", false);
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_INT(res.kind, KHEADERS_KERNEL);
	CHECK_INT(res.exact, 1);
	CHECK_STR(res.found, at("sys/kernel/kheaders.tar.xz"));
	CHECK(!exists(at("state")));
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.path, at("state/kernel-headers/kheaders-6.18.44"));
	CHECK_STR(support_slurp(at("state/kernel-headers/kheaders-6.18.44/include/linux/kconfig.h")),
		  "#include <generated/autoconf.h>\n");
	CHECK(exists(at("state/kernel-headers/kheaders-6.18.44/arch/x86/include/asm/ptrace.h")));
	kheaders_describe(&env, &res, line, sizeof(line));
	snprintf(want, sizeof(want),
		 "%s/sys/kernel/kheaders.tar.xz (the running kernel's own headers), extracted to %s/state/kernel-headers",
		 root, root);
	CHECK_STR(line, want);
	snprintf(want, sizeof(want), "%s/sys/kernel/kheaders.tar.xz\n%lld\n", root,
		 (long long)file_size(at("sys/kernel/kheaders.tar.xz")));
	CHECK_STR(support_slurp(at("state/kernel-headers/kheaders-6.18.44/.jcw-source")), want);
	/* the next start reuses the extraction: a file put there survives */
	put("state/kernel-headers/kheaders-6.18.44/include/marker", "x");
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), 0);
	CHECK(exists(at("state/kernel-headers/kheaders-6.18.44/include/marker")));
	CHECK_INT(support_count_entries(at("state/kernel-headers")), 1);
	/* a broken tarball: a clear error, nothing left behind */
	put("sys/kernel/kheaders.tar.xz", "not xz");
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), -EIO);
	snprintf(want, sizeof(want), "extracting %s/sys/kernel/kheaders.tar.xz into %s/state/kernel-headers/kheaders-6.18.44.tmp-",
		 root, root);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	CHECK_INT(support_count_entries(at("state/kernel-headers")), 1);
}

static void test_explicit_override(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048], want[4096];

	fresh_root();
	whole_tree("lib/modules/6.18.44/build", "6.18.44");
	flavour_half("elsewhere/linux-headers-6.1.0-27-cloud-amd64", "6.1.0-27-cloud-amd64");
	shared_half("elsewhere/linux-headers-6.1.0-27-common");
	mkdirs(at("junk/include"));
	env_init(&env, "6.18.44", true);
	/* explicit wins over /lib/modules, and a split pair is assembled */
	env.explicit_dir = at("elsewhere/linux-headers-6.1.0-27-cloud-amd64");
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_INT(res.kind, KHEADERS_EXPLICIT);
	CHECK_STR(res.partner, at("elsewhere/linux-headers-6.1.0-27-common"));
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.path, at("state/kernel-headers/linux-headers-6.1.0-27-cloud-amd64"));
	/* without BTF another version is refused */
	env.have_btf = false;
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "KERNEL_HEADERS=%s are for 6.1.0-27-cloud-amd64, not the running 6.18.44, and without BTF the struct offsets come from the headers -- fix: install linux-headers-6.18.44 and point KERNEL_HEADERS at them",
		 env.explicit_dir);
	CHECK_STR(err, want);
	/* junk: no fallback to the search, a clear error */
	env.have_btf = true;
	env.explicit_dir = at("junk");
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "KERNEL_HEADERS=%s holds no usable kernel headers (want include/linux/kconfig.h, include/generated/autoconf.h and arch/x86/include, or a linux-headers-* flavour dir next to its -common dir) -- fix: point KERNEL_HEADERS at a linux-headers-* directory, or unset it to search",
		 env.explicit_dir);
	CHECK_STR(err, want);
}

static void test_none_found(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048], want[4096];

	fresh_root();
	shared_half("usr/src/linux-headers-6.1.0-27-common");
	env_init(&env, "6.18.44", true);
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "no kernel headers found for 6.18.44: %s/lib/modules/6.18.44/build missing, %s/sys/kernel/kheaders.tar.xz missing, no usable linux-headers-* in %s/usr/src, %s/opt/kernel-headers -- fix: install a headers package (Debian: linux-headers-cloud-amd64 or linux-headers-amd64, Ubuntu: linux-headers-generic), or set KERNEL_HEADERS",
		 root, root, root, root);
	CHECK_STR(err, want);
}

/* Without BTF only this kernel's own headers do. */
static void test_no_btf_needs_exact(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048], want[4096];

	fresh_root();
	whole_tree("usr/src/linux-headers-6.1.0-27-cloud-amd64", "6.1.0-27-cloud-amd64");
	env_init(&env, "6.18.44", false);
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "no headers for 6.18.44: %s/lib/modules/6.18.44/build missing, %s/sys/kernel/kheaders.tar.xz missing, no linux-headers-6.18.44 in %s/usr/src, %s/opt/kernel-headers; without BTF the struct offsets come from the headers, so they must be this exact kernel's -- fix: install linux-headers-6.18.44 (or use a kernel with CONFIG_DEBUG_INFO_BTF=y)",
		 root, root, root, root);
	CHECK_STR(err, want);
	whole_tree("opt/kernel-headers/linux-headers-6.18.44", "6.18.44");
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_STR(res.found, at("opt/kernel-headers/linux-headers-6.18.44"));
	CHECK_INT(res.exact, 1);
}

/* STATE_DIR that cannot be created: prepare says so, find does not care. */
static void test_state_dir_unwritable(void)
{
	struct kheaders_env env;
	struct kheaders_result res;
	char err[2048], want[4096];

	fresh_root();
	flavour_half("usr/src/linux-headers-6.1.0-27-cloud-amd64", "6.1.0-27-cloud-amd64");
	shared_half("usr/src/linux-headers-6.1.0-27-common");
	put("state-file", "x");
	env_init(&env, "6.18.44", true);
	env.state_dir = at("state-file");
	CHECK_INT(kheaders_find(&env, &res, err, sizeof(err)), 0);
	CHECK_INT(kheaders_prepare(&env, &res, err, sizeof(err)), -ENOTDIR);
	snprintf(want, sizeof(want),
		 "cannot create %s/state-file/kernel-headers: Not a directory (set STATE_DIR to a writable directory)",
		 root);
	CHECK_STR(err, want);
}

int main(void)
{
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_version_cmp);
	RUN(test_debian_split);
	RUN(test_ubuntu_split_in_image_dir);
	RUN(test_unified_tree_used_in_place);
	RUN(test_closest_version);
	RUN(test_modules_dir_first);
	RUN(test_kernel_tarball);
	RUN(test_explicit_override);
	RUN(test_none_found);
	RUN(test_no_btf_needs_exact);
	RUN(test_state_dir_unwritable);
	support_rm_rf(root);
	return TEST_DONE();
}
