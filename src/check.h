/*
 * check.h - the preflight: can this host run the agent?
 *
 * `jcode-watcher check` prints it, and the agent runs it at start-up, so a
 * missing debugfs or kernel headers is reported as one line with its fix
 * instead of as a libbcc compile or attach error deep in the log.
 */
#ifndef JCW_CHECK_H
#define JCW_CHECK_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "kheaders.h"

struct check_env {		/* where to look; tests point these at a fake tree */
	const char *btf_path;		/* /sys/kernel/btf/vmlinux */
	const char *modules_dir;	/* /lib/modules */
	const char *kheaders_tar;	/* /sys/kernel/kheaders.tar.xz */
	const char *kernel_headers;	/* KERNEL_HEADERS, NULL = search */
	const struct strlist *headers_search;	/* KERNEL_HEADERS_SEARCH, NULL = none */
	const char *state_dir;		/* STATE_DIR: assembled headers go there */
	const char *machine;		/* NULL = uname().machine */
	bool may_modprobe;		/* try `modprobe kheaders` */
	const char *debugfs_dir;	/* /sys/kernel/debug */
	const char *proc_status;	/* /proc/self/status (CapEff) */
	const char *inotify_watches;	/* /proc/sys/fs/inotify/max_user_watches */
	const char *release;		/* NULL = uname().release */
	bool may_mount;			/* mount debugfs when tracing is missing */
	bool scoped;			/* filemon watches this node's students only
					 * (WATCH_ALL not 1): it reads their namespaces */
};

void check_env_default(struct check_env *env);

/* The defaults, with the header settings (KERNEL_HEADERS, ..._SEARCH, STATE_DIR) from cfg. */
void check_env_from_config(struct check_env *env, const struct config *cfg);

/*
 * Find the kernel headers, build what is needed under STATE_DIR and point
 * libbcc at them (BCC_KERNEL_SOURCE), logging which and why that is safe.
 * Call before any thread starts: it changes the environment.  A negative errno (logged)
 * when there are none to use.
 */
int check_use_headers(const struct check_env *env);

/* The header search the agent runs, with exactly check's inputs (so what
 * check reports is what the agent uses). */
void check_headers_env(const struct check_env *env, struct kheaders_env *kenv);

enum check_status { CHECK_OK, CHECK_WARN, CHECK_FAIL };

/*
 * Run every check for the selected monitors (MONITOR_* from config.h), print
 * one line per check to out:
 *   "ok    kernel: 6.18.44 (>= 5.8 needed for bounded loops and BTF)"
 *   "WARN  headers: using /usr/src/linux-headers-6.1.0-27-cloud-amd64 + ... -- fix: ..."
 * and return the number of FAILs (0 = the agent can run).
 */
int check_run(FILE *out, const struct check_env *env, unsigned monitors);

#endif
