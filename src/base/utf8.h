/*
 * utf8.h - UTF-8 validation and lossy repair.
 *
 * Paths and argv come from students as raw bytes, but the API speaks JSON,
 * which must be valid UTF-8.  Rather than drop such an event we repair the
 * text the way the upstream Python watcher would (errors="replace"), so the
 * backend sees the same strings it always has.
 */
#ifndef JCW_UTF8_H
#define JCW_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *s, size_t n);

/* True when s[0..n) can go into JSON as it is: well-formed and without a
 * NUL (which readers that keep C strings, jansson's own, refuse as \u0000).
 * Otherwise it goes through utf8_sanitize(). */
bool utf8_json_safe(const char *s, size_t n);
/* The well-formed character at s[0..n): its length (1..4) with the code
 * point in *cp, or 0 when it is ill-formed (or n is 0). */
size_t utf8_decode(const char *s, size_t n, unsigned *cp);

/* malloc'd NUL-terminated copy of s[0..n) with each ill-formed sequence replaced by U+FFFD
 * (maximal subpart rule, like Python's errors="replace"); embedded NULs become U+FFFD too.
 * *replaced (may be NULL) is set to the number of replacements. NULL only on ENOMEM. */
char *utf8_sanitize(const char *s, size_t n, size_t *replaced);

#endif
