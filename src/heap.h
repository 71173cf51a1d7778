/*
 * heap.h - a binary min-heap of pointers, ordered by a caller's function.
 *
 * The sender keeps records waiting to retry in two of these (by retry time,
 * and by age once due) so that every queue operation stays O(log n) under a
 * backlog of any size.
 */
#ifndef JCW_HEAP_H
#define JCW_HEAP_H

#include <stdbool.h>
#include <stddef.h>

/* True when a must come out before b. */
typedef bool heap_less_fn(const void *a, const void *b);

struct heap {
	void **v;
	size_t n, cap;
	heap_less_fn *less;
};

void heap_init(struct heap *h, heap_less_fn *less);
void heap_free(struct heap *h);		/* the array only, not the items */
int heap_push(struct heap *h, void *item);	/* 0, or -1 on ENOMEM */
void *heap_top(const struct heap *h);	/* NULL when empty */
void *heap_pop(struct heap *h);		/* NULL when empty */

#endif
