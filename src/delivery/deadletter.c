/*
 * deadletter.c - see deadletter.h.
 *
 * Rare by nature (one line per rejected record), so each line opens,
 * appends, syncs and closes: the file can be rotated or removed by hand at
 * any time, and a line is on disk before the record leaves the spool.
 * Rare is not never: an API that refuses everything would fill the disk,
 * so the file is bounded and rotated once (deadletter.h).
 */
#define _GNU_SOURCE
#include "deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_text.h"
#include "log.h"
#include "metrics.h"

#define MOD "deadletter"

/* As payload.h: compact, in insertion order. */
#define LINE_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

static json_t *text(const char *s, size_t max)
{
	return json_text(s, strnlen(s, max), NULL);
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

static int open_file(const char *file)
{
	return open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

/* Move file (open as fd) to file.1, replacing the older one, and return a
 * descriptor of a new, empty file; fd itself when that fails (one more
 * line beats a lost one).  Only a regular file is moved: never /dev/null. */
static int rotate(const char *dir, const char *file, int fd, long long size)
{
	char *old = NULL;
	int nfd, dfd;

	if (asprintf(&old, "%s.1", file) < 0)
		return fd;
	if (rename(file, old) < 0) {
		log_warn(MOD, "cannot rotate %s: %s", file, strerror(errno));
		free(old);
		return fd;
	}
	nfd = open_file(file);
	if (nfd < 0) {
		/* The name is gone now: write into the moved file. */
		log_warn(MOD, "cannot create %s: %s", file, strerror(errno));
		free(old);
		return fd;
	}
	close(fd);
	/* The new name must outlive a power loss like the line in it. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)!fsync(dfd);
		close(dfd);
	}
	metrics_inc(M_DEAD_LETTER_ROTATIONS);
	log_warn(MOD, "%s reached %lld bytes: moved to %s, replacing the older dead letters "
		 "there", file, size, old);
	free(old);
	return nfd;
}

int deadletter_write(const char *dir, const char *path, const char *body, long status,
		     const char *response, long long max_bytes)
{
	char *line = line_for(path, body, status, response), *file = NULL;
	int fd = -1, ret = -ENOMEM;
	struct stat st;
	size_t len;

	if (!line || asprintf(&file, "%s/" DEADLETTER_FILE, dir) < 0) {
		file = NULL;
		goto out;
	}
	fd = open_file(file);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	len = strlen(line);
	if (max_bytes <= 0)
		max_bytes = DEADLETTER_MAX_DEFAULT;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    st.st_size + (long long)len + 1 > max_bytes)
		fd = rotate(dir, file, fd, (long long)st.st_size);
	line[len] = '\n';	/* over the NUL: written by length */
	errno = EIO;	/* what a short write reports */
	if (write(fd, line, len + 1) == (ssize_t)(len + 1) && fdatasync(fd) == 0)
		ret = 0;
	else
		ret = -errno;
out:
	if (fd >= 0)
		close(fd);
	free(file);
	free(line);
	return ret;
}
