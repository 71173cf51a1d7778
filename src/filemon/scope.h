/*
 * scope.h - which student workspaces below WATCH_ROOT this node watches.
 *
 * On a cluster every node mounts every student's workspace, but only the
 * students whose containers run on the node save files there.  Watching all
 * of them makes inotify watches and the start-up scan grow with the cluster,
 * and a restarted node would re-snapshot what students on other nodes
 * changed.  So a workspace is watched while its student is here: learned
 * from procmon (every exec of a jcode-* container on this node, and the
 * node's live UTS namespaces), or named in a static list.
 *
 * Students are hostile: `unshare -Ur --uts` gives any hostname, so a
 * workspace is added only when its directory already exists below
 * WATCH_ROOT (never made), and at most `max` are learned.  A learned
 * workspace whose student has not been seen for idle_ms, and whose
 * hostname no live namespace on the node carries, is dropped.
 *
 * Times are the caller's milliseconds (loop_now_ms(), or a test's clock).
 */
#ifndef JCW_SCOPE_H
#define JCW_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

/* The limits' defaults, config.c's too (its MAX_WORKSPACES and
 * WORKSPACE_IDLE_SECONDS): one number each, whichever way it is reached. */
#define SCOPE_DEFAULT_MAX 1024
#define SCOPE_DEFAULT_IDLE_S 3600

struct scope_config {
	bool all;			/* WATCH_ALL: every workspace; the rest is ignored */
	char *const *students;		/* WATCH_STUDENTS: workspace names, always watched */
	size_t nstudents;
	size_t max;			/* MAX_WORKSPACES: learned ones at once; 0 = default */
	long long idle_ms;		/* WORKSPACE_IDLE_SECONDS in ms; 0 = default */
};

enum scope_seen {
	SCOPE_KNOWN,			/* watched already (its idle time restarts) */
	SCOPE_ADDED,			/* newly watched: the caller scans it */
	SCOPE_REFUSED_LIMIT,		/* max learned workspaces reached */
	SCOPE_REFUSED_MISSING,		/* no such directory below the root */
	SCOPE_INVALID,			/* not a workspace name */
};

/* The workspaces' liveness check: refresh (scope_seen()) every workspace
 * whose student has a live container on the node.  0, or a negative errno
 * when some namespace could not be read: then nothing is dropped. */
typedef int scope_live_fn(void *arg);
/* A workspace leaves the scope (called before it is forgotten). */
typedef void scope_drop_fn(void *arg, const char *name);

struct scope;

/* rootfd: WATCH_ROOT, O_PATH; borrowed.  NULL on ENOMEM or a bad name in
 * the static list. */
struct scope *scope_create(const struct scope_config *cfg, int rootfd);
void scope_free(struct scope *s);

/* Every workspace is watched (WATCH_ALL). */
bool scope_all(const struct scope *s);
/* Watch every workspace from now on. */
void scope_watch_all(struct scope *s);
/* Is the directory called name directly below the root watched? */
bool scope_wants(const struct scope *s, const char *name);
/* The student of workspace name runs something here now. */
enum scope_seen scope_seen(struct scope *s, const char *name, long long now_ms);
/* Workspaces watched now (static and learned; 0 with WATCH_ALL). */
size_t scope_count(const struct scope *s);

/*
 * Drop the learned workspaces idle since now_ms - idle_ms whose student
 * has no live container: live() is asked first, only when some workspace
 * is idle; drop() is told of each one dropped.  Returns how many were
 * dropped.
 */
size_t scope_expire(struct scope *s, long long now_ms, scope_live_fn *live, void *live_arg,
		    scope_drop_fn *drop, void *drop_arg);

/* WORKSPACE_IDLE_SECONDS in ms, the default filled in. */
long long scope_idle_ms(const struct scope *s);
/* How often scope_expire() is worth calling: a quarter of the idle time,
 * between 1 s and 60 s. */
long long scope_sweep_ms(const struct scope *s);

#endif
