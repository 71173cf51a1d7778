/*
 * spool.c - an append-only segment log of API records, with ack journals.
 *
 * Format, and why.  The spool is a directory of segment files named by the
 * sequence number of their first record (0000000000000001.seg, in hex),
 * each a plain sequence of records:
 *
 *     magic "JCWR" | version | service | endpoint | flags
 *     path length | body length | sequence | wall time (ms) | CRC-32C | pad
 *     path bytes | body bytes
 *
 * (40-byte little-endian header; the CRC covers header and payload;
 * service and endpoint are the byte values of enum service and enum
 * endpoint_type, fixed in domain.h as part of this format.)  A
 * record is acknowledged by appending a 16-byte entry {sequence, check,
 * magic} to the segment's .ack file; once every record of a segment is
 * acknowledged and the segment is no longer the one being written, both
 * files are unlinked.  When the spool would exceed its size limit, the
 * oldest segments are unlinked whole and their unacknowledged records
 * counted as dropped.
 *
 * We chose this over SQLite in WAL mode because the workload is a queue,
 * not a database: records are written once, in order, read back in the same
 * order and forgotten in (nearly) the same order.  An append-only log does
 * exactly that with sequential writes, no new dependency, deletion as a
 * single unlink of a whole segment (no vacuum, no index updates), and a
 * recovery that is a scan we fully control: every record carries its own
 * checksum, and nothing that fails its check is ever replayed.  A torn or
 * corrupt tail is counted, logged with its file and offset and truncated
 * away.  A corrupt region in the middle (a flipped bit) costs only its own
 * records: the scan resynchronises on the next header whose magic, sequence
 * number and CRC agree, counts the records the gap in sequence numbers says
 * were lost, and journals them with the acknowledgements so that the next
 * start does not count them again.  Names are exactly what the spool writes
 * (16 hex digits, sequence numbers below 2^62): anything else in the
 * directory is left alone with a warning, never parsed into the sequence.  Acknowledgements are idempotent and may be lost in a
 * crash (the record is then sent again: delivery is at least once, and the
 * event_id in every body lets the API drop the duplicate).
 *
 * Durability.  A record is written (pwritev) before its request is
 * started, so it survives kill -9 of the agent from that moment: the data
 * is in the page cache.  fdatasync runs on a timer (the sender's, every
 * SPOOL_SYNC_MS) only when something was written, so a power loss can lose
 * at most the records of that last window; after such a loss the torn tail
 * is detected by its checksum like any other.
 *
 * Memory.  Per record the spool keeps 8 bytes (offset and age) and one bit
 * (acknowledged); bodies stay on disk until the read cursor hands them out.
 */
#define _GNU_SOURCE
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "crc32c.h"
#include "deadletter.h"
#include "fsutil.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "metrics_server.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the spool format is little endian; add byte swapping for this host"
#endif

#define MOD "spool"

#define REC_MAGIC	0x5257434aU	/* "JCWR" */
#define ACK_MAGIC	0x4157434aU	/* "JCWA" */
#define REC_VERSION	1
#define REC_MAX		(16u << 20)	/* path + body; larger is corruption */
#define DEFAULT_MAX	(256LL << 20)
#define SEG_MIN		(4LL << 10)
#define SEG_MAX		(4LL << 20)
#define RETIRED_MAX	4
#define DROP_LOG_EVERY_MS 10000LL
/* Sequence numbers start at 1 and stay below 2^62: at a million records a
 * second that lasts 146,000 years, so they never wrap, and a name at or
 * above it (ffffffffffffffff.seg) is not one the spool wrote. */
#define SEQ_LIMIT	(1ULL << 62)

struct rec_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t svc;
	uint8_t ep;
	uint8_t flags;
	uint32_t path_len;
	uint32_t body_len;
	uint64_t seq;
	int64_t time_ms;
	uint32_t crc;
	uint32_t pad;
};

struct ack_ent {
	uint64_t seq;
	uint32_t check;
	uint32_t magic;
};

_Static_assert(sizeof(struct rec_hdr) == 40, "record header is 40 bytes on disk");
_Static_assert(sizeof(struct ack_ent) == 16, "ack entry is 16 bytes on disk");
/* The bytes a spool written by an earlier release holds (domain.h). */
_Static_assert(SERVICE_PROCMON == 0 && SERVICE_FILEMON == 1, "service bytes are spool format");
_Static_assert(ENDPOINT_BUILD == 0 && ENDPOINT_RUN == 1 && ENDPOINT_SNAPSHOT == 2,
	       "endpoint bytes are spool format");

struct segment {
	unsigned long long first;	/* sequence of record 0, the file name */
	unsigned int n;			/* records */
	unsigned int acked;
	unsigned int low;		/* records below are all acknowledged */
	unsigned int cap;
	long long bytes;		/* valid length of the file */
	long long base_ms;		/* wall time of record 0 */
	uint32_t *off;			/* offset of each record */
	uint32_t *dt;			/* its time, ms after base_ms */
	uint8_t *svc;			/* its service, for the per-service gauges */
	uint64_t *bits;			/* acknowledged */
	uint64_t *acks;			/* acknowledged, not yet in the .ack file */
	unsigned int nacks, capacks;
	int fd;				/* -1 unless written or read right now */
};

struct spool {
	char *dir;
	int dirfd;
	long long max_bytes;
	long long seg_bytes;
	struct segment **segs;		/* ascending first; the last may be active */
	size_t nsegs, capsegs;
	struct segment *active;		/* being appended to; NULL before the first append */
	size_t cur_seg;			/* read cursor: segment index... */
	unsigned int cur_rec;		/* ...and record index in it */
	size_t unread;
	unsigned long long next_seq;
	unsigned long long records;
	unsigned long long live[SERVICE__COUNT];	/* records, by service */
	long long bytes;
	unsigned long long dropped, corrupt, corrupt_regions;
	unsigned long long drops_unlogged;
	long long drop_logged_ms;	/* monotonic */
	int retired[RETIRED_MAX];	/* rolled segments still to fdatasync */
	int nretired;
	bool data_dirty, acks_dirty, dir_dirty;
};

/* ---- small helpers ------------------------------------------------- */

static long long wall_ms(void)
{
	return loop_wall_ns() / 1000000;
}

static void seg_name(char *buf, size_t len, unsigned long long first, const char *ext)
{
	snprintf(buf, len, "%016llx.%s", first, ext);
}

static uint32_t rec_crc(const struct rec_hdr *h, const void *payload, size_t len)
{
	struct rec_hdr tmp = *h;

	tmp.crc = 0;
	return crc32c(crc32c(0, &tmp, sizeof(tmp)), payload, len);
}

static uint32_t ack_check(uint64_t seq)
{
	return crc32c(0, &seq, sizeof(seq));
}

static bool bit_get(const struct segment *g, unsigned int i)
{
	return g->bits[i / 64] >> (i % 64) & 1;
}

/* Bytes from record i to the next (or the end): its length, header
 * included, plus any skipped corrupt bytes that follow it. */
static long long rec_len(const struct segment *g, unsigned int i)
{
	return (i + 1 < g->n ? (long long)g->off[i + 1] : g->bytes) - g->off[i];
}

/* ---- segments in memory -------------------------------------------- */

static struct segment *seg_new(unsigned long long first)
{
	struct segment *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->first = first;
	g->fd = -1;
	return g;
}

static void seg_free(struct segment *g)
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

static int seg_grow(struct segment *g)
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
static int seg_push(struct segment *g, long long off, long long time_ms, enum service svc)
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
static bool seg_mark(struct segment *g, unsigned int i)
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
static void count_unacked(const struct segment *g, unsigned long long count[SERVICE__COUNT])
{
	for (unsigned int i = g->low; i < g->n; i++)
		if (!bit_get(g, i))
			count[g->svc[i]]++;
}

/* Add (sign 1) or take away (-1) g's records from the live counts. */
static void account(struct spool *sp, const struct segment *g, int sign)
{
	unsigned long long n[SERVICE__COUNT] = { 0 };

	count_unacked(g, n);
	for (int svc = 0; svc < SERVICE__COUNT; svc++)
		sp->live[svc] += sign * n[svc];
}

static int ack_buffer(struct segment *g, unsigned long long seq)
{
	if (ARRAY_RESERVE(g->acks, g->nacks, g->capacks, 64) < 0)
		return -ENOMEM;
	g->acks[g->nacks++] = seq;
	return 0;
}

/* Index of the segment holding seq, or -1. */
static ssize_t seg_find(const struct spool *sp, unsigned long long seq)
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

static int segs_push(struct spool *sp, struct segment *g)
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

static void unlink_files(struct spool *sp, unsigned long long first)
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
static void seg_remove(struct spool *sp, size_t idx)
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

/* ---- recovery ------------------------------------------------------ */

/* A skipped region lost records known lost (from the sequence numbers
 * around it), or at least one when it is the tail. */
static void count_corrupt(struct spool *sp, unsigned long long records)
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

static int recover(struct spool *sp)
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

/* ---- open / close -------------------------------------------------- */

static long long segment_size(const struct spool_config *cfg, long long max)
{
	long long seg = cfg->segment_bytes > 0 ? cfg->segment_bytes : max / 64;

	if (cfg->segment_bytes > 0)
		return seg;
	return seg < SEG_MIN ? SEG_MIN : seg > SEG_MAX ? SEG_MAX : seg;
}

struct spool *spool_open(const struct spool_config *cfg, char *err, size_t errlen)
{
	struct spool *sp = calloc(1, sizeof(*sp));

	if (!sp || !cfg->dir || !cfg->dir[0]) {
		snprintf(err, errlen, "spool: no directory");
		free(sp);
		return NULL;
	}
	sp->dirfd = -1;
	sp->next_seq = 1;
	sp->max_bytes = cfg->max_bytes > 0 ? cfg->max_bytes : DEFAULT_MAX;
	sp->seg_bytes = segment_size(cfg, sp->max_bytes);
	sp->dir = strdup(cfg->dir);
	if (!sp->dir || fs_mkdir_p(cfg->dir, 0700) < 0 ||
	    (sp->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "spool %s: %s", cfg->dir, strerror(errno));
		goto fail;
	}
	if (flock(sp->dirfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "spool %s: %s", cfg->dir, errno == EWOULDBLOCK ?
			 "in use by another process" : strerror(errno));
		goto fail;
	}
	if (recover(sp) < 0) {
		snprintf(err, errlen, "spool %s: %s", cfg->dir, strerror(errno));
		goto fail;
	}
	return sp;
fail:
	spool_close(sp);
	return NULL;
}

static void sync_retired(struct spool *sp)
{
	for (int i = 0; i < sp->nretired; i++) {
		if (fdatasync(sp->retired[i]) < 0)
			log_warn(MOD, "fdatasync: %s", strerror(errno));
		close(sp->retired[i]);
	}
	sp->nretired = 0;
}

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	if (sp->drops_unlogged)
		log_warn(MOD, "spool full: dropped %llu more undelivered record(s), %llu since start",
			 sp->drops_unlogged, sp->dropped);
	if (sp->dirfd >= 0)
		spool_sync(sp);
	sync_retired(sp);
	for (size_t i = 0; i < sp->nsegs; i++)
		seg_free(sp->segs[i]);
	free(sp->segs);
	if (sp->dirfd >= 0)
		close(sp->dirfd);	/* releases the lock */
	free(sp->dir);
	free(sp);
}

const char *spool_path(const struct spool *sp)
{
	return sp->dir;
}

/* ---- appending ----------------------------------------------------- */

static int seg_create(struct spool *sp)
{
	struct segment *g = seg_new(sp->next_seq);
	char name[64];

	if (!g)
		return -errno;
	seg_name(name, sizeof(name), g->first, "seg");
	g->fd = openat(sp->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (g->fd < 0 || segs_push(sp, g) < 0) {
		seg_free(g);
		return -errno;
	}
	sp->active = g;
	sp->dir_dirty = true;
	return 0;
}

/* Stop appending to the active segment: it is synced at the next
 * spool_sync(), and removed now if nothing in it is left to deliver. */
static void seg_retire(struct spool *sp)
{
	struct segment *g = sp->active;

	sp->active = NULL;
	if (sp->data_dirty) {
		if (sp->nretired == RETIRED_MAX)
			sync_retired(sp);
		sp->retired[sp->nretired] = dup(g->fd);
		if (sp->retired[sp->nretired] >= 0)
			sp->nretired++;
	}
	if (g->acked == g->n) {
		seg_remove(sp, sp->nsegs - 1);
		return;
	}
	if (sp->cur_seg >= sp->nsegs || sp->segs[sp->cur_seg] != g) {
		/* Not being read: the cursor reopens it when it gets there. */
		close(g->fd);
		g->fd = -1;
	}
}

static void drop_oldest(struct spool *sp)
{
	struct segment *g = sp->segs[0];
	unsigned long long lost = g->n - g->acked, by_svc[SERVICE__COUNT] = { 0 };
	long long now = loop_now_ms();

	sp->dropped += lost;
	sp->drops_unlogged += lost;
	count_unacked(g, by_svc);
	for (int svc = 0; svc < SERVICE__COUNT; svc++)
		metrics_add(M_SPOOL_DROPPED, svc, 0, by_svc[svc]);
	seg_remove(sp, 0);
	/* A long outage drops a segment every few seconds: a line per period. */
	if (sp->drop_logged_ms && now - sp->drop_logged_ms < DROP_LOG_EVERY_MS)
		return;
	log_warn(MOD, "spool full (%lld bytes): dropped the oldest %llu undelivered record(s), "
		 "%llu since start", sp->max_bytes, sp->drops_unlogged, sp->dropped);
	sp->drops_unlogged = 0;
	sp->drop_logged_ms = now;
}

/* Make room for len more bytes: roll when the active segment is full, then
 * drop whole oldest segments, never the one being written. */
static int make_room(struct spool *sp, long long len)
{
	if (len > sp->max_bytes) {
		errno = EFBIG;
		return -errno;
	}
	if (sp->active && sp->active->n && sp->active->bytes + len > sp->seg_bytes)
		seg_retire(sp);
	if (!sp->active && seg_create(sp) < 0)
		return -errno;
	while (sp->bytes + len > sp->max_bytes && sp->nsegs > 1)
		drop_oldest(sp);
	return 0;
}

static int write_rec(struct spool *sp, struct segment *g, struct spool_rec *rec)
{
	size_t plen = strlen(rec->path), blen = strlen(rec->body);
	struct rec_hdr h = {
		.magic = REC_MAGIC, .version = REC_VERSION, .svc = (uint8_t)rec->svc,
		.ep = (uint8_t)rec->ep, .path_len = (uint32_t)plen, .body_len = (uint32_t)blen,
		.seq = sp->next_seq, .time_ms = wall_ms(),
	};
	struct iovec iov[3] = {
		{ &h, sizeof(h) }, { rec->path, plen }, { rec->body, blen },
	};
	size_t total = sizeof(h) + plen + blen;
	ssize_t n;

	h.crc = crc32c(crc32c(rec_crc(&h, NULL, 0), rec->path, plen), rec->body, blen);
	n = pwritev(g->fd, iov, 3, g->bytes);
	if (n != (ssize_t)total) {
		int e = n < 0 ? errno : ENOSPC;

		/* A short write left a torn record: cut it so the next one is clean. */
		(void)!ftruncate(g->fd, g->bytes);
		errno = e;
		return -errno;
	}
	rec->seq = h.seq;
	rec->time_ms = h.time_ms;
	return 0;
}

static int append(struct spool *sp, struct spool_rec *rec, bool claim)
{
	size_t plen = strlen(rec->path), blen = strlen(rec->body);
	long long len = (long long)(sizeof(struct rec_hdr) + plen + blen);
	bool caught_up = spool_caught_up(sp);
	struct segment *g;

	if (plen > REC_MAX || blen > REC_MAX || plen + blen > REC_MAX) {
		errno = EFBIG;
		return -errno;
	}
	if (sp->next_seq >= SEQ_LIMIT) {
		errno = EOVERFLOW;
		return -errno;
	}
	if (make_room(sp, len) < 0)
		return -errno;
	g = sp->active;
	if (g->n == g->cap && seg_grow(g) < 0)
		return -errno;
	if (write_rec(sp, g, rec) < 0)
		return -errno;
	seg_push(g, g->bytes, rec->time_ms, rec->svc);	/* cannot fail: room made above */
	g->bytes += len;
	sp->bytes += len;
	sp->next_seq++;
	sp->records++;
	sp->live[rec->svc]++;
	sp->data_dirty = true;
	if (claim && caught_up) {
		sp->cur_seg = sp->nsegs - 1;
		sp->cur_rec = g->n;
	} else {
		sp->unread++;
	}
	return 0;
}

/*
 * A record the disk would not take (full, read-only, failing) means nothing
 * new is durable: /readyz says so until a write succeeds again.  A record
 * too large for the format is its own problem, not the disk's.
 */
int spool_append(struct spool *sp, struct spool_rec *rec, bool claim)
{
	int rc = append(sp, rec, claim);

	if (rc == 0)
		metrics_set_spool_writable(true);
	else if (errno != EFBIG)
		metrics_set_spool_writable(false);
	return rc;
}

/* ---- reading ------------------------------------------------------- */

bool spool_caught_up(const struct spool *sp)
{
	return sp->unread == 0;
}

size_t spool_unread(const struct spool *sp)
{
	return sp->unread;
}

static int seg_open_read(struct spool *sp, struct segment *g)
{
	char name[64];

	if (g->fd >= 0)
		return 0;
	seg_name(name, sizeof(name), g->first, "seg");
	g->fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
	return g->fd < 0 ? -errno : 0;
}

/* Read record i of g into out; -errno when it cannot be read or fails its
 * check (the disk changed under us). */
static int read_rec(struct spool *sp, struct segment *g, unsigned int i, struct spool_rec *out)
{
	long long len = rec_len(g, i);
	char *buf = malloc((size_t)len + 2);
	struct rec_hdr h;
	char *payload;
	ssize_t n;
	int err;

	if (!buf)
		return -ENOMEM;
	err = seg_open_read(sp, g);
	if (err == 0) {
		n = pread(g->fd, buf, (size_t)len, g->off[i]);
		err = n == len ? 0 : n < 0 ? -errno : -EIO;	/* short: the file shrank */
	}
	if (err < 0) {
		free(buf);
		errno = -err;
		return err;
	}
	if (len < (long long)sizeof(h)) {
		free(buf);
		errno = EIO;
		return -errno;
	}
	memcpy(&h, buf, sizeof(h));
	payload = buf + sizeof(h);
	if (h.magic != REC_MAGIC || h.seq != g->first + i ||
	    (long long)(sizeof(h) + h.path_len + h.body_len) > len ||
	    rec_crc(&h, payload, (size_t)h.path_len + h.body_len) != h.crc) {
		free(buf);
		errno = EIO;
		return -errno;
	}
	/* path\0body\0 in place: the body moves up one byte. */
	memmove(payload + h.path_len + 1, payload + h.path_len, h.body_len);
	payload[h.path_len] = '\0';
	payload[h.path_len + 1 + h.body_len] = '\0';
	*out = (struct spool_rec){
		.seq = h.seq, .svc = h.svc, .ep = h.ep, .time_ms = h.time_ms,
		.path = payload, .body = payload + h.path_len + 1, .block = buf,
	};
	return 0;
}

/* Move the cursor to the next segment; false at the last one. */
static bool cursor_next_seg(struct spool *sp)
{
	struct segment *g = sp->segs[sp->cur_seg];

	if (sp->cur_seg + 1 >= sp->nsegs)
		return false;
	if (g != sp->active && g->fd >= 0) {
		close(g->fd);
		g->fd = -1;
	}
	sp->cur_seg++;
	sp->cur_rec = 0;
	return true;
}

int spool_next(struct spool *sp, struct spool_rec *out)
{
	while (sp->unread && sp->cur_seg < sp->nsegs) {
		struct segment *g = sp->segs[sp->cur_seg];
		unsigned int i = sp->cur_rec;

		if (i >= g->n) {
			if (!cursor_next_seg(sp))
				break;
			continue;
		}
		sp->cur_rec++;
		if (bit_get(g, i))
			continue;
		sp->unread--;
		if (read_rec(sp, g, i, out) == 0)
			return 1;
		log_warn(MOD, "%s/%016llx.seg: record %llu at offset %u unreadable (%s); skipped",
			 sp->dir, g->first, g->first + i, g->off[i], strerror(errno));
		count_corrupt(sp, 1);
		spool_ack(sp, g->first + i);
	}
	return 0;
}

/* ---- acknowledging ------------------------------------------------- */

void spool_ack(struct spool *sp, unsigned long long seq)
{
	ssize_t idx = seg_find(sp, seq);
	struct segment *g;

	if (idx < 0)
		return;
	g = sp->segs[idx];
	if (!seg_mark(g, (unsigned int)(seq - g->first)))
		return;
	sp->records--;
	sp->live[g->svc[seq - g->first]]--;
	if (g->acked == g->n && g != sp->active) {
		seg_remove(sp, (size_t)idx);
		return;
	}
	/* Without memory for the journal the ack is kept in the bitmap only:
	 * a crash would replay the record, which at-least-once allows. */
	if (ack_buffer(g, seq) == 0)
		sp->acks_dirty = true;
}

bool spool_has(const struct spool *sp, unsigned long long seq)
{
	return seg_find(sp, seq) >= 0;
}

/* ---- syncing ------------------------------------------------------- */

bool spool_dirty(const struct spool *sp)
{
	return sp->data_dirty || sp->acks_dirty || sp->dir_dirty || sp->nretired;
}

static int write_acks(struct spool *sp, struct segment *g)
{
	struct ack_ent e[256];
	char name[64];
	int fd, ret = 0;

	seg_name(name, sizeof(name), g->first, "ack");
	fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) == 0)
		sp->dir_dirty = true;	/* a new name: the directory needs its sync */
	for (unsigned int i = 0; i < g->nacks && ret == 0; ) {
		unsigned int k = 0;

		for (; k < 256 && i < g->nacks; k++, i++)
			e[k] = (struct ack_ent){ g->acks[i], ack_check(g->acks[i]), ACK_MAGIC };
		ssize_t w = write(fd, e, k * sizeof(e[0]));

		if (w != (ssize_t)(k * sizeof(e[0])))
			ret = w < 0 ? -errno : -EIO;
	}
	/* A lost acknowledgement only means a resend, but spool_sync()
	 * promises it is on disk like the records. */
	if (ret == 0 && fdatasync(fd) < 0)
		ret = -errno;
	close(fd);
	g->nacks = 0;
	return ret;
}

int spool_sync(struct spool *sp)
{
	int ret = 0, err;

	for (size_t i = 0; sp->acks_dirty && i < sp->nsegs; i++)
		if (sp->segs[i]->nacks && (err = write_acks(sp, sp->segs[i])) < 0)
			ret = err;
	sp->acks_dirty = false;
	sync_retired(sp);
	if (sp->data_dirty && sp->active && fdatasync(sp->active->fd) < 0)
		ret = -errno;
	sp->data_dirty = false;
	if (sp->dir_dirty && fsync(sp->dirfd) < 0)
		ret = -errno;
	sp->dir_dirty = false;
	if (ret < 0)
		log_warn(MOD, "%s: sync failed: %s", sp->dir, strerror(-ret));
	return ret;
}

/* ---- statistics ---------------------------------------------------- */

/* Wall time of svc's oldest unacknowledged record, 0 when it has none.
 * The walk stops at that record: it is where the read cursor began. */
static long long oldest_of(const struct spool *sp, enum service svc)
{
	if (!sp->live[svc])
		return 0;
	for (size_t k = 0; k < sp->nsegs; k++) {
		const struct segment *g = sp->segs[k];

		for (unsigned int i = g->low; i < g->n; i++)
			if (!bit_get(g, i) && g->svc[i] == svc)
				return g->base_ms + g->dt[i];
	}
	return 0;
}

void spool_stats(const struct spool *sp, struct spool_stats *st)
{
	*st = (struct spool_stats){
		.records = sp->records, .bytes = (unsigned long long)sp->bytes,
		.dropped = sp->dropped, .corrupt = sp->corrupt,
		.corrupt_regions = sp->corrupt_regions,
	};
	for (int svc = 0; svc < SERVICE__COUNT; svc++) {
		st->by_service[svc].records = sp->live[svc];
		st->by_service[svc].oldest_ms = oldest_of(sp, svc);
	}
	for (size_t i = 0; i < sp->nsegs; i++) {
		const struct segment *g = sp->segs[i];

		if (g->low < g->n) {
			st->oldest_ms = g->base_ms + g->dt[g->low];
			return;
		}
	}
}

/* Seconds since wall time ms (0 for none, or from the future). */
static double age_of(long long ms)
{
	double age = ms ? (double)(wall_ms() - ms) / 1000.0 : 0;

	return age > 0 ? age : 0;
}

void spool_publish(const struct spool *sp)
{
	struct spool_stats st;

	spool_stats(sp, &st);
	metrics_set(M_SPOOL_BYTES, 0, 0, (double)st.bytes);
	for (int svc = 0; svc < SERVICE__COUNT; svc++) {
		metrics_set(M_SPOOL_RECORDS, svc, 0, (double)st.by_service[svc].records);
		metrics_set(M_SPOOL_OLDEST_AGE, svc, 0, age_of(st.by_service[svc].oldest_ms));
	}
}
