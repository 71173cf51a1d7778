/*
 * recover.c - the spool's start-up scan: every segment is read and each
 * record checked; damage is skipped by resynchronising on the next sound
 * header, counted, and journalled so that the next start does not count it
 * again.  See "Format, and why" at the top of spool.c.
 */
#define _GNU_SOURCE
#include "spool_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "deadletter.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"

/* A skipped region lost records known lost (from the sequence numbers
 * around it), or at least one when it is the tail. */
void count_corrupt(struct spool *sp, unsigned long long records)
{
	sp->corrupt += records;
	sp->corrupt_regions++;
	/* Whose records they were, the damaged bytes cannot say. */
	metrics_add(M_SPOOL_CORRUPT_RECORDS, 0, 0, records);
	metrics_inc(M_SPOOL_CORRUPT_REGIONS);
}

/* Why the record at off is unusable, or NULL when it is sound and its
 * sequence number is within lo..hi.  *h is its header.  The cheap tests
 * come first: the resynchronising scan calls this at every magic. */
static const char *check_rec(const char *buf, long long len, long long off,
			     unsigned long long lo, unsigned long long hi, struct rec_hdr *h)
{
	size_t plen;

	if (len - off < (long long)sizeof(*h))
		return "torn header";
	memcpy(h, buf + off, sizeof(*h));
	if (h->magic != REC_MAGIC || h->version != REC_VERSION)
		return "bad magic";
	plen = (size_t)h->path_len + h->body_len;
	if (h->path_len > REC_MAX || h->body_len > REC_MAX || plen > REC_MAX ||
	    h->svc >= SERVICE__COUNT || h->ep >= ENDPOINT__COUNT)
		return "bad header";
	if (h->seq < lo || h->seq > hi || h->seq >= SEQ_LIMIT)
		return "out of sequence";
	if ((long long)plen > len - off - (long long)sizeof(*h))
		return "torn payload";
	if (rec_crc(h, buf + off + sizeof(*h), plen) != h->crc)
		return "checksum mismatch";
	return NULL;
}

/* Offset of the first sound record after the bad one at off, or -1.  Its
 * sequence number must be want or later, with no more records missing than
 * the skipped bytes could hold (40 each): a stale or forged header cannot
 * make us invent records.  A false match inside a sound record's payload
 * would need a header's NUL and control bytes in JSON text, which escapes
 * them, and then a matching CRC. */
static long long resync(const char *buf, long long len, long long off,
			unsigned long long want, struct rec_hdr *h)
{
	static const uint32_t magic = REC_MAGIC;

	for (long long p = off + 1; p + (long long)sizeof(*h) <= len; p++) {
		const char *m = memmem(buf + p, (size_t)(len - p), &magic, sizeof(magic));
		unsigned long long most;

		if (!m)
			return -1;
		p = m - buf;
		most = (unsigned long long)(p - off) / sizeof(*h);
		if (!check_rec(buf, len, p, want, want + most, h))
			return p;
	}
	return -1;
}

/* A region skipped in the middle of a segment. */
struct gap {
	unsigned long long from, to;	/* the sequence numbers it lost: from..to-1 */
	long long off, len;		/* its bytes */
	const char *why;
};

struct gaps {
	struct gap *v;
	size_t n, cap;
};

static int gap_push(struct gaps *gs, const struct gap *x)
{
	if (ARRAY_RESERVE(gs->v, gs->n, gs->cap, 8) < 0)
		return -ENOMEM;
	gs->v[gs->n++] = *x;
	return 0;
}

/* Index every sound record of g.  A bad region in the middle is skipped up
 * to the next sound record: its lost sequence numbers are indexed too (at
 * the region's offset, never read) and noted in gaps.  A bad tail is cut. */
static int scan_segment(struct spool *sp, struct segment *g, const char *name,
			struct gaps *gaps)
{
	long long len = 0, off = 0;
	char *buf = fs_read_file(g->fd, UINT32_MAX, &len);
	const char *why = NULL;
	struct rec_hdr h;

	if (!buf)
		return -errno;
	while (off < len) {
		unsigned long long want = g->first + g->n;

		why = check_rec(buf, len, off, want, want, &h);
		if (why) {
			long long next = resync(buf, len, off, want, &h);
			struct gap x = { want, h.seq, off, next - off, why };

			if (next < 0)
				break;
			if (gap_push(gaps, &x) < 0)
				goto fail;
			while (g->first + g->n < h.seq)
				if (seg_push(g, off, h.time_ms, SERVICE_PROCMON) < 0)
					goto fail;	/* a lost record: acknowledged below */
			off = next;
			why = NULL;
		}
		if (seg_push(g, off, h.time_ms, h.svc) < 0)
			goto fail;
		off += (long long)sizeof(h) + h.path_len + h.body_len;
	}
	free(buf);
	g->bytes = off;
	if (!why)
		return 0;
	/* We cannot tell how many records the bad bytes held: one is counted. */
	log_warn(MOD, "%s/%s: %s at offset %lld; skipping the %lld byte(s) from there",
		 sp->dir, name, why, off, len - off);
	count_corrupt(sp, 1);
	if (ftruncate(g->fd, off) < 0)
		log_warn(MOD, "cannot truncate %s/%s: %s", sp->dir, name, strerror(errno));
	return 0;
fail:
	free(buf);
	return -errno;
}

static void load_acks(struct spool *sp, struct segment *g)
{
	char name[64];
	long long len = 0;
	char *buf;
	int fd;

	seg_name(name, sizeof(name), g->first, "ack");
	fd = openat(sp->dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	buf = fs_read_file(fd, UINT32_MAX, &len);
	for (long long o = 0; buf && o + (long long)sizeof(struct ack_ent) <= len;
	     o += sizeof(struct ack_ent)) {
		struct ack_ent e;

		memcpy(&e, buf + o, sizeof(e));
		if (e.magic == ACK_MAGIC && e.check == ack_check(e.seq) &&
		    e.seq >= g->first && e.seq < g->first + g->n)
			seg_mark(g, (unsigned int)(e.seq - g->first));
	}
	/* A torn last entry would misalign every later append. */
	if (buf && len % (long long)sizeof(struct ack_ent))
		(void)!ftruncate(fd, len - len % (long long)sizeof(struct ack_ent));
	free(buf);
	close(fd);
}

static bool all_marked(const struct segment *g, unsigned long long from, unsigned long long to)
{
	for (unsigned long long seq = from; seq < to; seq++)
		if (!bit_get(g, (unsigned int)(seq - g->first)))
			return false;
	return true;
}

/* Log and count each region skipped in g, and mark the records it lost as
 * done, journalled like acknowledgements: a later start finds them marked
 * and neither logs nor counts the same loss again. */
static void settle_gaps(struct spool *sp, struct segment *g, const char *name,
			const struct gaps *gaps)
{
	for (size_t i = 0; i < gaps->n; i++) {
		const struct gap *x = &gaps->v[i];

		if (x->to > x->from && all_marked(g, x->from, x->to)) {
			log_debug(MOD, "%s/%s: the %lld byte(s) at offset %lld were skipped before",
				  sp->dir, name, x->len, x->off);
			continue;
		}
		if (x->to > x->from)
			log_warn(MOD, "%s/%s: %s at offset %lld; skipped %lld byte(s) to the next "
				 "sound record: %llu record(s) lost (%llu..%llu)", sp->dir, name,
				 x->why, x->off, x->len, x->to - x->from, x->from, x->to - 1);
		else
			log_warn(MOD, "%s/%s: %s at offset %lld; skipped %lld byte(s) to the next "
				 "sound record: no record lost", sp->dir, name, x->why, x->off,
				 x->len);
		count_corrupt(sp, x->to - x->from);
		for (unsigned long long seq = x->from; seq < x->to; seq++)
			if (seg_mark(g, (unsigned int)(seq - g->first)) && ack_buffer(g, seq) == 0)
				sp->acks_dirty = true;
	}
}

/* Open, check and index one segment; it is kept only if it has records
 * still to deliver. */
static int load_segment(struct spool *sp, unsigned long long first)
{
	struct segment *g = seg_new(first);
	struct gaps gaps = { 0 };
	char name[64];

	if (!g)
		return -errno;
	seg_name(name, sizeof(name), first, "seg");
	g->fd = openat(sp->dirfd, name, O_RDWR | O_CLOEXEC);
	if (g->fd < 0 || scan_segment(sp, g, name, &gaps) < 0) {
		log_warn(MOD, "cannot read %s/%s: %s", sp->dir, name, strerror(errno));
		seg_free(g);
		free(gaps.v);
		return 0;	/* leave it there for a human */
	}
	close(g->fd);
	g->fd = -1;
	if (first + g->n > sp->next_seq)
		sp->next_seq = first + g->n;
	if (g->n)
		load_acks(sp, g);
	settle_gaps(sp, g, name, &gaps);
	free(gaps.v);
	if (g->acked == g->n) {
		unlink_files(sp, first);
		seg_free(g);
		return 0;
	}
	if (segs_push(sp, g) < 0) {
		seg_free(g);
		return -errno;
	}
	sp->records += g->n - g->acked;
	account(sp, g, 1);
	sp->unread += g->n - g->acked;
	sp->bytes += g->bytes;
	return 0;
}

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

/* NULL when name is exactly one the spool writes, 16 lower-case hex
 * digits then .seg or .ack ("0000000000000001.seg" -> 1 and "seg"), with a
 * first sequence number in 1..SEQ_LIMIT-1; else why it is not. */
static const char *parse_name(const char *name, unsigned long long *first, const char **ext)
{
	if (strspn(name, "0123456789abcdef") != 16 || name[16] != '.' ||
	    (strcmp(name + 17, "seg") != 0 && strcmp(name + 17, "ack") != 0))
		return " is not a spool file";
	*first = strtoull(name, NULL, 16);
	*ext = name + 17;
	if (*first == 0 || *first >= SEQ_LIMIT)
		return ": sequence number out of range";
	return NULL;
}

static bool is_deadletter_file(const char *name)
{
	return strcmp(name, DEADLETTER_FILE) == 0 || strcmp(name, DEADLETTER_FILE ".1") == 0;
}

static int add_ull(unsigned long long **v, size_t *n, size_t *cap, unsigned long long x)
{
	if (ARRAY_RESERVE(*v, *n, *cap, 64) < 0)
		return -ENOMEM;
	(*v)[(*n)++] = x;
	return 0;
}

/* Sorted first sequences of the .seg files; .ack files without a segment
 * are removed, anything else is left alone with a warning. */
static int list_dir(struct spool *sp, unsigned long long **segs, size_t *nsegs)
{
	unsigned long long *acks = NULL;
	size_t nacks = 0, capacks = 0, cap = 0;
	DIR *d = fdopendir(dup(sp->dirfd));
	struct dirent *e;
	int ret = 0;

	if (!d)
		return -errno;
	while (ret == 0 && (e = readdir(d))) {
		unsigned long long first;
		const char *ext, *why;
		char esc[256];

		if (e->d_name[0] == '.' || is_deadletter_file(e->d_name))
			continue;
		why = parse_name(e->d_name, &first, &ext);
		if (why)
			log_warn(MOD, "%s/%s%s; ignored", sp->dir,
				 log_escape(e->d_name, esc, sizeof(esc)), why);
		else if (ext[0] == 's')
			ret = add_ull(segs, nsegs, &cap, first);
		else
			ret = add_ull(&acks, &nacks, &capacks, first);
	}
	closedir(d);
	if (*nsegs)	/* qsort() and bsearch() want an array, even an empty one */
		qsort(*segs, *nsegs, sizeof(**segs), cmp_ull);
	for (size_t i = 0; ret == 0 && i < nacks; i++) {
		if (!*nsegs || !bsearch(&acks[i], *segs, *nsegs, sizeof(**segs), cmp_ull)) {
			char name[64];

			seg_name(name, sizeof(name), acks[i], "ack");
			unlinkat(sp->dirfd, name, 0);
		}
	}
	free(acks);
	return ret;
}

int recover(struct spool *sp)
{
	unsigned long long *firsts = NULL;
	size_t n = 0;
	int ret = list_dir(sp, &firsts, &n);

	for (size_t i = 0; ret == 0 && i < n; i++) {
		/* Never ours: two segments cannot share a sequence number. */
		if (firsts[i] < sp->next_seq) {
			log_warn(MOD, "%s/%016llx.seg: overlaps the segment before it; ignored",
				 sp->dir, firsts[i]);
			continue;
		}
		sp->next_seq = firsts[i] + 1;
		ret = load_segment(sp, firsts[i]);
	}
	free(firsts);
	return ret;
}
