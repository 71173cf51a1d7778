/*
 * spool.h - the durable record log beneath the sender.
 *
 * Every API record is appended here before it is sent and acknowledged
 * once the API took it (2xx) or it was dead-lettered; what is not
 * acknowledged survives kill -9 and is handed out again after a restart.
 * The size is bounded: when full, the oldest records go first (counted).
 * See spool.c for the format and why.
 */
#ifndef JCW_SPOOL_H
#define JCW_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "domain.h"

struct spool_config {
	const char *dir;		/* created (mode 0700) if missing */
	long long max_bytes;		/* <= 0 -> 256 MiB */
	long long segment_bytes;	/* <= 0 -> max_bytes / 64, within 4 KiB..4 MiB */
};

struct spool_rec {
	unsigned long long seq;		/* set by spool_append(), 1, 2, 3... */
	enum service svc;
	enum endpoint_type ep;
	long long time_ms;		/* wall clock when spooled (set by spool_append) */
	char *path;			/* NUL-terminated */
	char *body;
	char *block;			/* spool_next(): path and body live here; free(block) */
};

struct spool_stats {
	unsigned long long records;	/* not yet acknowledged */
	unsigned long long bytes;	/* segment files on disk (what max_bytes bounds) */
	long long oldest_ms;		/* wall time of the oldest such record; 0 when none */
	unsigned long long dropped;	/* unacknowledged records dropped when full, since open */
	unsigned long long corrupt;	/* torn or corrupt records skipped, since open */
	unsigned long long corrupt_regions; /* bad byte ranges skipped, since open */
	struct {
		unsigned long long records;	/* of this service, not yet acknowledged */
		long long oldest_ms;		/* the oldest of them; 0 when none */
	} by_service[SERVICE__COUNT];
};

/* Open (scan, verify, repair) the spool in cfg->dir.  Takes an exclusive
 * lock on the directory: a second agent on it fails here.  NULL with a
 * message in err on failure. */
struct spool *spool_open(const struct spool_config *cfg, char *err, size_t errlen);

/* Append rec (svc, ep, path, body) and set rec->seq and rec->time_ms.
 * With claim, and only when spool_caught_up(), the read cursor moves past
 * the new record: the caller keeps it in memory and spool_next() will not
 * hand it out.  Drops the oldest segments when full.  Returns 0, or -errno
 * (the record is then not in the spool; errno is set too). */
int spool_append(struct spool *sp, struct spool_rec *rec, bool claim);

/* True when spool_next() has nothing to hand out. */
bool spool_caught_up(const struct spool *sp);

/* Records spool_next() would still hand out. */
size_t spool_unread(const struct spool *sp);

/* The next record in sequence order that is neither acknowledged nor
 * handed out yet.  1 (out filled, free(out->block)), 0 at the end. */
int spool_next(struct spool *sp, struct spool_rec *out);

/* The record is done (delivered or dead-lettered).  Unknown or dropped
 * sequence numbers are ignored.  The acknowledgement reaches the disk at
 * the next spool_sync(); a crash before that replays the record. */
void spool_ack(struct spool *sp, unsigned long long seq);

/* False once the record was dropped to make room. */
bool spool_has(const struct spool *sp, unsigned long long seq);

/* Something was written since the last spool_sync(). */
bool spool_dirty(const struct spool *sp);

/* Write buffered acknowledgements and fdatasync what was appended. */
int spool_sync(struct spool *sp);

void spool_stats(const struct spool *sp, struct spool_stats *st);

/* spool_records_current and spool_oldest_age_seconds by service, and the
 * node-wide spool_bytes_current (file bytes belong to no one service). */
void spool_publish(const struct spool *sp);

const char *spool_path(const struct spool *sp);

/* Sync and close.  Unacknowledged records stay for the next open. */
void spool_close(struct spool *sp);

#endif
