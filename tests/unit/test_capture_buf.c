/*
 * test_capture_buf.c - the stderr buffer: head for builds, tail for runs,
 * bounded, cut on whole UTF-8 characters, within a shared budget.
 */
#include "capture_buf.h"

#include <errno.h>
#include <stdlib.h>

#include "testlib.h"

/* The buffer's text as a string (NUL-free inputs in these tests). */
static char *text_of(const struct capture_buf *b)
{
	char *s;
	size_t n;

	if (capture_buf_text(b, &s, &n) < 0)
		return NULL;
	return s;
}

static void check_text(const struct capture_buf *b, const char *want)
{
	char *s = text_of(b);

	CHECK_STR(s, want);
	free(s);
}

static void test_empty_allocates_nothing(void)
{
	struct capture_buf b;

	capture_buf_init(&b, CAPTURE_HEAD, 16384, NULL);
	CHECK(b.data == NULL);
	CHECK_INT(b.cap, 0);
	check_text(&b, "");
	CHECK(!b.cut);
	capture_buf_free(&b);
}

static void test_head_keeps_first_bytes(void)
{
	struct capture_buf b;

	capture_buf_init(&b, CAPTURE_HEAD, 10, NULL);
	CHECK_INT(capture_buf_append(&b, "hello ", 6), 6);
	CHECK(!b.cut);
	CHECK_INT(capture_buf_append(&b, "world, again", 12), 4);
	CHECK(b.cut);
	CHECK_INT(b.total, 18);
	check_text(&b, "hello worl");
	CHECK_INT(capture_buf_append(&b, "more", 4), 0);
	check_text(&b, "hello worl");
	CHECK_INT(b.cap, 10);
	capture_buf_free(&b);
}

static void test_tail_keeps_last_bytes(void)
{
	struct capture_buf b;
	int i;

	capture_buf_init(&b, CAPTURE_TAIL, 8, NULL);
	CHECK_INT(capture_buf_append(&b, "abc", 3), 3);
	check_text(&b, "abc");
	CHECK(!b.cut);
	CHECK_INT(capture_buf_append(&b, "defgh", 5), 5);
	check_text(&b, "abcdefgh");
	CHECK(!b.cut);
	CHECK_INT(capture_buf_append(&b, "ij", 2), 2);
	check_text(&b, "cdefghij");
	CHECK(b.cut);
	/* One write longer than the whole buffer: only its end stays. */
	CHECK_INT(capture_buf_append(&b, "0123456789ABCDEF", 16), 8);
	check_text(&b, "89ABCDEF");
	/* Many small writes wrap the ring many times. */
	for (i = 0; i < 1000; i++)
		capture_buf_append(&b, i % 2 ? "x" : "yz", i % 2 ? 1 : 2);
	check_text(&b, "zxyzxyzx");
	CHECK_INT(b.cap, 8);
	capture_buf_free(&b);
}

/* Growth doubles from 256 up to the limit, never past it. */
static void test_grows_lazily_to_limit(void)
{
	struct capture_buf b;
	char chunk[1000];

	memset(chunk, 'a', sizeof(chunk));
	capture_buf_init(&b, CAPTURE_HEAD, 16384, NULL);
	capture_buf_append(&b, "x", 1);
	CHECK_INT(b.cap, 256);
	capture_buf_append(&b, chunk, 300);
	CHECK_INT(b.cap, 512);
	while (b.total < 100000)
		capture_buf_append(&b, chunk, sizeof(chunk));
	CHECK_INT(b.cap, 16384);
	CHECK_INT(b.len, 16384);
	CHECK(b.cut);
	capture_buf_free(&b);
}

/* "é" is C3 A9, "€" E2 82 AC, "😀" F0 9F 98 80. */
static void test_head_cut_on_character(void)
{
	struct capture_buf b;

	capture_buf_init(&b, CAPTURE_HEAD, 5, NULL);
	capture_buf_append(&b, "ab\xE2\x82\xAC!", 6);	/* keeps ab E2 82 AC: whole */
	check_text(&b, "ab\xE2\x82\xAC");
	capture_buf_free(&b);
	capture_buf_init(&b, CAPTURE_HEAD, 4, NULL);
	capture_buf_append(&b, "ab\xE2\x82\xAC", 5);	/* ab E2 82: partial */
	check_text(&b, "ab");
	capture_buf_free(&b);
	capture_buf_init(&b, CAPTURE_HEAD, 6, NULL);
	capture_buf_append(&b, "abc\xF0\x9F\x98\x80", 7);
	check_text(&b, "abc");
	capture_buf_free(&b);
	/* Not cut: a partial character the program wrote stays as written. */
	capture_buf_init(&b, CAPTURE_HEAD, 16, NULL);
	capture_buf_append(&b, "ab\xE2\x82", 4);
	check_text(&b, "ab\xE2\x82");
	capture_buf_free(&b);
}

static void test_tail_cut_on_character(void)
{
	struct capture_buf b;

	capture_buf_init(&b, CAPTURE_TAIL, 5, NULL);
	capture_buf_append(&b, "x\xE2\x82\xAC" "abcd", 8);	/* keeps 82 AC a b c? no: last 5 */
	check_text(&b, "abcd");		/* AC abcd -> the stray AC goes */
	capture_buf_free(&b);
	capture_buf_init(&b, CAPTURE_TAIL, 6, NULL);
	capture_buf_append(&b, "\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 8);	/* 98 80 F0 9F 98 80 */
	check_text(&b, "\xF0\x9F\x98\x80");
	capture_buf_free(&b);
	/* Invalid bytes that are not a cut character are left for the
	 * payload's U+FFFD repair. */
	capture_buf_init(&b, CAPTURE_TAIL, 4, NULL);
	capture_buf_append(&b, "zz\xFF\xFE" "ab", 6);
	check_text(&b, "\xFF\xFE" "ab");
	capture_buf_free(&b);
}

static void test_nul_bytes_kept(void)
{
	struct capture_buf b;
	char *s;
	size_t n;

	capture_buf_init(&b, CAPTURE_TAIL, 64, NULL);
	capture_buf_append(&b, "a\0b\0", 4);
	CHECK_INT(capture_buf_text(&b, &s, &n), 0);
	CHECK_INT(n, 4);
	CHECK(memcmp(s, "a\0b\0", 5) == 0);
	free(s);
	capture_buf_free(&b);
}

/* Two buffers share 1 KiB: the second cannot grow past what is left, and
 * freeing the first gives it back. */
static void test_shared_budget(void)
{
	struct capture_budget budget = { .max = 1024 };
	struct capture_buf a, b;
	char chunk[600];

	memset(chunk, 'q', sizeof(chunk));
	capture_buf_init(&a, CAPTURE_HEAD, 16384, &budget);
	capture_buf_init(&b, CAPTURE_TAIL, 16384, &budget);
	CHECK_INT(capture_buf_append(&a, chunk, 600), 600);
	CHECK_INT(a.cap, 1024);
	CHECK_INT(budget.used, 1024);
	CHECK_INT(capture_buf_append(&b, "x", 1), -ENOSPC);
	CHECK_INT(b.starved, 1);
	CHECK(b.cut);
	CHECK_INT(b.len, 0);
	capture_buf_free(&a);
	CHECK_INT(budget.used, 0);
	/* b now grows to 512, and wraps there while the budget refuses more. */
	CHECK_INT(capture_buf_append(&b, chunk, 500), 500);
	CHECK_INT(b.cap, 512);
	budget.max = 512;
	CHECK_INT(capture_buf_append(&b, "0123456789abcdefghij", 20), -ENOSPC);
	CHECK_INT(b.starved, 2);
	CHECK_INT(b.len, 512);
	CHECK_INT(b.cap, 512);
	{
		char *s = text_of(&b);

		CHECK_INT(strlen(s), 512);
		CHECK_STR(s + 492, "0123456789abcdefghij");
		CHECK_INT(s[491], 'q');
		free(s);
	}
	budget.max = 4096;	/* room again: the wrapped ring grows, oldest first */
	CHECK_INT(capture_buf_append(&b, "!", 1), 1);
	CHECK_INT(b.cap, 1024);
	{
		char *s = text_of(&b);

		CHECK_INT(strlen(s), 513);
		CHECK_STR(s + 492, "0123456789abcdefghij!");
		free(s);
	}
	capture_buf_free(&b);
	CHECK_INT(budget.used, 0);
}

static void test_zero_limit(void)
{
	struct capture_buf b;

	capture_buf_init(&b, CAPTURE_TAIL, 0, NULL);
	CHECK_INT(capture_buf_append(&b, "abc", 3), 0);
	CHECK(b.cut);
	CHECK(b.data == NULL);
	check_text(&b, "");
	capture_buf_free(&b);
}

int main(void)
{
	RUN(test_empty_allocates_nothing);
	RUN(test_head_keeps_first_bytes);
	RUN(test_tail_keeps_last_bytes);
	RUN(test_grows_lazily_to_limit);
	RUN(test_head_cut_on_character);
	RUN(test_tail_cut_on_character);
	RUN(test_nul_bytes_kept);
	RUN(test_shared_budget);
	RUN(test_zero_limit);
	return TEST_DONE();
}
