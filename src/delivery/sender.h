/*
 * sender.h - deliver API records over HTTP without ever blocking the loop.
 *
 * Records are written to the durable spool (spool.h) when one is
 * configured, POSTed with libcurl's multi interface driven by the agent's
 * event loop, and retried with backoff for as long as the API is
 * unreachable; only a 2xx or a dead letter (a non-retryable 4xx) removes a
 * record from the spool.  Memory then holds only a window of the spool, so
 * an outage of any length costs disk, not RAM.  Without a spool the records
 * are queued in memory and only the queue_max bound can drop one (counted).
 * Without an API server the records are printed as JSON lines.
 */
#ifndef JCW_SENDER_H
#define JCW_SENDER_H

#include <stddef.h>
#include <stdio.h>

#include "loop.h"
#include "metrics.h"

struct sender_config {
	const char *api_server;   /* "http://127.0.0.1:8000"; NULL or "" -> stdout mode */
	long timeout_ms;          /* per request total timeout; <= 0 -> 20000 */
	int max_inflight;         /* concurrent requests; <= 0 -> 8 */
	int queue_max;            /* records held in memory; beyond -> dropped (no spool) or
				     left on disk until there is room (spool); <= 0 -> 100000 */
	FILE *out;                /* stdout mode destination; NULL = stdout */
	const char *spool_dir;    /* NULL or "" -> memory only; ignored in stdout mode */
	long long spool_max_bytes;/* <= 0 -> 256 MiB */
	long long dead_letter_max_bytes; /* <= 0 -> 16 MiB; see deadletter.h */
};

struct sender;

/* NULL on allocation or libcurl failure, or when the spool cannot be opened
 * (logged).  The config strings are copied.  Records found in the spool are
 * replayed (logged with their number). */
struct sender *sender_create(struct loop *loop, const struct sender_config *cfg);

/* Queue one POST.  Takes ownership of path and body (malloc'd) in every case.
 * With a spool the record is on disk when this returns (or, if the disk
 * failed, kept in memory; logged).  Returns 0, or a negative errno:
 * -ENOBUFS when the record was dropped (memory queue full, or no spool and
 * no memory; logged and counted in queue_events_dropped_total), -EINVAL
 * for a bad argument, -EIO when stdout would not take the line. */
int sender_post(struct sender *s, enum service svc, enum endpoint_type ep, char *path, char *body);

/* Records queued + in flight + waiting to retry, in memory and in the spool. */
size_t sender_pending(const struct sender *s);

/* Turn the loop until nothing is pending or timeout_ms has passed; returns
 * what is left.  Other sources on the loop are served meanwhile. */
size_t sender_drain(struct sender *s, int timeout_ms);

/* Abort what is in flight.  With a spool, pending records stay there for
 * the next start (logged); without, they are lost, logged and counted as
 * dropped. */
void sender_destroy(struct sender *s);

#endif
