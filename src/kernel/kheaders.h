/*
 * kheaders.h - find kernel headers libbcc can compile the BPF text against.
 *
 * Struct offsets come from the running kernel's BTF (btf_offsets.c), so with
 * BTF libbcc needs only *some* kernel headers for its helper includes
 * (bpf_helpers.h pulls in <linux/...>).  A node whose /lib/modules/$(uname
 * -r)/build is missing (kernel upgraded without headers, minimal cloud image,
 * a container without them) need not crash-loop: we look, in this order, at
 *
 *   1. KERNEL_HEADERS, when set (nothing else is tried);
 *   2. /lib/modules/<release>/{build,source}, libbcc's own default;
 *   3. the kernel's own /sys/kernel/kheaders.tar.xz (modprobe kheaders first
 *      when it is absent), extracted under STATE_DIR/kernel-headers/;
 *   4. linux-headers-* under each KERNEL_HEADERS_SEARCH directory in turn
 *      (/usr/src, then the copy shipped in the image), the version closest to
 *      the running kernel first; an exact version anywhere wins.
 *
 * Without BTF the offsets come from the headers themselves, so only exact
 * headers (2, 3, or a tree whose utsrelease.h names this release) are taken.
 *
 * libbcc 0.26 takes an explicit tree only through BCC_KERNEL_SOURCE, and
 * then compiles in that one directory as a unified kernel tree (-Iinclude,
 * -Iarch/x86/include/generated, ...): the Debian/Ubuntu split layout (flavour
 * dir + shared dir) does not work there.  So a split pair is assembled into a
 * unified tree of symlinks under STATE_DIR/kernel-headers/<name>: cheap (a
 * few dozen links), needs no privilege, and never writes to /lib/modules or
 * /usr/src, which the DaemonSet mounts read-only.
 */
#ifndef JCW_KHEADERS_H
#define JCW_KHEADERS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct kheaders_env {
	const char *release;		/* NULL = uname().release */
	const char *machine;		/* NULL = uname().machine */
	const char *explicit_dir;	/* KERNEL_HEADERS, NULL = search */
	const char *modules_dir;	/* /lib/modules */
	const char *kheaders_tar;	/* /sys/kernel/kheaders.tar.xz */
	const struct strlist *search;	/* KERNEL_HEADERS_SEARCH, may be NULL */
	const char *state_dir;		/* STATE_DIR: we write under kernel-headers/ */
	bool have_btf;
	bool may_modprobe;		/* try `modprobe kheaders` when the tarball is absent */
};

enum kheaders_kind {
	KHEADERS_EXPLICIT,	/* KERNEL_HEADERS */
	KHEADERS_MODULES,	/* /lib/modules/<release>/build */
	KHEADERS_KERNEL,	/* /sys/kernel/kheaders.tar.xz */
	KHEADERS_SEARCH,	/* a linux-headers-* directory */
};

struct kheaders_result {
	enum kheaders_kind kind;
	bool exact;			/* known to be the running kernel's headers */
	bool module_loaded;		/* we loaded kheaders: unload when done */
	char found[PATH_MAX];		/* the tree (or tarball) that was found */
	char partner[PATH_MAX];		/* its shared half in a split layout, or "" */
	char version[128];		/* their release, "" when unknown */
	/* What BCC_KERNEL_SOURCE is set to; "" = leave libbcc its default. */
	char path[PATH_MAX];
};

/* Which headers to use; writes nothing.  A negative errno with the reason and its fix in err. */
int kheaders_find(const struct kheaders_env *env, struct kheaders_result *res,
		  char *err, size_t errlen);

/* Extract or assemble res under env->state_dir as needed (res->path is then
 * ready to use).  A negative errno with err on failure. */
int kheaders_prepare(const struct kheaders_env *env, struct kheaders_result *res,
		     char *err, size_t errlen);

/* One line for the log and for `check`: what was chosen and why it is safe. */
void kheaders_describe(const struct kheaders_env *env, const struct kheaders_result *res,
		       char *buf, size_t len);

/* Point libbcc at res->path (BCC_KERNEL_SOURCE).  Call before any thread
 * could read the environment. */
int kheaders_apply(const struct kheaders_result *res);

/* Unload the kheaders module if kheaders_find loaded it. */
void kheaders_release(struct kheaders_result *res);

/* Exposed for tests: compare how close two header versions are to release
 * (<0: a is the better choice). */
int kheaders_version_cmp(const char *release, const char *a, const char *b);

#endif
