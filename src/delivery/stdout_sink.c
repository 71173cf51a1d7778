/*
 * stdout_sink.c - records as JSON lines when there is no API server.
 */
#include "stdout_sink.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"
#include "json_writer.h"
#include "log.h"

#define MOD "sender"

/* As payload.h: compact, and reals that do not grow 17-digit tails. */
#define LINE_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

static json_t *text(const char *s)
{
	return json_text(s, strlen(s), NULL);
}

/* What may stand outside a string in compact JSON: punctuation and what
 * numbers, true, false and null are made of.  A table, not strchr() per
 * byte: the scan ran over every byte of every body (a fifth of what the
 * agent executed per run in stdout mode). */
static const bool bare[256] = {
	['{'] = true, ['}'] = true, ['['] = true, [']'] = true, [':'] = true, [','] = true,
	['-'] = true, ['+'] = true, ['.'] = true, ['e'] = true, ['E'] = true,
	['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
	['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
	['t'] = true, ['r'] = true, ['u'] = true, ['f'] = true, ['a'] = true,
	['l'] = true, ['s'] = true, ['n'] = true,
};

/*
 * A compact JSON object as our builders write it (one line) is spliced
 * into the line as is: parsing it and printing it again cost more than
 * building it.  The scan is cheap and strict: braces and brackets
 * balanced, strings closed, no whitespace outside strings, and outside
 * strings only what numbers, true, false and null are made of.  Anything
 * else goes through jansson.
 */
static bool spliceable(const char *body, size_t len)
{
	int depth = 0;
	bool in_string = false;

	if (len < 2 || body[0] != '{' || body[len - 1] != '}')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = body[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			else if ((unsigned char)c < 0x20)
				return false;
			continue;
		}
		if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
		else if (!bare[(unsigned char)c])
			return false;
		if (depth < 0 || (depth == 0 && i + 1 < len))
			return false;
	}
	return depth == 0 && !in_string;
}

static int print_spliced(FILE *out, const char *path, const char *body)
{
	size_t len = strlen(path);
	struct jsonw w;
	char *endpoint;
	int ret = -EIO;

	/* Written, not built: the same bytes as jansson's (json_writer.h). */
	jsonw_init(&w, len + 8);
	jsonw_text(&w, path, len);
	endpoint = jsonw_finish(&w, NULL);

	/* Pieces, not fprintf: its %s walks a 1 KiB body byte by byte. */
	if (endpoint && fputs("{\"endpoint\":", out) >= 0 && fputs(endpoint, out) >= 0 &&
	    fputs(",\"body\":", out) >= 0 && fputs(body, out) >= 0 && fputs("}\n", out) >= 0 &&
	    fflush(out) == 0)
		ret = 0;
	free(endpoint);
	return ret;
}

/* The body is re-emitted through jansson so the line is valid JSON even if
 * a producer handed us something that is not; then it goes in as a string. */
static int print_parsed(FILE *out, const char *path, const char *body)
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
	free(text_line);
	json_decref(b);
	json_decref(line);
	return ret;
}

int stdout_sink_print(FILE *out, char *path, char *body)
{
	char esc[256];
	int ret = spliceable(body, strlen(body)) ? print_spliced(out, path, body) :
		  print_parsed(out, path, body);

	if (ret < 0)
		log_error(MOD, "cannot print a record for %s", log_escape(path, esc, sizeof(esc)));
	free(path);
	free(body);
	return ret;
}
