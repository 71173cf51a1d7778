/*
 * filemon.h - watch the students' source files and report each save.
 *
 * inotify watches every directory below WATCH_ROOT that could hold a
 * captured file (see snapshot_dir_wanted()), and nothing else: virtualenvs
 * and hidden directories would eat the watch limit for no snapshot.  Changes
 * are debounced per path (debounce.h), then copied into SNAPSHOT_BASE and
 * announced to the API (snapshot.h, sender.h), all on the agent's one loop.
 *
 * Nothing is dropped for want of a resource: a snapshot SNAPSHOT_BASE
 * cannot take is kept and retried (and /readyz fails while the base
 * fails), a directory the watch limit or its student's budget refuses is
 * retried and scanned once watched, and the restart marker never passes
 * a change still waiting, so a crash loses none of them.
 */
#ifndef JCW_FILEMON_H
#define JCW_FILEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"
#include "sender.h"
#include "snapshot.h"

struct filemon_config {
	const char *watch_root;      /* WATCH_ROOT: holds {subject}-{division}-{student_id}/hw{N}/... */
	const char *snapshot_base;   /* SNAPSHOT_BASE */
	long long max_file_size;     /* MAX_CAPTURABLE_FILE_SIZE */
	long debounce_window_ms;     /* 600 */
	long debounce_max_wait_ms;   /* 3000 */
	int hw_max;                  /* 20 */
	int watches_per_student;     /* WATCHES_PER_STUDENT: inotify watches one workspace
				      * may hold, 0 = no budget */
	const struct snapshot_perms *perms; /* SNAPSHOT_MODE, SNAPSHOT_OWNER; NULL = 0640,
					     * the agent's owner */
	/* Which workspaces (scope.h).  false: every one below the root
	 * (WATCH_ALL); true: those of WATCH_STUDENTS and of the students
	 * filemon_student_seen() names, and of the live namespaces. */
	bool scoped;
	/* WATCH_ALL=auto: when some of the node's namespaces cannot be read
	 * at start (no CAP_SYS_PTRACE), who is here is not known: watch every
	 * workspace rather than miss the saves of students idle since then. */
	bool all_if_blind;
	char *const *students;       /* WATCH_STUDENTS */
	size_t nstudents;
	int max_workspaces;          /* MAX_WORKSPACES; 0 = 1024 */
	long long workspace_idle_ms; /* WORKSPACE_IDLE_SECONDS; 0 = one hour */
	const char *host_prefix;     /* HOST_PREFIX of the namespaces' hostnames; NULL = jcode- */
	const char *proc;            /* where /proc is; NULL = "/proc" */
	/* Where the restart marker is kept; NULL = SNAPSHOT_BASE.  A node
	 * watching its own students keeps its own (STATE_DIR): SNAPSHOT_BASE
	 * is shared by every node, and another node's later marker would
	 * skip saves this one had not snapshotted yet. */
	const char *marker_dir;
};

struct filemon;

/* Scan and watch watch_root recursively, register the inotify fd with loop,
 * post records via sender.  The config strings are copied.  NULL with a
 * message in err when the root cannot be watched. */
struct filemon *filemon_start(struct loop *loop, const struct filemon_config *cfg,
			      struct sender *sender, char *err, size_t errlen);

/* Flush pending debounced changes (snapshot them now), then stop watching.
 * The records are queued on the sender; drain it afterwards. */
void filemon_stop(struct filemon *fm);

/* procmon saw an exec in the container of student id on this node (one
 * way: procmon's pipeline calls this through main.c).  With scoping, their
 * workspace is watched from now on if WATCH_ROOT holds it, its tree
 * scanned, and saves of the last seconds taken as changes. */
void filemon_student_seen(struct filemon *fm, const struct identity *id);

/* Workspaces watched (0 when every one is, WATCH_ALL). */
size_t filemon_workspace_count(const struct filemon *fm);

/* inotify watches currently held. */
size_t filemon_watch_count(const struct filemon *fm);
/* Wanted directories not watched (watch limit or budget), retried. */
size_t filemon_unwatched_count(const struct filemon *fm);

#endif
