/*
 * loop.c - epoll event loop with millisecond timers.
 *
 * Timers live in a small unsorted array: the agent has a handful of them
 * (heartbeats, perf-buffer polling, curl's timeout, spool sync, and one
 * timer each for the sender's retry heap and filemon's debounce heap, which
 * order their own many deadlines), so a linear scan per turn costs less
 * than keeping a heap in order here.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "hashmap.h"

struct loop_fd {
	struct hnode node;	/* in loop->fds, by fd */
	int fd;
	unsigned events;
	loop_fd_fn *fn;
	void *arg;
};

struct loop_timer {
	long long id;
	long long when_ms;
	loop_timer_fn *fn;
	void *arg;
	bool dead;
};

struct loop {
	int epfd;
	bool stop;
	struct hashmap fds;	/* struct loop_fd */
	struct loop_timer *timers;
	size_t ntimers, cap_timers;
	long long next_timer_id;
};

long long loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long loop_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long loop_now_ms(void)
{
	return loop_now_ns() / 1000000LL;
}

struct loop *loop_create(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0 || hashmap_init(&loop->fds) < 0) {
		if (loop->epfd >= 0)
			close(loop->epfd);
		free(loop);
		return NULL;
	}
	loop->next_timer_id = 1;
	return loop;
}

void loop_destroy(struct loop *loop)
{
	if (!loop)
		return;
	struct hashmap_iter it;

	for (struct hnode *n = hashmap_first(&loop->fds, &it); n; n = hashmap_next(&it))
		free(hashmap_entry(n, struct loop_fd, node));
	hashmap_fini(&loop->fds);
	free(loop->timers);
	close(loop->epfd);
	free(loop);
}

static bool fd_eq(const struct hnode *n, const void *fd)
{
	return hashmap_entry(n, struct loop_fd, node)->fd == *(const int *)fd;
}

static uint64_t fd_hash(int fd)
{
	return hashmap_hash(&fd, sizeof(fd));
}

static struct loop_fd *fd_find(struct loop *loop, int fd)
{
	struct hnode *n = hashmap_find(&loop->fds, fd_hash(fd), fd_eq, &fd);

	return n ? hashmap_entry(n, struct loop_fd, node) : NULL;
}

static unsigned to_epoll(unsigned events)
{
	unsigned ev = 0;

	if (events & LOOP_READ)
		ev |= EPOLLIN;
	if (events & LOOP_WRITE)
		ev |= EPOLLOUT;
	return ev;
}

static int epoll_set(struct loop *loop, int op, struct loop_fd *f)
{
	struct epoll_event ev = { .events = to_epoll(f->events), .data.fd = f->fd };

	return epoll_ctl(loop->epfd, op, f->fd, &ev) < 0 ? -errno : 0;
}

int loop_add_fd(struct loop *loop, int fd, unsigned events, loop_fd_fn *fn, void *arg)
{
	struct loop_fd *f = fd_find(loop, fd);
	int r;

	if (f) {
		f->fn = fn;
		f->arg = arg;
		f->events = events;
		r = epoll_set(loop, EPOLL_CTL_MOD, f);
		/* Closed without loop_del_fd(): epoll forgot it, we did not. */
		return r == -ENOENT ? epoll_set(loop, EPOLL_CTL_ADD, f) : r;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	*f = (struct loop_fd){ .fd = fd, .events = events, .fn = fn, .arg = arg };
	r = epoll_set(loop, EPOLL_CTL_ADD, f);
	if (r < 0) {
		free(f);
		return r;
	}
	hashmap_add(&loop->fds, &f->node, fd_hash(fd));
	return 0;
}

int loop_mod_fd(struct loop *loop, int fd, unsigned events)
{
	struct loop_fd *f = fd_find(loop, fd);

	if (!f)
		return -ENOENT;
	f->events = events;
	return epoll_set(loop, EPOLL_CTL_MOD, f);
}

void loop_del_fd(struct loop *loop, int fd)
{
	struct loop_fd *f = fd_find(loop, fd);

	if (!f)
		return;
	/* The fd may already be closed (curl does that); ENOENT/EBADF are fine. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	hashmap_remove(&loop->fds, &f->node);
	free(f);
}

long long loop_add_timer(struct loop *loop, long long ms, loop_timer_fn *fn, void *arg)
{
	if (ARRAY_RESERVE(loop->timers, loop->ntimers, loop->cap_timers, 8) < 0)
		return -ENOMEM;
	loop->timers[loop->ntimers++] = (struct loop_timer){
		.id = loop->next_timer_id++,
		.when_ms = loop_now_ms() + (ms > 0 ? ms : 0),
		.fn = fn,
		.arg = arg,
	};
	return loop->timers[loop->ntimers - 1].id;
}

void loop_del_timer(struct loop *loop, long long id)
{
	/* Only mark: a timer may delete itself or another from inside a callback
	 * while run_timers() walks the array.  Compaction happens there. */
	for (size_t i = 0; i < loop->ntimers; i++)
		if (loop->timers[i].id == id)
			loop->timers[i].dead = true;
}

static void compact_timers(struct loop *loop)
{
	size_t j = 0;

	for (size_t i = 0; i < loop->ntimers; i++)
		if (!loop->timers[i].dead)
			loop->timers[j++] = loop->timers[i];
	loop->ntimers = j;
}

static int next_timeout(struct loop *loop, int max_wait_ms)
{
	long long now = loop_now_ms();
	long long best = max_wait_ms < 0 ? -1 : max_wait_ms;

	for (size_t i = 0; i < loop->ntimers; i++) {
		long long d;

		if (loop->timers[i].dead)
			continue;
		d = loop->timers[i].when_ms - now;
		if (d < 0)
			d = 0;
		if (best < 0 || d < best)
			best = d;
	}
	return (int)best;
}

static int run_timers(struct loop *loop)
{
	long long now = loop_now_ms();
	size_t n = loop->ntimers;   /* timers added by callbacks wait a turn */
	int ran = 0;

	for (size_t i = 0; i < n; i++) {
		struct loop_timer *t = &loop->timers[i];
		long long id, again;

		if (t->dead || t->when_ms > now)
			continue;
		id = t->id;
		again = t->fn(loop, id, t->arg);
		ran++;
		t = &loop->timers[i];   /* the array may have moved */
		if (t->dead || again < 0)
			t->dead = true;
		else
			t->when_ms = loop_now_ms() + again;
	}
	compact_timers(loop);
	return ran;
}

int loop_run_once(struct loop *loop, int max_wait_ms)
{
	struct epoll_event evs[64];
	int n, ran = 0;

	n = epoll_wait(loop->epfd, evs, 64, next_timeout(loop, max_wait_ms));
	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct loop_fd *f = fd_find(loop, evs[i].data.fd);
		unsigned got = 0;

		if (!f)
			continue;   /* removed by an earlier callback this turn */
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			got |= LOOP_READ;
		if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			got |= LOOP_WRITE;
		f->fn(loop, f->fd, got, f->arg);
		ran++;
	}
	return ran + run_timers(loop);
}

void loop_run(struct loop *loop)
{
	loop->stop = false;
	while (!loop->stop)
		if (loop_run_once(loop, -1) < 0)
			break;
}

void loop_stop(struct loop *loop)
{
	loop->stop = true;
}

bool loop_stopped(const struct loop *loop)
{
	return loop->stop;
}
