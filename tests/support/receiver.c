/*
 * receiver.c - loopback stand-in for the JCode API (libmicrohttpd).
 *
 * A thread per connection keeps the misbehaviours simple: a slow or hanging
 * answer is just a handler waiting on a condition variable, and it hurts
 * only its own connection, as it would with a real overloaded backend.
 * Everything shared is under one mutex; the test thread reads it through
 * the accessors.
 */
#define _GNU_SOURCE
#include "receiver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "contract.h"
#include "support.h"

struct receiver {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* mode change, new 2xx, closing */
	struct MHD_Daemon *daemon;
	int port;
	enum receiver_mode mode;
	int arg;
	bool closing;			/* daemon stopping: waiting handlers give up */
	size_t attempts;
	size_t connections;
	struct received *got;		/* the 2xx requests, in answer order */
	size_t ngot, capgot;
	bool validate;			/* as the backend would: 422 when not */
	size_t rejected;
	char last_rejection[256];
};

/* One request's upload, collected across handler calls. */
struct upload {
	char *data;
	size_t len;
};

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int append(struct upload *u, const char *data, size_t n)
{
	char *p = realloc(u->data, u->len + n + 1);

	if (!p)
		return -1;
	memcpy(p + u->len, data, n);
	u->len += n;
	p[u->len] = '\0';
	u->data = p;
	return 0;
}

/* MHD_KeyValueIterator: append the name to the ','-joined list in arg. */
static enum MHD_Result add_name(void *arg, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	char **names = arg, *joined;

	(void)kind;
	(void)value;
	if (asprintf(&joined, "%s%s%s", *names, **names ? "," : "", key) < 0)
		return MHD_NO;
	free(*names);
	*names = joined;
	return MHD_YES;
}

static char *header_names(struct MHD_Connection *c)
{
	char *names = strdup("");

	if (names && MHD_get_connection_values(c, MHD_HEADER_KIND, add_name, &names) < 0) {
		free(names);
		return NULL;
	}
	return names;
}

static int record(struct receiver *r, struct MHD_Connection *c, const char *url,
		  const char *method, const struct upload *u)
{
	const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *agent = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
	const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
	struct received *rc;

	if (r->ngot == r->capgot) {
		size_t cap = r->capgot ? r->capgot * 2 : 64;
		struct received *g = realloc(r->got, cap * sizeof(*g));

		if (!g)
			return -1;
		r->got = g;
		r->capgot = cap;
	}
	rc = &r->got[r->ngot];
	rc->method = strdup(method);
	rc->url = strdup(url);
	rc->body = strdup(u->data ? u->data : "");
	rc->content_type = strdup(ctype ? ctype : "");
	rc->user_agent = strdup(agent ? agent : "");
	rc->expect = strdup(expect ? expect : "");
	rc->headers = header_names(c);
	rc->at = support_now();
	if (!rc->method || !rc->url || !rc->body || !rc->content_type || !rc->user_agent ||
	    !rc->expect || !rc->headers) {
		received_free(rc);
		return -1;
	}
	r->ngot++;
	pthread_cond_broadcast(&r->cond);
	return 0;
}

static const char *reply_for(int status)
{
	if (status >= 200 && status < 300)
		return "{\"message\":\"ok\"}";
	if (status == 422)	/* the shape FastAPI gives a non-numeric student id */
		return "{\"detail\":[{\"loc\":[\"path\",\"student_id\"],"
		       "\"msg\":\"value is not a valid integer\",\"type\":\"type_error.integer\"}]}";
	if (status == 429)
		return "{\"detail\":\"Too Many Requests\"}";
	return "{\"detail\":\"Internal Server Error\"}";
}

static enum MHD_Result send_reply(struct MHD_Connection *c, int status)
{
	const char *text = reply_for(status);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (status == 429)
		MHD_add_response_header(resp, "Retry-After", "1");
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Under r->lock: sit out HANG or SLOW.  Returns the status to answer, or 0
 * to drop the connection without a word. */
static int decide(struct receiver *r)
{
	struct timespec until;

	switch (r->mode) {
	case RECEIVER_OK:
		return 200;
	case RECEIVER_STATUS:
		return r->arg;
	case RECEIVER_SLOW:
		deadline_in(&until, r->arg);
		while (!r->closing && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
			;
		return r->closing ? 0 : 200;
	case RECEIVER_HANG:
		while (!r->closing && r->mode == RECEIVER_HANG)
			pthread_cond_wait(&r->cond, &r->lock);
		return 0;	/* a hung request is never answered */
	case RECEIVER_REFUSE:
	default:
		return 0;
	}
}

/* Under r->lock: 422 when validating and the backend would refuse it. */
static int validated(struct receiver *r, const char *url, const struct upload *u, int status)
{
	char why[256];

	if (!r->validate || status < 200 || status >= 300)
		return status;
	if (contract_check(url, u->data ? u->data : "", why, sizeof(why)) == 0)
		return status;
	r->rejected++;
	snprintf(r->last_rejection, sizeof(r->last_rejection), "%s", why);
	fprintf(stderr, "receiver: 422 for %s: %s\n", url, why);
	return 422;
}

static enum MHD_Result answer(struct receiver *r, struct MHD_Connection *c, const char *url,
			      const char *method, const struct upload *u)
{
	int status;

	pthread_mutex_lock(&r->lock);
	r->attempts++;
	status = validated(r, url, u, decide(r));
	if (status >= 200 && status < 300 && record(r, c, url, method, u) < 0)
		status = 500;
	pthread_mutex_unlock(&r->lock);
	if (!status)
		return MHD_NO;
	return send_reply(c, status);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **ctx)
{
	struct upload *u = *ctx;

	if (!u) {		/* headers only so far */
		u = calloc(1, sizeof(*u));
		*ctx = u;
		return u ? MHD_YES : MHD_NO;
	}
	if (*data_size) {
		if (append(u, data, *data_size) < 0)
			return MHD_NO;
		*data_size = 0;
		return MHD_YES;
	}
	return answer(cls, c, url, method, u);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode why)
{
	struct upload *u = *ctx;

	if (!u)
		return;
	free(u->data);
	free(u);
	*ctx = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode what)
{
	struct receiver *r = cls;

	if (what != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	pthread_mutex_lock(&r->lock);
	r->connections++;
	pthread_mutex_unlock(&r->lock);
}

static int daemon_start(struct receiver *r, int port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	const union MHD_DaemonInfo *info;

	r->daemon = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
				     MHD_USE_THREAD_PER_CONNECTION,
				     (uint16_t)port, NULL, NULL, on_request, r,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
				     MHD_OPTION_NOTIFY_CONNECTION, on_connection, r,
				     MHD_OPTION_END);
	if (!r->daemon)
		return -1;
	info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
	r->port = info ? info->port : port;
	return 0;
}

static void daemon_stop(struct receiver *r)
{
	if (!r->daemon)
		return;
	/* Wake the waiting handlers first: MHD joins their threads. */
	pthread_mutex_lock(&r->lock);
	r->closing = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	MHD_stop_daemon(r->daemon);
	r->daemon = NULL;
	pthread_mutex_lock(&r->lock);
	r->closing = false;
	pthread_mutex_unlock(&r->lock);
}

struct receiver *receiver_start(int port)
{
	struct receiver *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (daemon_start(r, port) < 0) {
		receiver_stop(r);
		return NULL;
	}
	return r;
}

int receiver_port(const struct receiver *r)
{
	return r->port;
}

void receiver_set_mode(struct receiver *r, enum receiver_mode mode, int arg)
{
	enum receiver_mode old;

	pthread_mutex_lock(&r->lock);
	old = r->mode;
	r->mode = mode;
	r->arg = arg;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (mode == RECEIVER_REFUSE && old != RECEIVER_REFUSE) {
		daemon_stop(r);
		return;
	}
	/* Back on the same port, so the client's URL still works; the old
	 * socket may linger a moment in the kernel, hence the retries. */
	for (int i = 0; mode != RECEIVER_REFUSE && !r->daemon && i < 100; i++)
		if (daemon_start(r, r->port) < 0)
			usleep(20000);
}

/* The MHD threads write these counters; read them under the same lock. */
static size_t read_locked(struct receiver *r, const size_t *field)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = *field;
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t receiver_count(struct receiver *r)
{
	return read_locked(r, &r->ngot);
}

size_t receiver_attempts(struct receiver *r)
{
	return read_locked(r, &r->attempts);
}

size_t receiver_connections(struct receiver *r)
{
	return read_locked(r, &r->connections);
}

size_t receiver_wait(struct receiver *r, size_t n, int timeout_ms)
{
	struct timespec until;
	size_t got;

	deadline_in(&until, timeout_ms);
	pthread_mutex_lock(&r->lock);
	while (r->ngot < n && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
		;
	got = r->ngot;
	pthread_mutex_unlock(&r->lock);
	return got;
}

int receiver_get(struct receiver *r, size_t i, struct received *out)
{
	const struct received *g;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&r->lock);
	if (i < r->ngot) {
		g = &r->got[i];
		out->method = strdup(g->method);
		out->url = strdup(g->url);
		out->body = strdup(g->body);
		out->content_type = strdup(g->content_type);
		out->user_agent = strdup(g->user_agent);
		out->expect = strdup(g->expect);
		out->headers = strdup(g->headers);
		out->at = g->at;
		ret = 0;
	}
	pthread_mutex_unlock(&r->lock);
	if (ret == 0 && (!out->method || !out->url || !out->body || !out->content_type ||
			 !out->user_agent || !out->expect || !out->headers)) {
		received_free(out);
		return -1;
	}
	return ret;
}

void received_free(struct received *rc)
{
	if (!rc)
		return;
	free(rc->method);
	free(rc->url);
	free(rc->body);
	free(rc->content_type);
	free(rc->user_agent);
	free(rc->expect);
	free(rc->headers);
	memset(rc, 0, sizeof(*rc));
}

void receiver_validate(struct receiver *r, bool on)
{
	pthread_mutex_lock(&r->lock);
	r->validate = on;
	pthread_mutex_unlock(&r->lock);
}

size_t receiver_rejected(struct receiver *r, char *why, size_t len)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->rejected;
	if (why && len)
		snprintf(why, len, "%s", r->last_rejection);
	pthread_mutex_unlock(&r->lock);
	return n;
}

void receiver_stop(struct receiver *r)
{
	if (!r)
		return;
	daemon_stop(r);
	for (size_t i = 0; i < r->ngot; i++)
		received_free(&r->got[i]);
	free(r->got);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
