/*
 * sender.c - queued, retried HTTP delivery on the event loop (libcurl multi).
 *
 * curl never blocks here: it tells us which sockets and which timeout it
 * cares about (socket and timer callbacks) and the loop calls back into
 * curl_multi_socket_action() when they are ready.  One multi handle owns a
 * pool of keep-alive connections, so a steady stream of events costs one
 * TCP handshake per connection, not per event.
 *
 * Failure policy.  A record is lost only if the queue is full (counted) or
 * the API rejects it outright (4xx: retrying cannot help, logged and
 * counted).  Anything that smells transient (no connection, timeout, 5xx,
 * 429) is retried forever with exponential backoff and jitter.  Two clocks
 * drive that:
 *
 *   - the sender's hold: after a transient failure no new request starts
 *     until it expires, and then only one at a time (a probe) until one
 *     succeeds, so a dead API sees one request per backoff period instead
 *     of the whole queue at full speed;
 *   - each record's own next_try_ms: a record the server keeps failing
 *     (a poison record) backs off alone, and the probe after the hold picks
 *     the oldest record that is due, so it cannot stall the others.
 */
#define _GNU_SOURCE		/* asprintf */
#include "sender.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"
#include "version.h"

#define MOD "sender"

#define DEFAULT_TIMEOUT_MS   20000L
#define DEFAULT_INFLIGHT     8
#define DEFAULT_QUEUE_MAX    100000
#define BACKOFF_BASE_MS      250LL
#define BACKOFF_CAP_MS       30000LL
#define RETRY_AFTER_CAP_MS   (600LL * 1000)	/* a server asking for hours is misconfigured */
#define REPLY_KEEP           512		/* bytes of a rejection body we log */
#define DROP_LOG_EVERY_MS    10000LL

/* As event.h: compact, and reals that do not grow 17-digit tails. */
#define LINE_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

/*
 * One API record.  These fields are exactly what a durable spool would
 * persist (id keeps the order, attempts and next_try_ms survive a restart),
 * so a spool can sit beneath this queue without changing the policy above.
 */
struct record {
	unsigned long long id;
	enum service svc;
	enum endpoint_type ep;
	char *path;
	char *body;
	unsigned int attempts;
	long long next_try_ms;
	struct record *prev, *next;	/* waiting list, ascending id */
};

/* One request in flight, and its easy handle kept for reuse afterwards. */
struct transfer {
	struct record *rec;
	CURL *easy;
	char *url;
	unsigned int streak;		/* s->fail_streak when it started */
	char reply[REPLY_KEEP + 1];
	size_t reply_len;
	char errbuf[CURL_ERROR_SIZE];
	struct transfer *next;		/* busy or idle list */
};

struct sender {
	struct loop *loop;
	char *api_server;
	long timeout_ms;
	int max_inflight;
	size_t queue_max;
	FILE *out;

	CURLM *multi;			/* NULL in stdout mode */
	struct curl_slist *headers;
	long long curl_timer;		/* loop timer for curl's timeout; 0 = none */
	long long kick_timer;		/* loop timer for the next retry; 0 = none */
	long long kick_at;

	struct record *head, *tail;	/* waiting: new or backing off */
	size_t waiting;
	int inflight;
	struct transfer *busy, *idle;
	size_t pending[SERVICE__COUNT];
	unsigned long long next_id;

	unsigned int fail_streak;	/* outage length, in backoff steps */
	unsigned long long failures;	/* transient failures since the last success */
	long long hold_until_ms;
	unsigned int rng;

	unsigned long long drops_unlogged;
	long long drop_logged_ms;
};

/* ---- the record queue ---------------------------------------------- */

static void record_free(struct record *r)
{
	if (!r)
		return;
	free(r->path);
	free(r->body);
	free(r);
}

static void queue_unlink(struct sender *s, struct record *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		s->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		s->tail = r->prev;
	r->prev = r->next = NULL;
	s->waiting--;
}

/* Keep ascending id so retries go out before newer records.  Records coming
 * back are usually the oldest, so the walk from the head is short. */
static void queue_insert(struct sender *s, struct record *r)
{
	struct record *at = s->head;

	while (at && at->id < r->id)
		at = at->next;
	r->next = at;
	r->prev = at ? at->prev : s->tail;
	if (r->prev)
		r->prev->next = r;
	else
		s->head = r;
	if (at)
		at->prev = r;
	else
		s->tail = r;
	s->waiting++;
}

static void pending_add(struct sender *s, enum service svc, int delta)
{
	s->pending[svc] += delta;
	metrics_queue_size(svc, (long long)s->pending[svc]);
}

size_t sender_pending(const struct sender *s)
{
	return s->waiting + (size_t)s->inflight;
}

/* ---- backoff ------------------------------------------------------- */

static unsigned int rng_next(struct sender *s)
{
	unsigned int x = s->rng;	/* xorshift32: jitter needs no more */

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->rng = x;
	return x;
}

/* 250 ms doubling to 30 s, then "equal jitter": somewhere in [d/2, d], so
 * agents restarted together do not retry in lockstep, yet never too soon.
 * The caller draws rnd once per failure: a record and the hold with the
 * same step then expire together and the oldest record is the next probe. */
static long long backoff_ms(unsigned int n, unsigned int rnd)
{
	long long d = BACKOFF_BASE_MS << (n > 8 ? 7 : (n ? n - 1 : 0));

	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	return d / 2 + rnd % (unsigned long long)(d / 2 + 1);
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
	return len;		/* swallow the rest: only the start is logged */
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
	return t;
}

static void transfer_put(struct sender *s, struct transfer *t)
{
	free(t->url);
	t->url = NULL;
	t->rec = NULL;
	t->next = s->idle;
	s->idle = t;
}

static void transfer_free(struct transfer *t)
{
	curl_easy_cleanup(t->easy);
	free(t->url);
	free(t);
}

static int transfer_setup(struct sender *s, struct transfer *t, struct record *r)
{
	CURL *e = t->easy;

	if (asprintf(&t->url, "%s%s", s->api_server, r->path) < 0) {
		t->url = NULL;
		return -1;
	}
	t->rec = r;
	t->streak = s->fail_streak;
	t->reply_len = 0;
	t->reply[0] = '\0';
	t->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "jcode-watcher/" JCW_VERSION);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	return 0;
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
	queue_unlink(s, r);
	r->attempts++;
	t->next = s->busy;
	s->busy = t;
	s->inflight++;
	return 0;
}

/* The oldest record whose own backoff has expired; *wake learns when the
 * earliest of the others will be. */
static struct record *first_due(struct sender *s, long long now, long long *wake)
{
	for (struct record *r = s->head; r; r = r->next) {
		if (r->next_try_ms <= now)
			return r;
		if (!*wake || r->next_try_ms < *wake)
			*wake = r->next_try_ms;
	}
	return NULL;
}

static void dispatch(struct sender *s)
{
	long long now = loop_now_ms(), wake = 0;
	int limit = s->fail_streak ? 1 : s->max_inflight;

	if (!s->waiting)
		return;
	if (now < s->hold_until_ms) {
		arm_kick(s, s->hold_until_ms);
		return;
	}
	while (s->inflight < limit) {
		struct record *r = first_due(s, now, &wake);

		if (!r)
			break;
		if (start(s, r) < 0) {
			/* Out of memory: let the allocator breathe. */
			log_error(MOD, "cannot start a request; retrying in 1 s");
			s->hold_until_ms = now + 1000;
			arm_kick(s, s->hold_until_ms);
			return;
		}
	}
	if (wake && s->inflight < limit)
		arm_kick(s, wake);
}

/* ---- outcomes ------------------------------------------------------ */

static void finished(struct sender *s, struct record *r)
{
	pending_add(s, r->svc, -1);
	record_free(r);
}

static void delivered(struct sender *s, struct record *r)
{
	if (s->fail_streak)
		log_info(MOD, "API reachable again after %llu failed attempt(s)", s->failures);
	s->fail_streak = 0;
	s->failures = 0;
	s->hold_until_ms = 0;
	finished(s, r);
}

static void rejected(struct sender *s, struct transfer *t, long status)
{
	struct record *r = t->rec;
	char path[256], reply[REPLY_KEEP * 4 + 1];

	log_warn(MOD, "POST %s -> %ld, not retried (attempt %u): %s",
		 log_escape(r->path, path, sizeof(path)), status, r->attempts,
		 log_escape(t->reply, reply, sizeof(reply)));
	metrics_counter_add(r->svc, "api_events_rejected_total", "", 1);
	finished(s, r);
}

static void retry_later(struct sender *s, struct transfer *t, long status, CURLcode rc,
			long long retry_after_ms)
{
	struct record *r = t->rec;
	long long now = loop_now_ms(), own, hold;
	char path[256], why[CURL_ERROR_SIZE + 16];
	bool step = t->streak == s->fail_streak;
	unsigned int rnd;

	/* Only the first failure among requests started under one streak
	 * value counts: eight requests dying together are one outage. */
	if (step)
		s->fail_streak++;
	s->failures++;
	rnd = rng_next(s);
	own = backoff_ms(r->attempts, rnd);
	hold = backoff_ms(s->fail_streak, rnd);
	if (retry_after_ms > own)
		own = retry_after_ms;
	if (retry_after_ms > hold)
		hold = retry_after_ms;
	r->next_try_ms = now + own;
	if (now + hold > s->hold_until_ms)
		s->hold_until_ms = now + hold;
	queue_insert(s, r);

	log_escape(r->path, path, sizeof(path));
	if (rc != CURLE_OK)
		snprintf(why, sizeof(why), "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
	else
		snprintf(why, sizeof(why), "HTTP %ld", status);
	/* An outage fails once per backoff step; a line every ten is enough. */
	if (step && (s->fail_streak == 1 || s->fail_streak % 10 == 0))
		log_warn(MOD, "POST %s failed (%s), %llu failure(s) in a row; next try in %lld ms",
			 path, why, s->failures, s->hold_until_ms - now);
	else
		log_debug(MOD, "POST %s failed (%s); retrying", path, why);
}

static bool transient(CURLcode rc, long status)
{
	if (rc != CURLE_OK || status == 0)
		return true;
	/* 408 is the server timing out on us: as transient as our own timeout. */
	return status >= 500 || status == 429 || status == 408;
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

static void busy_unlink(struct sender *s, struct transfer *t)
{
	for (struct transfer **p = &s->busy; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			return;
		}
	}
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

	if (rc == CURLE_OK && status >= 200 && status < 300)
		delivered(s, t->rec);
	else if (transient(rc, status))
		retry_later(s, t, status, rc, retry_after(e));
	else
		rejected(s, t, status);
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

/* ---- stdout mode --------------------------------------------------- */

static json_t *text(const char *s)
{
	char *clean = utf8_sanitize(s, strlen(s), NULL);
	json_t *v;

	if (!clean)
		return NULL;
	v = json_string(clean);
	free(clean);
	return v;
}

/* The body is re-emitted through jansson so the line is valid JSON even if
 * a producer handed us something that is not; then it goes in as a string. */
static int print_record(struct sender *s, char *path, char *body)
{
	json_t *line = json_object(), *b = json_loads(body, JSON_DECODE_ANY, NULL);
	char *out = NULL, esc[256];
	int ret = -1;

	if (!b) {
		log_warn(MOD, "record for %s is not JSON; printed as a string",
			 log_escape(path, esc, sizeof(esc)));
		b = text(body);
	}
	/* set_new() steals a reference even on failure: hand it an extra one. */
	if (line && b && json_object_set_new(line, "endpoint", text(path)) == 0 &&
	    json_object_set_new(line, "body", json_incref(b)) == 0)
		out = json_dumps(line, LINE_JSON_FLAGS);
	if (out && fprintf(s->out, "%s\n", out) >= 0 && fflush(s->out) == 0)
		ret = 0;
	else
		log_error(MOD, "cannot print a record for %s", log_escape(path, esc, sizeof(esc)));
	free(out);
	json_decref(b);
	json_decref(line);
	free(path);
	free(body);
	return ret;
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

int sender_post(struct sender *s, enum service svc, enum endpoint_type ep, char *path, char *body)
{
	struct record *r;

	if (!path || !body || (unsigned)svc >= SERVICE__COUNT) {
		free(path);
		free(body);
		errno = EINVAL;
		return -1;
	}
	if (!s->multi)
		return print_record(s, path, body);
	if (sender_pending(s) >= s->queue_max || !(r = calloc(1, sizeof(*r)))) {
		note_drop(s);
		free(path);
		free(body);
		return -1;
	}
	*r = (struct record){ .id = s->next_id++, .svc = svc, .ep = ep, .path = path, .body = body };
	queue_insert(s, r);
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

struct sender *sender_create(struct loop *loop, const struct sender_config *cfg)
{
	struct sender *s = calloc(1, sizeof(*s));
	size_t n;

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
	s->out = cfg->out ? cfg->out : stdout;
	s->next_id = 1;
	s->rng = (unsigned int)(loop_now_ns() ^ ((long long)getpid() << 16)) | 1u;
	metrics_describe("api_events_rejected_total", "counter",
			 "Records the API refused with a non-retryable status (4xx)");
	if (!cfg->api_server || !cfg->api_server[0])
		return s;
	s->api_server = strdup(cfg->api_server);
	if (!s->api_server || multi_setup(s) < 0) {
		sender_destroy(s);
		return NULL;
	}
	n = strlen(s->api_server);
	while (n > 0 && s->api_server[n - 1] == '/')	/* paths bring their own */
		s->api_server[--n] = '\0';
	return s;
}

static size_t drop_all(struct sender *s)
{
	size_t lost = 0;

	while (s->busy) {
		struct transfer *t = s->busy;

		s->busy = t->next;
		curl_multi_remove_handle(s->multi, t->easy);
		record_free(t->rec);
		transfer_free(t);
		lost++;
	}
	while (s->head) {
		struct record *r = s->head;

		queue_unlink(s, r);
		record_free(r);
		lost++;
	}
	while (s->idle) {
		struct transfer *t = s->idle;

		s->idle = t->next;
		transfer_free(t);
	}
	return lost;
}

void sender_destroy(struct sender *s)
{
	size_t lost;

	if (!s)
		return;
	lost = drop_all(s);
	s->inflight = 0;
	if (lost) {
		log_warn(MOD, "shutting down with %zu undelivered record(s); they are lost", lost);
		metrics_queue_dropped(lost);
	}
	for (int i = 0; i < SERVICE__COUNT; i++)
		if (s->pending[i])
			pending_add(s, i, -(int)s->pending[i]);
	/* Cleanup closes pooled connections through the socket callback,
	 * so the loop must still know us until it returns. */
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->curl_timer)
		loop_del_timer(s->loop, s->curl_timer);
	if (s->kick_timer)
		loop_del_timer(s->loop, s->kick_timer);
	curl_slist_free_all(s->headers);
	free(s->api_server);
	free(s);
	curl_global_cleanup();
}
