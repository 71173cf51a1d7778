/*
 * uts_hosts.h - the hostnames of the UTS namespaces processes on this node
 * live in: the student containers running here, seen from the host.
 *
 * procmon sees a container only when it execs something; a student who
 * only edits in the browser IDE may run nothing for hours.  Their
 * container's namespace is still there: /proc/PID/ns/uts names it, and
 * the hostname is read inside it (setns(CLONE_NEWUTS) + uname() in a
 * short-lived thread, so the agent's own threads never change namespace),
 * or, without CAP_SYS_ADMIN, from /proc/PID/root/etc/hostname, which every
 * container runtime provides.  Both need ptrace-read access to the process
 * (root with CAP_SYS_PTRACE for other users' processes).
 *
 * Only a container's own namespace counts: that of a PID namespace's init
 * directly below the one proc shows, or of a process in that one.  A UTS
 * namespace a student made for a process of theirs names nothing.
 */
#ifndef JCW_UTS_HOSTS_H
#define JCW_UTS_HOSTS_H

#include <stddef.h>

typedef void uts_host_fn(void *arg, const char *hostname);

/* Call fn once for each distinct UTS namespace other than our own that
 * counts (above) and a process below proc ("/proc") lives in, with its
 * hostname.  Returns how
 * many namespaces, or a negative errno when proc cannot be listed.
 * *unreadable (may be NULL) counts the processes whose namespace, and the
 * namespaces whose hostname, we were not allowed to read (processes that
 * exit meanwhile are not counted): a caller deciding that a container is
 * gone must not trust a walk with unreadable ones. */
int uts_hosts(const char *proc, uts_host_fn *fn, void *arg, size_t *unreadable);

#endif
