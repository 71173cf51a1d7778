/*
 * loop.h - the one event loop that owns the agent's flow.
 *
 * A plain epoll loop in the spirit of Redis' ae.c: file descriptors with
 * callbacks, millisecond timers, nothing else.  Perf buffers, curl sockets,
 * inotify, signalfd and timers all meet here, so no stage ever blocks another.
 */
#ifndef JCW_LOOP_H
#define JCW_LOOP_H

#include <stdbool.h>

#define LOOP_READ  0x1u
#define LOOP_WRITE 0x2u

struct loop;

/* Called with the ready events (LOOP_READ/LOOP_WRITE; errors are reported as both). */
typedef void loop_fd_fn(struct loop *loop, int fd, unsigned events, void *arg);
/* Return the delay in ms until the next run, or LOOP_TIMER_STOP (any negative
 * value: a verdict, not an error) to stop the timer. */
typedef long long loop_timer_fn(struct loop *loop, long long id, void *arg);
#define LOOP_TIMER_STOP (-1)

struct loop *loop_create(void);
void loop_destroy(struct loop *loop);

/* Register, change or forget interest in fd.  add on a known fd acts as mod. */
int loop_add_fd(struct loop *loop, int fd, unsigned events, loop_fd_fn *fn, void *arg);
int loop_mod_fd(struct loop *loop, int fd, unsigned events);
void loop_del_fd(struct loop *loop, int fd);

/* Timers: fire once after ms, again after whatever the callback returns. */
long long loop_add_timer(struct loop *loop, long long ms, loop_timer_fn *fn, void *arg);
void loop_del_timer(struct loop *loop, long long id);

/* Run one iteration, waiting at most max_wait_ms (-1: until something happens).
 * Returns the number of callbacks run, or -errno on an epoll error. */
int loop_run_once(struct loop *loop, int max_wait_ms);
/* Run until loop_stop(). */
void loop_run(struct loop *loop);
void loop_stop(struct loop *loop);
bool loop_stopped(const struct loop *loop);

/* Monotonic clock in ms and ns, the loop's time base. */
long long loop_now_ms(void);
long long loop_now_ns(void);
/* Wall clock (CLOCK_REALTIME) in ns, for timestamps that leave the agent. */
long long loop_wall_ns(void);

#endif
