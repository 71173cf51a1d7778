/*
 * outbox.c - queues and retry policy for the sender; see outbox.h.
 */
#include "outbox.h"

#include <stdlib.h>

static bool by_time(const void *a, const void *b)
{
	const struct record *x = a, *y = b;

	return x->next_try_ms < y->next_try_ms ||
	       (x->next_try_ms == y->next_try_ms && x->id < y->id);
}

static bool by_id(const void *a, const void *b)
{
	return ((const struct record *)a)->id < ((const struct record *)b)->id;
}

void outbox_init(struct outbox *ob, outbox_jitter_fn *jitter, void *jitter_arg)
{
	*ob = (struct outbox){ .next_id = 1, .jitter = jitter, .jitter_arg = jitter_arg };
	heap_init(&ob->waiting, by_time, NULL);
	heap_init(&ob->due, by_id, NULL);
}

void outbox_record_free(struct record *r)
{
	if (!r)
		return;
	if (r->block) {
		free(r->block);
	} else {
		free(r->path);
		free(r->body);
	}
	free(r);
}

void outbox_free(struct outbox *ob)
{
	struct record *r;

	while ((r = outbox_pop_any(ob)))
		outbox_record_free(r);
	heap_free(&ob->waiting);
	heap_free(&ob->due);
}

struct record *outbox_record_new(struct outbox *ob, enum service svc, enum endpoint_type ep)
{
	struct record *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->id = ob->next_id++;
	r->svc = svc;
	r->ep = ep;
	return r;
}

void outbox_push(struct outbox *ob, struct record *r)
{
	r->next = NULL;
	if (ob->tail)
		ob->tail->next = r;
	else
		ob->head = r;
	ob->tail = r;
	ob->ready++;
}

struct record *outbox_pop_ready(struct outbox *ob)
{
	struct record *r = ob->head;

	if (!r)
		return NULL;
	ob->head = r->next;
	if (!ob->head)
		ob->tail = NULL;
	r->next = NULL;
	ob->ready--;
	return r;
}

/* The FIFO's head is first in line: the fallback when a heap cannot grow. */
static void push_front(struct outbox *ob, struct record *r)
{
	r->next = ob->head;
	ob->head = r;
	if (!ob->tail)
		ob->tail = r;
	ob->ready++;
}

void outbox_requeue(struct outbox *ob, struct record *r, long long now)
{
	if (heap_push(r->next_try_ms > now ? &ob->waiting : &ob->due, r) < 0)
		push_front(ob, r);
}

struct record *outbox_next_due(struct outbox *ob, long long now)
{
	struct record *r, *d;

	while ((r = heap_top(&ob->waiting)) && r->next_try_ms <= now) {
		heap_pop(&ob->waiting);
		if (heap_push(&ob->due, r) < 0) {
			push_front(ob, r);	/* still first */
			break;
		}
	}
	d = heap_top(&ob->due);
	if (d && (!ob->head || d->id < ob->head->id))
		return heap_pop(&ob->due);
	return outbox_pop_ready(ob);
}

struct record *outbox_pop_any(struct outbox *ob)
{
	struct record *r = outbox_pop_ready(ob);

	if (!r)
		r = heap_pop(&ob->waiting);
	if (!r)
		r = heap_pop(&ob->due);
	return r;
}

const struct record *outbox_next_waiting(const struct outbox *ob)
{
	return heap_top(&ob->waiting);
}

int outbox_limit(const struct outbox *ob, int max_inflight)
{
	return ob->fail_streak ? 1 : max_inflight;
}

/*
 * Only a 4xx says our request itself is wrong; everything else may pass
 * later.  408 is the server timing out on us, as transient as our own
 * timeout; a 3xx (an ingress redirecting to https, say) is a deployment to
 * fix, and the spool keeps the records until it is.
 */
enum outbox_verdict outbox_verdict(bool transport_ok, long status)
{
	if (transport_ok && status >= 200 && status < 300)
		return OUTBOX_DELIVERED;
	if (!transport_ok || status < 400 || status > 499)
		return OUTBOX_RETRY;
	if (status == 429 || status == 408)
		return OUTBOX_RETRY;
	return OUTBOX_DEAD_LETTER;
}

unsigned long long outbox_delivered(struct outbox *ob)
{
	unsigned long long had = ob->fail_streak ? ob->failures : 0;

	ob->fail_streak = 0;
	ob->failures = 0;
	ob->hold_until_ms = 0;
	return had;
}

/* "Equal jitter": somewhere in [d/2, d], so agents restarted together do
 * not retry in lockstep, yet never too soon. */
long long outbox_backoff_ms(unsigned int n, unsigned int rnd)
{
	long long d = OUTBOX_BACKOFF_BASE_MS << (n > 8 ? 7 : (n ? n - 1 : 0));

	if (d > OUTBOX_BACKOFF_CAP_MS)
		d = OUTBOX_BACKOFF_CAP_MS;
	return d / 2 + rnd % (unsigned long long)(d / 2 + 1);
}

/* One jitter draw per failure: a record and the hold with the same step
 * then expire together and the oldest record is the next probe. */
bool outbox_failed(struct outbox *ob, struct record *r, unsigned int streak, long long now,
		   long long retry_after_ms)
{
	/* Only the first failure among requests started under one streak
	 * value counts: eight requests dying together are one outage. */
	bool step = streak == ob->fail_streak;
	unsigned int rnd;
	long long own, hold;

	if (step)
		ob->fail_streak++;
	ob->failures++;
	rnd = ob->jitter(ob->jitter_arg);
	own = outbox_backoff_ms(r->attempts, rnd);
	hold = outbox_backoff_ms(ob->fail_streak, rnd);
	if (retry_after_ms > own)
		own = retry_after_ms;
	if (retry_after_ms > hold)
		hold = retry_after_ms;
	r->next_try_ms = now + own;
	if (now + hold > ob->hold_until_ms)
		ob->hold_until_ms = now + hold;
	outbox_requeue(ob, r, now);
	return step;
}
