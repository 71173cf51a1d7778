/*
 * receiver.h - a loopback HTTP server standing in for the JCode API in tests
 * and benchmarks (libmicrohttpd, a thread per connection).
 *
 * It can misbehave on request (error statuses, slowness, silence, refusing
 * connections) so the sender's retry paths are tested against real sockets.
 */
#ifndef JCW_RECEIVER_H
#define JCW_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>

enum receiver_mode {
	RECEIVER_OK,		/* 200 {"message":"ok"} */
	RECEIVER_STATUS,	/* answer status arg: 429 carries "Retry-After: 1", 422 a detail */
	RECEIVER_SLOW,		/* wait arg ms, then 200 */
	RECEIVER_HANG,		/* never answer; the connection is dropped when the mode changes */
	RECEIVER_REFUSE,	/* not listening: connects are refused; back on the same port after */
};

struct received {
	char *method;
	char *url;
	char *body;
	char *content_type;	/* the Content-Type header, "" when absent */
	char *user_agent;	/* the User-Agent header, "" when absent */
	char *expect;		/* the Expect header, "" when absent */
	char *headers;		/* every header's name, in the order sent, ','-joined */
	double at;		/* support_now() when the request was complete */
};

struct receiver;

/* Listen on 127.0.0.1:port (0 = ephemeral).  NULL on failure. */
struct receiver *receiver_start(int port);
int receiver_port(const struct receiver *r);
void receiver_set_mode(struct receiver *r, enum receiver_mode mode, int arg);

size_t receiver_count(struct receiver *r);		/* requests answered 2xx */
size_t receiver_attempts(struct receiver *r);		/* all requests seen, any answer */
size_t receiver_connections(struct receiver *r);	/* TCP connections accepted */

/* Wait until receiver_count() >= n or timeout_ms passed; returns the count. */
size_t receiver_wait(struct receiver *r, size_t n, int timeout_ms);

/* Copy of the i-th 2xx request (0-based); 0, or -1 if there is none.
 * Free with received_free(). */
int receiver_get(struct receiver *r, size_t i, struct received *out);
void received_free(struct received *rc);

/* Validate every request as the backend would (contract.h): one that fails
 * is answered 422 with the reason, counted, and not recorded. */
void receiver_validate(struct receiver *r, bool on);
/* Requests refused by validation; the last reason into why (may be NULL). */
size_t receiver_rejected(struct receiver *r, char *why, size_t len);

void receiver_stop(struct receiver *r);

#endif
