/*
 * test_proctable.c - joining exit records to exec records: the orders the
 * kernel's stream can really produce, pid reuse, and a full table.
 */
#include "proctable.h"

#include <stdlib.h>

#include "testlib.h"

struct item {
	struct proc_entry e;
	int id;
};

static int released[64], nreleased;

static void release(struct proc_entry *e)
{
	struct item *it = hashmap_entry(e, struct item, e);

	if (nreleased < 64)
		released[nreleased++] = it->id;
	free(it);
}

static struct proc_entry *item(int id)
{
	struct item *it = calloc(1, sizeof(*it));

	it->id = id;
	return &it->e;
}

static int id_of(struct proc_entry *e)
{
	return e ? hashmap_entry(e, struct item, e)->id : -1;
}

static int take(struct proctable *t, unsigned tgid, unsigned long long start)
{
	struct proc_entry *e = proctable_exit(t, tgid, start);
	int id = id_of(e);

	if (e)
		free(hashmap_entry(e, struct item, e));
	return id;
}

static void test_exec_then_exit(void)
{
	struct proctable t;

	nreleased = 0;
	CHECK_INT(proctable_init(&t, 8, release), 0);
	proctable_exec(&t, 100, 5000, item(1));
	proctable_exec(&t, 101, 5001, item(2));
	CHECK_INT(proctable_count(&t), 2);
	/* Found in place (stderr on its way), by pid and start time both. */
	CHECK_INT(id_of(proctable_find(&t, 101, 5001)), 2);
	CHECK_INT(id_of(proctable_find(&t, 101, 5002)), -1);
	CHECK_INT(id_of(proctable_find(&t, 102, 5001)), -1);
	CHECK_INT(proctable_count(&t), 2);
	CHECK_INT(take(&t, 101, 5001), 2);
	CHECK_INT(take(&t, 100, 5000), 1);
	CHECK_INT(proctable_count(&t), 0);
	CHECK_INT(take(&t, 100, 5000), -1);	/* once only */
	CHECK_INT(t.stale, 0);
	CHECK_INT(t.evicted, 0);
	CHECK_INT(nreleased, 0);
	proctable_fini(&t);
}

/* Exit before exec (the perf fallback reads CPUs one after another): the
 * exit finds nothing and says so; the exec is kept until its pid execs
 * anew, when it is counted stale, never reported with a guessed status. */
static void test_exit_before_exec(void)
{
	struct proctable t;

	nreleased = 0;
	CHECK_INT(proctable_init(&t, 8, release), 0);
	CHECK_INT(take(&t, 200, 7000), -1);
	proctable_exec(&t, 200, 7000, item(3));
	CHECK_INT(proctable_count(&t), 1);
	proctable_exec(&t, 200, 9000, item(4));		/* pid 200 reused */
	CHECK_INT(t.stale, 1);
	CHECK_INT(nreleased, 1);
	CHECK_INT(released[0], 3);
	CHECK_INT(take(&t, 200, 9000), 4);
	proctable_fini(&t);
}

/* sh -c 'exec ./a.out': the second exec replaces the first (not stale);
 * a second exec of a program that does not matter removes it. */
static void test_second_exec(void)
{
	struct proctable t;

	nreleased = 0;
	CHECK_INT(proctable_init(&t, 8, release), 0);
	proctable_exec(&t, 300, 100, item(5));
	proctable_exec(&t, 300, 100, item(6));
	CHECK_INT(proctable_count(&t), 1);
	CHECK_INT(nreleased, 1);
	CHECK_INT(released[0], 5);
	CHECK_INT(t.stale, 0);
	CHECK_INT(take(&t, 300, 100), 6);
	proctable_exec(&t, 301, 100, item(7));
	proctable_exec(&t, 301, 100, NULL);		/* exec'd something else */
	CHECK_INT(proctable_count(&t), 0);
	CHECK_INT(take(&t, 301, 100), -1);
	CHECK_INT(released[1], 7);
	proctable_fini(&t);
}

/* An exit of a newer process of the same pid: the older entry ended
 * unseen (stale); an exit older than the entry changes nothing. */
static void test_pid_reuse_at_exit(void)
{
	struct proctable t;

	nreleased = 0;
	CHECK_INT(proctable_init(&t, 8, release), 0);
	proctable_exec(&t, 400, 500, item(8));
	CHECK_INT(take(&t, 400, 400), -1);
	CHECK_INT(proctable_count(&t), 1);
	CHECK_INT(t.stale, 0);
	CHECK_INT(take(&t, 400, 600), -1);
	CHECK_INT(proctable_count(&t), 0);
	CHECK_INT(t.stale, 1);
	CHECK_INT(released[0], 8);
	proctable_fini(&t);
}

/* Full: the oldest goes first, counted; the newest are all there. */
static void test_full(void)
{
	struct proctable t;

	nreleased = 0;
	CHECK_INT(proctable_init(&t, 3, release), 0);
	for (int i = 0; i < 5; i++)
		proctable_exec(&t, 500 + (unsigned)i, 1, item(10 + i));
	CHECK_INT(proctable_count(&t), 3);
	CHECK_INT(t.evicted, 2);
	CHECK_INT(nreleased, 2);
	CHECK_INT(released[0], 10);
	CHECK_INT(released[1], 11);
	CHECK_INT(take(&t, 500, 1), -1);
	CHECK_INT(take(&t, 503, 1), 13);
	/* Taking one out makes room: no eviction for the next. */
	proctable_exec(&t, 600, 1, item(20));
	CHECK_INT(t.evicted, 2);
	CHECK_INT(proctable_count(&t), 3);
	proctable_fini(&t);
	CHECK_INT(nreleased, 5);	/* 12, 14, 20 released by fini */
}

int main(void)
{
	RUN(test_exec_then_exit);
	RUN(test_exit_before_exec);
	RUN(test_second_exec);
	RUN(test_pid_reuse_at_exit);
	RUN(test_full);
	return TEST_DONE();
}
