/*
 * kheaders.c - see kheaders.h.
 */
#define _GNU_SOURCE
#include "kheaders.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"

#define PREFIX "linux-headers-"
#define MAX_VNUM 4
#define MAX_MERGE_DEPTH 6
#define SUBDIR "kernel-headers"

extern char **environ;

struct uname_info {
	char release[128];
	char arch[sizeof(((struct utsname *)0)->machine)];	/* x86, arm64, ... */
};

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool has(const char *dir, const char *rel)
{
	char p[PATH_MAX];

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, rel) >= sizeof(p))
		return false;
	return is_file(p) || is_dir(p);
}

/* uname -m -> the kernel's arch directory, as libbcc's kbuild_helper maps it. */
static void kernel_arch(const char *m, char *out, size_t len)
{
	static const struct { const char *prefix, *arch; } map[] = {
		{ "x86_64", "x86" }, { "aarch64", "arm64" }, { "arm64", "arm64" },
		{ "arm", "arm" }, { "s390x", "s390" }, { "ppc", "powerpc" },
		{ "mips", "mips" }, { "riscv", "riscv" }, { "loongarch", "loongarch" },
	};

	if (m[0] == 'i' && m[1] && !strncmp(m + 2, "86", 2)) {
		snprintf(out, len, "x86");
		return;
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strncmp(m, map[i].prefix, strlen(map[i].prefix))) {
			snprintf(out, len, "%s", map[i].arch);
			return;
		}
	snprintf(out, len, "%s", m);
}

static int get_uname(const struct kheaders_env *env, struct uname_info *u)
{
	struct utsname uts;

	if ((!env->release || !env->machine) && uname(&uts) < 0)
		return -errno;
	snprintf(u->release, sizeof(u->release), "%s", env->release ? env->release : uts.release);
	kernel_arch(env->machine ? env->machine : uts.machine, u->arch, sizeof(u->arch));
	/* The release names a directory under ours: keep it a single name. */
	if (!u->release[0] || strchr(u->release, '/') || u->release[0] == '.')
		return -EINVAL;
	return 0;
}

/*
 * "6.1.0-27-cloud-amd64" -> {6, 1, 0, 27}, suffix "-cloud-amd64".  Numbers
 * are separated by '.' or '-'; the first part that is not a number ends them.
 */
static int parse_version(const char *s, long v[MAX_VNUM], const char **suffix)
{
	int n = 0;

	memset(v, 0, sizeof(long) * MAX_VNUM);
	*suffix = s;
	while (isdigit((unsigned char)*s)) {
		char *end;
		long x = strtol(s, &end, 10);

		if (n < MAX_VNUM)
			v[n] = x;
		n++;
		*suffix = end;
		if ((*end != '.' && *end != '-') || !isdigit((unsigned char)end[1]))
			break;
		s = end + 1;
	}
	return n;
}

int kheaders_version_cmp(const char *release, const char *a, const char *b)
{
	long r[MAX_VNUM], va[MAX_VNUM], vb[MAX_VNUM];
	const char *rs, *as, *bs;

	parse_version(release, r, &rs);
	parse_version(a, va, &as);
	parse_version(b, vb, &bs);
	/* Closest major, then minor, then patch level, then ABI number. */
	for (int i = 0; i < MAX_VNUM; i++) {
		long da = labs(va[i] - r[i]), db = labs(vb[i] - r[i]);

		if (da != db)
			return da < db ? -1 : 1;
	}
	/* Same distance: the same flavour (-cloud-amd64, -generic), then the newer. */
	if ((strcmp(as, rs) == 0) != (strcmp(bs, rs) == 0))
		return strcmp(as, rs) == 0 ? -1 : 1;
	for (int i = 0; i < MAX_VNUM; i++)
		if (va[i] != vb[i])
			return va[i] > vb[i] ? -1 : 1;
	return strcmp(a, b);
}

/* UTS_RELEASE from include/generated/utsrelease.h, "" when unreadable. */
static void read_utsrelease(const char *tree, char *out, size_t len)
{
	char path[PATH_MAX], line[256];
	FILE *f;

	out[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/include/generated/utsrelease.h", tree) >=
	    sizeof(path))
		return;
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *q = strstr(line, "UTS_RELEASE \"");
		char *e;

		if (!q)
			continue;
		q += strlen("UTS_RELEASE \"");
		e = strchr(q, '"');
		if (e && (size_t)(e - q) < len) {
			memcpy(out, q, (size_t)(e - q));
			out[e - q] = '\0';
		}
		break;
	}
	fclose(f);
}

/*
 * What libbcc's unified-tree include list needs (kbuild_helper.cc): the
 * generic headers, the generated config, and the arch headers.
 */
static bool tree_complete(const char *dir, const char *arch)
{
	char asmdir[128], gen[128];

	snprintf(asmdir, sizeof(asmdir), "arch/%s/include/asm", arch);
	snprintf(gen, sizeof(gen), "arch/%s/include/generated", arch);
	return has(dir, "include/linux/kconfig.h") && has(dir, "include/generated/autoconf.h") &&
	       has(dir, asmdir) && has(dir, gen);
}

/* The same, for a split pair: each piece in one half or the other. */
static bool pair_complete(const char *a, const char *b, const char *arch)
{
	char asmdir[128], gen[128];
	const char *need[] = { "include/linux/kconfig.h", "include/generated/autoconf.h",
			       asmdir, gen };

	snprintf(asmdir, sizeof(asmdir), "arch/%s/include/asm", arch);
	snprintf(gen, sizeof(gen), "arch/%s/include/generated", arch);
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!has(a, need[i]) && !has(b, need[i]))
			return false;
	return true;
}

/* The flavour half of a split layout: generated config, no generic headers. */
static bool is_flavour_half(const char *dir)
{
	return has(dir, "include/generated/autoconf.h");
}

/*
 * The shared half next to a flavour dir: Debian names it <version>-common
 * (linux-headers-6.1.0-27-cloud-amd64 + linux-headers-6.1.0-27-common),
 * Ubuntu just <version> (linux-headers-6.8.0-45-generic + linux-headers-6.8.0-45).
 * The flavour dir's Makefile names it too, but by an absolute /usr/src path
 * that is wrong for a copy shipped elsewhere, so the names decide.
 */
static bool find_partner(const char *dir, char *out, size_t len)
{
	const char *base = strrchr(dir, '/');
	const char *ver, *suffix;
	long v[MAX_VNUM];
	char stem[PATH_MAX];
	size_t stemlen;

	base = base ? base + 1 : dir;
	if (strncmp(base, PREFIX, strlen(PREFIX)))
		return false;
	ver = base + strlen(PREFIX);
	if (parse_version(ver, v, &suffix) < 2 || !*suffix)
		return false;
	stemlen = (size_t)(suffix - dir);
	if (stemlen >= sizeof(stem))
		return false;
	memcpy(stem, dir, stemlen);
	stem[stemlen] = '\0';
	if ((size_t)snprintf(out, len, "%s-common", stem) < len &&
	    has(out, "include/linux/kconfig.h"))
		return true;
	if ((size_t)snprintf(out, len, "%s", stem) < len && has(out, "include/linux/kconfig.h"))
		return true;
	out[0] = '\0';
	return false;
}

/* Is dir a usable tree, alone or with its partner?  Fills res on success. */
static bool usable_tree(const char *dir, const struct uname_info *u,
			struct kheaders_result *res)
{
	char real[PATH_MAX], partner[PATH_MAX];

	if (!realpath(dir, real) || !is_dir(real))
		return false;
	res->partner[0] = '\0';
	if (!tree_complete(real, u->arch)) {
		if (!is_flavour_half(real) || !find_partner(real, partner, sizeof(partner)))
			return false;
		if (!realpath(partner, res->partner))
			return false;
		/* Together they must make the whole tree (prepare checks the result too). */
		if (!pair_complete(real, res->partner, u->arch))
			return false;
	}
	snprintf(res->found, sizeof(res->found), "%s", real);
	read_utsrelease(real, res->version, sizeof(res->version));
	res->exact = strcmp(res->version, u->release) == 0;
	return true;
}

/* libbcc's own choice: <modules>/<release>/source when build and source are
 * both there (split layout), else .../build; usable if kconfig.h is in it. */
static bool modules_usable(const struct kheaders_env *env, const struct uname_info *u,
			   struct kheaders_result *res)
{
	char build[PATH_MAX], source[PATH_MAX];
	const char *kpath;

	if ((size_t)snprintf(build, sizeof(build), "%s/%s/build", env->modules_dir,
			     u->release) >= sizeof(build) ||
	    (size_t)snprintf(source, sizeof(source), "%s/%s/source", env->modules_dir,
			     u->release) >= sizeof(source))
		return false;
	kpath = is_dir(build) && is_dir(source) ? source : build;
	if (!has(kpath, "include/linux/kconfig.h"))
		return false;
	res->kind = KHEADERS_MODULES;
	res->exact = true;
	snprintf(res->found, sizeof(res->found), "%s", build);
	read_utsrelease(build, res->version, sizeof(res->version));
	res->path[0] = '\0';
	return true;
}

static int run_program(char *const argv[])
{
	pid_t pid;
	int status;

	int err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);

	if (err)
		return -err;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static bool kernel_tarball(const struct kheaders_env *env, struct kheaders_result *res)
{
	char *modprobe[] = { "modprobe", "-q", "kheaders", NULL };

	if (!env->kheaders_tar)
		return false;
	if (access(env->kheaders_tar, R_OK) != 0 && env->may_modprobe &&
	    run_program(modprobe) == 0 && access(env->kheaders_tar, R_OK) == 0)
		res->module_loaded = true;
	if (access(env->kheaders_tar, R_OK) != 0)
		return false;
	res->kind = KHEADERS_KERNEL;
	res->exact = true;
	snprintf(res->found, sizeof(res->found), "%s", env->kheaders_tar);
	return true;
}

/* The best linux-headers-* in one search directory, by kheaders_version_cmp. */
static bool search_dir(const char *dir, const struct uname_info *u, bool exact_only,
		       struct kheaders_result *res)
{
	struct kheaders_result cand;
	char path[PATH_MAX], best_name[256] = "";
	struct dirent *de;
	DIR *d = opendir(dir);
	bool found = false;

	if (!d)
		return false;
	while ((de = readdir(d))) {
		const char *ver = de->d_name + strlen(PREFIX);

		if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) || strlen(de->d_name) >= sizeof(best_name))
			continue;
		if (exact_only && strcmp(ver, u->release))
			continue;
		if (found && kheaders_version_cmp(u->release, ver, best_name + strlen(PREFIX)) >= 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		memset(&cand, 0, sizeof(cand));
		if (!usable_tree(path, u, &cand))
			continue;
		cand.kind = KHEADERS_SEARCH;
		if (!cand.version[0])
			snprintf(cand.version, sizeof(cand.version), "%s", ver);
		cand.exact = strcmp(cand.version, u->release) == 0;
		*res = cand;
		snprintf(best_name, sizeof(best_name), "%s", de->d_name);
		found = true;
	}
	closedir(d);
	return found;
}

static bool search(const struct kheaders_env *env, const struct uname_info *u, bool exact_only,
		   struct kheaders_result *res)
{
	if (!env->search)
		return false;
	for (size_t i = 0; i < env->search->n; i++)
		if (search_dir(env->search->v[i], u, true, res))
			return true;
	if (exact_only)
		return false;
	for (size_t i = 0; i < env->search->n; i++)
		if (search_dir(env->search->v[i], u, false, res))
			return true;
	return false;
}

static void search_list(const struct kheaders_env *env, char *buf, size_t len)
{
	size_t w = 0;

	buf[0] = '\0';
	for (size_t i = 0; env->search && i < env->search->n && w < len; i++)
		w += (size_t)snprintf(buf + w, len - w, "%s%s", i ? ", " : "", env->search->v[i]);
	if (!buf[0])
		snprintf(buf, len, "(KERNEL_HEADERS_SEARCH is empty)");
}

static int find_explicit(const struct kheaders_env *env, const struct uname_info *u,
			 struct kheaders_result *res, char *err, size_t errlen)
{
	if (!usable_tree(env->explicit_dir, u, res)) {
		snprintf(err, errlen,
			 "KERNEL_HEADERS=%s holds no usable kernel headers (want include/linux/kconfig.h, include/generated/autoconf.h and arch/%s/include, or a linux-headers-* flavour dir next to its -common dir) -- fix: point KERNEL_HEADERS at a linux-headers-* directory, or unset it to search",
			 env->explicit_dir, u->arch);
		return -ENOENT;
	}
	res->kind = KHEADERS_EXPLICIT;
	if (!env->have_btf && !res->exact) {
		snprintf(err, errlen,
			 "KERNEL_HEADERS=%s are for %s, not the running %s, and without BTF the struct offsets come from the headers -- fix: install linux-headers-%s and point KERNEL_HEADERS at them",
			 env->explicit_dir, res->version[0] ? res->version : "an unknown release",
			 u->release, u->release);
		return -ENOENT;
	}
	return 0;
}

/* "<modules>/<release>/build missing" or "... has no include/linux/kconfig.h" */
static void modules_state(const struct kheaders_env *env, const struct uname_info *u,
			  char *buf, size_t len)
{
	char build[PATH_MAX];
	struct stat st;

	snprintf(build, sizeof(build), "%s/%s/build", env->modules_dir, u->release);
	snprintf(buf, len, "%s %s", build,
		 stat(build, &st) == 0 ? "has no include/linux/kconfig.h" : "missing");
}

int kheaders_find(const struct kheaders_env *env, struct kheaders_result *res,
		  char *err, size_t errlen)
{
	struct uname_info u;
	char dirs[1024], mods[PATH_MAX + 64];

	memset(res, 0, sizeof(*res));
	if (get_uname(env, &u) < 0) {
		snprintf(err, errlen, "cannot tell the running kernel's release");
		return -EINVAL;
	}
	if (env->explicit_dir)
		return find_explicit(env, &u, res, err, errlen);
	if (modules_usable(env, &u, res) || kernel_tarball(env, res) ||
	    search(env, &u, !env->have_btf, res))
		return 0;
	search_list(env, dirs, sizeof(dirs));
	modules_state(env, &u, mods, sizeof(mods));
	if (!env->have_btf) {
		snprintf(err, errlen,
			 "no headers for %s: %s, %s missing, no linux-headers-%s in %s; without BTF the struct offsets come from the headers, so they must be this exact kernel's -- fix: install linux-headers-%s (or use a kernel with CONFIG_DEBUG_INFO_BTF=y)",
			 u.release, mods,
			 env->kheaders_tar ? env->kheaders_tar : "kheaders", u.release, dirs, u.release);
		return -ENOENT;
	}
	snprintf(err, errlen,
		 "no kernel headers found for %s: %s, %s missing, no usable linux-headers-* in %s -- fix: install a headers package (Debian: linux-headers-cloud-amd64 or linux-headers-amd64, Ubuntu: linux-headers-generic), or set KERNEL_HEADERS",
		 u.release, mods,
		 env->kheaders_tar ? env->kheaders_tar : "kheaders", dirs);
	return -ENOENT;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove a tree we built; FTW_PHYS: never follow our links into /usr/src. */
static int rm_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/*
 * dst = a over b: directories both have are merged, everything else is a
 * symlink to a's entry, or b's when a has none.  Only the few directories
 * both halves share (include/, arch/<arch>/include/) are ever descended.
 */
static int merge(const char *dst, const char *a, const char *b, int depth)
{
	char pa[PATH_MAX], pb[PATH_MAX], pd[PATH_MAX];
	struct dirent *de;
	const char *src[2] = { a, b };
	int rc = 0;

	if (depth > MAX_MERGE_DEPTH)
		errno = ELOOP;
	if (depth > MAX_MERGE_DEPTH || (mkdir(dst, 0755) < 0 && errno != EEXIST))
		return -errno;
	for (int side = 0; side < 2 && rc == 0; side++) {
		DIR *d = opendir(src[side]);

		if (!d)
			return -errno;
		while (rc == 0 && (de = readdir(d))) {
			struct stat st;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if ((size_t)snprintf(pa, sizeof(pa), "%s/%s", a, de->d_name) >= sizeof(pa) ||
			    (size_t)snprintf(pb, sizeof(pb), "%s/%s", b, de->d_name) >= sizeof(pb) ||
			    (size_t)snprintf(pd, sizeof(pd), "%s/%s", dst, de->d_name) >= sizeof(pd)) {
				errno = ENAMETOOLONG;
				rc = -ENAMETOOLONG;
				break;
			}
			if (side == 1 && lstat(pa, &st) == 0)
				continue;	/* a's, done on the first pass */
			if (side == 0 && is_dir(pa) && is_dir(pb) && !same_file(pa, pb))
				rc = merge(pd, pa, pb, depth + 1);
			else
				rc = symlink(side == 0 ? pa : pb, pd) < 0 ? -errno : 0;
		}
		closedir(d);
	}
	return rc;
}

/*
 * What a tree under STATE_DIR was made from, in its .jcw-source: a start
 * that makes the same choice reuses it instead of replacing a tree another
 * agent (or a test) may be compiling against.
 */
#define MARKER ".jcw-source"

static bool marker_is(const char *dir, const char *want)
{
	char path[PATH_MAX], got[2 * PATH_MAX + 64];
	size_t n;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/" MARKER, dir) >= sizeof(path))
		return false;
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(got, 1, sizeof(got) - 1, f);
	fclose(f);
	got[n] = '\0';
	return strcmp(got, want) == 0;
}

static int write_marker(const char *dir, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/" MARKER, dir) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -ENAMETOOLONG;
	}
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fputs(text, f) < 0) {
		fclose(f);
		return -EIO;
	}
	return fclose(f);
}

/* Give up on the half-made tmp: res names no tree.  Returns err. */
static int discard(const char *tmp, struct kheaders_result *res, int err)
{
	rm_tree(tmp);
	res->path[0] = '\0';
	return err;
}

/* Move the finished tmp to dst; if another start got there first with the
 * same tree, keep theirs.  On failure res names no tree. */
static int install_tree(const char *tmp, const char *dst, const char *source,
			const char *arch, struct kheaders_result *res, char *err, size_t errlen)
{
	if (marker_is(dst, source) && tree_complete(dst, arch)) {
		rm_tree(tmp);
		return 0;
	}
	if (rm_tree(dst) < 0 || rename(tmp, dst) < 0) {
		snprintf(err, errlen, "replacing %s: %s", dst, strerror(errno));
		return discard(tmp, res, -errno);
	}
	return 0;
}

static int assemble(const struct uname_info *u,
		    struct kheaders_result *res, const char *top, char *err, size_t errlen)
{
	const char *name = strrchr(res->found, '/') + 1;
	char dst[PATH_MAX], tmp[PATH_MAX + 32], source[2 * PATH_MAX + 8];

	if ((size_t)snprintf(dst, sizeof(dst), "%s/%s", top, name) >= sizeof(dst)) {
		snprintf(err, errlen, "STATE_DIR path too long");
		return -ENAMETOOLONG;
	}
	snprintf(res->path, sizeof(res->path), "%s", dst);
	snprintf(source, sizeof(source), "%s\n%s\n", res->found, res->partner);
	if (marker_is(dst, source) && tree_complete(dst, u->arch))
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", dst, (long)getpid());
	rm_tree(tmp);
	if (merge(tmp, res->found, res->partner, 0) < 0 || write_marker(tmp, source) < 0) {
		snprintf(err, errlen, "assembling %s + %s in %s: %s", res->found, res->partner,
			 tmp, strerror(errno));
		return discard(tmp, res, -errno);
	}
	if (!tree_complete(tmp, u->arch)) {
		snprintf(err, errlen, "%s + %s do not make a whole kernel tree for arch %s",
			 res->found, res->partner, u->arch);
		return discard(tmp, res, -ENOENT);
	}
	return install_tree(tmp, dst, source, u->arch, res, err, errlen);
}

/* The tarball's size names the extraction: a rebooted kernel of the same
 * release with other headers gets a fresh one. */
static int extract(const struct uname_info *u,
		   struct kheaders_result *res, const char *top, char *err, size_t errlen)
{
	char dst[PATH_MAX], tmp[PATH_MAX + 32], source[PATH_MAX + 64];
	char *tar[] = { "tar", "--no-same-owner", "-xJf", res->found, "-C", tmp, NULL };
	struct stat st;

	if (stat(res->found, &st) < 0 ||
	    (size_t)snprintf(dst, sizeof(dst), "%s/kheaders-%s", top, u->release) >= sizeof(dst)) {
		snprintf(err, errlen, "%s: %s", res->found, strerror(errno));
		return -errno;
	}
	snprintf(res->path, sizeof(res->path), "%s", dst);
	snprintf(source, sizeof(source), "%s\n%lld\n", res->found, (long long)st.st_size);
	if (marker_is(dst, source) && tree_complete(dst, u->arch))
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", dst, (long)getpid());
	rm_tree(tmp);
	if (mkdir(tmp, 0755) < 0 || run_program(tar) < 0) {
		snprintf(err, errlen, "extracting %s into %s failed (tar and xz installed?)",
			 res->found, tmp);
		return discard(tmp, res, -EIO);
	}
	if (!tree_complete(tmp, u->arch)) {
		snprintf(err, errlen, "%s holds no whole kernel tree for arch %s", res->found, u->arch);
		return discard(tmp, res, -ENOENT);
	}
	if (write_marker(tmp, source) < 0) {
		snprintf(err, errlen, "writing %s/" MARKER ": %s", tmp, strerror(errno));
		return discard(tmp, res, -errno);
	}
	return install_tree(tmp, dst, source, u->arch, res, err, errlen);
}

int kheaders_prepare(const struct kheaders_env *env, struct kheaders_result *res,
		     char *err, size_t errlen)
{
	struct uname_info u;
	char top[PATH_MAX];

	if (get_uname(env, &u) < 0) {
		snprintf(err, errlen, "cannot tell the running kernel's release");
		return -EINVAL;
	}
	if (res->kind == KHEADERS_MODULES)
		return 0;
	if (res->kind != KHEADERS_KERNEL && !res->partner[0]) {
		snprintf(res->path, sizeof(res->path), "%s", res->found);
		return 0;
	}
	if ((size_t)snprintf(top, sizeof(top), "%s/" SUBDIR, env->state_dir) >= sizeof(top) ||
	    fs_mkdir_p(top, 0755) < 0) {
		snprintf(err, errlen, "cannot create %s/" SUBDIR ": %s (set STATE_DIR to a writable directory)",
			 env->state_dir, strerror(errno));
		return -errno;
	}
	if (res->kind == KHEADERS_KERNEL)
		return extract(&u, res, top, err, errlen);
	return assemble(&u, res, top, err, errlen);
}

void kheaders_describe(const struct kheaders_env *env, const struct kheaders_result *res,
		       char *buf, size_t len)
{
	char pair[2 * PATH_MAX + 8];
	const char *ver = res->version[0] ? res->version : "unknown";

	snprintf(pair, sizeof(pair), "%s%s%s", res->found, res->partner[0] ? " + " : "",
		 res->partner);
	switch (res->kind) {
	case KHEADERS_MODULES:
		snprintf(buf, len, "%s", res->found);
		return;
	case KHEADERS_KERNEL:
		snprintf(buf, len, "%s (the running kernel's own headers%s), extracted to %s/" SUBDIR,
			 res->found, res->module_loaded ? ", module kheaders loaded" : "",
			 env->state_dir);
		return;
	case KHEADERS_EXPLICIT:
	case KHEADERS_SEARCH:
		break;
	}
	if (res->exact)
		snprintf(buf, len, "%s%s (release %s, the running kernel's)",
			 res->kind == KHEADERS_EXPLICIT ? "KERNEL_HEADERS=" : "", pair, ver);
	else
		snprintf(buf, len,
			 "%s%s (release %s, not the running kernel's: safe because struct offsets come from BTF and libbcc uses these only for its helper includes)",
			 res->kind == KHEADERS_EXPLICIT ? "KERNEL_HEADERS=" : "", pair, ver);
}

int kheaders_apply(const struct kheaders_result *res)
{
	if (!res->path[0])
		return unsetenv("BCC_KERNEL_SOURCE");
	return setenv("BCC_KERNEL_SOURCE", res->path, 1);
}

void kheaders_release(struct kheaders_result *res)
{
	char *rmmod[] = { "modprobe", "-q", "-r", "kheaders", NULL };

	if (!res->module_loaded)
		return;
	/* Like libbcc: the module holds the tarball in memory. */
	if (run_program(rmmod) < 0)
		log_warn("kheaders", "could not unload module kheaders");
	res->module_loaded = false;
}
