/*
 * heap.c - see heap.h.  The classic array layout: children of i at 2i+1
 * and 2i+2.
 */
#include "heap.h"

#include <stdlib.h>

void heap_init(struct heap *h, heap_less_fn *less)
{
	*h = (struct heap){ .less = less };
}

void heap_free(struct heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

static void swap(void **v, size_t a, size_t b)
{
	void *t = v[a];

	v[a] = v[b];
	v[b] = t;
}

int heap_push(struct heap *h, void *item)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		void **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	i = h->n++;
	h->v[i] = item;
	while (i > 0 && h->less(h->v[i], h->v[(i - 1) / 2])) {
		swap(h->v, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	return 0;
}

void *heap_top(const struct heap *h)
{
	return h->n ? h->v[0] : NULL;
}

void *heap_pop(struct heap *h)
{
	void *top;
	size_t i = 0;

	if (!h->n)
		return NULL;
	top = h->v[0];
	h->v[0] = h->v[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && h->less(h->v[l], h->v[m]))
			m = l;
		if (r < h->n && h->less(h->v[r], h->v[m]))
			m = r;
		if (m == i)
			return top;
		swap(h->v, i, m);
		i = m;
	}
}
