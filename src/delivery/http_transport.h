/*
 * http_transport.h - POSTs on libcurl's multi interface, driven by the loop.
 *
 * It knows requests, not records: the caller hands it a path, a body and
 * an opaque context and hears back once per request with the outcome.
 * What an outcome means (delivered, retried, dead-lettered) is the
 * outbox's business (outbox.h).
 */
#ifndef JCW_HTTP_TRANSPORT_H
#define JCW_HTTP_TRANSPORT_H

#include <stdbool.h>

#include "loop.h"

struct http_transport;

struct http_result {
	void *ctx;		/* as given to http_transport_start() */
	unsigned int tag;	/* likewise */
	bool transport_ok;	/* false: no full answer (status is then 0) */
	long status;
	long long retry_after_ms;	/* 0 when the server gave none */
	double seconds;		/* total request time */
	const char *reply;	/* start of the answer body, NUL-terminated */
	const char *error;	/* why the transfer failed; NULL when transport_ok */
};

/* Called once per finished request; result lives until it returns. */
typedef void http_done_fn(void *arg, const struct http_result *res);
/* Called after a batch of completions: a good time to start more. */
typedef void http_settled_fn(void *arg);

struct http_transport *http_transport_create(struct loop *loop, const char *api_server,
					     long timeout_ms, int max_conns,
					     http_done_fn *done, http_settled_fn *settled,
					     void *arg);

/* POST body to api_server + path.  body must live until done() is called.
 * Returns 0, or -ENOMEM when the request could not be started. */
int http_transport_start(struct http_transport *t, const char *path, const char *body,
			 void *ctx, unsigned int tag);

int http_transport_inflight(const struct http_transport *t);

/* Abort every request in flight, handing each ctx to each() (no done()). */
void http_transport_abort(struct http_transport *t, void (*each)(void *ctx, void *arg),
			  void *arg);

/* Closes pooled connections through the loop: call before the loop goes. */
void http_transport_destroy(struct http_transport *t);

#endif
