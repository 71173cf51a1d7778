/*
 * array.h - growing an array by doubling, written once.
 *
 * ARRAY_RESERVE(v, n, cap, first): make room for element n of v, which has
 * room for cap: when full, reallocate to twice cap (first when empty).
 * Evaluates to 0, or -ENOMEM with v and cap untouched.  A macro so that v
 * keeps its type (no casting through void **) and cap may be any unsigned
 * type.
 */
#ifndef JCW_ARRAY_H
#define JCW_ARRAY_H

#include <errno.h>
#include <stdlib.h>

#define ARRAY_RESERVE(v, n, cap, first) __extension__ ({			\
	int r_ = 0;								\
	if ((n) >= (cap)) {							\
		__typeof__(cap) c_ = (cap) ? (cap) * 2 : (first);		\
		__typeof__(v) p_ = reallocarray((v), c_, sizeof(*(v)));	\
		if (p_) {							\
			(v) = p_;						\
			(cap) = c_;						\
		} else {							\
			r_ = -ENOMEM;						\
		}								\
	}									\
	r_;									\
})

#endif
