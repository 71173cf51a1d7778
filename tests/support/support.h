/* support.h - small helpers shared by tests and benchmarks. */
#ifndef JCW_SUPPORT_H
#define JCW_SUPPORT_H

#include <sys/types.h>

/* Monotonic seconds. */
double support_now(void);

/* Contents of a file (up to 64 KiB) in a static buffer, valid until the
 * next call; NULL when it cannot be opened. */
char *support_slurp(const char *path);

/* Entries in a directory other than "." and ".."; -1 when unreadable. */
int support_count_entries(const char *dir);

/* The content of the one entry in dir (a snapshot directory), through
 * support_slurp(); NULL unless dir holds exactly one. */
char *support_only_file(const char *dir);

/* Write text to dir/rel (the directories exist); exits 1 when it cannot,
 * since no test can go on without its files. */
void support_write_file(const char *dir, const char *rel, const char *text);

/* rm -rf dir; complains on stderr when it cannot. */
void support_rm_rf(const char *dir);

/* A child that runs setup(arg) (a namespace to enter, a name to take),
 * tells us it is in place and waits until support_child_stop().  Its pid
 * once setup has returned 0, or -1 (the child is reaped). */
pid_t support_child_ready(int (*setup)(void *arg), void *arg);
/* SIGKILL and reap; pid <= 0 is nothing to stop. */
void support_child_stop(pid_t pid);

#endif
