/*
 * json_text.h - students' bytes as a JSON string, repaired rather than lost.
 *
 * jansson takes only UTF-8, and a NUL inside a string comes back out as
 * \u0000, which readers that keep C strings (jansson's own) refuse.  Every
 * writer of JSON that carries a path, argv or output goes through here.
 */
#ifndef JCW_JSON_TEXT_H
#define JCW_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>

/* s[0..n) as a JSON string: as it is when it is valid UTF-8 without a NUL
 * (checked once, copied once), else through utf8_sanitize().  *replaced
 * (may be NULL) gets the number of replacements.  NULL only on ENOMEM. */
json_t *json_text(const char *s, size_t n, size_t *replaced);

#endif
