/*
 * trace_hub.h - hand one-line records to the local `jcode-watcher trace`
 * clients, over a Unix stream socket served from the event loop.
 *
 * The hub knows nothing of what a line means (judge/trace_feed.c builds
 * them).  It only guarantees that a client can never hold the agent back:
 * every socket is non-blocking, each client has a fixed output buffer, and
 * a line that does not fit whole is dropped for that client alone and
 * counted (trace_dropped_total); the client is told how many it missed
 * ({"dropped":N}) as soon as it has room again.  At most max_clients are
 * served; a further one gets {"error":"..."} and is closed.
 */
#ifndef JCW_TRACE_HUB_H
#define JCW_TRACE_HUB_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"

#define TRACE_DEFAULT_SOCKET "/run/jcode-watcher/trace.sock"

struct trace_hub_config {
	const char *path;	/* the socket; its directory is made 0700 if missing */
	int max_clients;	/* served at once, >= 1 */
	size_t client_buffer;	/* bytes held for one client; longer lines are dropped */
};

struct trace_hub;

/*
 * Listen on cfg->path (mode 0600: the lines carry every student's argv).
 * A socket file nobody answers on (an agent that died) is replaced; one
 * another process still listens on, or a path that is not a socket, is
 * refused.  NULL with the reason in err (errno set).
 */
struct trace_hub *trace_hub_open(struct loop *loop, const struct trace_hub_config *cfg,
				 char *err, size_t errlen);
/* Close every client and the socket, and remove the socket file. */
void trace_hub_close(struct trace_hub *hub);

/* Is anyone listening?  Callers build lines only then.  NULL-safe. */
bool trace_hub_active(const struct trace_hub *hub);

/* Queue line (len bytes, no newline: the hub adds it) for every client. */
void trace_hub_publish(struct trace_hub *hub, const char *line, size_t len);

#endif
