/*
 * sender.c - spooled, retried HTTP delivery on the event loop (libcurl multi).
 *
 * curl never blocks here: it tells us which sockets and which timeout it
 * cares about (socket and timer callbacks) and the loop calls back into
 * curl_multi_socket_action() when they are ready.  One multi handle owns a
 * pool of keep-alive connections, so a steady stream of events costs one
 * TCP handshake per connection, not per event.
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
#include "log.h"
#include "outbox.h"
#include "spool.h"
#include "stdout_sink.h"
#include "version.h"

#define MOD "sender"

#define DEFAULT_TIMEOUT_MS   20000L
#define DEFAULT_INFLIGHT     8
#define DEFAULT_QUEUE_MAX    100000
#define RETRY_AFTER_CAP_MS   (600LL * 1000)	/* a server asking for hours is misconfigured */
#define REPLY_KEEP           DEADLETTER_RESPONSE_MAX	/* bytes of a rejection we keep */
#define BODY_LOG_MAX         1024		/* bytes of a rejected body we log */
#define DROP_LOG_EVERY_MS    10000LL
#define READY_MIN            1024	/* records read ahead of the senders */
#define SPOOL_SYNC_MS        150	/* fdatasync window: what a power loss can take */
#define PUBLISH_MS           1000

/* Label sets for the generic metrics: they must outlive every call. */
static const char *const ep_labels[ENDPOINT__COUNT] = {
	[ENDPOINT_BUILD] = "endpoint_type=\"build\"",
	[ENDPOINT_RUN] = "endpoint_type=\"run\"",
	[ENDPOINT_SNAPSHOT] = "endpoint_type=\"snapshot\"",
};

/* One request in flight, and its easy handle kept for reuse afterwards. */
struct transfer {
	struct record *rec;
	CURL *easy;
	char *url;
	size_t urlcap;
	unsigned int streak;		/* ob.fail_streak when it started */
	char reply[REPLY_KEEP + 1];
	size_t reply_len;
	char errbuf[CURL_ERROR_SIZE];
	struct transfer *prev, *next;	/* busy list; idle uses next only */
};

struct sender {
	struct loop *loop;
	char *api_server;
	size_t api_len;
	long timeout_ms;
	int max_inflight;
	size_t queue_max;
	size_t ready_max;		/* spool read-ahead */
	FILE *out;

	CURLM *multi;			/* NULL in stdout mode */
	struct curl_slist *headers;
	struct spool *spool;		/* NULL: memory only */
	long long dead_letter_max;	/* bytes of dead-letter.jsonl before it rotates */
	long long curl_timer;		/* loop timer for curl's timeout; 0 = none */
	long long kick_timer;		/* loop timer for the next retry; 0 = none */
	long long kick_at;
	long long sync_timer;		/* loop timer for spool_sync(); 0 = none */
	long long publish_timer;

	struct outbox ob;		/* what waits, and the retry policy */
	size_t held;			/* records in memory, in flight included */
	int inflight;
	struct transfer *busy, *idle;
	size_t pending[SERVICE__COUNT];
	unsigned int rng;		/* the outbox's jitter */

	unsigned long long drops_unlogged;
	long long drop_logged_ms;
};

/* ---- records and queues -------------------------------------------- */

static void pending_add(struct sender *s, enum service svc, int delta)
{
	s->pending[svc] += delta;
	s->held += delta;
	metrics_queue_size(svc, (long long)s->pending[svc]);
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
	return -1;
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
	return -1;
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

static size_t on_reply(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n, room = REPLY_KEEP - t->reply_len;

	if (room > len)
		room = len;
	memcpy(t->reply + t->reply_len, data, room);
	t->reply_len += room;
	t->reply[t->reply_len] = '\0';
	return len;		/* swallow the rest: only the start is kept */
}

/* Options that never change are set once per easy handle: the handle and
 * its connection are reused for request after request. */
static void easy_setup(struct sender *s, struct transfer *t)
{
	CURL *e = t->easy;

	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "jcode-watcher/" JCW_VERSION);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
}

static struct transfer *transfer_get(struct sender *s)
{
	struct transfer *t = s->idle;

	if (t) {
		s->idle = t->next;
		return t;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->easy = curl_easy_init();
	if (!t->easy) {
		free(t);
		return NULL;
	}
	easy_setup(s, t);
	return t;
}

static void transfer_put(struct sender *s, struct transfer *t)
{
	t->rec = NULL;
	t->prev = NULL;
	t->next = s->idle;
	s->idle = t;
}

static void transfer_free(struct transfer *t)
{
	curl_easy_cleanup(t->easy);
	free(t->url);
	free(t);
}

static int set_url(struct sender *s, struct transfer *t, const char *path)
{
	size_t need = s->api_len + strlen(path) + 1;

	if (need > t->urlcap) {
		char *u = realloc(t->url, need);

		if (!u)
			return -1;
		t->url = u;
		t->urlcap = need;
	}
	memcpy(t->url, s->api_server, s->api_len);
	memcpy(t->url + s->api_len, path, need - s->api_len);
	return 0;
}

static int transfer_setup(struct sender *s, struct transfer *t, struct record *r)
{
	CURL *e = t->easy;

	if (set_url(s, t, r->path) < 0)
		return -1;
	t->rec = r;
	t->streak = s->ob.fail_streak;
	t->reply_len = 0;
	t->reply[0] = '\0';
	t->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
	return 0;
}

static void busy_link(struct sender *s, struct transfer *t)
{
	t->prev = NULL;
	t->next = s->busy;
	if (s->busy)
		s->busy->prev = t;
	s->busy = t;
}

static void busy_unlink(struct sender *s, struct transfer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		s->busy = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

static int start(struct sender *s, struct record *r)
{
	struct transfer *t = transfer_get(s);

	if (!t)
		return -1;
	if (transfer_setup(s, t, r) < 0 || curl_multi_add_handle(s->multi, t->easy) != CURLM_OK) {
		transfer_put(s, t);
		return -1;
	}
	r->attempts++;
	busy_link(s, t);
	s->inflight++;
	return 0;
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
	if (s->held == (size_t)s->inflight)
		return;
	if (now < s->ob.hold_until_ms) {
		arm_kick(s, s->ob.hold_until_ms);
		return;
	}
	while (s->inflight < limit && (r = take_next(s, now))) {
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
	if (w && s->inflight < limit)
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
 * to keep it in), -1 when it could not be written. */
static int dead_letter(struct sender *s, struct record *r, long status, const char *reply)
{
	char path[256];

	if (!s->spool)
		return 0;
	if (deadletter_write(spool_path(s->spool), r->path, r->body, status, reply,
			     s->dead_letter_max) < 0) {
		log_error(MOD, "cannot write %s/" DEADLETTER_FILE " (%s); keeping the record for "
			  "%s spooled and trying again later", spool_path(s->spool), strerror(errno),
			  log_escape(r->path, path, sizeof(path)));
		return -1;
	}
	metrics_counter_add(r->svc, "api_dead_letters_total", ep_labels[r->ep], 1);
	return 0;
}

static void rejected(struct sender *s, struct transfer *t, long status)
{
	struct record *r = t->rec;
	char path[256], reply[REPLY_KEEP * 4 + 1], body[BODY_LOG_MAX * 4 + 1], cut[BODY_LOG_MAX + 1];

	snprintf(cut, sizeof(cut), "%s", r->body);
	log_warn(MOD, "POST %s -> %ld, not retried (attempt %u)%s: %s; body: %s",
		 log_escape(r->path, path, sizeof(path)), status, r->attempts,
		 s->spool ? ", dead-lettered" : "", log_escape(t->reply, reply, sizeof(reply)),
		 log_escape(cut, body, sizeof(body)));
	metrics_counter_add(r->svc, "api_events_rejected_total", "", 1);
	if (dead_letter(s, r, status, t->reply) < 0) {
		/* Its only durable copy is the spool: acking it now would lose
		 * it.  It will be refused again and kept then (disk freed). */
		long long now = loop_now_ms();

		r->next_try_ms = now + OUTBOX_BACKOFF_CAP_MS;
		outbox_requeue(&s->ob, r, now);
		return;
	}
	finished(s, r);
}

static void retry_later(struct sender *s, struct transfer *t, long status, CURLcode rc,
			long long retry_after_ms)
{
	struct record *r = t->rec;
	long long now = loop_now_ms();
	char path[256], why[CURL_ERROR_SIZE + 16];
	bool step = outbox_failed(&s->ob, r, t->streak, now, retry_after_ms);

	metrics_counter_add(r->svc, "api_retries_total", ep_labels[r->ep], 1);

	log_escape(r->path, path, sizeof(path));
	if (rc != CURLE_OK)
		snprintf(why, sizeof(why), "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
	else
		snprintf(why, sizeof(why), "HTTP %ld", status);
	/* An outage fails once per backoff step; a line every ten is enough. */
	if (step && (s->ob.fail_streak == 1 || s->ob.fail_streak % 10 == 0))
		log_warn(MOD, "POST %s failed (%s), %llu failure(s) in a row; next try in %lld ms",
			 path, why, s->ob.failures, s->ob.hold_until_ms - now);
	else
		log_debug(MOD, "POST %s failed (%s); retrying", path, why);
}

static long long retry_after(CURL *e)
{
	curl_off_t secs = 0;

	if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &secs) != CURLE_OK || secs <= 0)
		return 0;
	if (secs > RETRY_AFTER_CAP_MS / 1000)
		return RETRY_AFTER_CAP_MS;
	return (long long)secs * 1000;
}

static void complete(struct sender *s, CURL *e, CURLcode rc)
{
	struct transfer *t;
	char *priv = NULL;
	long status = 0;
	curl_off_t us = 0;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
	t = (struct transfer *)priv;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
	if (rc != CURLE_OK)
		status = 0;	/* a reply cut short is no answer */
	metrics_api_request(t->rec->ep, (int)status, (double)us / 1e6);
	curl_multi_remove_handle(s->multi, e);
	busy_unlink(s, t);
	s->inflight--;

	switch (outbox_verdict(rc == CURLE_OK, status)) {
	case OUTBOX_DELIVERED:
		delivered(s, t->rec);
		break;
	case OUTBOX_RETRY:
		retry_later(s, t, status, rc, retry_after(e));
		break;
	case OUTBOX_DEAD_LETTER:
		rejected(s, t, status);
		break;
	}
	transfer_put(s, t);
}

static void reap(struct sender *s)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(s->multi, &left))) {
		if (m->msg == CURLMSG_DONE) {
			CURL *e = m->easy_handle;	/* m dies with the removal */

			complete(s, e, m->data.result);
		}
	}
	dispatch(s);
}

/* ---- curl <-> loop glue -------------------------------------------- */

static void on_fd(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct sender *s = arg;
	int mask = 0, running;

	if (events & LOOP_READ)
		mask |= CURL_CSELECT_IN;
	if (events & LOOP_WRITE)
		mask |= CURL_CSELECT_OUT;
	curl_multi_socket_action(s->multi, fd, mask, &running);
	reap(s);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct sender *s = userp;
	unsigned events = 0;

	if (what == CURL_POLL_REMOVE) {
		loop_del_fd(s->loop, fd);
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= LOOP_READ;
	if (what & CURL_POLL_OUT)
		events |= LOOP_WRITE;
	if (loop_add_fd(s->loop, fd, events, on_fd, s) == 0)
		return 0;
	/* A closed-and-reused fd number can leave an entry epoll already
	 * forgot, and then a modify fails: register it afresh. */
	loop_del_fd(s->loop, fd);
	if (loop_add_fd(s->loop, fd, events, on_fd, s) == 0)
		return 0;
	log_error(MOD, "cannot watch socket %d: %s", (int)fd, strerror(errno));
	return -1;
}

static long long on_curl_timeout(struct loop *loop, long long id, void *arg)
{
	struct sender *s = arg;
	int running;

	/* curl may ask for a new timeout from inside the call below. */
	s->curl_timer = 0;
	curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	reap(s);
	return -1;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct sender *s = userp;

	if (s->curl_timer)
		loop_del_timer(s->loop, s->curl_timer);
	s->curl_timer = 0;
	if (timeout_ms < 0)
		return 0;
	s->curl_timer = loop_add_timer(s->loop, timeout_ms, on_curl_timeout, s);
	if (s->curl_timer < 0) {
		s->curl_timer = 0;
		return -1;
	}
	return 0;
}

/* ---- metrics ------------------------------------------------------- */

static void publish(struct sender *s)
{
	metrics_gauge_set(SERVICE_PROCMON, "api_inflight_current", "", s->inflight);
	if (s->spool)
		spool_publish(s->spool);
}

static long long on_publish(struct loop *loop, long long id, void *arg)
{
	publish(arg);
	return PUBLISH_MS;
}

static void describe(void)
{
	metrics_describe("api_events_rejected_total", "counter",
			 "Records the API refused with a non-retryable status (4xx)");
	metrics_describe("api_dead_letters_total", "counter",
			 "Rejected records written to the spool's dead-letter file");
	metrics_describe("api_retries_total", "counter",
			 "Requests that failed transiently and were scheduled again");
	metrics_describe("api_inflight_current", "gauge", "Requests in flight");
}

/* ---- public -------------------------------------------------------- */

static void note_drop(struct sender *s)
{
	long long now = loop_now_ms();

	metrics_queue_dropped(1);
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
		note_drop(s);
		outbox_record_free(r);
		return -1;
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
		return -1;
	}
	if (!s->multi)
		return stdout_sink_print(s->out, path, body);
	if ((!s->spool && s->held >= s->queue_max) || !(r = outbox_record_new(&s->ob, svc, ep))) {
		note_drop(s);
		free(path);
		free(body);
		return -1;
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
	if (s->multi)
		publish(s);
	return sender_pending(s);
}

static int multi_setup(struct sender *s)
{
	CURLM *m;

	s->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (s->headers)
		s->headers = curl_slist_append(s->headers, "Expect:");	/* no 100-continue round trip */
	s->multi = m = curl_multi_init();
	if (!s->headers || !m)
		return -1;
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, s);
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)s->max_inflight);
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)s->max_inflight);
	return 0;
}

static int spool_setup(struct sender *s, const struct sender_config *cfg)
{
	struct spool_config sc = { .dir = cfg->spool_dir, .max_bytes = cfg->spool_max_bytes };
	char err[512];
	size_t n;

	s->spool = spool_open(&sc, err, sizeof(err));
	if (!s->spool) {
		log_error(MOD, "%s", err);
		return -1;
	}
	n = spool_unread(s->spool);
	if (n)
		log_info(MOD, "replaying %zu undelivered record(s) from the spool in %s",
			 n, cfg->spool_dir);
	return 0;
}

static int http_setup(struct sender *s, const struct sender_config *cfg)
{
	s->api_server = strdup(cfg->api_server);
	if (!s->api_server || multi_setup(s) < 0)
		return -1;
	s->api_len = strlen(s->api_server);
	while (s->api_len > 0 && s->api_server[s->api_len - 1] == '/')	/* paths bring their own */
		s->api_server[--s->api_len] = '\0';
	if (cfg->spool_dir && cfg->spool_dir[0] && spool_setup(s, cfg) < 0)
		return -1;
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
	describe();
	if (!cfg->api_server || !cfg->api_server[0])
		return s;
	if (http_setup(s, cfg) < 0) {
		sender_destroy(s);
		return NULL;
	}
	return s;
}

/* Free every record in memory; returns how many were not in the spool. */
static size_t drop_all(struct sender *s)
{
	size_t lost = 0;
	struct record *r;

	while (s->busy) {
		struct transfer *t = s->busy;

		busy_unlink(s, t);
		curl_multi_remove_handle(s->multi, t->easy);
		lost += !t->rec->seq;
		outbox_record_free(t->rec);
		transfer_free(t);
	}
	while ((r = outbox_pop_any(&s->ob))) {
		lost += !r->seq;
		outbox_record_free(r);
	}
	while (s->idle) {
		struct transfer *t = s->idle;

		s->idle = t->next;
		transfer_free(t);
	}
	return lost;
}

static void timers_stop(struct sender *s)
{
	if (s->curl_timer)
		loop_del_timer(s->loop, s->curl_timer);
	if (s->kick_timer)
		loop_del_timer(s->loop, s->kick_timer);
	if (s->sync_timer)
		loop_del_timer(s->loop, s->sync_timer);
	if (s->publish_timer)
		loop_del_timer(s->loop, s->publish_timer);
}

void sender_destroy(struct sender *s)
{
	size_t kept, lost;

	if (!s)
		return;
	kept = sender_pending(s);
	lost = drop_all(s);
	kept -= lost;
	s->inflight = 0;
	if (lost) {
		log_warn(MOD, "shutting down with %zu undelivered record(s); they are lost", lost);
		metrics_queue_dropped(lost);
	}
	if (s->spool && kept)
		log_info(MOD, "%zu undelivered record(s) stay in the spool for the next start", kept);
	for (int i = 0; i < SERVICE__COUNT; i++)
		if (s->pending[i])
			pending_add(s, i, -(int)s->pending[i]);
	if (s->multi)
		publish(s);
	/* Cleanup closes pooled connections through the socket callback,
	 * so the loop must still know us until it returns. */
	if (s->multi)
		curl_multi_cleanup(s->multi);
	timers_stop(s);
	spool_close(s->spool);
	outbox_free(&s->ob);
	curl_slist_free_all(s->headers);
	free(s->api_server);
	free(s);
	curl_global_cleanup();
}
