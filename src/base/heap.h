/*
 * heap.h - a binary min-heap of pointers, ordered by a caller's function.
 *
 * The sender keeps records waiting to retry in two of these (by retry time,
 * and by age once due) so that every queue operation stays O(log n) under a
 * backlog of any size.  The debounce table keeps its deadlines in one and
 * moves entries in place: for that, a `moved` callback tells each item its
 * index whenever it changes, so heap_fix() and heap_remove() can find it.
 */
#ifndef JCW_HEAP_H
#define JCW_HEAP_H

#include <stdbool.h>
#include <stddef.h>

/* True when a must come out before b. */
typedef bool heap_less_fn(const void *a, const void *b);
/* item now sits at index i (optional). */
typedef void heap_moved_fn(void *item, size_t i);

struct heap {
	void **v;
	size_t n, cap;
	heap_less_fn *less;
	heap_moved_fn *moved;
};

void heap_init(struct heap *h, heap_less_fn *less, heap_moved_fn *moved);
void heap_free(struct heap *h);		/* the array only, not the items */
int heap_push(struct heap *h, void *item);	/* 0, or -ENOMEM */
void *heap_top(const struct heap *h);	/* NULL when empty */
void *heap_pop(struct heap *h);		/* NULL when empty */
/* The item at index i changed its key: restore the order. */
void heap_fix(struct heap *h, size_t i);
/* Take out the item at index i (NULL when out of range). */
void *heap_remove(struct heap *h, size_t i);

#endif
