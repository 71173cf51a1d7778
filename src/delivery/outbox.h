/*
 * outbox.h - the sender's queues and retry policy, without sockets or clocks.
 *
 * The outbox decides which record goes next and when a failed one may go
 * again; the sender (sender.c) moves records between it, the spool and the
 * HTTP transport.  Time comes in as a `now` argument and jitter from a
 * caller's function, so ordering and backoff are exact in unit tests.
 *
 * Queues.  New records wait in a FIFO (ascending id); records backing off
 * wait in a heap by retry time and move, once due, to a heap by id.  The
 * next request takes the lower id of the FIFO head and the due heap's top,
 * so retries still go out before newer records, in O(log n).
 *
 * Policy.  A 2xx delivers; a 4xx other than 408/429 is refused for good
 * (dead letter); anything else (no answer, 3xx, 408, 429, 5xx) is retried
 * with exponential backoff, 250 ms doubling to 30 s with equal jitter,
 * or the server's Retry-After when that is longer.  Two clocks drive it:
 *
 *   - the outbox's hold: after a transient failure no new request starts
 *     until it expires, and then only one at a time (a probe) until one
 *     succeeds, so a dead API sees one request per backoff period instead
 *     of the whole queue at full speed;
 *   - each record's own next_try_ms: a record the server keeps failing
 *     (a poison record) backs off alone, and the probe after the hold picks
 *     the oldest record that is due, so it cannot stall the others.
 */
#ifndef JCW_OUTBOX_H
#define JCW_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "domain.h"
#include "heap.h"

#define OUTBOX_BACKOFF_BASE_MS   250LL
#define OUTBOX_BACKOFF_CAP_MS    30000LL

/* One API record in memory. */
struct record {
	unsigned long long id;		/* memory order: the spool's order too */
	unsigned long long seq;		/* spool sequence; 0 = not in the spool */
	enum service svc;
	enum endpoint_type ep;
	char *path;
	char *body;
	char *block;			/* read back from the spool: path and body live here */
	unsigned int attempts;
	long long next_try_ms;
	struct record *next;		/* ready FIFO */
};

/* Returns a fresh random number per call: the backoff jitter. */
typedef unsigned int outbox_jitter_fn(void *arg);

struct outbox {
	struct record *head, *tail;	/* ready FIFO: never tried, ascending id */
	size_t ready;
	struct heap waiting;		/* backing off, by next_try_ms */
	struct heap due;		/* backoff over, by id */
	unsigned long long next_id;

	unsigned int fail_streak;	/* outage length, in backoff steps */
	unsigned long long failures;	/* transient failures since the last success */
	long long hold_until_ms;
	outbox_jitter_fn *jitter;
	void *jitter_arg;
};

enum outbox_verdict {
	OUTBOX_DELIVERED,
	OUTBOX_RETRY,
	OUTBOX_DEAD_LETTER,
};

void outbox_init(struct outbox *ob, outbox_jitter_fn *jitter, void *jitter_arg);
/* Frees every queued record too. */
void outbox_free(struct outbox *ob);

/* NULL on ENOMEM.  Ids ascend in creation order. */
struct record *outbox_record_new(struct outbox *ob, enum service svc, enum endpoint_type ep);
void outbox_record_free(struct record *r);

void outbox_push(struct outbox *ob, struct record *r);		/* FIFO tail */
struct record *outbox_pop_ready(struct outbox *ob);		/* FIFO head */
/* Back to the queues after a failure or a start that did not happen. */
void outbox_requeue(struct outbox *ob, struct record *r, long long now);
/* The oldest record that may go at now, or NULL. */
struct record *outbox_next_due(struct outbox *ob, long long now);
/* Any queued record, for teardown; NULL when empty. */
struct record *outbox_pop_any(struct outbox *ob);
/* The earliest backing-off record, or NULL. */
const struct record *outbox_next_waiting(const struct outbox *ob);

/* Requests allowed in flight now: one probe while an outage lasts. */
int outbox_limit(const struct outbox *ob, int max_inflight);

/* Classify a finished request: transport_ok false means no full answer. */
enum outbox_verdict outbox_verdict(bool transport_ok, long status);

/* A 2xx arrived: the outage, if any, is over.  Returns the failures it
 * had counted (0: there was none). */
unsigned long long outbox_delivered(struct outbox *ob);

/* A transient failure of r, started when the streak was `streak`.  Sets
 * r->next_try_ms and the hold, requeues r.  Returns true when it was the
 * first failure under that streak (a new backoff step). */
bool outbox_failed(struct outbox *ob, struct record *r, unsigned int streak, long long now,
		   long long retry_after_ms);

/* 250 ms doubling to 30 s for the n-th failure, jittered into [d/2, d]. */
long long outbox_backoff_ms(unsigned int n, unsigned int rnd);

#endif
