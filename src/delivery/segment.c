/*
 * segment.c - the spool's segments in memory: per record its offset, age,
 * service and acknowledgement bit (the bodies stay on disk), and the
 * ordered list of segments.
 */
#define _GNU_SOURCE
#include "spool_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "log.h"

struct segment *seg_new(unsigned long long first)
{
	struct segment *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->first = first;
	g->fd = -1;
	return g;
}

void seg_free(struct segment *g)
{
	if (!g)
		return;
	if (g->fd >= 0)
		close(g->fd);
	free(g->off);
	free(g->dt);
	free(g->svc);
	free(g->bits);
	free(g->acks);
	free(g);
}

int seg_grow(struct segment *g)
{
	unsigned int cap = g->cap ? g->cap * 2 : 256;
	uint32_t *off = realloc(g->off, cap * sizeof(*off)), *dt;
	uint8_t *svc;
	uint64_t *bits;

	if (!off)
		return -errno;
	g->off = off;
	dt = realloc(g->dt, cap * sizeof(*dt));
	if (!dt)
		return -errno;
	g->dt = dt;
	svc = realloc(g->svc, cap * sizeof(*svc));
	if (!svc)
		return -errno;
	g->svc = svc;
	bits = realloc(g->bits, cap / 64 * sizeof(*bits));
	if (!bits)
		return -errno;
	memset(bits + g->cap / 64, 0, (cap - g->cap) / 64 * sizeof(*bits));
	g->bits = bits;
	g->cap = cap;
	return 0;
}

/* Note record n of g, at off, written at time_ms by svc. */
int seg_push(struct segment *g, long long off, long long time_ms, enum service svc)
{
	long long dt;

	if (g->n == g->cap && seg_grow(g) < 0)
		return -errno;
	if (g->n == 0)
		g->base_ms = time_ms;
	dt = time_ms - g->base_ms;
	g->off[g->n] = (uint32_t)off;
	g->svc[g->n] = (uint8_t)svc;
	g->dt[g->n] = dt < 0 ? 0 : dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
	g->n++;
	return 0;
}

/* Mark record i acknowledged; false when it already was. */
bool seg_mark(struct segment *g, unsigned int i)
{
	if (bit_get(g, i))
		return false;
	g->bits[i / 64] |= 1ull << (i % 64);
	g->acked++;
	while (g->low < g->n && bit_get(g, g->low))
		g->low++;
	return true;
}

/* Add g's unacknowledged records, by service, to count[]. */
void count_unacked(const struct segment *g, unsigned long long count[SERVICE__COUNT])
{
	for (unsigned int i = g->low; i < g->n; i++)
		if (!bit_get(g, i))
			count[g->svc[i]]++;
}

/* Add (sign 1) or take away (-1) g's records from the live counts. */
void account(struct spool *sp, const struct segment *g, int sign)
{
	unsigned long long n[SERVICE__COUNT] = { 0 };

	count_unacked(g, n);
	for (int svc = 0; svc < SERVICE__COUNT; svc++)
		sp->live[svc] += sign * n[svc];
}

int ack_buffer(struct segment *g, unsigned long long seq)
{
	if (ARRAY_RESERVE(g->acks, g->nacks, g->capacks, 64) < 0)
		return -ENOMEM;
	g->acks[g->nacks++] = seq;
	return 0;
}

/* Index of the segment holding seq, or -1. */
ssize_t seg_find(const struct spool *sp, unsigned long long seq)
{
	size_t lo = 0, hi = sp->nsegs;

	while (lo < hi) {	/* first segment with first > seq */
		size_t mid = (lo + hi) / 2;

		if (sp->segs[mid]->first <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || seq >= sp->segs[lo - 1]->first + sp->segs[lo - 1]->n)
		return -1;
	return (ssize_t)lo - 1;
}

int segs_push(struct spool *sp, struct segment *g)
{
	if (ARRAY_RESERVE(sp->segs, sp->nsegs, sp->capsegs, 16) < 0)
		return -ENOMEM;
	sp->segs[sp->nsegs++] = g;
	return 0;
}

/* Unacknowledged records of g the cursor has not handed out yet. */
static size_t seg_unread(const struct spool *sp, size_t idx)
{
	const struct segment *g = sp->segs[idx];
	size_t n = 0;

	if (idx < sp->cur_seg)
		return 0;
	for (unsigned int i = idx == sp->cur_seg ? sp->cur_rec : 0; i < g->n; i++)
		n += !bit_get(g, i);
	return n;
}

void unlink_files(struct spool *sp, unsigned long long first)
{
	char name[64];

	/* The segment first: an .ack without its segment is harmless. */
	seg_name(name, sizeof(name), first, "seg");
	if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT)
		log_warn(MOD, "cannot remove %s/%s: %s", sp->dir, name, strerror(errno));
	seg_name(name, sizeof(name), first, "ack");
	unlinkat(sp->dirfd, name, 0);
	sp->dir_dirty = true;
}

/* Forget segment idx and its files; the cursor keeps its place. */
void seg_remove(struct spool *sp, size_t idx)
{
	struct segment *g = sp->segs[idx];

	sp->unread -= seg_unread(sp, idx);
	sp->records -= g->n - g->acked;
	account(sp, g, -1);
	sp->bytes -= g->bytes;
	if (sp->cur_seg > idx)
		sp->cur_seg--;
	else if (sp->cur_seg == idx)
		sp->cur_rec = 0;
	if (g == sp->active)
		sp->active = NULL;
	unlink_files(sp, g->first);
	memmove(sp->segs + idx, sp->segs + idx + 1, (sp->nsegs - idx - 1) * sizeof(*sp->segs));
	sp->nsegs--;
	seg_free(g);
}
