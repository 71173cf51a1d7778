/*
 * http_transport.c - non-blocking POSTs: libcurl multi on the agent's loop.
 *
 * curl never blocks here: it tells us which sockets and which timeout it
 * cares about (socket and timer callbacks) and the loop calls back into
 * curl_multi_socket_action() when they are ready.  One multi handle owns a
 * pool of keep-alive connections, so a steady stream of events costs one
 * TCP handshake per connection, not per event.
 */
#include "http_transport.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deadletter.h"
#include "log.h"
#include "version.h"

#define MOD "sender"

#define REPLY_KEEP           DEADLETTER_RESPONSE_MAX	/* bytes of a rejection we keep */
#define RETRY_AFTER_CAP_MS   (600LL * 1000)	/* a server asking for hours is misconfigured */

/* One request in flight, and its easy handle kept for reuse afterwards. */
struct transfer {
	void *ctx;
	unsigned int tag;
	CURL *easy;
	CURLU *where;		/* url, parsed here: curl's own parse of a string costs more */
	char *url;		/* api_server + path, the fallback's whole URL */
	size_t urlcap;
	char *route;		/* base_path + path, the fast path's path part */
	size_t routecap;
	char reply[REPLY_KEEP + 1];
	size_t reply_len;
	char errbuf[CURL_ERROR_SIZE];
	struct transfer *prev, *next;	/* busy list; idle uses next only */
};

struct http_transport {
	struct loop *loop;
	char *api_server;
	size_t api_len;
	CURLU *base;		/* api_server parsed once; NULL: every URL is parsed whole */
	char *base_path;	/* its path, no trailing '/' */
	size_t base_path_len;
	long timeout_ms;
	CURLM *multi;
	struct curl_slist *headers;
	const char *proxy, *noproxy;	/* from the environment, read once */
	long long curl_timer;		/* loop timer for curl's timeout; 0 = none */
	int inflight;
	struct transfer *busy, *idle;
	http_done_fn *done;
	http_settled_fn *settled;
	void *arg;
};
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
static void easy_setup(struct http_transport *s, struct transfer *t)
{
	CURL *e = t->easy;

	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_PROXY, s->proxy);
	curl_easy_setopt(e, CURLOPT_NOPROXY, s->noproxy);
}

static const char *env_either(const char *lower, const char *upper)
{
	const char *v = getenv(lower);

	return v ? v : upper ? getenv(upper) : NULL;
}

/*
 * The proxy the environment names, looked up as curl would (no_proxy,
 * then <scheme>_proxy, only lower case for http, then all_proxy), but
 * once: left to curl, every request scans the environment five times, and
 * a pod's environment holds a variable per Service in its namespace.  ""
 * tells curl there is no proxy and nothing to look up.
 */
static void proxy_setup(struct http_transport *s)
{
	bool https = strncasecmp(s->api_server, "https://", 8) == 0;

	s->proxy = https ? env_either("https_proxy", "HTTPS_PROXY") : getenv("http_proxy");
	if (!s->proxy)
		s->proxy = env_either("all_proxy", "ALL_PROXY");
	if (!s->proxy)
		s->proxy = "";
	s->noproxy = env_either("no_proxy", "NO_PROXY");
	if (!s->noproxy)
		s->noproxy = "";
}

static struct transfer *transfer_get(struct http_transport *s)
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
	t->where = s->base ? curl_url_dup(s->base) : curl_url();
	if (!t->easy || !t->where) {
		curl_easy_cleanup(t->easy);
		curl_url_cleanup(t->where);
		free(t);
		return NULL;
	}
	easy_setup(s, t);
	return t;
}

static void transfer_put(struct http_transport *s, struct transfer *t)
{
	t->ctx = NULL;
	t->prev = NULL;
	t->next = s->idle;
	s->idle = t;
}

static void transfer_free(struct transfer *t)
{
	curl_easy_cleanup(t->easy);
	curl_url_cleanup(t->where);
	free(t->url);
	free(t->route);
	free(t);
}

/* Copy a + b into *buf, growing it (and *cap) as needed. */
static int join(char **buf, size_t *cap, const char *a, size_t alen, const char *b)
{
	size_t need = alen + strlen(b) + 1;

	if (need > *cap) {
		char *u = realloc(*buf, need);

		if (!u)
			return -ENOMEM;
		*buf = u;
		*cap = need;
	}
	memcpy(*buf, a, alen);
	memcpy(*buf + alen, b, need - alen);
	return 0;
}

/*
 * A path curl would take as it is: "/" then segments of RFC 3986's
 * unreserved characters, none of them "." or "..".  Curl's parse of a
 * whole URL changes nothing in such a path (no dot segments to remove,
 * nothing to encode), so setting only the path part gives the request
 * the parse would.  The paths this agent builds are all of this kind
 * (payload.c's make_path); anything else, such as a damaged spool record,
 * takes the whole parse and fails or is normalised exactly as before.
 */
static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static bool path_is_plain(const char *path)
{
	const char *seg = path;	/* the '/' that opens the segment at p */

	if (*path != '/')
		return false;
	for (const char *p = path + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			size_t n = (size_t)(p - seg - 1);

			if ((n == 1 || n == 2) && seg[1] == '.' && seg[n] == '.')
				return false;	/* "." or ".." */
			if (*p == '\0')
				return true;
			seg = p;
		} else if (!unreserved((unsigned char)*p)) {
			return false;
		}
	}
}

/*
 * Hand curl the URL parsed rather than as a string: given a string, curl
 * parses it, writes it back out and picks it apart again on every request
 * (a tenth of its work per POST, by callgrind).  The transfer's handle
 * starts as a copy of the parsed api_server, so a plain path only
 * replaces the path part: parsing scheme and host again for every POST
 * was another twentieth.  A URL the parser refuses goes to curl as the
 * string, so the request fails as curl would fail it.
 */
static int set_where(struct http_transport *s, struct transfer *t, const char *path)
{
	if (s->base && path_is_plain(path)) {
		if (join(&t->route, &t->routecap, s->base_path, s->base_path_len, path) < 0)
			return -ENOMEM;
		if (curl_url_set(t->where, CURLUPART_PATH, t->route, 0) == CURLUE_OK) {
			curl_easy_setopt(t->easy, CURLOPT_CURLU, t->where);
			return 0;
		}
	}
	if (join(&t->url, &t->urlcap, s->api_server, s->api_len, path) < 0)
		return -ENOMEM;
	if (curl_url_set(t->where, CURLUPART_URL, t->url, 0) == CURLUE_OK) {
		curl_easy_setopt(t->easy, CURLOPT_CURLU, t->where);
		return 0;
	}
	/* A refused parse leaves the handle as it was (curl parses into a
	 * copy), so the next plain path still finds the API's host in it. */
	curl_easy_setopt(t->easy, CURLOPT_CURLU, NULL);
	curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
	return 0;
}

static int transfer_setup(struct http_transport *s, struct transfer *t, const char *path,
			  const char *body)
{
	CURL *e = t->easy;

	if (set_where(s, t, path) < 0)
		return -ENOMEM;
	t->reply_len = 0;
	t->reply[0] = '\0';
	t->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	return 0;
}

static void busy_link(struct http_transport *s, struct transfer *t)
{
	t->prev = NULL;
	t->next = s->busy;
	if (s->busy)
		s->busy->prev = t;
	s->busy = t;
}

static void busy_unlink(struct http_transport *s, struct transfer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		s->busy = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

int http_transport_start(struct http_transport *s, const char *path, const char *body,
			 void *ctx, unsigned int tag)
{
	struct transfer *t = transfer_get(s);

	if (!t)
		return -ENOMEM;
	if (transfer_setup(s, t, path, body) < 0 ||
	    curl_multi_add_handle(s->multi, t->easy) != CURLM_OK) {
		transfer_put(s, t);
		return -ENOMEM;
	}
	t->ctx = ctx;
	t->tag = tag;
	busy_link(s, t);
	s->inflight++;
	return 0;
}

int http_transport_inflight(const struct http_transport *s)
{
	return s->inflight;
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

static void complete(struct http_transport *s, CURL *e, CURLcode rc)
{
	struct http_result res = { .transport_ok = rc == CURLE_OK };
	struct transfer *t;
	char *priv = NULL;
	curl_off_t us = 0;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
	t = (struct transfer *)priv;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res.status);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
	if (rc != CURLE_OK) {
		res.status = 0;	/* a reply cut short is no answer */
		res.error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
	}
	res.ctx = t->ctx;
	res.tag = t->tag;
	res.seconds = (double)us / 1e6;
	res.reply = t->reply;
	res.retry_after_ms = retry_after(e);
	curl_multi_remove_handle(s->multi, e);
	busy_unlink(s, t);
	s->inflight--;
	s->done(s->arg, &res);
	transfer_put(s, t);
}

static void reap(struct http_transport *s)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(s->multi, &left))) {
		if (m->msg == CURLMSG_DONE) {
			CURL *e = m->easy_handle;	/* m dies with the removal */

			complete(s, e, m->data.result);
		}
	}
	s->settled(s->arg);
}

static void on_fd(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct http_transport *s = arg;
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
	struct http_transport *s = userp;
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
	return -1;	/* CURLMOPT_SOCKETFUNCTION's error value, not an errno */
}

static long long on_curl_timeout(struct loop *loop, long long id, void *arg)
{
	struct http_transport *s = arg;
	int running;

	/* curl may ask for a new timeout from inside the call below. */
	s->curl_timer = 0;
	curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	reap(s);
	return LOOP_TIMER_STOP;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_transport *s = userp;

	if (s->curl_timer)
		loop_del_timer(s->loop, s->curl_timer);
	s->curl_timer = 0;
	if (timeout_ms < 0)
		return 0;
	s->curl_timer = loop_add_timer(s->loop, timeout_ms, on_curl_timeout, s);
	if (s->curl_timer < 0) {
		s->curl_timer = 0;
		return -1;	/* CURLMOPT_TIMERFUNCTION's error value */
	}
	return 0;
}


static int multi_setup(struct http_transport *s, int max_conns)
{
	CURLM *m;

	s->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (s->headers)
		s->headers = curl_slist_append(s->headers, "User-Agent: jcode-watcher/" JCW_VERSION);
	if (s->headers)
		s->headers = curl_slist_append(s->headers, "Expect:");	/* no 100-continue round trip */
	/* curl's default Accept header (any type) says nothing the API reads,
	 * and curl formats every header byte by byte, ~140 instructions each. */
	if (s->headers)
		s->headers = curl_slist_append(s->headers, "Accept:");
	s->multi = m = curl_multi_init();
	if (!s->headers || !m)
		return -ENOMEM;
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, s);
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_conns);
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)max_conns);
	return 0;
}

/* Cut the trailing '/'s off s, since paths bring their own; its length. */
static size_t strip_slashes(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return n;
}

/*
 * Parse api_server once for set_where()'s plain paths.  One with a query
 * or fragment (config.c refuses both) or one curl refuses keeps no base:
 * every request then takes the whole parse, so it fails as curl fails it.
 */
static void base_setup(struct http_transport *s)
{
	char *path = NULL, *part = NULL;
	CURLU *u = curl_url();

	if (!u || curl_url_set(u, CURLUPART_URL, s->api_server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_QUERY, &part, 0) != CURLUE_NO_QUERY ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) != CURLUE_NO_FRAGMENT ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto none;
	s->base_path_len = strip_slashes(path);
	s->base_path = strdup(path);
	if (!s->base_path)
		goto none;
	s->base = u;
	curl_free(path);
	return;
none:
	curl_free(part);
	curl_free(path);
	curl_url_cleanup(u);
}

struct http_transport *http_transport_create(struct loop *loop, const char *api_server,
					     long timeout_ms, int max_conns,
					     http_done_fn *done, http_settled_fn *settled,
					     void *arg)
{
	struct http_transport *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->timeout_ms = timeout_ms;
	s->done = done;
	s->settled = settled;
	s->arg = arg;
	s->api_server = strdup(api_server);
	if (!s->api_server || multi_setup(s, max_conns) < 0) {
		http_transport_destroy(s);
		return NULL;
	}
	proxy_setup(s);
	s->api_len = strip_slashes(s->api_server);
	base_setup(s);
	return s;
}

void http_transport_abort(struct http_transport *s, void (*each)(void *ctx, void *arg), void *arg)
{
	while (s->busy) {
		struct transfer *t = s->busy;

		busy_unlink(s, t);
		curl_multi_remove_handle(s->multi, t->easy);
		each(t->ctx, arg);
		transfer_free(t);
	}
	s->inflight = 0;
}

void http_transport_destroy(struct http_transport *s)
{
	if (!s)
		return;
	while (s->idle) {
		struct transfer *t = s->idle;

		s->idle = t->next;
		transfer_free(t);
	}
	/* Cleanup closes pooled connections through the socket callback,
	 * so the loop must still know us until it returns. */
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->curl_timer)
		loop_del_timer(s->loop, s->curl_timer);
	curl_slist_free_all(s->headers);
	curl_url_cleanup(s->base);
	free(s->base_path);
	free(s->api_server);
	free(s);
}
