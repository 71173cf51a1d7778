/*
 * watches.c - filemon's three tables: inotify watches by wd, student
 * workspaces with their watch budget, and the wanted directories that
 * could not be watched yet.
 *
 * A directory is refused a watch for one of two reasons: the kernel's
 * limit (fs.inotify.max_user_watches: the node's problem, /readyz fails)
 * or its student's WATCHES_PER_STUDENT budget (that student's doing; the
 * others keep being watched).  Either way it is remembered with the times
 * a later scan and the restart marker need, and retried (scan.c).
 */
#define _GNU_SOURCE		/* asprintf */
#include "filemon_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

/* IN_EXCL_UNLINK: a file unlinked while an editor holds it open must not
 * keep reporting writes under its old name. */
#define WATCH_MASK (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | \
		    IN_DELETE | IN_DELETE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

/* Keys: a workspace is a name given as (pointer, length), the others a
 * string or a wd. */
struct span {
	const char *p;
	size_t n;
};

static bool ws_eq(const struct hnode *n, const void *key)
{
	const struct wspace *ws = hashmap_entry(n, struct wspace, node);
	const struct span *k = key;

	return strlen(ws->name) == k->n && memcmp(ws->name, k->p, k->n) == 0;
}

static bool unwatched_eq(const struct hnode *n, const void *rel)
{
	return strcmp(hashmap_entry(n, struct unwatched, node)->rel, rel) == 0;
}

static bool wd_eq(const struct hnode *n, const void *wd)
{
	return hashmap_entry(n, struct watch, node)->wd == *(const int *)wd;
}

static uint64_t wd_hash(int wd)
{
	return hashmap_hash(&wd, sizeof(wd));
}

int watches_init(struct filemon *fm)
{
	if (hashmap_init(&fm->watches) < 0 || hashmap_init(&fm->workspaces) < 0 ||
	    hashmap_init(&fm->unwatched) < 0)
		return -ENOMEM;
	return 0;
}

void watches_free(struct filemon *fm)
{
	struct hashmap_iter it;
	struct hnode *n;

	for (n = hashmap_first(&fm->watches, &it); n; n = hashmap_next(&it)) {
		struct watch *w = hashmap_entry(n, struct watch, node);

		free(w->rel);
		free(w);
	}
	for (n = hashmap_first(&fm->unwatched, &it); n; n = hashmap_next(&it)) {
		struct unwatched *u = hashmap_entry(n, struct unwatched, node);

		free(u->rel);
		free(u);
	}
	for (n = hashmap_first(&fm->workspaces, &it); n; n = hashmap_next(&it)) {
		struct wspace *ws = hashmap_entry(n, struct wspace, node);

		free(ws->name);
		free(ws);
	}
	hashmap_fini(&fm->watches);
	hashmap_fini(&fm->unwatched);
	hashmap_fini(&fm->workspaces);
}

/* ---- workspaces (per-student watch budget) ------------------------------ */

/* The workspace rel lies in, made on first use; NULL for the root or ENOMEM. */
static struct wspace *ws_get(struct filemon *fm, const char *rel, int depth)
{
	struct span k = { rel, strcspn(rel, "/") };
	uint64_t h = hashmap_hash(k.p, k.n);
	struct hnode *n;
	struct wspace *ws;

	if (depth < 1)
		return NULL;
	n = hashmap_find(&fm->workspaces, h, ws_eq, &k);
	if (n)
		return hashmap_entry(n, struct wspace, node);
	ws = calloc(1, sizeof(*ws));
	if (!ws || !(ws->name = strndup(k.p, k.n))) {
		free(ws);
		return NULL;
	}
	hashmap_add(&fm->workspaces, &ws->node, h);
	return ws;
}

/* Forget a workspace nothing refers to any more. */
static void ws_release(struct filemon *fm, struct wspace *ws)
{
	if (!ws || ws->nwatches || ws->nunwatched)
		return;
	hashmap_remove(&fm->workspaces, &ws->node);
	free(ws->name);
	free(ws);
}

bool over_budget(const struct filemon *fm, const struct wspace *ws)
{
	return fm->budget > 0 && ws && ws->nwatches >= (size_t)fm->budget;
}

/* ---- unwatched directories ---------------------------------------------- */

static struct unwatched *unwatched_find(struct filemon *fm, const char *rel, uint64_t h)
{
	struct hnode *n = hashmap_find(&fm->unwatched, h, unwatched_eq, rel);

	return n ? hashmap_entry(n, struct unwatched, node) : NULL;
}

static void unwatched_unlink(struct filemon *fm, struct unwatched *u)
{
	hashmap_remove(&fm->unwatched, &u->node);
	if (!u->budget)
		fm->nunwatched_limit--;
	if (u->ws) {
		u->ws->nunwatched--;
		ws_release(fm, u->ws);
	}
	free(u->rel);
	free(u);
}

void unwatched_remove(struct filemon *fm, const char *rel)
{
	struct unwatched *u;

	if (!fm->unwatched.count)
		return;
	u = unwatched_find(fm, rel, hashmap_hash_str(rel));
	if (u)
		unwatched_unlink(fm, u);
}

static void log_unwatched(struct filemon *fm, const struct unwatched *u)
{
	char ebuf[256], wbuf[128];

	if (!u->budget) {
		metrics_inc(M_FILEMON_WATCH_LIMIT);
		if (fm->limit_logged)
			return;
		fm->limit_logged = true;
		log_error(MOD, "inotify watch limit reached at %zu watches: %s and further new "
			  "directories are NOT watched until watches are freed or the limit is "
			  "raised (tried again every %d s; saves made there meanwhile are caught "
			  "up then); raise it on the host with 'sysctl -w "
			  "fs.inotify.max_user_watches=1048576' (and in /etc/sysctl.d); "
			  "filemon_unwatched_dirs_current{reason=\"limit\"}; /readyz fails "
			  "meanwhile; logged once", fm->watches.count,
			  log_escape(u->rel, ebuf, sizeof(ebuf)), UNWATCHED_RETRY_MS / 1000);
		return;
	}
	metrics_inc(M_FILEMON_WATCH_BUDGET);
	if (!u->ws || u->ws->budget_logged)
		return;
	u->ws->budget_logged = true;
	log_warn(MOD, "workspace %s holds %d directories, its WATCHES_PER_STUDENT budget: %s "
		 "and its further new directories are not watched until some are removed "
		 "(filemon_unwatched_dirs_current{reason=\"budget\"}; logged once per student)",
		 log_escape(u->ws->name, wbuf, sizeof(wbuf)), fm->budget,
		 log_escape(u->rel, ebuf, sizeof(ebuf)));
}

/* Remember rel as wanted but unwatched; an entry already there keeps the
 * older times. */
static void unwatched_add(struct filemon *fm, const char *rel, int depth, struct wspace *ws,
			  bool budget, long long since_ns)
{
	uint64_t h = hashmap_hash_str(rel);
	struct unwatched *u = unwatched_find(fm, rel, h);
	long long now = coarse_now_ns() - EVENT_SLACK_NS;
	/* since_ns < 0 (start-up): what changes from now on is a change. */
	long long scan = since_ns < 0 ? now : since_ns, mark = since_ns > 0 ? since_ns : now;
	char ebuf[256];

	if (fm->scan_mark < mark)
		mark = fm->scan_mark;

	if (u) {
		u->scan_since = scan < u->scan_since ? scan : u->scan_since;
		u->mark_since = mark < u->mark_since ? mark : u->mark_since;
		return;
	}
	u = calloc(1, sizeof(*u));
	if (!u || !(u->rel = strdup(rel))) {
		free(u);
		log_error(MOD, "out of memory: %s is not watched and will not be retried",
			  log_escape(rel, ebuf, sizeof(ebuf)));
		return;
	}
	u->depth = depth;
	u->budget = budget;
	u->scan_since = scan;
	u->mark_since = mark;
	u->ws = ws;
	hashmap_add(&fm->unwatched, &u->node, h);
	if (!budget)
		fm->nunwatched_limit++;
	if (ws)
		ws->nunwatched++;
	log_unwatched(fm, u);
}

long long unwatched_oldest(const struct filemon *fm)
{
	long long oldest = LLONG_MAX;
	struct hashmap_iter it;

	for (struct hnode *n = hashmap_first(&fm->unwatched, &it); n; n = hashmap_next(&it)) {
		const struct unwatched *u = hashmap_entry(n, struct unwatched, node);

		if (u->mark_since < oldest)
			oldest = u->mark_since;
	}
	return oldest;
}

static bool under(const char *rel, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(rel, dir, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
}

void unwatched_drop(struct filemon *fm, const char *dir)
{
	struct hashmap_iter it;

	for (struct hnode *n = hashmap_first(&fm->unwatched, &it); n; n = hashmap_next(&it)) {
		struct unwatched *u = hashmap_entry(n, struct unwatched, node);

		if (under(u->rel, dir))
			unwatched_unlink(fm, u);
	}
}

size_t unwatched_collect(struct filemon *fm, struct retry_item *v, size_t max)
{
	struct hashmap_iter it;
	size_t k = 0;

	for (struct hnode *n = hashmap_first(&fm->unwatched, &it); n && k < max;
	     n = hashmap_next(&it)) {
		const struct unwatched *u = hashmap_entry(n, struct unwatched, node);

		if (u->budget && over_budget(fm, u->ws))
			continue;
		v[k] = (struct retry_item){ .rel = strdup(u->rel), .depth = u->depth,
					    .budget = u->budget, .scan_since = u->scan_since,
					    .mark_since = u->mark_since };
		if (v[k].rel)
			k++;
	}
	return k;
}

/* ---- watch table (wd -> directory) ------------------------------------- */

struct watch *watch_find(struct filemon *fm, int wd)
{
	struct hnode *n = hashmap_find(&fm->watches, wd_hash(wd), wd_eq, &wd);

	return n ? hashmap_entry(n, struct watch, node) : NULL;
}

/* Remember wd as rel; inotify hands back the same wd for a directory it
 * already watches (a rescan, a move within the tree), so update in place. */
static int watch_put(struct filemon *fm, int wd, const char *rel, int depth, struct wspace *ws)
{
	struct watch *w = watch_find(fm, wd);
	char *copy = strdup(rel);

	if (!copy)
		return -ENOMEM;
	if (w) {
		free(w->rel);
		if (w->ws != ws && w->ws) {
			w->ws->nwatches--;
			ws_release(fm, w->ws);
		}
		if (w->ws != ws && ws)
			ws->nwatches++;
	} else {
		w = calloc(1, sizeof(*w));
		if (!w) {
			free(copy);
			return -ENOMEM;
		}
		w->wd = wd;
		hashmap_add(&fm->watches, &w->node, wd_hash(wd));
		if (ws)
			ws->nwatches++;
	}
	w->ws = ws;
	w->rel = copy;
	w->depth = depth;
	w->gen = fm->gen;
	return 0;
}

void watch_forget(struct filemon *fm, struct watch *w)
{
	char ebuf[256];

	if (w->depth == 0)
		log_error(MOD, "watch root %s is gone; nothing is watched any more",
			  log_escape(fm->root, ebuf, sizeof(ebuf)));
	hashmap_remove(&fm->watches, &w->node);
	if (w->ws) {
		w->ws->nwatches--;
		ws_release(fm, w->ws);
	}
	free(w->rel);
	free(w);
	/* A freed watch may be what an unwatched directory waits for. */
	fm->retry_soon = fm->unwatched.count > 0;
}

void watch_drop(struct filemon *fm, const char *dir)
{
	struct hashmap_iter it;

	for (struct hnode *n = hashmap_first(&fm->watches, &it); n; n = hashmap_next(&it)) {
		struct watch *w = hashmap_entry(n, struct watch, node);

		if (dir ? under(w->rel, dir) : w->gen != fm->gen) {
			inotify_rm_watch(fm->ifd, w->wd);
			watch_forget(fm, w);
		}
	}
	if (dir)
		unwatched_drop(fm, dir);
}

int watch_add(struct filemon *fm, int dirfd, const char *rel, int depth, long long since_ns)
{
	char proc[64], *path = NULL, ebuf[256];
	struct wspace *ws = ws_get(fm, rel, depth);
	int wd, err;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	wd = inotify_add_watch(fm->ifd, proc, WATCH_MASK);
	if (wd < 0 && errno == ENOENT) {
		/* No /proc: by name, and at least not through a final symlink. */
		if (asprintf(&path, "%s/%s", fm->root, rel) < 0) {
			ws_release(fm, ws);
			return -ENOMEM;
		}
		wd = inotify_add_watch(fm->ifd, path, WATCH_MASK | IN_DONT_FOLLOW);
		free(path);
	}
	if (wd < 0) {
		err = errno;
		if (err == ENOSPC) {
			fm->enospc++;
			unwatched_add(fm, rel, depth, ws, false, since_ns);
		} else if (err != ENOENT) {
			log_warn(MOD, "cannot watch %s: %s", log_escape(rel, ebuf, sizeof(ebuf)),
				 strerror(err));
		}
		ws_release(fm, ws);
		return -err;
	}
	/* The same wd for a directory watched already (a rescan): no new
	 * watch, so no budget to check. */
	if (!watch_find(fm, wd) && over_budget(fm, ws)) {
		inotify_rm_watch(fm->ifd, wd);
		unwatched_add(fm, rel, depth, ws, true, since_ns);
		return -ENOSPC;
	}
	unwatched_remove(fm, rel);
	return watch_put(fm, wd, rel, depth, ws);
}
