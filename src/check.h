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

struct check_env {		/* where to look; tests point these at a fake tree */
	const char *btf_path;		/* /sys/kernel/btf/vmlinux */
	const char *modules_dir;	/* /lib/modules */
	const char *debugfs_dir;	/* /sys/kernel/debug */
	const char *proc_status;	/* /proc/self/status (CapEff) */
	const char *inotify_watches;	/* /proc/sys/fs/inotify/max_user_watches */
	const char *release;		/* NULL = uname().release */
	bool may_mount;			/* mount debugfs when tracing is missing */
};

void check_env_default(struct check_env *env);

enum check_status { CHECK_OK, CHECK_WARN, CHECK_FAIL };

/*
 * Run every check for the selected monitors (MONITOR_* from config.h), print
 * one line per check to out:
 *   "ok    kernel: 6.18.44 (>= 5.8 needed for bounded loops and BTF)"
 *   "FAIL  headers: /lib/modules/6.18.44/build missing -- fix: ..."
 * and return the number of FAILs (0 = the agent can run).
 */
int check_run(FILE *out, const struct check_env *env, unsigned monitors);

#endif
