/*
 * capture_buf.h - what a followed process wrote to standard error, bounded.
 *
 * A build keeps the HEAD (the first errors are the ones that explain the
 * rest; a cascade of follow-on errors is noise), a Python or binary run
 * keeps the TAIL (the traceback and an assertion come last).  Memory is
 * taken as the text arrives, doubling up to the limit, so a node following
 * MAX_PROCESSES quiet processes holds nothing for them; every byte held is
 * also charged to a budget shared by all buffers, so the sum stays bounded
 * however many processes write at once.
 */
#ifndef JCW_CAPTURE_BUF_H
#define JCW_CAPTURE_BUF_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes held by every buffer together; shared, single-threaded (the loop). */
struct capture_budget {
	size_t used;
	size_t max;
};

enum capture_mode { CAPTURE_HEAD, CAPTURE_TAIL };

struct capture_buf {
	char *data;		/* HEAD: data[0..len); TAIL: a ring of cap bytes from start */
	size_t len, cap, start;
	size_t max;		/* bytes kept at most */
	enum capture_mode mode;
	bool cut;		/* bytes were not kept: past the head, or before the tail */
	unsigned long long total;	/* bytes offered, kept or not */
	unsigned starved;	/* appends the budget refused memory for */
	struct capture_budget *budget;	/* may be NULL: unbounded but for max */
};

/* An empty buffer; allocates nothing. */
void capture_buf_init(struct capture_buf *b, enum capture_mode mode, size_t max,
		      struct capture_budget *budget);

/* Append n bytes (any bytes: NULs, invalid UTF-8).  Returns the bytes kept
 * (what does not fit sets cut), or -ENOSPC (-ENOMEM) when the shared budget
 * (memory) refused to let the buffer grow: it then stops growing and goes
 * on in the memory it holds (a tail still keeps the newest bytes), and
 * starved counts it. */
long capture_buf_append(struct capture_buf *b, const void *s, size_t n);

/*
 * The text kept, as one malloc'd NUL-terminated copy in *out (its length in
 * *len; it may hold NULs).  When bytes were cut, the kept text starts (TAIL)
 * or ends (HEAD) on a whole UTF-8 character: the partial one at the cut is
 * left out rather than turned into U+FFFD.  0, or -ENOMEM.
 */
int capture_buf_text(const struct capture_buf *b, char **out, size_t *len);

/* Release the memory (and its budget); the buffer is empty again. */
void capture_buf_free(struct capture_buf *b);

#endif
