/*
 * utf8.c - UTF-8 validation and lossy repair (Unicode 15, table 3-7).
 */
#include "utf8.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Length of the well-formed sequence starting at s[0..n), or 0 when it is
 * ill-formed.  On 0, *subpart is the length of its maximal subpart: the
 * bytes that started a valid sequence before it went wrong, which are
 * replaced by a single U+FFFD (at least 1, so the caller always advances).
 */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *subpart)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	*subpart = 1;
	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;	/* continuation byte, overlong lead or beyond U+10FFFF */
	if (s[0] < 0xe0)
		need = 2;
	else if (s[0] < 0xf0)
		need = 3;
	else
		need = 4;
	/* The second byte's range is what rules out overlongs and surrogates. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;

	for (i = 1; i < need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*subpart = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

size_t utf8_decode(const char *s, size_t n, unsigned *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len, sub;

	if (!s || n == 0)
		return 0;
	len = utf8_seq(p, n, &sub);
	if (len == 0)
		return 0;
	*cp = len == 1 ? p[0] : p[0] & (0x7fu >> len);
	for (size_t i = 1; i < len; i++)
		*cp = (*cp << 6) | (p[i] & 0x3fu);
	return len;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len, sub;

	if (!s)
		return n == 0;
	while (i < n) {
		uint64_t v;

		/* ASCII, nearly all of what students write, eight bytes at once. */
		if (n - i >= 8) {
			memcpy(&v, p + i, sizeof(v));
			if (!(v & 0x8080808080808080ULL)) {
				i += 8;
				continue;
			}
		}
		len = utf8_seq(p + i, n - i, &sub);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

bool utf8_json_safe(const char *s, size_t n)
{
	return utf8_valid(s, n) && !memchr(s, '\0', n);
}

char *utf8_sanitize(const char *s, size_t n, size_t *replaced)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, count = 0, len, sub;
	char *out;

	if (replaced)
		*replaced = 0;
	if (!s)
		n = 0;
	/* Worst case every input byte becomes a 3-byte U+FFFD. */
	if (n > (SIZE_MAX - 1) / 3) {
		errno = ENOMEM;
		return NULL;
	}
	out = malloc(n * 3 + 1);
	if (!out)
		return NULL;

	while (i < n) {
		len = utf8_seq(p + i, n - i, &sub);
		if (len > 0 && p[i] != '\0') {
			memcpy(out + o, p + i, len);
			o += len;
			i += len;
			continue;
		}
		/* NUL would silently truncate the C string later: make it visible. */
		memcpy(out + o, fffd, 3);
		o += 3;
		i += len > 0 ? len : sub;
		count++;
	}
	out[o] = '\0';
	if (replaced)
		*replaced = count;
	return out;
}
