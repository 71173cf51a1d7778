/*
 * uts_hosts.c - see uts_hosts.h.
 */
#define _GNU_SOURCE		/* setns */
#include "uts_hosts.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/nsfs.h>

#include "array.h"
#include "fsutil.h"
#include "snapshot.h"

#define HOST_MAX 64		/* a UTS nodename */
#define ANCESTORS_MAX 64

struct ns {
	unsigned long long ino;
	char pid[16];
	char host[HOST_MAX + 1];	/* "" = not read (yet) */
	int failed;		/* the namespace's first entry: -errno when one was denied */
};

struct walk {
	int procfd;
	struct ns *v;
	size_t n, cap;
	size_t denied;		/* processes whose namespace we may not see */
	long ancestors[ANCESTORS_MAX];	/* ours: never a student's container */
	size_t nancestors;
};

/* The namespace /proc/PID/ns/uts names, 0 when it cannot be read. */
static unsigned long long ns_of(int procfd, const char *pid)
{
	char path[64], link[64];
	unsigned long long ino;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/ns/uts", pid);
	n = readlinkat(procfd, path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	if (sscanf(link, "uts:[%llu]", &ino) != 1) {
		errno = EINVAL;
		return 0;
	}
	return ino;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static int by_ino(const void *a, const void *b)
{
	unsigned long long x = ((const struct ns *)a)->ino, y = ((const struct ns *)b)->ino;

	return x < y ? -1 : x > y;
}

/* The parent of pid from /proc/PID/stat ("pid (comm) S ppid ..."; comm may
 * hold anything, so read after its last ')'), 0 when unknown. */
static long parent_of(int procfd, long pid)
{
	char path[32], buf[512], *p;
	long ppid = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%ld/stat", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = fs_read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %ld", &ppid) != 1)
		return 0;
	return ppid;
}

/* A process that runs us (init, a container runtime's shim, a sandbox)
 * may hide its namespace from us, as a hardened init does; it is not a
 * student's container either way, so it does not make the walk doubtful. */
static void find_ancestors(struct walk *w)
{
	long pid = parent_of(w->procfd, (long)getpid());

	while (pid > 0 && w->nancestors < ANCESTORS_MAX) {
		w->ancestors[w->nancestors++] = pid;
		pid = pid == 1 ? 0 : parent_of(w->procfd, pid);
	}
}

static bool is_ancestor(const struct walk *w, const char *pid)
{
	long p = strtol(pid, NULL, 10);

	for (size_t i = 0; i < w->nancestors; i++)
		if (w->ancestors[i] == p)
			return true;
	return false;
}

/*
 * Whose UTS namespace names a student's container.  A student can give a
 * process of theirs a UTS namespace of its own with any name in it
 * (`unshare -Ur --uts`: another student's, to keep that workspace here),
 * and with -p make it the init of a PID namespace too; but not their
 * container's init's, which the runtime made.  So a namespace counts when
 * its process is the init of a PID namespace directly below the one /proc
 * shows (NSpid "N 1") and keeps the UTS namespace the runtime made (a
 * student who is the init can swap it only for one a user namespace of
 * theirs owns), or is in that one itself (the node's own processes, a
 * container made without a PID namespace).  With /proc the node's (the
 * agent's, hostPID), it is the rule the kernel side reports execs by
 * (procmon.bpf.c, container_uts()).
 */
enum place { ELSEWHERE, IN_NODE, CONTAINER_INIT };

/* NSpid's fields, "N" or "N 1"; ELSEWHERE when gone or unreadable. */
static enum place place_of(int procfd, const char *pid)
{
	char path[32], *line = NULL;
	enum place place = IN_NODE;	/* no NSpid (before 4.1): as before */
	size_t cap = 0;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/status", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return ELSEWHERE;
	}
	/* getline: lines before it (Groups) may be long. */
	while (getline(&line, &cap, f) > 0) {
		long v[3];
		int n = 0;
		char *p, *end;

		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		for (p = line + 6; n < 3; p = end, n++) {
			v[n] = strtol(p, &end, 10);
			if (end == p)
				break;
		}
		place = n == 1 ? IN_NODE : n == 2 && v[1] == 1 ? CONTAINER_INIT : ELSEWHERE;
		break;
	}
	if (ferror(f))
		place = ELSEWHERE;
	free(line);
	fclose(f);
	return place;
}

/* The user namespace owning /proc/PID/ns/NAME, by inode; 0 when unknown. */
static unsigned long long owner_of(int procfd, const char *pid, const char *name)
{
	char path[48];
	struct stat st;
	int fd, user;

	snprintf(path, sizeof(path), "%s/ns/%s", pid, name);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	user = ioctl(fd, NS_GET_USERNS);
	close(fd);
	if (user < 0)
		return 0;
	if (fstat(user, &st) < 0)
		st.st_ino = 0;
	close(user);
	return (unsigned long long)st.st_ino;
}

/* A container's init may swap its UTS namespace only for one a user
 * namespace of its own owns (a student who is the init, `unshare -Ur`);
 * the runtime made both its namespaces in the same one. */
static bool init_keeps_its_uts(int procfd, const char *pid)
{
	unsigned long long uts = owner_of(procfd, pid, "uts");

	return uts && uts == owner_of(procfd, pid, "pid");
}

/* Every process outside our namespace, sorted by namespace: when the one
 * asked first has exited by then, the next of its namespace is asked. */
static int list_processes(struct walk *w)
{
	unsigned long long self = ns_of(w->procfd, "self");
	int dfd = dup(w->procfd);
	struct dirent *de;
	DIR *dir;

	dir = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!dir) {
		int err = -errno;

		if (dfd >= 0)
			close(dfd);
		return err;
	}
	while ((de = readdir(dir)) != NULL) {
		unsigned long long ino;
		enum place place;
		int err;

		if (!all_digits(de->d_name) || strlen(de->d_name) >= sizeof(w->v->pid))
			continue;
		ino = ns_of(w->procfd, de->d_name);
		err = ino ? 0 : errno;
		if (ino && ino == self)
			continue;
		place = place_of(w->procfd, de->d_name);
		if (place == ELSEWHERE)
			continue;
		/* Gone meanwhile is fine; not allowed to look is not. */
		if ((err == EACCES || err == EPERM) && !is_ancestor(w, de->d_name))
			w->denied++;
		if (!ino || (place == CONTAINER_INIT && !init_keeps_its_uts(w->procfd, de->d_name)) ||
		    ARRAY_RESERVE(w->v, w->n, w->cap, 64) < 0)
			continue;
		w->v[w->n] = (struct ns){ .ino = ino };
		strcpy(w->v[w->n].pid, de->d_name);
		w->n++;
	}
	closedir(dir);
	if (w->n)
		qsort(w->v, w->n, sizeof(*w->v), by_ino);
	return 0;
}

/* The name at the start of s[0..n), which need not end in a NUL (a file's
 * bytes, as the student wrote them): nothing past s[n - 1] is read. */
static void set_host(struct ns *ns, const char *s, size_t n)
{
	size_t len = 0;

	while (len < n && s[len] && !strchr("\n\r\t ", s[len]))
		len++;
	if (len > HOST_MAX)
		len = 0;	/* not a hostname */
	memcpy(ns->host, s, len);
	ns->host[len] = '\0';
}

/* Without CAP_SYS_ADMIN: the container runtime's /etc/hostname, opened
 * inside the process's root with no symlink and never blocking (a student
 * may have made it a FIFO or a link to /etc/shadow).  0 or -errno. */
static int read_hostname_file(struct walk *w, struct ns *ns)
{
	char path[64], buf[HOST_MAX + 2];
	struct stat st;
	int root, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/root", ns->pid);
	root = openat(w->procfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	fd = snapshot_open_beneath(root, "etc/hostname", O_RDONLY | O_NONBLOCK);
	close(root);
	if (fd < 0)
		return fd;
	n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fs_read_full(fd, buf, sizeof(buf) - 1)
						     : -EINVAL;
	close(fd);
	if (n <= 0)
		return n < 0 ? (int)n : -EINVAL;
	set_host(ns, buf, (size_t)n);
	return 0;
}

/* 0, -ENOENT when the process is gone, another -errno when it may not be
 * looked at. */
static int read_host(struct walk *w, struct ns *ns)
{
	char path[64];
	struct utsname u;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/ns/uts", ns->pid);
	fd = openat(w->procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWUTS) == 0 && uname(&u) == 0)
		set_host(ns, u.nodename, sizeof(u.nodename));
	else
		rc = read_hostname_file(w, ns);
	close(fd);
	return rc;
}

/* The thread that enters the namespaces: it ends with the walk, so no
 * thread of the agent is ever left in a student's namespace.  The first
 * process of each namespace that answers names it (v[first].host). */
static void *read_hosts(void *arg)
{
	struct walk *w = arg;

	for (size_t first = 0, i = 0; i < w->n; i++) {
		int rc;

		if (w->v[i].ino != w->v[first].ino)
			first = i;
		if (w->v[first].host[0])
			continue;
		rc = read_host(w, &w->v[i]);
		if (rc == 0 && i != first)
			memcpy(w->v[first].host, w->v[i].host, sizeof(w->v[i].host));
		if (rc < 0 && rc != -ENOENT)
			w->v[first].failed = rc;
	}
	return NULL;
}

int uts_hosts(const char *proc, uts_host_fn *fn, void *arg, size_t *unreadable)
{
	struct walk w = { .procfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC) };
	size_t bad = 0;
	pthread_t t;
	int rc, namespaces = 0;

	if (w.procfd < 0)
		return -errno;
	find_ancestors(&w);
	rc = list_processes(&w);
	if (rc == 0 && w.n) {
		rc = -pthread_create(&t, NULL, read_hosts, &w);
		if (rc == 0)
			pthread_join(t, NULL);
	}
	for (size_t i = 0; rc == 0 && i < w.n; i++) {
		if (i && w.v[i].ino == w.v[i - 1].ino)
			continue;
		namespaces++;
		if (w.v[i].host[0])
			fn(arg, w.v[i].host);
		/* Every process of it gone meanwhile: so is the namespace. */
		bad += !w.v[i].host[0] && w.v[i].failed < 0;
	}
	if (unreadable)
		*unreadable = bad + w.denied;
	close(w.procfd);
	free(w.v);
	return rc < 0 ? rc : namespaces;
}
