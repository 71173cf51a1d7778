/*
 * stdout_sink.c - records as JSON lines when there is no API server.
 */
#include "stdout_sink.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "utf8.h"

#define MOD "sender"

/* As payload.h: compact, and reals that do not grow 17-digit tails. */
#define LINE_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

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
int stdout_sink_print(FILE *out, char *path, char *body)
{
	json_t *line = json_object(), *b = json_loads(body, JSON_DECODE_ANY, NULL);
	char *text_line = NULL, esc[256];
	int ret = -EIO;

	if (!b) {
		log_warn(MOD, "record for %s is not JSON; printed as a string",
			 log_escape(path, esc, sizeof(esc)));
		b = text(body);
	}
	/* set_new() steals a reference even on failure: hand it an extra one. */
	if (line && b && json_object_set_new(line, "endpoint", text(path)) == 0 &&
	    json_object_set_new(line, "body", json_incref(b)) == 0)
		text_line = json_dumps(line, LINE_JSON_FLAGS);
	if (text_line && fprintf(out, "%s\n", text_line) >= 0 && fflush(out) == 0)
		ret = 0;
	else
		log_error(MOD, "cannot print a record for %s", log_escape(path, esc, sizeof(esc)));
	free(text_line);
	json_decref(b);
	json_decref(line);
	free(path);
	free(body);
	return ret;
}
