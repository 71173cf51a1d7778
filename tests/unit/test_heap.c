/*
 * test_heap.c - the one min-heap the sender and the debounce table share:
 * order, ties, in-place key changes and removal by index, checked against
 * a sorted reference over random operations.
 */
#include <stdlib.h>

#include "heap.h"
#include "testlib.h"

struct item {
	long key;
	size_t pos;	/* kept up to date by moved() */
};

static bool less(const void *a, const void *b)
{
	return ((const struct item *)a)->key < ((const struct item *)b)->key;
}

static void moved(void *item, size_t i)
{
	((struct item *)item)->pos = i;
}

/* Every item's pos names its own slot, and no child beats its parent. */
static bool consistent(const struct heap *h)
{
	for (size_t i = 0; i < h->n; i++) {
		const struct item *it = h->v[i];

		if (it->pos != i)
			return false;
		if (i > 0 && less(h->v[i], h->v[(i - 1) / 2]))
			return false;
	}
	return true;
}

static void test_order(void)
{
	struct item items[] = { { 5, 0 }, { 1, 0 }, { 4, 0 }, { 1, 0 }, { 9, 0 }, { -3, 0 } };
	long want[] = { -3, 1, 1, 4, 5, 9 };
	struct heap h;

	heap_init(&h, less, NULL);
	CHECK(heap_top(&h) == NULL);
	CHECK(heap_pop(&h) == NULL);
	for (size_t i = 0; i < 6; i++)
		CHECK_INT(heap_push(&h, &items[i]), 0);
	CHECK_INT(h.n, 6);
	for (size_t i = 0; i < 6; i++) {
		struct item *it = heap_pop(&h);

		CHECK(it != NULL);
		if (it)
			CHECK_INT(it->key, want[i]);
	}
	CHECK(heap_pop(&h) == NULL);
	heap_free(&h);
}

static void test_fix_and_remove(void)
{
	struct item items[8];
	struct heap h;

	heap_init(&h, less, moved);
	for (int i = 0; i < 8; i++) {
		items[i].key = 10 * i;
		heap_push(&h, &items[i]);
	}
	CHECK(consistent(&h));
	/* The largest becomes the smallest, the smallest the largest. */
	items[7].key = -1;
	heap_fix(&h, items[7].pos);
	items[0].key = 100;
	heap_fix(&h, items[0].pos);
	CHECK(consistent(&h));
	CHECK(heap_top(&h) == &items[7]);
	/* Remove one from the middle by its index. */
	CHECK(heap_remove(&h, items[3].pos) == &items[3]);
	CHECK_INT(h.n, 7);
	CHECK(consistent(&h));
	CHECK(heap_remove(&h, 99) == NULL);
	{
		long want[] = { -1, 10, 20, 40, 50, 60, 100 };

		for (int i = 0; i < 7; i++)
			CHECK_INT(((struct item *)heap_pop(&h))->key, want[i]);
	}
	heap_free(&h);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static void test_random_against_sorted(void)
{
	enum { N = 2000 };
	static struct item items[N];
	static long ref[N];
	struct heap h;
	size_t live = 0, mismatches = 0;

	srand(7);
	heap_init(&h, less, moved);
	for (int i = 0; i < N; i++) {
		items[i].key = rand() % 500;
		heap_push(&h, &items[i]);
	}
	/* Change a third of the keys in place, remove another sixth. */
	for (int i = 0; i < N; i += 3) {
		items[i].key = rand() % 500;
		heap_fix(&h, items[i].pos);
	}
	for (int i = 1; i < N; i += 6)
		heap_remove(&h, items[i].pos);
	CHECK(consistent(&h));
	for (int i = 0; i < N; i++)
		if (i % 6 != 1)
			ref[live++] = items[i].key;
	qsort(ref, live, sizeof(long), cmp_long);
	CHECK_INT(h.n, live);
	for (size_t i = 0; i < live; i++)
		if (((struct item *)heap_pop(&h))->key != ref[i])
			mismatches++;
	CHECK_INT(mismatches, 0);
	heap_free(&h);
}

int main(void)
{
	RUN(test_order);
	RUN(test_fix_and_remove);
	RUN(test_random_against_sorted);
	return TEST_DONE();
}
