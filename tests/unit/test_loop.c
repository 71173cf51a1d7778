/* test_loop.c - the epoll loop: fd callbacks, timers, their corner cases. */
#define _GNU_SOURCE		/* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "loop.h"
#include "testlib.h"

struct hits {
	int n;
	int fd;
	unsigned events;
	void *arg;
};

static void on_fd(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct hits *h = arg;
	char c;

	h->n++;
	h->fd = fd;
	h->events = events;
	h->arg = arg;
	if (events & LOOP_READ)
		(void)!read(fd, &c, 1);
}

static void test_fd_read(void)
{
	struct loop *loop = loop_create();
	struct hits h = { 0 };
	int p[2];

	CHECK_INT(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	CHECK_INT(loop_add_fd(loop, p[0], LOOP_READ, on_fd, &h), 0);
	CHECK_INT(loop_run_once(loop, 0), 0);		/* nothing to read yet */
	CHECK_INT(h.n, 0);
	CHECK_INT(write(p[1], "x", 1), 1);
	CHECK_INT(loop_run_once(loop, 1000), 1);
	CHECK_INT(h.n, 1);
	CHECK_INT(h.fd, p[0]);
	CHECK_INT(h.events, LOOP_READ);
	CHECK(h.arg == &h);
	CHECK_INT(loop_run_once(loop, 0), 0);		/* drained: level-triggered, quiet now */
	CHECK_INT(h.n, 1);

	loop_del_fd(loop, p[0]);
	CHECK_INT(write(p[1], "y", 1), 1);
	CHECK_INT(loop_run_once(loop, 20), 0);
	CHECK_INT(h.n, 1);
	loop_del_fd(loop, p[0]);			/* twice is harmless */
	close(p[0]);
	close(p[1]);
	loop_destroy(loop);
}

static void test_fd_write_and_mod(void)
{
	struct loop *loop = loop_create();
	struct hits h = { 0 }, h2 = { 0 };
	int p[2];

	CHECK_INT(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	CHECK_INT(loop_add_fd(loop, p[1], LOOP_WRITE, on_fd, &h), 0);
	CHECK_INT(loop_run_once(loop, 1000), 1);
	CHECK_INT(h.events, LOOP_WRITE);
	CHECK_INT(loop_mod_fd(loop, p[1], 0), 0);	/* interest off */
	CHECK_INT(loop_run_once(loop, 20), 0);
	CHECK_INT(h.n, 1);
	/* add on a known fd replaces callback and interest */
	CHECK_INT(loop_add_fd(loop, p[1], LOOP_WRITE, on_fd, &h2), 0);
	CHECK_INT(loop_run_once(loop, 1000), 1);
	CHECK_INT(h.n, 1);
	CHECK_INT(h2.n, 1);
	CHECK(h2.arg == &h2);

	CHECK_INT(loop_mod_fd(loop, p[0], LOOP_READ), -ENOENT);
	loop_del_fd(loop, p[1]);
	close(p[0]);
	close(p[1]);
	loop_destroy(loop);
}

/* A hang-up wakes a reader even when it asked only for reads. */
static void test_fd_hangup(void)
{
	struct loop *loop = loop_create();
	struct hits h = { 0 };
	int p[2];

	CHECK_INT(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	CHECK_INT(loop_add_fd(loop, p[0], LOOP_READ, on_fd, &h), 0);
	close(p[1]);
	CHECK_INT(loop_run_once(loop, 1000), 1);
	CHECK(h.events & LOOP_READ);
	loop_del_fd(loop, p[0]);
	close(p[0]);
	loop_destroy(loop);
}

/* Two fds ready in one turn; whichever runs first removes the other, which
 * must then not be called (its event is stale). */
struct pair {
	struct loop *loop;
	int fds[2];
	int calls;
};

static void on_fd_del_other(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct pair *pr = arg;

	pr->calls++;
	loop_del_fd(loop, fd == pr->fds[0] ? pr->fds[1] : pr->fds[0]);
	loop_del_fd(loop, fd);
}

static void test_fd_delete_other(void)
{
	struct loop *loop = loop_create();
	struct pair pr = { .loop = loop };
	int a[2], b[2];

	CHECK_INT(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
	CHECK_INT(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0);
	pr.fds[0] = a[0];
	pr.fds[1] = b[0];
	CHECK_INT(loop_add_fd(loop, a[0], LOOP_READ, on_fd_del_other, &pr), 0);
	CHECK_INT(loop_add_fd(loop, b[0], LOOP_READ, on_fd_del_other, &pr), 0);
	CHECK_INT(write(a[1], "x", 1), 1);
	CHECK_INT(write(b[1], "x", 1), 1);
	CHECK_INT(loop_run_once(loop, 1000), 1);
	CHECK_INT(pr.calls, 1);
	CHECK_INT(loop_run_once(loop, 20), 0);
	CHECK_INT(pr.calls, 1);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_destroy(loop);
}

/* ---- timers -------------------------------------------------------- */

struct tick {
	int n;
	long long at[8];	/* loop_now_ms() of each run */
	long long again[8];	/* what to return on each run; 0 entries past n mean -1 */
	long long id;
	int order;		/* position in a shared sequence */
	int *seq;
	struct loop *loop;
	long long victim;	/* timer to delete, or 0 */
	bool delete_self;
};

static long long on_tick(struct loop *loop, long long id, void *arg)
{
	struct tick *t = arg;
	long long ret = t->n < 8 && t->again[t->n] ? t->again[t->n] : -1;

	if (t->n < 8)
		t->at[t->n] = loop_now_ms();
	t->n++;
	t->id = id;
	if (t->seq)
		t->order = ++*t->seq;
	if (t->victim)
		loop_del_timer(loop, t->victim);
	if (t->delete_self) {
		loop_del_timer(loop, id);
		return 5;	/* ignored: the timer is gone */
	}
	return ret;
}

static void turn_for(struct loop *loop, int ms)
{
	long long end = loop_now_ms() + ms;

	while (loop_now_ms() < end)
		loop_run_once(loop, (int)(end - loop_now_ms()));
}

static void test_timer_once(void)
{
	struct loop *loop = loop_create();
	struct tick t = { 0 };
	long long t0 = loop_now_ms(), id;

	id = loop_add_timer(loop, 30, on_tick, &t);
	CHECK(id > 0);
	CHECK_INT(loop_run_once(loop, -1), 1);	/* -1 must still wake for the timer */
	CHECK_INT(t.n, 1);
	CHECK_INT(t.id, id);
	CHECK(t.at[0] - t0 >= 30);
	CHECK(t.at[0] - t0 < 500);
	turn_for(loop, 60);
	CHECK_INT(t.n, 1);
	loop_destroy(loop);
}

static void test_timer_repeat_and_reschedule(void)
{
	struct loop *loop = loop_create();
	struct tick t = { .again = { 10, 10, 50 } };

	loop_add_timer(loop, 0, on_tick, &t);
	turn_for(loop, 200);
	CHECK_INT(t.n, 4);			/* 0, +10, +10, +50, then -1 stops it */
	CHECK(t.at[1] - t.at[0] >= 10);
	CHECK(t.at[2] - t.at[1] >= 10);
	CHECK(t.at[3] - t.at[2] >= 50);		/* the new interval, not the old one */
	CHECK(t.at[3] - t.at[2] < 150);
	loop_destroy(loop);
}

static void test_timer_delete_self(void)
{
	struct loop *loop = loop_create();
	struct tick t = { .delete_self = true };

	loop_add_timer(loop, 5, on_tick, &t);
	turn_for(loop, 60);
	CHECK_INT(t.n, 1);
	loop_destroy(loop);
}

static void test_timer_delete_other(void)
{
	struct loop *loop = loop_create();
	struct tick a = { 0 }, b = { 0 }, c = { .again = { 5, 5, 5, 5, 5, 5, 5, 5 } };
	long long ida, idb, idc;
	int seen;

	/* a and b are due in the same turn; a runs first and kills b. */
	ida = loop_add_timer(loop, 0, on_tick, &a);
	idb = loop_add_timer(loop, 0, on_tick, &b);
	a.victim = idb;
	CHECK(ida != idb);
	turn_for(loop, 20);
	CHECK_INT(a.n, 1);
	CHECK_INT(b.n, 0);

	/* Deleting a repeating timer from outside stops it; deleting it twice
	 * or deleting an unknown id is harmless. */
	idc = loop_add_timer(loop, 5, on_tick, &c);
	turn_for(loop, 30);
	CHECK(c.n >= 2);
	loop_del_timer(loop, idc);
	loop_del_timer(loop, idc);
	loop_del_timer(loop, 987654);
	seen = c.n;
	turn_for(loop, 30);
	CHECK_INT(c.n, seen);
	loop_destroy(loop);
}

static void test_timer_order(void)
{
	struct loop *loop = loop_create();
	int seq = 0;
	struct tick t30 = { .seq = &seq }, t10 = { .seq = &seq }, t20 = { .seq = &seq };

	loop_add_timer(loop, 30, on_tick, &t30);
	loop_add_timer(loop, 10, on_tick, &t10);
	loop_add_timer(loop, 20, on_tick, &t20);
	turn_for(loop, 80);
	CHECK_INT(t10.order, 1);
	CHECK_INT(t20.order, 2);
	CHECK_INT(t30.order, 3);
	loop_destroy(loop);
}

/* A timer added from a timer callback waits for the next turn (no
 * starvation by a callback that keeps adding 0 ms timers). */
static struct tick added;

static long long on_tick_adds(struct loop *loop, long long id, void *arg)
{
	int *n = arg;

	(*n)++;
	/* Enough timers to force the array to grow under run_timers(). */
	for (int i = 0; i < 20; i++)
		loop_add_timer(loop, i ? 1000 : 0, on_tick, &added);
	return -1;
}

static void test_timer_added_in_callback(void)
{
	struct loop *loop = loop_create();
	int n = 0;

	added = (struct tick){ 0 };
	loop_add_timer(loop, 0, on_tick_adds, &n);
	CHECK_INT(loop_run_once(loop, 0), 1);
	CHECK_INT(n, 1);
	CHECK_INT(added.n, 0);
	CHECK_INT(loop_run_once(loop, 1000), 1);
	CHECK_INT(added.n, 1);
	loop_destroy(loop);	/* 19 timers still armed: freed, not run */
	CHECK_INT(added.n, 1);
}

static long long on_stop_every_3(struct loop *loop, long long id, void *arg)
{
	int *n = arg;

	if (++*n % 3 == 0)
		loop_stop(loop);
	return 1;
}

static void test_run_stop(void)
{
	struct loop *loop = loop_create();
	int n = 0;

	CHECK(!loop_stopped(loop));
	loop_add_timer(loop, 1, on_stop_every_3, &n);
	loop_run(loop);
	CHECK_INT(n, 3);
	CHECK(loop_stopped(loop));
	loop_run(loop);		/* run clears the flag and goes on */
	CHECK_INT(n, 6);
	loop_destroy(loop);
}

static void test_clock(void)
{
	long long ns = loop_now_ns(), ms = loop_now_ms();

	CHECK(ns > 0);
	CHECK(ms >= ns / 1000000 && ms - ns / 1000000 < 1000);
	usleep(20000);
	CHECK(loop_now_ms() - ms >= 20);
}

int main(void)
{
	RUN(test_fd_read);
	RUN(test_fd_write_and_mod);
	RUN(test_fd_hangup);
	RUN(test_fd_delete_other);
	RUN(test_timer_once);
	RUN(test_timer_repeat_and_reschedule);
	RUN(test_timer_delete_self);
	RUN(test_timer_delete_other);
	RUN(test_timer_order);
	RUN(test_timer_added_in_callback);
	RUN(test_run_stop);
	RUN(test_clock);
	return TEST_DONE();
}
