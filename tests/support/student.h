/*
 * student.h - reproduce a student container for kernel tests and benchmarks:
 * a UTS namespace with the student's hostname and a mount namespace where
 * the workspace is bind-mounted at /home/coder/project, as the pods have.
 */
#ifndef JCW_STUDENT_H
#define JCW_STUDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Run prog (a path relative to /home/coder/project/hw1, e.g. "./p") n times
 * in such a namespace, one after the other, with the run index as its only
 * argument ("./p 17").  rate 0 runs them back to back; rate R starts run i
 * at i/R seconds (an absolute schedule, so a slow run does not shift the
 * others).  Runs are started with posix_spawn from a small C loop: cheap
 * enough to hold thousands per second.  Needs root.  Returns 0 when every
 * run exited 0, else -1.
 */
int student_runs(const char *ws, const char *hostname, const char *prog, int n, int rate);

/*
 * Make /tmp/NAME-XXXXXX/os-1-202012345/hw1 holding p, a program that exits
 * 0 at once (built with gcc), and write the workspace path to ws.  Returns
 * 0, or -1 with a message on stderr.
 */
int student_workspace(const char *name, char *ws, size_t len);

/*
 * Run a shell script in such a namespace, starting in
 * /home/coder/project/hw1.  Returns the script's exit status, or -1 when
 * the namespace could not be made.
 */
int student_shell(const char *ws, const char *hostname, const char *script);

/*
 * The same with the workspace bind-mounted at mountpoint (absolute, not "/",
 * e.g. "/config/workspace" as linuxserver/code-server has it, or
 * "/workspace/os-1-202012345"), starting in mountpoint.  The mount point's
 * top directory ("/config") gets a private tmpfs in the namespace; when the
 * host has no such directory, an empty one is made for the time of the run
 * and removed after.  Returns the script's exit status, or -1.
 */
int student_shell_at(const char *ws, const char *hostname, const char *mountpoint,
		     const char *script);

/*
 * A student's container that stays: the namespace as above, its hostname
 * set and workspace mounted, holding one process that runs nothing (a
 * student who only edits) until support_child_stop().  Returns its
 * pid once it is in place, or -1.
 */
pid_t student_container(const char *ws, const char *hostname);

/*
 * The same as a runtime makes it, with a PID namespace of its own: its
 * init holds the hostname; the process returned stays in the caller's
 * namespaces.  When own is not NULL, a student renames a UTS namespace of
 * their own own (`unshare --uts`, `hostname own`): a process inside, or,
 * with init_renames, the init itself (with a user namespace of its own,
 * as it must), in place before this returns.  Everything in it ends with
 * support_child_stop().  Returns the pid to stop, or -1.
 */
pid_t student_pidns_container(const char *ws, const char *hostname, const char *own,
			      bool init_renames);

#endif
