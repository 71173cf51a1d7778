/*
 * test_utf8.c - validation and U+FFFD repair, byte for byte.
 */
#include <stdlib.h>

#include "testlib.h"
#include "utf8.h"

#define R "\xef\xbf\xbd"

/* Sanitize a literal (its length taken with sizeof, so embedded NULs count). */
#define SAN(lit, want, nrep) check_san(lit, sizeof(lit) - 1, want, nrep, __LINE__)

static void check_san(const char *in, size_t n, const char *want, size_t nrep, int line)
{
	size_t rep = 12345;
	char *out = utf8_sanitize(in, n, &rep);

	CHECK(out != NULL);
	if (!out)
		return;
	if (strcmp(out, want) != 0 || rep != nrep)
		fprintf(stderr, "  (from line %d)\n", line);
	CHECK_STR(out, want);
	CHECK_INT(rep, nrep);
	/* Whatever went in, what comes out must be valid. */
	CHECK(utf8_valid(out, strlen(out)));
	free(out);
}

static void test_valid(void)
{
	CHECK(utf8_valid("", 0));
	CHECK(utf8_valid(NULL, 0));
	CHECK(utf8_valid("hello", 5));
	CHECK(utf8_valid("\xc3\xa9", 2));                /* é */
	CHECK(utf8_valid("\xed\x95\x9c\xea\xb8\x80", 6)); /* 한글 */
	CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));        /* U+1F600 */
	CHECK(utf8_valid("\xf4\x8f\xbf\xbf", 4));        /* U+10FFFF */
	CHECK(utf8_valid("\xed\x9f\xbf", 3));            /* U+D7FF */
	CHECK(utf8_valid("\xee\x80\x80", 3));            /* U+E000 */
	CHECK(utf8_valid("a\0b", 3));                    /* NUL is well-formed UTF-8 */
	CHECK(!utf8_valid("a\xff" "b", 3));
	CHECK(!utf8_valid("\xc0\xaf", 2));               /* overlong '/' */
	CHECK(!utf8_valid("\xc1\xbf", 2));
	CHECK(!utf8_valid("\xe0\x80\xaf", 3));           /* overlong 3-byte */
	CHECK(!utf8_valid("\xf0\x80\x80\xaf", 4));       /* overlong 4-byte */
	CHECK(!utf8_valid("\xed\xa0\x80", 3));           /* surrogate U+D800 */
	CHECK(!utf8_valid("\xed\xbf\xbf", 3));           /* surrogate U+DFFF */
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4));       /* U+110000 */
	CHECK(!utf8_valid("\xf5\x80\x80\x80", 4));
	CHECK(!utf8_valid("\x80", 1));
	CHECK(!utf8_valid("\xf0\x9f\x98", 3));           /* truncated */
	CHECK(!utf8_valid("\xf0\x9f\x98\x80", 3));       /* n cuts the emoji */
	CHECK(!utf8_valid("\xc3", 1));
}

/* utf8_valid() reads ASCII eight bytes at a time: a sequence at any
 * offset of a long ASCII text, inside a block or across two, or cut by the
 * end, is judged as it is alone. */
static void test_valid_at_every_offset(void)
{
	static const struct { const char *seq; bool valid; } cases[] = {
		{ "\xc3\xa9", true }, { "\xf0\x9f\x98\x80", true }, { "\xff", false },
		{ "\x80", false }, { "\xc0\xaf", false }, { "\xed\xa0\x80", false },
	};
	char s[40];
	int wrong = 0, checked = 0;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t k = strlen(cases[c].seq);

		for (size_t len = k; len <= 32; len++)
			for (size_t at = 0; at + k <= len; at++) {
				memset(s, 'a', len);
				memcpy(s + at, cases[c].seq, k);
				wrong += utf8_valid(s, len) != cases[c].valid;
				/* The same text cut one byte into the sequence. */
				if (k > 1)
					wrong += utf8_valid(s, at + 1);
				checked++;
			}
	}
	CHECK_INT(checked, 2948);	/* sum over the cases of (33 - k)(34 - k) / 2 */
	CHECK_INT(wrong, 0);
}

static void test_sanitize(void)
{
	SAN("", "", 0);
	SAN("plain ascii", "plain ascii", 0);
	SAN("a\xff" "b", "a" R "b", 1);
	SAN("\xc0\xaf", R R, 2);                 /* C0 is never a lead: two errors */
	SAN("\xe0\x80\xaf", R R R, 3);           /* E0 80: 80 out of range, so E0 alone */
	SAN("\xed\xa0\x80", R R R, 3);           /* surrogate: same as Python */
	SAN("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", 0);
	SAN("x\xf0\x9f\x98", "x" R, 1);          /* truncated at end: one maximal subpart */
	SAN("\xf0\x9f\x98" "a", R "a", 1);
	SAN("\xe2\x82", R, 1);
	SAN("\xc3", R, 1);
	SAN("\xf4\x90\x80\x80", R R R R, 4);     /* > U+10FFFF */
	SAN("\xf5", R, 1);
	SAN("\x80\x80", R R, 2);
	SAN("\xe2\x82\xac\xe2\x82", "\xe2\x82\xac" R, 1);
	SAN("a\0b", "a" R "b", 1);
	SAN("\0", R, 1);
	SAN("\xc3\xa9\xff\xc3\xa9", "\xc3\xa9" R "\xc3\xa9", 1);
	SAN("\xf1\x80\x80\xe1\x80\xc2", R R R, 3);  /* Unicode's own example, in part */
	SAN("hw1/\xed\x95\x9c.c\n", "hw1/\xed\x95\x9c.c\n", 0);
}

static void test_sanitize_edges(void)
{
	size_t rep = 99;
	char *out;

	out = utf8_sanitize(NULL, 0, &rep);
	CHECK(out != NULL);
	CHECK_STR(out, "");
	CHECK_INT(rep, 0);
	free(out);

	/* replaced may be NULL; n counts, not the NUL */
	out = utf8_sanitize("abc\xff", 2, NULL);
	CHECK_STR(out, "ab");
	free(out);
}

/* Every 1- and 2-byte input: never crashes, output always valid. */
static void test_sanitize_exhaustive(void)
{
	char in[2], *out;
	int a, b, bad = 0;

	for (a = 0; a < 256; a++) {
		for (b = 0; b < 256; b++) {
			in[0] = (char)a;
			in[1] = (char)b;
			out = utf8_sanitize(in, 2, NULL);
			if (!out || !utf8_valid(out, strlen(out)))
				bad++;
			free(out);
		}
	}
	CHECK_INT(bad, 0);
}

int main(void)
{
	RUN(test_valid);
	RUN(test_valid_at_every_offset);
	RUN(test_sanitize);
	RUN(test_sanitize_edges);
	RUN(test_sanitize_exhaustive);
	return TEST_DONE();
}
