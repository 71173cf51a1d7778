/*
 * test_json_writer.c - the writer prints what jansson would, byte for byte.
 *
 * The oracle is jansson itself, the way payload bodies were printed before
 * the writer (json_text() for students' bytes, json_real() of the rounded
 * milliseconds, PAYLOAD_JSON_FLAGS): every value is written both ways and
 * the texts must be equal, over hand-picked cases and 20,000 random ones.
 */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"
#include "json_writer.h"
#include "payload.h"
#include "testlib.h"

#define FLAGS (PAYLOAD_JSON_FLAGS | JSON_ENCODE_ANY)

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;

static unsigned long long next(void)	/* xorshift64: the same cases every run */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* jansson's text for v (released), malloc'd. */
static char *by_jansson(json_t *v)
{
	char *s = v ? json_dumps(v, FLAGS) : NULL;

	json_decref(v);
	return s;
}

/* The writer's text for one value written by fn. */
#define BY_WRITER(out, call) do { struct jsonw w_; jsonw_init(&w_, 8); \
	call; out = jsonw_finish(&w_, NULL); } while (0)

static int same_text(const char *s, size_t n)
{
	size_t want_rep = 0, got_rep;
	char *want = by_jansson(json_text(s, n, &want_rep)), *got;
	struct jsonw w;
	int ok;

	jsonw_init(&w, 8);
	jsonw_text(&w, s, n);
	got_rep = w.replaced;
	got = jsonw_finish(&w, NULL);
	ok = want && got && strcmp(want, got) == 0 && want_rep == got_rep;
	if (!ok)
		fprintf(stderr, "text of %zu bytes: jansson %s (%zu), writer %s (%zu)\n", n,
			want ? want : "(null)", want_rep, got ? got : "(null)", got_rep);
	free(want);
	free(got);
	return ok;
}

static void test_text_every_byte(void)
{
	for (int c = 1; c < 256; c++) {
		char s[3] = { 'a', (char)c, 'z' };

		CHECK(same_text(s, 3));
	}
	CHECK(same_text("", 0));
	CHECK(same_text("a\0b", 3));	/* NUL: U+FFFD, counted */
	CHECK(same_text("\"quoted\" \\back\\ /slash/", 24));
	CHECK(same_text("\xe2\x80\xa8 \xe2\x80\xae \xf0\x9f\x98\x80 \xed\xa0\x80 \xc0\xaf", 20));
}

/* The escape scan reads eight bytes at a time: every character that needs
 * an escape, at every offset of texts from 1 to 24 bytes, comes out as
 * jansson writes it. */
static void test_text_escape_at_every_offset(void)
{
	static const char special[] = "\"\\\x01\x08\t\n\x0c\r\x1f";
	static const char verbatim[] = "!#[]~\x7f \x21\x5b\x5d and a long tail of plain text";
	char s[24];
	int same = 0, cases = 0;

	for (const char *c = special; *c; c++)
		for (size_t len = 1; len <= sizeof(s); len++)
			for (size_t at = 0; at < len; at++) {
				memset(s, 'x', len);
				s[at] = *c;
				same += same_text(s, len);
				cases++;
			}
	CHECK_INT(cases, 9 * 300);
	CHECK_INT(same, cases);
	/* And the bytes just outside the escaped ranges stay verbatim. */
	CHECK(same_text(verbatim, sizeof(verbatim) - 1));
}

static void test_text_random(void)
{
	static const char alphabet[] = "ab\"\\\n\t\x01\x1f\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\xc0";
	char s[64];

	for (int i = 0; i < 10000; i++) {
		size_t n = next() % sizeof(s);

		for (size_t k = 0; k < n; k++)
			s[k] = i % 2 ? (char)next() : alphabet[next() % (sizeof(alphabet) - 1)];
		if (!same_text(s, n)) {
			CHECK(0);
			return;
		}
	}
	CHECK(1);
}

static int same_millis(unsigned long long us)
{
	char *want = by_jansson(json_real((double)us / 1000.0)), *got;
	int ok;

	BY_WRITER(got, jsonw_millis(&w_, us));
	ok = want && got && strcmp(want, got) == 0;
	if (!ok)
		fprintf(stderr, "%llu us: jansson %s, writer %s\n", us, want, got);
	free(want);
	free(got);
	return ok;
}

static void test_millis(void)
{
	static const unsigned long long cases[] = {
		0, 1, 9, 10, 99, 100, 500, 999, 1000, 1001, 1010, 1100, 5000, 678, 391, 12345,
		123456789, 999999999999999ULL, 1000000000000000ULL, 1000000000000001ULL,
		9223372036854776ULL, ULLONG_MAX / 1000, ULLONG_MAX,
	};
	char *got;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(same_millis(cases[i]));
	for (int i = 0; i < 10000; i++) {
		unsigned long long us = next() >> (next() % 64);

		if (!same_millis(us)) {
			CHECK(0);
			return;
		}
	}
	BY_WRITER(got, jsonw_millis(&w_, 678));	/* the README's example */
	CHECK_STR(got, "0.678");
	free(got);
	BY_WRITER(got, jsonw_millis(&w_, 0));
	CHECK_STR(got, "0.0");
	free(got);
}

static void test_int(void)
{
	static const long long cases[] = { 0, 1, -1, 9, 10, -10, 1234567, LLONG_MAX, LLONG_MIN };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *want = by_jansson(json_integer(cases[i])), *got;

		BY_WRITER(got, jsonw_int(&w_, cases[i]));
		CHECK_STR(got, want);
		free(want);
		free(got);
	}
}

/* Commas and nesting: {"a":[],"b":[1,{"c":null,"d":true}],"e":{},"f":false} */
static void test_structure(void)
{
	json_t *o = json_object(), *arr = json_array(), *inner = json_object();
	char *want, *got;
	struct jsonw w;

	json_object_set_new(o, "a", json_array());
	json_object_set_new(inner, "c", json_null());
	json_object_set_new(inner, "d", json_true());
	json_array_append_new(arr, json_integer(1));
	json_array_append_new(arr, inner);
	json_object_set_new(o, "b", arr);
	json_object_set_new(o, "e", json_object());
	json_object_set_new(o, "f", json_false());
	want = by_jansson(o);

	jsonw_init(&w, 1);	/* grows many times on the way */
	jsonw_object_begin(&w);
	jsonw_key(&w, "a");
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_key(&w, "b");
	jsonw_array_begin(&w);
	jsonw_int(&w, 1);
	jsonw_object_begin(&w);
	jsonw_key(&w, "c");
	jsonw_null(&w);
	jsonw_key(&w, "d");
	jsonw_bool(&w, true);
	jsonw_object_end(&w);
	jsonw_array_end(&w);
	jsonw_key(&w, "e");
	jsonw_object_begin(&w);
	jsonw_object_end(&w);
	jsonw_key(&w, "f");
	jsonw_bool(&w, false);
	jsonw_object_end(&w);
	got = jsonw_finish(&w, NULL);
	CHECK_STR(got, want);
	CHECK_STR(got, "{\"a\":[],\"b\":[1,{\"c\":null,\"d\":true}],\"e\":{},\"f\":false}");
	free(want);
	free(got);
}

/* Errors are sticky: a writer gone bad finishes with nothing, and is
 * usable again after. */
static void test_bad_is_sticky(void)
{
	struct jsonw w;
	size_t len = 99;
	char *got;

	jsonw_init(&w, 16);
	jsonw_ascii(&w, "before");
	w.bad = true;
	jsonw_ascii(&w, "after");
	CHECK(jsonw_finish(&w, &len) == NULL);
	CHECK_INT(len, 99);
	jsonw_ascii(&w, "again");
	got = jsonw_finish(&w, &len);
	CHECK_STR(got, "\"again\"");
	CHECK_INT(len, 7);
	free(got);
}

int main(void)
{
	RUN(test_text_every_byte);
	RUN(test_text_escape_at_every_offset);
	RUN(test_text_random);
	RUN(test_millis);
	RUN(test_int);
	RUN(test_structure);
	RUN(test_bad_is_sticky);
	return TEST_DONE();
}
