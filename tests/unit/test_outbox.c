/*
 * test_outbox.c - the sender's queues and retry policy, on an injected
 * clock and jitter: exact order and exact due times, no sockets, no sleeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"
#include "testlib.h"

/* Jitter source: hands out `vals` in turn, then repeats the last one. */
struct jitter {
	const unsigned int *vals;
	size_t n, i;
};

static unsigned int next_jitter(void *arg)
{
	struct jitter *j = arg;
	unsigned int v = j->vals[j->i < j->n ? j->i : j->n - 1];

	if (j->i < j->n)
		j->i++;
	return v;
}

static const unsigned int zero[] = { 0 };

/* A record with malloc'd strings, queued at the FIFO's tail. */
static struct record *add(struct outbox *ob)
{
	struct record *r = outbox_record_new(ob, SERVICE_PROCMON, ENDPOINT_RUN);

	r->path = strdup("/api/run");
	r->body = strdup("{}");
	outbox_push(ob, r);
	return r;
}

/* The fake transport starting a request: what the sender does in start(). */
static struct record *take(struct outbox *ob, long long now, unsigned int *streak)
{
	struct record *r = outbox_next_due(ob, now);

	*streak = ob->fail_streak;
	if (r)
		r->attempts++;
	return r;
}

static long long id_of(const struct record *r)
{
	return r ? (long long)r->id : 0;
}

static void test_backoff_values(void)
{
	/* n = 0 and 1: 250 ms, jittered into [125, 250]. */
	CHECK_INT(outbox_backoff_ms(0, 0), 125);
	CHECK_INT(outbox_backoff_ms(1, 0), 125);
	CHECK_INT(outbox_backoff_ms(1, 125), 250);
	CHECK_INT(outbox_backoff_ms(1, 126), 125);	/* rnd wraps modulo d/2 + 1 */
	CHECK_INT(outbox_backoff_ms(2, 0), 250);
	CHECK_INT(outbox_backoff_ms(2, 250), 500);
	CHECK_INT(outbox_backoff_ms(7, 8000), 16000);
	/* 250 << 7 = 32 s is past the cap: 30 s from the 8th failure on. */
	CHECK_INT(outbox_backoff_ms(8, 0), 15000);
	CHECK_INT(outbox_backoff_ms(8, 15000), 30000);
	CHECK_INT(outbox_backoff_ms(9, 15000), 30000);
	CHECK_INT(outbox_backoff_ms(4000000000u, 15000), 30000);
}

static void test_verdicts(void)
{
	CHECK_INT(outbox_verdict(true, 200), OUTBOX_DELIVERED);
	CHECK_INT(outbox_verdict(true, 204), OUTBOX_DELIVERED);
	CHECK_INT(outbox_verdict(true, 299), OUTBOX_DELIVERED);
	/* A redirect is a deployment to fix: kept and retried. */
	CHECK_INT(outbox_verdict(true, 301), OUTBOX_RETRY);
	CHECK_INT(outbox_verdict(true, 302), OUTBOX_RETRY);
	CHECK_INT(outbox_verdict(true, 399), OUTBOX_RETRY);
	CHECK_INT(outbox_verdict(true, 400), OUTBOX_DEAD_LETTER);
	CHECK_INT(outbox_verdict(true, 404), OUTBOX_DEAD_LETTER);
	CHECK_INT(outbox_verdict(true, 422), OUTBOX_DEAD_LETTER);
	CHECK_INT(outbox_verdict(true, 499), OUTBOX_DEAD_LETTER);
	CHECK_INT(outbox_verdict(true, 408), OUTBOX_RETRY);
	CHECK_INT(outbox_verdict(true, 429), OUTBOX_RETRY);
	CHECK_INT(outbox_verdict(true, 500), OUTBOX_RETRY);
	CHECK_INT(outbox_verdict(true, 503), OUTBOX_RETRY);
	CHECK_INT(outbox_verdict(true, 0), OUTBOX_RETRY);
	/* No full answer, whatever status line came first. */
	CHECK_INT(outbox_verdict(false, 200), OUTBOX_RETRY);
	CHECK_INT(outbox_verdict(false, 404), OUTBOX_RETRY);
}

/* A failed record backs off alone; newer records go meanwhile; once due it
 * goes before every newer record. */
static void test_retry_goes_first_once_due(void)
{
	struct jitter j = { zero, 1, 0 };
	struct outbox ob;
	unsigned int streak;
	struct record *r;

	outbox_init(&ob, next_jitter, &j);
	add(&ob);
	add(&ob);
	add(&ob);
	r = take(&ob, 1000, &streak);
	CHECK_INT(id_of(r), 1);
	CHECK(outbox_failed(&ob, r, streak, 1000, 0));
	CHECK_INT(r->next_try_ms, 1125);
	CHECK_INT(ob.hold_until_ms, 1125);
	CHECK_INT(id_of(r = outbox_next_due(&ob, 1124)), 2);
	outbox_requeue(&ob, r, 1124);	/* a start that did not happen */
	CHECK_INT(id_of(r = outbox_next_due(&ob, 1125)), 1);
	outbox_record_free(r);
	CHECK_INT(id_of(r = outbox_next_due(&ob, 1125)), 2);
	outbox_record_free(r);
	CHECK_INT(id_of(r = outbox_next_due(&ob, 1125)), 3);
	outbox_record_free(r);
	CHECK(outbox_next_due(&ob, 1125) == NULL);
	CHECK_INT(ob.ready, 0);
	outbox_free(&ob);
}

/* Among due retries, the oldest record goes first, not the one due first. */
static void test_due_by_id(void)
{
	static const unsigned int vals[] = { 0, 100 };
	struct jitter j = { vals, 2, 0 };
	struct outbox ob;
	struct record *a, *b;
	unsigned int sa, sb;

	outbox_init(&ob, next_jitter, &j);
	add(&ob);
	add(&ob);
	a = take(&ob, 0, &sa);
	b = take(&ob, 0, &sb);
	CHECK(outbox_failed(&ob, b, sb, 0, 0));
	CHECK_INT(b->next_try_ms, 125);
	CHECK(!outbox_failed(&ob, a, sa, 10, 0));	/* same outage: no new step */
	CHECK_INT(a->next_try_ms, 10 + 225);
	CHECK_INT(id_of(outbox_next_waiting(&ob)), 2);
	CHECK(outbox_next_due(&ob, 124) == NULL);
	CHECK_INT(id_of(a = outbox_next_due(&ob, 235)), 1);
	CHECK_INT(id_of(b = outbox_next_due(&ob, 235)), 2);
	outbox_record_free(a);
	outbox_record_free(b);
	outbox_free(&ob);
}

/* A record failing again and again: 250 ms doubling to 30 s, at the low
 * and the high end of the jitter. */
static void test_exponential(long long jit_of_d, const long long *want, size_t n)
{
	unsigned int v = jit_of_d ? 100000 : 0;
	struct jitter j = { &v, 1, 0 };
	struct outbox ob;
	struct record *r;
	unsigned int streak;
	long long now = 0;

	outbox_init(&ob, next_jitter, &j);
	add(&ob);
	for (size_t i = 0; i < n; i++) {
		r = take(&ob, now, &streak);
		CHECK_INT(id_of(r), 1);
		if (!r)
			break;
		/* rnd % (d/2 + 1) == d/2 needs rnd = d/2: set it per step. */
		if (jit_of_d) {
			long long d = want[i];

			v = (unsigned int)(d / 2);
		}
		CHECK(outbox_failed(&ob, r, streak, now, 0));
		CHECK_INT(r->next_try_ms - now, want[i]);
		CHECK_INT(ob.hold_until_ms - now, want[i]);
		CHECK_INT(ob.fail_streak, i + 1);
		now = r->next_try_ms;
	}
	outbox_free(&ob);
}

static void test_exponential_low(void)
{
	static const long long want[] = { 125, 250, 500, 1000, 2000, 4000, 8000, 15000, 15000 };

	test_exponential(0, want, sizeof(want) / sizeof(want[0]));
}

static void test_exponential_high(void)
{
	static const long long want[] = { 250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000 };

	test_exponential(1, want, sizeof(want) / sizeof(want[0]));
}

static void test_retry_after(void)
{
	static const unsigned int vals[] = { 125, 125 };
	struct jitter j = { vals, 2, 0 };
	struct outbox ob;
	struct record *r;
	unsigned int streak;

	outbox_init(&ob, next_jitter, &j);
	add(&ob);
	/* Longer than the backoff: honoured by the record and the hold. */
	r = take(&ob, 500, &streak);
	outbox_failed(&ob, r, streak, 500, 5000);
	CHECK_INT(r->next_try_ms, 5500);
	CHECK_INT(ob.hold_until_ms, 5500);
	/* Shorter than the backoff: the backoff stands (attempt 2, streak 2:
	 * 250 + 125 % 251). */
	r = take(&ob, 5500, &streak);
	CHECK_INT(id_of(r), 1);
	outbox_failed(&ob, r, streak, 5500, 100);
	CHECK_INT(r->next_try_ms, 5875);
	CHECK_INT(ob.hold_until_ms, 5875);
	outbox_free(&ob);
}

/*
 * An outage with a fake transport: five records go at full width and all
 * fail (one backoff step), then one probe at a time until one succeeds,
 * then full width again, in id order.
 */
static void test_outage_probes(void)
{
	struct jitter j = { zero, 1, 0 };
	struct outbox ob;
	struct record *inflight[8], *r;
	unsigned int streak[8];
	int n = 0;

	outbox_init(&ob, next_jitter, &j);
	for (int i = 0; i < 5; i++)
		add(&ob);
	CHECK_INT(outbox_limit(&ob, 8), 8);
	while (n < outbox_limit(&ob, 8) && (r = take(&ob, 0, &streak[n])))
		inflight[n++] = r;
	CHECK_INT(n, 5);
	for (int i = 0; i < n; i++)
		CHECK_INT(outbox_failed(&ob, inflight[i], streak[i], 0, 0), i == 0);
	CHECK_INT(ob.fail_streak, 1);
	CHECK_INT(ob.failures, 5);
	CHECK_INT(ob.hold_until_ms, 125);
	CHECK_INT(outbox_limit(&ob, 8), 1);

	/* The probe: the oldest record, alone. */
	r = take(&ob, 125, &streak[0]);
	CHECK_INT(id_of(r), 1);
	CHECK_INT(r->attempts, 2);
	CHECK(outbox_failed(&ob, r, streak[0], 125, 0));
	CHECK_INT(ob.fail_streak, 2);
	CHECK_INT(r->next_try_ms, 375);
	CHECK_INT(ob.hold_until_ms, 375);
	CHECK_INT(outbox_limit(&ob, 8), 1);

	/* Second probe succeeds: the outage is over, 6 failures counted. */
	r = take(&ob, 375, &streak[0]);
	CHECK_INT(id_of(r), 1);
	CHECK_INT(outbox_delivered(&ob), 6);
	outbox_record_free(r);
	CHECK_INT(ob.fail_streak, 0);
	CHECK_INT(ob.hold_until_ms, 0);
	CHECK_INT(outbox_limit(&ob, 8), 8);
	CHECK_INT(outbox_delivered(&ob), 0);
	for (int id = 2; id <= 5; id++) {
		r = take(&ob, 375, &streak[0]);
		CHECK_INT(id_of(r), id);
		outbox_record_free(r);
	}
	CHECK(outbox_next_due(&ob, 375) == NULL);
	outbox_free(&ob);
}

/* A late failure from an earlier streak does not add a step. */
static void test_stale_failure_no_step(void)
{
	struct jitter j = { zero, 1, 0 };
	struct outbox ob;
	struct record *a, *b;
	unsigned int sa, sb;

	outbox_init(&ob, next_jitter, &j);
	add(&ob);
	add(&ob);
	a = take(&ob, 0, &sa);
	b = take(&ob, 0, &sb);
	CHECK(outbox_failed(&ob, a, sa, 0, 0));
	CHECK(!outbox_failed(&ob, b, sb, 50, 0));
	CHECK_INT(ob.fail_streak, 1);
	CHECK_INT(ob.failures, 2);
	CHECK_INT(ob.hold_until_ms, 175);	/* the later of 0+125 and 50+125 */
	outbox_free(&ob);	/* frees both: ASan sees any leak */
}

int main(void)
{
	RUN(test_backoff_values);
	RUN(test_verdicts);
	RUN(test_retry_goes_first_once_due);
	RUN(test_due_by_id);
	RUN(test_exponential_low);
	RUN(test_exponential_high);
	RUN(test_retry_after);
	RUN(test_outage_probes);
	RUN(test_stale_failure_no_step);
	return TEST_DONE();
}
