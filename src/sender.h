/*
 * sender.h - deliver API records over HTTP without ever blocking the loop.
 *
 * Records are queued in memory, POSTed with libcurl's multi interface driven
 * by the agent's event loop, and retried with backoff for as long as the API
 * is unreachable: only the queue_max bound can drop a record, and that is
 * counted.  Without an API server the records are printed as JSON lines.
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
	int queue_max;            /* records held in memory; beyond -> dropped; <= 0 -> 100000 */
	FILE *out;                /* stdout mode destination; NULL = stdout */
};

struct sender;

/* NULL on allocation or libcurl failure.  The config strings are copied. */
struct sender *sender_create(struct loop *loop, const struct sender_config *cfg);

/* Queue one POST.  Takes ownership of path and body (malloc'd) in every case.
 * Returns 0, or -1 when the queue is full (the record is dropped, logged and
 * counted in queue_events_dropped_total) or on allocation failure. */
int sender_post(struct sender *s, enum service svc, enum endpoint_type ep, char *path, char *body);

/* Records queued + in flight + waiting to retry. */
size_t sender_pending(const struct sender *s);

/* Turn the loop until nothing is pending or timeout_ms has passed; returns
 * what is left.  Other sources on the loop are served meanwhile. */
size_t sender_drain(struct sender *s, int timeout_ms);

/* Abort what is in flight; records still pending are lost, logged and
 * counted as dropped. */
void sender_destroy(struct sender *s);

#endif
