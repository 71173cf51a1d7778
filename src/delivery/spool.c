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
#include "spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "deadletter.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "metrics_server.h"

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
