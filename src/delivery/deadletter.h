/*
 * deadletter.h - keep what the API refused, for a human to look at.
 *
 * A record the API rejects with a non-retryable status (a 422: our payload
 * is wrong) must not be retried forever, nor silently lost: it becomes one
 * JSON line in DIR/dead-letter.jsonl:
 *
 *   {"event_id":...,"path":...,"status":422,"response":"...","body":{...}}
 *
 * event_id is copied from the body (null if it has none), response is the
 * start of the API's answer (at most DEADLETTER_RESPONSE_MAX bytes) and
 * body is the record's JSON body (a string if it is not JSON).
 */
#ifndef JCW_DEADLETTER_H
#define JCW_DEADLETTER_H

#define DEADLETTER_FILE "dead-letter.jsonl"
#define DEADLETTER_RESPONSE_MAX 1024
#define DEADLETTER_MAX_DEFAULT (16LL << 20)

/* Append the line and fdatasync it.  The file is bounded: when the line
 * would take it past max_bytes (<= 0: DEADLETTER_MAX_DEFAULT), it is first
 * renamed to DIR/dead-letter.jsonl.1, replacing the older one (logged,
 * counted in api_dead_letter_rotations_total).  A line longer than
 * max_bytes is still written, alone in a new file: at most two files, each
 * max_bytes or one line.  Returns 0, or -errno. */
int deadletter_write(const char *dir, const char *path, const char *body, long status,
		     const char *response, long long max_bytes);

#endif
