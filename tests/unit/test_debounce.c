/*
 * test_debounce.c - the per-path debounce table, on an injected clock.
 */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>

#include "debounce.h"
#include "testlib.h"

static bool last_replaced;	/* of the last pop() */

/* Pop one due entry; returns its key (static copy) or "" when none. */
static const char *pop(struct debounce *d, long long now, enum debounce_kind *kind, int *retries)
{
	static char key[256];
	struct debounce_item it;

	if (debounce_pop(d, now, &it) != 1)
		return "";
	last_replaced = it.replaced;
	snprintf(key, sizeof(key), "%s", it.key);
	if (kind)
		*kind = it.kind;
	if (retries)
		*retries = it.retries;
	free(it.key);
	return key;
}

static void test_quiet_window(void)
{
	struct debounce *d = debounce_create(600, 3000);

	CHECK_INT(debounce_next(d), -1);
	CHECK_INT(debounce_change(d, "a.c", 1000, 0), 0);
	CHECK_INT(debounce_next(d), 1600);
	CHECK_INT(debounce_change(d, "a.c", 1200, 0), 0);	/* resets the quiet window */
	CHECK_INT(debounce_pending(d), 1);
	CHECK_INT(debounce_next(d), 1800);
	CHECK_STR(pop(d, 1799, NULL, NULL), "");
	CHECK_STR(pop(d, 1800, NULL, NULL), "a.c");
	CHECK_INT(debounce_pending(d), 0);
	CHECK_INT(debounce_next(d), -1);
	debounce_destroy(d);
}

static void test_max_wait(void)
{
	struct debounce *d = debounce_create(600, 3000);
	long long t;

	/* A change every 500 ms never goes quiet: flushed 3 s after the first. */
	for (t = 0; t <= 2500; t += 500)
		debounce_change(d, "busy.py", t, 0);
	CHECK_INT(debounce_next(d), 3000);
	CHECK_STR(pop(d, 2999, NULL, NULL), "");
	CHECK_STR(pop(d, 3000, NULL, NULL), "busy.py");
	/* The next burst starts a new cap. */
	debounce_change(d, "busy.py", 3100, 0);
	CHECK_INT(debounce_next(d), 3700);
	debounce_destroy(d);
}

static void test_order_and_many(void)
{
	struct debounce *d = debounce_create(100, 500);
	char key[32];
	long long last = -1;
	int n = 0, sorted = 1;

	debounce_change(d, "b", 10, 0);
	debounce_change(d, "a", 10, 0);	/* same deadline: arrival order */
	debounce_change(d, "c", 5, 0);
	CHECK_STR(pop(d, 1000, NULL, NULL), "c");
	CHECK_STR(pop(d, 1000, NULL, NULL), "b");
	CHECK_STR(pop(d, 1000, NULL, NULL), "a");

	/* Thousands of paths (an overflow rescan): the heap keeps order and
	 * the hash keeps one entry per path. */
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "f%d.c", i);
		debounce_change(d, key, (i * 7919) % 1000, 0);
	}
	for (int i = 0; i < 5000; i += 2) {
		snprintf(key, sizeof(key), "f%d.c", i);
		debounce_change(d, key, 1000 + (i * 7919) % 1000, 0);
	}
	CHECK_INT(debounce_pending(d), 5000);
	for (;;) {
		struct debounce_item it;
		long long at = debounce_next(d);

		if (debounce_pop(d, 1LL << 40, &it) != 1)
			break;
		if (at < last)
			sorted = 0;
		last = at;
		free(it.key);
		n++;
	}
	CHECK_INT(n, 5000);
	CHECK(sorted);
	debounce_destroy(d);
}

static void test_delete_and_rename_save(void)
{
	struct debounce *d = debounce_create(600, 3000);
	enum debounce_kind kind;

	/* A plain deletion waits one window, then pops as a deletion. */
	debounce_delete(d, "x.c", 100, 0);
	CHECK_INT(debounce_next(d), 700);
	CHECK_STR(pop(d, 700, &kind, NULL), "x.c");
	CHECK_INT(kind, DEBOUNCE_DELETE);
	CHECK(!last_replaced);

	/* A pending change then a deletion: the deletion stands for both. */
	debounce_change(d, "y.c", 1000, 0);
	debounce_delete(d, "y.c", 1100, 0);
	CHECK_INT(debounce_pending(d), 1);
	CHECK_INT(debounce_next(d), 1700);
	CHECK_STR(pop(d, 1700, &kind, NULL), "y.c");
	CHECK_INT(kind, DEBOUNCE_DELETE);

	/* vim: x.c renamed away, new x.c written -> one change, no deletion. */
	debounce_change(d, "z.c", 2000, 0);
	debounce_delete(d, "z.c", 2100, 0);
	debounce_change(d, "z.c", 2110, 0);
	debounce_change(d, "z.c", 2120, 0);
	CHECK_INT(debounce_pending(d), 1);
	CHECK_INT(debounce_next(d), 2720);
	CHECK_STR(pop(d, 2720, &kind, NULL), "z.c");
	CHECK_INT(kind, DEBOUNCE_CHANGE);
	CHECK(last_replaced);		/* what came back may not be a file */
	CHECK_INT(debounce_pending(d), 0);

	/* A plain change was never replaced. */
	debounce_change(d, "w.c", 3000, 0);
	CHECK_STR(pop(d, 3600, &kind, NULL), "w.c");
	CHECK(!last_replaced);
	debounce_destroy(d);
}

static void test_retry(void)
{
	struct debounce *d = debounce_create(600, 3000);
	struct debounce_item it = { .key = "w.c", .kind = DEBOUNCE_CHANGE, .retries = 1,
				    .since = 77 };
	struct debounce_item out;
	int retries = -1;

	CHECK_INT(debounce_retry(d, &it, 5000, 600), 0);
	CHECK_INT(debounce_next(d), 5600);
	CHECK_STR(pop(d, 5600, NULL, &retries), "w.c");
	CHECK_INT(retries, 1);

	/* A retry for a path touched meanwhile keeps the touch's deadline,
	 * and the older since. */
	debounce_change(d, "w.c", 6000, 500);
	it.retries = 2;
	CHECK_INT(debounce_retry(d, &it, 6001, 50), 0);
	CHECK_INT(debounce_next(d), 6600);
	CHECK_INT(debounce_pop(d, 6600, &out), 1);
	CHECK_STR(out.key, "w.c");
	CHECK_INT(out.retries, 2);
	CHECK_INT(out.since, 77);
	free(out.key);

	/* A deletion whose record could not be written comes back a
	 * deletion, replaced flag and since intact. */
	it = (struct debounce_item){ .key = "gone.c", .kind = DEBOUNCE_DELETE, .retries = 3,
				     .replaced = true, .since = 1234, .failures = 4 };
	CHECK_INT(debounce_retry(d, &it, 7000, 1000), 0);
	CHECK_INT(debounce_pop(d, 7999, &out), 0);
	CHECK_INT(debounce_pop(d, 8000, &out), 1);
	CHECK_STR(out.key, "gone.c");
	CHECK_INT(out.kind, DEBOUNCE_DELETE);
	CHECK_INT(out.retries, 3);
	CHECK(out.replaced);
	CHECK_INT(out.since, 1234);
	CHECK_INT(out.failures, 4);
	free(out.key);
	debounce_destroy(d);
}

/* The restart marker rests on this: the smallest since of all pending
 * entries, kept through merges, gone with the entry that carried it. */
static void test_oldest(void)
{
	struct debounce *d = debounce_create(600, 3000);
	struct debounce_item out;

	CHECK(debounce_oldest(d) == LLONG_MAX);
	debounce_change(d, "a.c", 1000, 300);
	debounce_change(d, "b.c", 1100, 200);
	debounce_change(d, "c.c", 1200, 400);
	CHECK_INT(debounce_oldest(d), 200);
	/* A later touch does not make a change younger than it is. */
	debounce_change(d, "b.c", 1300, 900);
	CHECK_INT(debounce_oldest(d), 200);
	/* A deletion of a waiting change keeps its since too. */
	debounce_delete(d, "a.c", 1400, 950);
	CHECK_INT(debounce_pop(d, 1800, &out), 1);
	CHECK_STR(out.key, "c.c");
	CHECK_INT(out.since, 400);
	free(out.key);
	CHECK_INT(debounce_oldest(d), 200);
	CHECK_INT(debounce_pop(d, 1900, &out), 1);
	CHECK_STR(out.key, "b.c");
	CHECK_INT(out.since, 200);
	free(out.key);
	CHECK_INT(debounce_oldest(d), 300);
	CHECK_INT(debounce_pop(d, 2000, &out), 1);
	CHECK_STR(out.key, "a.c");
	CHECK_INT(out.kind, DEBOUNCE_DELETE);
	CHECK_INT(out.since, 300);
	free(out.key);
	CHECK(debounce_oldest(d) == LLONG_MAX);
	debounce_destroy(d);
}

static void test_zero_window(void)
{
	struct debounce *d = debounce_create(0, 0);

	debounce_change(d, "now.c", 42, 0);
	CHECK_INT(debounce_next(d), 42);
	CHECK_STR(pop(d, 42, NULL, NULL), "now.c");
	debounce_destroy(d);
	/* max_wait below the window is raised to it. */
	d = debounce_create(600, 100);
	debounce_change(d, "a", 0, 0);
	CHECK_INT(debounce_next(d), 600);
	debounce_destroy(d);
}

int main(void)
{
	RUN(test_quiet_window);
	RUN(test_max_wait);
	RUN(test_order_and_many);
	RUN(test_delete_and_rename_save);
	RUN(test_retry);
	RUN(test_oldest);
	RUN(test_zero_window);
	return TEST_DONE();
}
