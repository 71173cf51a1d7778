/*
 * trace_feed.c - see trace_feed.h.
 */
#include "trace_feed.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_text.h"
#include "loop.h"
#include "pathrules.h"
#include "payload.h"

/* Students' bytes may be anything; jansson takes only UTF-8. */
static json_t *text_or_null(const char *s)
{
	return s && *s ? json_text(s, strlen(s), NULL) : json_null();
}

static const char *type_name(enum process_type t)
{
	if (process_type_is_compiler(t))
		return "build";
	if (t == PROCESS_PYTHON || t == PROCESS_USER_BINARY)
		return process_type_name(t);
	return "other";
}

struct obj {
	json_t *o;
	bool bad;
};

static void put(struct obj *b, const char *key, json_t *v)
{
	if (!v || json_object_set_new(b->o, key, v) < 0)
		b->bad = true;
}

static void put_identity(struct obj *b, const struct trace_row *r)
{
	put(b, "student", r->id ? text_or_null(r->id->student_id) : json_null());
	put(b, "class_div", r->id ? text_or_null(r->id->class_div) : json_null());
	put(b, "hostname", text_or_null(r->proc->hostname));
	put(b, "hw", text_or_null(r->hw));
}

static void put_exit(struct obj *b, const struct trace_row *r)
{
	char sig[32];
	const char *name;

	if (!r->exited) {
		put(b, "exit_code", json_null());
		put(b, "signal", json_null());
		put(b, "duration_ms", json_null());
		return;
	}
	name = payload_signal_name(r->proc->signal, sig, sizeof(sig));
	put(b, "exit_code", json_integer(r->proc->exit_code));
	put(b, "signal", name ? json_string(name) : json_null());
	put(b, "duration_ms", json_real(payload_duration_ms(r->proc)));
}

static void put_cmdline(struct obj *b, const struct process *p)
{
	char *joined = argv_join(p->argc, p->argv);

	put(b, "cmdline", joined ? text_or_null(*joined ? joined : NULL) : NULL);
	free(joined);
}

char *trace_feed_line(const struct trace_row *r)
{
	struct obj b = { .o = json_object() };
	char ts[48], *line;

	if (!b.o)
		return NULL;
	payload_format_time(r->exited ? r->proc->exit_wall_ns : loop_wall_ns(), ts, sizeof(ts));
	put(&b, "time", json_string(ts));
	put_identity(&b, r);
	put(&b, "type", json_string(type_name(r->type)));
	put(&b, "program", json_string(process_type_name(r->type)));
	put(&b, "result", json_string(r->result));
	put_exit(&b, r);
	put(&b, "pid", json_integer(r->proc->pid));
	put_cmdline(&b, r->proc);
	put(&b, "target", text_or_null(r->target));
	line = b.bad ? NULL : json_dumps(b.o, PAYLOAD_JSON_FLAGS);
	json_decref(b.o);
	return line;
}

void trace_feed(struct trace_hub *hub, const struct trace_row *row)
{
	char *line;

	if (!trace_hub_active(hub))
		return;
	line = trace_feed_line(row);
	if (line)
		trace_hub_publish(hub, line, strlen(line));
	free(line);
}
