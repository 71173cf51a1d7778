/*
 * capture_buf.c - see capture_buf.h.
 */
#include "capture_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_ALLOC 256

void capture_buf_init(struct capture_buf *b, enum capture_mode mode, size_t max,
		      struct capture_budget *budget)
{
	*b = (struct capture_buf){ .mode = mode, .max = max, .budget = budget };
}

/* The ring moved to a larger block, oldest byte first, so it can grow. */
static int regrow(struct capture_buf *b, size_t cap)
{
	size_t first = b->cap - b->start < b->len ? b->cap - b->start : b->len;
	char *p;

	if (b->start == 0)
		p = realloc(b->data, cap);
	else
		p = malloc(cap);
	if (!p)
		return -ENOMEM;
	if (b->start != 0) {
		memcpy(p, b->data + b->start, first);
		memcpy(p + first, b->data, b->len - first);
		free(b->data);
		b->start = 0;
	}
	b->data = p;
	return 0;
}

/* Room for want bytes in all, at most max.  0, or -ENOSPC / -ENOMEM. */
static int reserve(struct capture_buf *b, size_t want)
{
	size_t cap = b->cap ? b->cap : FIRST_ALLOC;

	if (want > b->max)
		want = b->max;
	if (want <= b->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	if (cap > b->max)
		cap = b->max;
	if (b->budget && cap - b->cap > b->budget->max - b->budget->used)
		return -ENOSPC;
	if (regrow(b, cap) < 0)
		return -ENOMEM;
	if (b->budget)
		b->budget->used += cap - b->cap;
	b->cap = cap;
	return 0;
}

static size_t append_head(struct capture_buf *b, const char *s, size_t n)
{
	size_t room = b->cap - b->len, take = n < room ? n : room;

	memcpy(b->data + b->len, s, take);
	b->len += take;
	return take;
}

/* The ring holds the last cap bytes: start is the oldest.  Only the last
 * cap bytes of s can survive, so older ones are skipped unwritten. */
static size_t append_tail(struct capture_buf *b, const char *s, size_t n)
{
	size_t skip = n > b->cap ? n - b->cap : 0, i;

	s += skip;
	n -= skip;
	for (i = 0; i < n;) {
		size_t end = (b->start + b->len) % b->cap;
		size_t chunk = b->cap - end < n - i ? b->cap - end : n - i;

		if (b->len == b->cap) {	/* full: overwrite the oldest */
			end = b->start;
			chunk = b->cap - end < n - i ? b->cap - end : n - i;
			b->start = (b->start + chunk) % b->cap;
			b->len -= chunk;
		}
		memcpy(b->data + end, s + i, chunk);
		b->len += chunk;
		i += chunk;
	}
	return n;
}

long capture_buf_append(struct capture_buf *b, const void *s, size_t n)
{
	size_t kept = 0;
	int rc;

	b->total += n;
	if (n == 0)
		return 0;
	rc = reserve(b, b->len + n);
	if (rc < 0) {
		/* Out of budget (or memory): go on in what is held, a tail
		 * wrapping early rather than losing the newest bytes. */
		b->starved++;
	}
	if (b->cap && b->mode == CAPTURE_HEAD)
		kept = append_head(b, s, n);
	else if (b->cap)
		kept = append_tail(b, s, n);
	b->cut = b->cut || b->total > b->len;
	return rc < 0 ? rc : (long)kept;
}

static bool continuation(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/* Length of the UTF-8 sequence a lead byte starts; 1 for anything else. */
static size_t seq_len(unsigned char c)
{
	if (c >= 0xF0 && c <= 0xF4)
		return 4;
	if (c >= 0xE0)
		return c <= 0xEF ? 3 : 1;
	if (c >= 0xC2)
		return 2;
	return 1;
}

/* A head cut inside a character: drop the lead byte and its tail. */
static size_t head_end(const char *s, size_t n)
{
	size_t i, back;

	for (back = 1; back <= 3 && back <= n; back++) {
		i = n - back;
		if (!continuation((unsigned char)s[i])) {
			if (seq_len((unsigned char)s[i]) > back)
				return i;
			return n;
		}
	}
	return n;
}

/* A tail cut inside a character: skip its remaining continuation bytes. */
static size_t tail_start(const char *s, size_t n)
{
	size_t i = 0;

	while (i < 3 && i < n && continuation((unsigned char)s[i]))
		i++;
	return i;
}

int capture_buf_text(const struct capture_buf *b, char **out, size_t *len)
{
	size_t first = b->len, from = 0, to;
	char *s = malloc(b->len + 1);

	*out = NULL;
	*len = 0;
	if (!s)
		return -ENOMEM;
	if (b->len) {
		if (b->start + b->len > b->cap)
			first = b->cap - b->start;
		memcpy(s, b->data + b->start, first);
		memcpy(s + first, b->data, b->len - first);
	}
	to = b->len;
	if (b->cut && b->mode == CAPTURE_HEAD)
		to = head_end(s, b->len);
	if (b->cut && b->mode == CAPTURE_TAIL)
		from = tail_start(s, b->len);
	memmove(s, s + from, to - from);
	s[to - from] = '\0';
	*out = s;
	*len = to - from;
	return 0;
}

void capture_buf_free(struct capture_buf *b)
{
	if (b->budget)
		b->budget->used -= b->cap;
	free(b->data);
	capture_buf_init(b, b->mode, b->max, b->budget);
}
