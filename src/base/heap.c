/*
 * heap.c - see heap.h.  The classic array layout: children of i at 2i+1
 * and 2i+2.
 */
#include "heap.h"

#include <stdlib.h>

#include "array.h"

void heap_init(struct heap *h, heap_less_fn *less, heap_moved_fn *moved)
{
	*h = (struct heap){ .less = less, .moved = moved };
}

void heap_free(struct heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

static void place(struct heap *h, size_t i, void *item)
{
	h->v[i] = item;
	if (h->moved)
		h->moved(item, i);
}

static void sift_up(struct heap *h, size_t i)
{
	void *item = h->v[i];

	while (i > 0 && h->less(item, h->v[(i - 1) / 2])) {
		place(h, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(h, i, item);
}

static void sift_down(struct heap *h, size_t i)
{
	void *item = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->less(h->v[c + 1], h->v[c]))
			c++;
		if (!h->less(h->v[c], item))
			break;
		place(h, i, h->v[c]);
		i = c;
	}
	place(h, i, item);
}

int heap_push(struct heap *h, void *item)
{
	if (ARRAY_RESERVE(h->v, h->n, h->cap, 64) < 0)
		return -ENOMEM;
	h->v[h->n++] = item;
	sift_up(h, h->n - 1);
	return 0;
}

void *heap_top(const struct heap *h)
{
	return h->n ? h->v[0] : NULL;
}

void heap_fix(struct heap *h, size_t i)
{
	if (i >= h->n)
		return;
	if (i > 0 && h->less(h->v[i], h->v[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

void *heap_remove(struct heap *h, size_t i)
{
	void *item;

	if (i >= h->n)
		return NULL;
	item = h->v[i];
	h->n--;
	if (i < h->n) {
		h->v[i] = h->v[h->n];
		heap_fix(h, i);
	}
	return item;
}

void *heap_pop(struct heap *h)
{
	return heap_remove(h, 0);
}
