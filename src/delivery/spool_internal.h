/*
 * spool_internal.h - what the spool's files share; not for other modules.
 *
 *   spool.c     open and close, appending, reading, acknowledging, syncing,
 *               statistics: the API of spool.h
 *   segment.c   segments in memory: record offsets, times, services and
 *               acknowledgement bits; the list of segments
 *   recover.c   the start-up scan: verify, resynchronise past damage, load
 *               the acknowledgements
 *
 * The format and the reasons for it are described at the top of spool.c.
 */
#ifndef JCW_SPOOL_INTERNAL_H
#define JCW_SPOOL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "crc32c.h"
#include "loop.h"
#include "spool.h"

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

static inline long long wall_ms(void)
{
	return loop_wall_ns() / 1000000;
}

static inline void seg_name(char *buf, size_t len, unsigned long long first, const char *ext)
{
	snprintf(buf, len, "%016llx.%s", first, ext);
}

static inline uint32_t rec_crc(const struct rec_hdr *h, const void *payload, size_t len)
{
	struct rec_hdr tmp = *h;

	tmp.crc = 0;
	return crc32c(crc32c(0, &tmp, sizeof(tmp)), payload, len);
}

static inline uint32_t ack_check(uint64_t seq)
{
	return crc32c(0, &seq, sizeof(seq));
}

static inline bool bit_get(const struct segment *g, unsigned int i)
{
	return g->bits[i / 64] >> (i % 64) & 1;
}

/* Bytes from record i to the next (or the end): its length, header
 * included, plus any skipped corrupt bytes that follow it. */
static inline long long rec_len(const struct segment *g, unsigned int i)
{
	return (i + 1 < g->n ? (long long)g->off[i + 1] : g->bytes) - g->off[i];
}

/* segment.c */
struct segment *seg_new(unsigned long long first);
void seg_free(struct segment *g);
int seg_grow(struct segment *g);
int seg_push(struct segment *g, long long off, long long time_ms, enum service svc);
bool seg_mark(struct segment *g, unsigned int i);
void count_unacked(const struct segment *g, unsigned long long count[SERVICE__COUNT]);
void account(struct spool *sp, const struct segment *g, int sign);
int ack_buffer(struct segment *g, unsigned long long seq);
ssize_t seg_find(const struct spool *sp, unsigned long long seq);
int segs_push(struct spool *sp, struct segment *g);
void unlink_files(struct spool *sp, unsigned long long first);
void seg_remove(struct spool *sp, size_t idx);

/* recover.c */
void count_corrupt(struct spool *sp, unsigned long long records);
int recover(struct spool *sp);

#endif
