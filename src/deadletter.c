/*
 * deadletter.c - see deadletter.h.
 *
 * Rare by nature (one line per rejected record), so each line opens,
 * appends, syncs and closes: the file can be rotated or removed by hand at
 * any time, and a line is on disk before the record leaves the spool.
 */
#define _GNU_SOURCE
#include "deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "utf8.h"

/* As event.h: compact, in insertion order. */
#define LINE_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

static json_t *text(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *clean = utf8_sanitize(s, n, NULL);
	json_t *v = clean ? json_string(clean) : NULL;

	free(clean);
	return v;
}

static json_t *event_id_of(json_t *body)
{
	json_t *id = json_is_object(body) ? json_object_get(body, "event_id") : NULL;

	return id ? json_incref(id) : json_null();
}

static char *line_for(const char *path, const char *body, long status, const char *response)
{
	json_t *b = json_loads(body, JSON_DECODE_ANY, NULL), *line = json_object();
	char *out = NULL;

	if (!b)
		b = text(body, strlen(body));
	/* set_new() steals the reference even when it fails. */
	if (line && b &&
	    json_object_set_new(line, "event_id", event_id_of(b)) == 0 &&
	    json_object_set_new(line, "path", text(path, strlen(path))) == 0 &&
	    json_object_set_new(line, "status", json_integer(status)) == 0 &&
	    json_object_set_new(line, "response", text(response ? response : "",
							DEADLETTER_RESPONSE_MAX)) == 0 &&
	    json_object_set_new(line, "body", json_incref(b)) == 0)
		out = json_dumps(line, LINE_FLAGS);
	json_decref(b);
	json_decref(line);
	return out;
}

int deadletter_write(const char *dir, const char *path, const char *body, long status,
		     const char *response)
{
	char *line = line_for(path, body, status, response), *file = NULL;
	int fd = -1, ret = -1;
	size_t len;

	if (!line || asprintf(&file, "%s/" DEADLETTER_FILE, dir) < 0) {
		file = NULL;
		errno = ENOMEM;
		goto out;
	}
	fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	len = strlen(line);
	line[len] = '\n';	/* over the NUL: written by length */
	if (write(fd, line, len + 1) == (ssize_t)(len + 1) && fdatasync(fd) == 0)
		ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(file);
	free(line);
	return ret;
}
