/*
 * json_writer.h - JSON text written straight into one growing buffer.
 *
 * For the one document the agent writes for every student run, the log
 * payload.  jansson builds a tree first (an allocation per value, a hash
 * table per object), prints every number through snprintf and walks every
 * string once more for UTF-8; for a flat body of thirty known keys that was
 * half of what the agent executes per run (bench/instructions.sh).  This
 * writes the bytes jansson's json_dumpb() would with
 * JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15), in one
 * pass: test_json_writer writes each value both ways, with the writer and
 * through jansson, and checks the texts are equal byte for byte.  jansson stays for all the
 * agent parses and for the cold paths (dead letters, the trace feed).
 *
 * Errors are sticky, as with stdio: a failed allocation marks the writer
 * bad and later calls do nothing, so builders stay straight-line and
 * check once, at jsonw_finish().
 */
#ifndef JCW_JSON_WRITER_H
#define JCW_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>

struct jsonw {
	char *buf;
	size_t len, cap;
	size_t replaced;	/* U+FFFD repairs jsonw_text() made */
	bool bad;		/* out of memory: nothing to finish */
	bool comma;		/* a value was written: the next one needs ',' */
};

/* An empty writer whose first allocation is `hint` bytes. */
void jsonw_init(struct jsonw *w, size_t hint);
/* The text, malloc'd and NUL-terminated, its length in *len (may be
 * NULL); the writer is left empty.  NULL (ENOMEM) when it went bad. */
char *jsonw_finish(struct jsonw *w, size_t *len);
/* Drop the text (after an error elsewhere). */
void jsonw_discard(struct jsonw *w);

void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
/* A member's name: one of our ASCII literals, never a student's bytes. */
void jsonw_key(struct jsonw *w, const char *key);

/* Students' bytes s[0..n): repaired like json_text() (ill-formed UTF-8 and
 * NUL become U+FFFD, counted in w->replaced), then escaped. */
void jsonw_text(struct jsonw *w, const char *s, size_t n);
/* A string this program made (digits, names): escaped, not checked. */
void jsonw_ascii(struct jsonw *w, const char *s);
void jsonw_int(struct jsonw *w, long long v);
/* us microseconds as a number of milliseconds, jansson's way: "0.0",
 * "12.5", "0.678". */
void jsonw_millis(struct jsonw *w, unsigned long long us);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

#endif
