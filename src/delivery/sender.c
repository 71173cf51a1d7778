/*
 * sender.c - spooled, retried HTTP delivery on the event loop.
 *
 * The sender moves records between the spool (spool.c), the outbox's
 * queues and retry policy (outbox.c) and the HTTP transport
 * (http_transport.c: libcurl multi on the loop); without an API server it
 * hands them to the stdout sink (stdout_sink.c) instead.
 *
 * Durability.  With a spool (spool.c) every record is appended to it before
 * anything else happens and acknowledged there only after a 2xx or once it
 * is in the dead-letter file.  Memory holds a window of the spool: what is
 * in flight, what waits to retry and a short ready queue, refilled from the
 * spool's read cursor in sequence order.  A new record skips the disk read
 * when the cursor has caught up (the usual case: the API keeps up); during
 * an outage new records only go to disk, so RAM stays flat however long it
 * lasts.  Without a spool (tests, or no SPOOL_DIR) everything is in memory
 * and queue_max can drop records (counted).
 *
 * Failure policy and queues live in the outbox (outbox.h), which is given
 * the loop's clock and this file's jitter: the API rejecting a record
 * outright (a 4xx other than 408/429) dead-letters it, logged and counted;
 * anything transient is retried forever with backoff, one probe at a time
 * while the API is down.
 */
#define _GNU_SOURCE		/* asprintf */
#include "sender.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadletter.h"
#include "http_transport.h"
#include "log.h"
#include "outbox.h"
#include "spool.h"
#include "stdout_sink.h"

#define MOD "sender"

#define DEFAULT_TIMEOUT_MS   20000L
#define DEFAULT_INFLIGHT     8
#define DEFAULT_QUEUE_MAX    100000
#define REPLY_KEEP           DEADLETTER_RESPONSE_MAX	/* bytes of a rejection we keep */
#define BODY_LOG_MAX         1024		/* bytes of a rejected body we log */
#define DROP_LOG_EVERY_MS    10000LL
#define READY_MIN            1024	/* records read ahead of the senders */
#define SPOOL_SYNC_MS        150	/* fdatasync window: what a power loss can take */
#define PUBLISH_MS           1000

struct sender {
	struct loop *loop;
	long timeout_ms;
	int max_inflight;
	size_t queue_max;
	size_t ready_max;		/* spool read-ahead */
	FILE *out;

	struct http_transport *http;	/* NULL in stdout mode */
	struct spool *spool;		/* NULL: memory only */
	long long dead_letter_max;	/* bytes of dead-letter.jsonl before it rotates */
	long long kick_timer;		/* loop timer for the next retry; 0 = none */
	long long kick_at;
	long long sync_timer;		/* loop timer for spool_sync(); 0 = none */
	long long publish_timer;

	struct outbox ob;		/* what waits, and the retry policy */
	size_t held;			/* records in memory, in flight included */
	size_t pending[SERVICE__COUNT];
	int inflight[SERVICE__COUNT];	/* api_inflight_current, by service */
	unsigned int rng;		/* the outbox's jitter */

	unsigned long long drops_unlogged;
	long long drop_logged_ms;
};

/* ---- records and queues -------------------------------------------- */

static void pending_add(struct sender *s, enum service svc, int delta)
{
	s->pending[svc] += delta;
	s->held += delta;
	metrics_set(M_QUEUE_SIZE, svc, 0, (double)s->pending[svc]);
}

/* A record the spool dropped to make room must not be sent after all. */
static bool dropped_by_spool(struct sender *s, struct record *r)
{
	if (!r->seq || spool_has(s->spool, r->seq))
		return false;
	pending_add(s, r->svc, -1);
	outbox_record_free(r);
	return true;
}

/* The oldest record that may go now, skipping those the spool dropped. */
static struct record *next_due(struct sender *s, long long now)
{
	struct record *r;

	while ((r = outbox_next_due(&s->ob, now)))
		if (!s->spool || !dropped_by_spool(s, r))
			break;
	return r;
}

size_t sender_pending(const struct sender *s)
{
	return s->held + (s->spool ? spool_unread(s->spool) : 0);
}

/* ---- the spool ----------------------------------------------------- */

static long long on_sync(struct loop *loop, long long id, void *arg)
{
	struct sender *s = arg;

	s->sync_timer = 0;
	spool_sync(s->spool);
	return LOOP_TIMER_STOP;
}

/* Group fdatasync: one per SPOOL_SYNC_MS while records come, none when idle. */
static void arm_sync(struct sender *s)
{
	if (s->sync_timer || !spool_dirty(s->spool))
		return;
	s->sync_timer = loop_add_timer(s->loop, SPOOL_SYNC_MS, on_sync, s);
	if (s->sync_timer < 0)
		s->sync_timer = 0;
}

static void spool_done(struct sender *s, struct record *r)
{
	if (!s->spool || !r->seq)
		return;
	spool_ack(s->spool, r->seq);
	arm_sync(s);
}

/* Top up the ready FIFO from the spool's read cursor, in order. */
static void refill(struct sender *s)
{
	struct spool_rec sr;
	struct record *r;

	while (s->ob.ready < s->ready_max && s->held < s->queue_max && !spool_caught_up(s->spool)) {
		if (spool_next(s->spool, &sr) != 1)
			break;
		r = outbox_record_new(&s->ob, sr.svc, sr.ep);
		if (!r) {
			/* It stays in the spool; a restart replays it. */
			log_error(MOD, "out of memory reading the spool; record %llu skipped "
				  "until restart", sr.seq);
			free(sr.block);
			break;
		}
		r->seq = sr.seq;
		r->path = sr.path;
		r->body = sr.body;
		r->block = sr.block;
		outbox_push(&s->ob, r);
		pending_add(s, r->svc, 1);
	}
}

/* ---- backoff ------------------------------------------------------- */

static unsigned int rng_next(void *arg)
{
	struct sender *s = arg;
	unsigned int x = s->rng;	/* xorshift32: jitter needs no more */

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->rng = x;
	return x;
}

/* ---- dispatching --------------------------------------------------- */

static void dispatch(struct sender *s);

static long long on_kick(struct loop *loop, long long id, void *arg)
{
	struct sender *s = arg;

	s->kick_timer = 0;
	dispatch(s);
	return LOOP_TIMER_STOP;
}

static void arm_kick(struct sender *s, long long at)
{
	if (s->kick_timer && s->kick_at <= at)
		return;
	if (s->kick_timer)
		loop_del_timer(s->loop, s->kick_timer);
	s->kick_timer = loop_add_timer(s->loop, at - loop_now_ms(), on_kick, s);
	if (s->kick_timer < 0)
		s->kick_timer = 0;
	s->kick_at = at;
}

static int start(struct sender *s, struct record *r)
{
	int err = http_transport_start(s->http, r->path, r->body, r, s->ob.fail_streak);

	if (err < 0)
		return err;
	r->attempts++;
	s->inflight[r->svc]++;
	return 0;
}

static int inflight(const struct sender *s)
{
	return s->http ? http_transport_inflight(s->http) : 0;
}

/* next_due(), and when memory ran dry (or held only records the spool
 * dropped meanwhile) a refill from the spool and a second look. */
static struct record *take_next(struct sender *s, long long now)
{
	struct record *r = next_due(s, now);

	if (!r && s->spool && !spool_caught_up(s->spool)) {
		refill(s);
		r = next_due(s, now);
	}
	return r;
}

static void dispatch(struct sender *s)
{
	long long now = loop_now_ms();
	int limit = outbox_limit(&s->ob, s->max_inflight);
	const struct record *w;
	struct record *r;

	if (s->spool)
		refill(s);
	if (s->held == (size_t)inflight(s))
		return;
	if (now < s->ob.hold_until_ms) {
		arm_kick(s, s->ob.hold_until_ms);
		return;
	}
	while (inflight(s) < limit && (r = take_next(s, now))) {
		if (start(s, r) < 0) {
			/* Out of memory: let the allocator breathe. */
			outbox_requeue(&s->ob, r, now);
			log_error(MOD, "cannot start a request; retrying in 1 s");
			s->ob.hold_until_ms = now + 1000;
			arm_kick(s, s->ob.hold_until_ms);
			return;
		}
	}
	w = outbox_next_waiting(&s->ob);
	if (w && inflight(s) < limit)
		arm_kick(s, w->next_try_ms);
}

/* ---- outcomes ------------------------------------------------------ */

static void finished(struct sender *s, struct record *r)
{
	spool_done(s, r);
	pending_add(s, r->svc, -1);
	outbox_record_free(r);
}

static void delivered(struct sender *s, struct record *r)
{
	unsigned long long failures = outbox_delivered(&s->ob);

	if (failures)
		log_info(MOD, "API reachable again after %llu failed attempt(s)", failures);
	finished(s, r);
}

/* 0 once the record is kept in the dead-letter file (or there is no spool
 * to keep it in), -errno when it could not be written. */
static int dead_letter(struct sender *s, struct record *r, long status, const char *reply)
{
	char path[256];
	int err;

	if (!s->spool)
		return 0;
	err = deadletter_write(spool_path(s->spool), r->path, r->body, status, reply,
			       s->dead_letter_max);
	if (err < 0) {
		log_error(MOD, "cannot write %s/" DEADLETTER_FILE " (%s); keeping the record for "
			  "%s spooled and trying again later", spool_path(s->spool), strerror(-err),
			  log_escape(r->path, path, sizeof(path)));
		return err;
	}
	metrics_add(M_API_DEAD_LETTERS, r->ep, 0, 1);
	return 0;
}

static void rejected(struct sender *s, const struct http_result *res)
{
	struct record *r = res->ctx;
	char path[256], reply[REPLY_KEEP * 4 + 1], body[BODY_LOG_MAX * 4 + 1], cut[BODY_LOG_MAX + 1];

	snprintf(cut, sizeof(cut), "%s", r->body);
	log_warn(MOD, "POST %s -> %ld, not retried (attempt %u)%s: %s; body: %s",
		 log_escape(r->path, path, sizeof(path)), res->status, r->attempts,
		 s->spool ? ", dead-lettered" : "", log_escape(res->reply, reply, sizeof(reply)),
		 log_escape(cut, body, sizeof(body)));
	metrics_add(M_API_REJECTED, r->svc, 0, 1);
	if (dead_letter(s, r, res->status, res->reply) < 0) {
		/* Its only durable copy is the spool: acking it now would lose
		 * it.  It will be refused again and kept then (disk freed). */
		long long now = loop_now_ms();

		r->next_try_ms = now + OUTBOX_BACKOFF_CAP_MS;
		outbox_requeue(&s->ob, r, now);
		return;
	}
	finished(s, r);
}

static void retry_later(struct sender *s, const struct http_result *res)
{
	struct record *r = res->ctx;
	long long now = loop_now_ms();
	char path[256], why[CURL_ERROR_SIZE + 16];
	bool step = outbox_failed(&s->ob, r, res->tag, now, res->retry_after_ms);

	metrics_add(M_API_RETRIES, r->ep, 0, 1);

	log_escape(r->path, path, sizeof(path));
	if (res->error)
		snprintf(why, sizeof(why), "%s", res->error);
	else
		snprintf(why, sizeof(why), "HTTP %ld", res->status);
	/* An outage fails once per backoff step; a line every ten is enough. */
	if (step && (s->ob.fail_streak == 1 || s->ob.fail_streak % 10 == 0))
		log_warn(MOD, "POST %s failed (%s), %llu failure(s) in a row; next try in %lld ms",
			 path, why, s->ob.failures, s->ob.hold_until_ms - now);
	else
		log_debug(MOD, "POST %s failed (%s); retrying", path, why);
}

/* The transport's word on one request; the tag is the streak it began under. */
static void on_done(void *arg, const struct http_result *res)
{
	struct sender *s = arg;
	struct record *r = res->ctx;

	s->inflight[r->svc]--;
	metrics_add(M_API_REQUESTS, r->ep, metrics_api_status((int)res->status), 1);
	metrics_observe(M_API_DURATION, r->ep, res->seconds);
	switch (outbox_verdict(res->transport_ok, res->status)) {
	case OUTBOX_DELIVERED:
		delivered(s, r);
		break;
	case OUTBOX_RETRY:
		retry_later(s, res);
		break;
	case OUTBOX_DEAD_LETTER:
		rejected(s, res);
		break;
	}
}

static void on_settled(void *arg)
{
	dispatch(arg);
}

/* ---- metrics ------------------------------------------------------- */

static void publish(struct sender *s)
{
	for (int svc = 0; svc < SERVICE__COUNT; svc++)
		metrics_set(M_API_INFLIGHT, svc, 0, s->inflight[svc]);
	if (s->spool)
		spool_publish(s->spool);
}

static long long on_publish(struct loop *loop, long long id, void *arg)
{
	publish(arg);
	return PUBLISH_MS;
}

/* ---- public -------------------------------------------------------- */

static void note_drop(struct sender *s, enum service svc)
{
	long long now = loop_now_ms();

	metrics_add(M_QUEUE_DROPPED, svc, 0, 1);
	s->drops_unlogged++;
	/* An outage can drop thousands a second; one line per period is enough. */
	if (s->drop_logged_ms && now - s->drop_logged_ms < DROP_LOG_EVERY_MS)
		return;
	log_warn(MOD, "queue full (%zu records): dropped %llu record(s)",
		 sender_pending(s), s->drops_unlogged);
	s->drops_unlogged = 0;
	s->drop_logged_ms = now;
}

/* Write the record to the spool.  Returns true when it stays in memory
 * now (the cursor had caught up and there is room), false when the spool
 * alone has it.  On a disk failure the record is kept in memory (seq 0). */
static bool spool_write(struct sender *s, struct record *r)
{
	bool take = spool_caught_up(s->spool) && s->ob.ready < s->ready_max &&
		    s->held < s->queue_max;
	struct spool_rec sr = { .svc = r->svc, .ep = r->ep, .path = r->path, .body = r->body };
	char path[256];

	if (spool_append(s->spool, &sr, take) < 0) {
		log_error(MOD, "cannot spool the record for %s (%s); kept in memory only",
			  log_escape(r->path, path, sizeof(path)), strerror(errno));
		return true;
	}
	r->seq = sr.seq;
	arm_sync(s);
	return take;
}

static int post_spooled(struct sender *s, struct record *r)
{
	if (!spool_write(s, r)) {
		outbox_record_free(r);	/* read back when its turn comes */
		dispatch(s);
		return 0;
	}
	if (!r->seq && s->held >= s->queue_max) {
		note_drop(s, r->svc);
		outbox_record_free(r);
		return -ENOBUFS;
	}
	outbox_push(&s->ob, r);
	pending_add(s, r->svc, 1);
	dispatch(s);
	return 0;
}

int sender_post(struct sender *s, enum service svc, enum endpoint_type ep, char *path, char *body)
{
	struct record *r;

	if (!path || !body || (unsigned)svc >= SERVICE__COUNT || (unsigned)ep >= ENDPOINT__COUNT) {
		free(path);
		free(body);
		errno = EINVAL;
		return -EINVAL;
	}
	if (!s->http)
		return stdout_sink_print(s->out, path, body);
	if ((!s->spool && s->held >= s->queue_max) || !(r = outbox_record_new(&s->ob, svc, ep))) {
		note_drop(s, svc);
		free(path);
		free(body);
		return -ENOBUFS;
	}
	r->path = path;
	r->body = body;
	if (s->spool)
		return post_spooled(s, r);
	outbox_push(&s->ob, r);
	pending_add(s, svc, 1);
	dispatch(s);
	return 0;
}

size_t sender_drain(struct sender *s, int timeout_ms)
{
	long long deadline = loop_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	while (sender_pending(s) > 0) {
		long long left = deadline - loop_now_ms();

		if (left <= 0 || loop_run_once(s->loop, (int)left) < 0)
			break;
	}
	if (s->http)
		publish(s);
	return sender_pending(s);
}

static int spool_setup(struct sender *s, const struct sender_config *cfg)
{
	struct spool_config sc = { .dir = cfg->spool_dir, .max_bytes = cfg->spool_max_bytes };
	char err[512];
	size_t n;

	s->spool = spool_open(&sc, err, sizeof(err));
	if (!s->spool) {
		log_error(MOD, "%s", err);
		return -EIO;
	}
	n = spool_unread(s->spool);
	if (n)
		log_info(MOD, "replaying %zu undelivered record(s) from the spool in %s",
			 n, cfg->spool_dir);
	return 0;
}

static int http_setup(struct sender *s, const struct sender_config *cfg)
{
	int err;

	s->http = http_transport_create(s->loop, cfg->api_server, s->timeout_ms, s->max_inflight,
					on_done, on_settled, s);
	if (!s->http)
		return -ENOMEM;
	if (cfg->spool_dir && cfg->spool_dir[0]) {
		err = spool_setup(s, cfg);
		if (err < 0)
			return err;
	}
	s->publish_timer = loop_add_timer(s->loop, PUBLISH_MS, on_publish, s);
	if (s->publish_timer < 0)
		s->publish_timer = 0;
	publish(s);
	dispatch(s);
	return 0;
}

struct sender *sender_create(struct loop *loop, const struct sender_config *cfg)
{
	struct sender *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(s);
		return NULL;
	}
	s->loop = loop;
	s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	s->max_inflight = cfg->max_inflight > 0 ? cfg->max_inflight : DEFAULT_INFLIGHT;
	s->queue_max = cfg->queue_max > 0 ? (size_t)cfg->queue_max : DEFAULT_QUEUE_MAX;
	s->dead_letter_max = cfg->dead_letter_max_bytes;
	s->ready_max = READY_MIN > 4 * (size_t)s->max_inflight ? READY_MIN : 4 * (size_t)s->max_inflight;
	s->out = cfg->out ? cfg->out : stdout;
	s->rng = (unsigned int)(loop_now_ns() ^ ((long long)getpid() << 16)) | 1u;
	outbox_init(&s->ob, rng_next, s);
	if (!cfg->api_server || !cfg->api_server[0])
		return s;
	if (http_setup(s, cfg) < 0) {
		sender_destroy(s);
		return NULL;
	}
	return s;
}

/* Records not in the spool are lost when freed: count them by service. */
static void count_lost(void *ctx, void *arg)
{
	struct record *r = ctx;
	size_t *lost = arg;

	lost[r->svc] += !r->seq;
	outbox_record_free(r);
}

/* Free every record in memory; lost[] gets, by service, how many were not
 * in the spool.  Returns their sum. */
static size_t drop_all(struct sender *s, size_t lost[SERVICE__COUNT])
{
	struct record *r;
	size_t sum = 0;

	memset(lost, 0, SERVICE__COUNT * sizeof(*lost));
	if (s->http)
		http_transport_abort(s->http, count_lost, lost);
	memset(s->inflight, 0, sizeof(s->inflight));
	while ((r = outbox_pop_any(&s->ob)))
		count_lost(r, lost);
	for (int svc = 0; svc < SERVICE__COUNT; svc++)
		sum += lost[svc];
	return sum;
}

static void timers_stop(struct sender *s)
{
	if (s->kick_timer)
		loop_del_timer(s->loop, s->kick_timer);
	if (s->sync_timer)
		loop_del_timer(s->loop, s->sync_timer);
	if (s->publish_timer)
		loop_del_timer(s->loop, s->publish_timer);
}

void sender_destroy(struct sender *s)
{
	size_t kept, lost, by_svc[SERVICE__COUNT];

	if (!s)
		return;
	kept = sender_pending(s);
	lost = drop_all(s, by_svc);
	kept -= lost;
	if (lost) {
		log_warn(MOD, "shutting down with %zu undelivered record(s); they are lost", lost);
		for (int svc = 0; svc < SERVICE__COUNT; svc++)
			metrics_add(M_QUEUE_DROPPED, svc, 0, by_svc[svc]);
	}
	if (s->spool && kept)
		log_info(MOD, "%zu undelivered record(s) stay in the spool for the next start", kept);
	for (int i = 0; i < SERVICE__COUNT; i++)
		if (s->pending[i])
			pending_add(s, i, -(int)s->pending[i]);
	if (s->http)
		publish(s);
	http_transport_destroy(s->http);
	timers_stop(s);
	spool_close(s->spool);
	outbox_free(&s->ob);
	free(s);
	curl_global_cleanup();
}
