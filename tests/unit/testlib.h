/*
 * testlib.h - the few assertions our unit tests need.
 *
 * Each failed check prints file:line and the two values, and marks the test
 * failed; TEST_MAIN's return value is what ctest sees.  A test that ran no
 * check fails too, so an empty test can never pass.
 */
#ifndef JCW_TESTLIB_H
#define JCW_TESTLIB_H

#include <stdio.h>
#include <string.h>

static int tl_failures;
static int tl_checks;

#define CHECK(cond) do { tl_checks++; if (!(cond)) { tl_failures++; \
	fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_INT(got, want) do { long long g_ = (long long)(got), w_ = (long long)(want); tl_checks++; \
	if (g_ != w_) { tl_failures++; fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", \
		__FILE__, __LINE__, #got, g_, w_); } } while (0)

#define CHECK_DBL(got, want, eps) do { double g_ = (got), w_ = (want); tl_checks++; \
	if (!(g_ - w_ <= (eps) && w_ - g_ <= (eps))) { tl_failures++; fprintf(stderr, \
		"%s:%d: %s = %.9g, want %.9g\n", __FILE__, __LINE__, #got, g_, w_); } } while (0)

#define CHECK_STR(got, want) do { const char *g_ = (got), *w_ = (want); tl_checks++; \
	if ((g_ == NULL) != (w_ == NULL) || (g_ && strcmp(g_, w_) != 0)) { tl_failures++; \
		fprintf(stderr, "%s:%d: %s = \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got, \
			g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } } while (0)

#define RUN(test) do { int f_ = tl_failures; test(); \
	fprintf(stderr, "%s %s\n", tl_failures == f_ ? "ok  " : "FAIL", #test); } while (0)

#define TEST_DONE() (tl_checks == 0 ? (fprintf(stderr, "no checks ran\n"), 1) : \
	(fprintf(stderr, "%d checks, %d failed\n", tl_checks, tl_failures), tl_failures != 0))

#endif
