/* json_writer.c - JSON text straight into a buffer (json_writer.h). */
#include "json_writer.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define US_EXACT_LIMIT 1000000000000000ULL	/* 10^15 us: 15 digits, %.15g's all */

void jsonw_init(struct jsonw *w, size_t hint)
{
	memset(w, 0, sizeof(*w));
	w->cap = hint ? hint : 64;
}

/* The slow half of reserve(): the buffer doubles until n more fit. */
static bool __attribute__((noinline)) grow(struct jsonw *w, size_t n)
{
	size_t cap = w->cap;
	char *b;

	while (w->len + n >= cap)
		cap *= 2;
	b = realloc(w->buf, cap);
	if (!b) {
		w->bad = true;
		return false;
	}
	w->buf = b;
	w->cap = cap;
	return true;
}

/* Room for n more bytes, and the final NUL.  Every write asks, so the
 * common answer (there is room) is inline: a call per key or number was a
 * tenth of the writer's cost. */
static inline bool reserve(struct jsonw *w, size_t n)
{
	if (w->bad)
		return false;
	if (w->buf && w->len + n < w->cap)
		return true;
	return grow(w, n);
}

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void put_char(struct jsonw *w, char c)
{
	if (!reserve(w, 1))
		return;
	w->buf[w->len++] = c;
}

/* Every value, and every key, is preceded by a comma unless it opens its
 * object or array; a key's value never is. */
static void value_begin(struct jsonw *w)
{
	if (w->comma)
		put_char(w, ',');
	w->comma = true;
}

char *jsonw_finish(struct jsonw *w, size_t *len)
{
	char *text = NULL;

	if (reserve(w, 0)) {
		w->buf[w->len] = '\0';
		text = w->buf;
		if (len)
			*len = w->len;
		w->buf = NULL;
	}
	jsonw_discard(w);
	return text;
}

void jsonw_discard(struct jsonw *w)
{
	free(w->buf);
	jsonw_init(w, w->cap);
}

static void container_begin(struct jsonw *w, char open)
{
	value_begin(w);
	put_char(w, open);
	w->comma = false;
}

static void container_end(struct jsonw *w, char close)
{
	put_char(w, close);
	w->comma = true;
}

void jsonw_object_begin(struct jsonw *w)
{
	container_begin(w, '{');
}

void jsonw_object_end(struct jsonw *w)
{
	container_end(w, '}');
}

void jsonw_array_begin(struct jsonw *w)
{
	container_begin(w, '[');
}

void jsonw_array_end(struct jsonw *w)
{
	container_end(w, ']');
}

/* One character that needs an escape, as jansson's dump_string() writes
 * it: the two mandatory ones, the five short control escapes, \u00XX in
 * capitals for the other controls.  Out of line, so the scan below stays a
 * tight loop (building this per byte cost 15 instructions a byte). */
static void put_escape(struct jsonw *w, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char seq[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
	const char *e = NULL;

	switch (c) {
	case '"': e = "\\\""; break;
	case '\\': e = "\\\\"; break;
	case '\b': e = "\\b"; break;
	case '\f': e = "\\f"; break;
	case '\n': e = "\\n"; break;
	case '\r': e = "\\r"; break;
	case '\t': e = "\\t"; break;
	}
	if (e)
		put(w, e, 2);
	else
		put(w, seq, sizeof(seq));
}

#define ONES 0x0101010101010101ULL

/* Whether any of the eight bytes at s is below 0x20, '"' or '\\': the
 * has-less and has-zero bit tricks, exact for "any", which is all the scan
 * asks.  A byte at a time the test cost 9 instructions a byte. */
static bool block_needs_escape(const char *s)
{
	uint64_t v, q, b;

	memcpy(&v, s, sizeof(v));
	q = v ^ (ONES * '"');
	b = v ^ (ONES * '\\');
	return (((v - ONES * 0x20) & ~v) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) &
	       (ONES * 0x80);
}

/* Runs that need no escape are copied whole (no JSON_ENSURE_ASCII, no
 * JSON_ESCAPE_SLASH: all else is verbatim, as jansson writes it). */
static void put_escaped(struct jsonw *w, const char *s, size_t n)
{
	size_t run = 0;

	put_char(w, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c;

		if (n - i >= 8 && !block_needs_escape(s + i)) {
			i += 7;
			continue;
		}
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(w, s + run, i - run);
		run = i + 1;
		put_escape(w, c);
	}
	put(w, s + run, n - run);
	put_char(w, '"');
}

/* Keys are our literals ("cpu_ms"): nothing in them needs escaping, so
 * they are copied as they are (a third of the writer's time otherwise). */
void jsonw_key(struct jsonw *w, const char *key)
{
	size_t n = strlen(key);

	if (!reserve(w, n + 4))	/* the comma, the quotes and the colon */
		return;
	if (w->comma)
		w->buf[w->len++] = ',';
	w->buf[w->len++] = '"';
	memcpy(w->buf + w->len, key, n);
	w->len += n;
	w->buf[w->len++] = '"';
	w->buf[w->len++] = ':';
	w->comma = false;
}

void jsonw_text(struct jsonw *w, const char *s, size_t n)
{
	size_t replaced = 0;
	char *clean;

	value_begin(w);
	if (utf8_json_safe(s, n)) {
		put_escaped(w, s, n);
		return;
	}
	clean = utf8_sanitize(s, n, &replaced);
	if (!clean) {
		w->bad = true;
		return;
	}
	w->replaced += replaced;
	put_escaped(w, clean, strlen(clean));
	free(clean);
}

void jsonw_ascii(struct jsonw *w, const char *s)
{
	value_begin(w);
	put_escaped(w, s, strlen(s));
}

/* Decimal digits of v into the end of buf; where they start. */
static char *digits(char *end, unsigned long long v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

void jsonw_int(struct jsonw *w, long long v)
{
	char buf[24], *end = buf + sizeof(buf), *p;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	value_begin(w);
	p = digits(end, u);
	if (v < 0)
		*--p = '-';
	put(w, p, (size_t)(end - p));
}

/* Past 15 digits %.15g rounds and may switch to an exponent: jansson
 * itself prints those (times only a crafted clock reaches). */
static void put_real_by_jansson(struct jsonw *w, double v)
{
	char buf[64];
	json_t *r = json_real(v);
	size_t n = r ? json_dumpb(r, buf, sizeof(buf), JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) : 0;

	json_decref(r);
	if (n == 0 || n > sizeof(buf)) {
		w->bad = true;
		return;
	}
	put(w, buf, n);
}

/*
 * us / 1000 with the trailing zeros of its three decimals dropped, and
 * ".0" when none is left: what %.15g prints for the double nearest that
 * value (it has at most 15 significant digits below 10^15 us, so the
 * rounding gives back the decimal exactly), and jansson's ".0" rule.
 */
void jsonw_millis(struct jsonw *w, unsigned long long us)
{
	char buf[32], *end = buf + sizeof(buf), *p;
	unsigned frac = (unsigned)(us % 1000);
	int decimals = 3;

	value_begin(w);
	if (us >= US_EXACT_LIMIT) {
		put_real_by_jansson(w, (double)us / 1000.0);
		return;
	}
	while (decimals > 1 && frac % 10 == 0) {
		frac /= 10;
		decimals--;
	}
	for (int i = 0; i < decimals; i++) {
		*--end = (char)('0' + frac % 10);
		frac /= 10;
	}
	*--end = '.';
	p = digits(end, us / 1000);
	put(w, p, (size_t)(buf + sizeof(buf) - p));
}

void jsonw_bool(struct jsonw *w, bool v)
{
	value_begin(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void jsonw_null(struct jsonw *w)
{
	value_begin(w);
	put(w, "null", 4);
}
