/*
 * scoping.c - which workspaces filemon watches (scope.h): the students
 * procmon sees on this node, the live namespaces at start-up and before a
 * drop, and dropping those gone for WORKSPACE_IDLE_SECONDS.
 *
 * A workspace added at start-up is caught up by the first scan since the
 * restart marker, like every workspace before scoping.  One added later
 * arrives with its student's container: its tree is watched and scanned
 * then, saves of the last EVENT_SLACK_NS taken as changes (the moments
 * between the container's first exec and the watch), not since the
 * marker: what changed there before was another node's to send.
 */
#define _GNU_SOURCE		/* strdup */
#include "filemon_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "uts_hosts.h"

static void on_host(void *arg, const char *hostname)
{
	struct filemon *fm = arg;
	struct identity id;

	if (identity_parse(hostname, fm->host_prefix, &id) == 0)
		filemon_student_seen(fm, &id);
}

/* Every student container on the node says it is here.  -EACCES when some
 * namespace could not be read: who is gone is then not known.  A node
 * that stays blind walks /proc again at every sweep all the same: the
 * unreadable processes may be gone by then (a privileged pod that ended),
 * and then drops resume; the walk is a readlink per process a minute. */
static int live_walk(void *arg)
{
	struct filemon *fm = arg;
	size_t unreadable = 0;
	int n = uts_hosts(fm->proc, on_host, fm, &unreadable);

	if (n < 0) {
		log_warn(MOD, "cannot list %s (%s): idle workspaces are kept", fm->proc,
			 strerror(-n));
		return n;
	}
	if (!unreadable)
		return 0;
	if (!fm->ns_denied_logged)
		log_warn(MOD, "cannot read the UTS namespace of %zu processes in %s (the agent "
			 "needs CAP_SYS_PTRACE, and CAP_SYS_ADMIN or the container's "
			 "/etc/hostname): idle workspaces are kept while any is unreadable; logged once",
			 unreadable, fm->proc);
	fm->ns_denied_logged = true;
	return -EACCES;
}

static void drop_workspace(void *arg, const char *name)
{
	struct filemon *fm = arg;
	char esc[128];

	/* Changes still debounced are read beneath the root, not through a
	 * watch: they are snapshotted in their turn all the same. */
	watch_drop(fm, name);
	metrics_inc(M_FILEMON_WS_DROPPED);
	log_info(MOD, "workspace %s no longer watched: its student has not been on this "
		 "node for WORKSPACE_IDLE_SECONDS", log_escape(name, esc, sizeof(esc)));
}

void scope_tick(struct filemon *fm)
{
	long long now = loop_now_ms();

	if (scope_all(fm->scope) || now < fm->scope_sweep_at)
		return;
	fm->scope_sweep_at = now + scope_sweep_ms(fm->scope);
	if (scope_expire(fm->scope, now, live_walk, fm, drop_workspace, fm))
		update_gauges(fm);
}

static void added(struct filemon *fm, const char *name)
{
	char esc[128];

	metrics_inc(M_FILEMON_WS_ADDED);
	log_info(MOD, "watching workspace %s: its student runs on this node",
		 log_escape(name, esc, sizeof(esc)));
	if (!fm->started)
		return;		/* the first scan takes it, since the marker */
	scan_path(fm, name, 1, coarse_now_ns() - EVENT_SLACK_NS);
	arm(fm);
	update_gauges(fm);
}

void filemon_student_seen(struct filemon *fm, const struct identity *id)
{
	char name[2 * IDENTITY_FIELD_LEN + 2], esc[160];

	if (!fm || !id || scope_all(fm->scope))
		return;
	snprintf(name, sizeof(name), "%s-%s", id->class_div, id->student_id);
	switch (scope_seen(fm->scope, name, loop_now_ms())) {
	case SCOPE_ADDED:
		added(fm, name);
		break;
	case SCOPE_REFUSED_LIMIT:
		metrics_add(M_FILEMON_WS_REFUSED, 0, WS_REFUSED_LIMIT, 1);
		log_warn(MOD, "workspace %s not watched: MAX_WORKSPACES reached (%zu watched)",
			 log_escape(name, esc, sizeof(esc)), scope_count(fm->scope));
		break;
	case SCOPE_REFUSED_MISSING:
		/* A hostname anyone can choose, or a WATCH_ROOT that is not the
		 * students' volume: nothing is created for it. */
		metrics_add(M_FILEMON_WS_REFUSED, 0, WS_REFUSED_MISSING, 1);
		log_warn(MOD, "student container %s runs here, but %s/%s is not a directory: "
			 "not watched", log_escape(name, esc, sizeof(esc)), fm->root, name);
		break;
	default:
		break;
	}
}

int scope_setup(struct filemon *fm, const struct filemon_config *cfg, char *err, size_t errlen)
{
	struct scope_config sc = {
		.all = !cfg->scoped, .students = cfg->students, .nstudents = cfg->nstudents,
		.max = cfg->max_workspaces > 0 ? (size_t)cfg->max_workspaces : 0,
		.idle_ms = cfg->workspace_idle_ms,
	};

	fm->host_prefix = strdup(cfg->host_prefix ? cfg->host_prefix : "jcode-");
	fm->proc = strdup(cfg->proc ? cfg->proc : "/proc");
	fm->scope = fm->host_prefix && fm->proc ? scope_create(&sc, fm->rootfd) : NULL;
	if (!fm->scope) {
		snprintf(err, errlen, "filemon: out of memory, or WATCH_STUDENTS names something "
			 "that is not a workspace ({subject}-{division}-{student_id})");
		return -EINVAL;
	}
	if (scope_all(fm->scope)) {
		log_info(MOD, "watching every workspace below %s (WATCH_ALL)", fm->root);
		return 0;
	}
	if (live_walk(fm) < 0 && cfg->all_if_blind) {
		scope_watch_all(fm->scope);
		log_error(MOD, "who runs on this node is not known: watching every workspace "
			  "below %s, as WATCH_ALL=1 does (grant CAP_SYS_PTRACE to watch only this "
			  "node's students, or set WATCH_ALL=0 to accept that students idle since "
			  "the start are watched only once they run something)", fm->root);
		return 0;
	}
	fm->scope_sweep_at = loop_now_ms() + scope_sweep_ms(fm->scope);
	log_info(MOD, "watching the workspaces of the %zu students on this node (%zu named in "
		 "WATCH_STUDENTS); idle ones are dropped after %lld s", scope_count(fm->scope),
		 cfg->nstudents, scope_idle_ms(fm->scope) / 1000);
	return 0;
}
