/*
 * test_spool_delivery.c - the spool's defects of issue #8 seen from where
 * they hurt: the real sender, the real spool directory and a loopback
 * receiver, across restarts.
 */
#define _GNU_SOURCE		/* asprintf */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "metrics_testing.h"
#include "receiver.h"
#include "sender.h"
#include "support.h"
#include "testlib.h"

#define PATH_RUN "/api/os-1/hw2/202012345/logs/run"

static struct loop *loop;
static struct receiver *rx;
static char spool_dir[64];

static struct sender *start(long long dead_letter_max)
{
	struct sender_config cfg = {
		.timeout_ms = 5000, .max_inflight = 4, .queue_max = 1000,
		.spool_dir = spool_dir, .dead_letter_max_bytes = dead_letter_max,
	};
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", receiver_port(rx));
	cfg.api_server = url;
	metrics_reset();
	return sender_create(loop, &cfg);
}

/* Every body is the same length: dead-letter lines are too. */
static char *body_of(int i)
{
	char *b;

	if (asprintf(&b, "{\"seq\":%06d,\"pad\":\"%040d\"}", i, 0) < 0)
		abort();
	return b;
}

static int post(struct sender *s, int i)
{
	return sender_post(s, SERVICE_PROCMON, ENDPOINT_RUN, strdup(PATH_RUN), body_of(i));
}

static double value(const char *name)
{
	return metrics_sample(SERVICE_PROCMON, name, "");
}

/* How many times the receiver took each of records 0..n-1 (2xx only); any
 * other body counts in seen[n]. */
static void tally(int n, int *seen)
{
	size_t got = receiver_count(rx);

	memset(seen, 0, (size_t)(n + 1) * sizeof(*seen));
	for (size_t k = 0; k < got; k++) {
		struct received rc;
		int seq = -1;

		if (receiver_get(rx, k, &rc) < 0)
			continue;
		if (sscanf(rc.body, "{\"seq\":%d", &seq) != 1 || seq < 0 || seq >= n)
			seq = n;
		else {
			char *want = body_of(seq);

			CHECK_STR(rc.body, want);
			free(want);
		}
		seen[seq]++;
		received_free(&rc);
	}
}

static void setup(void)
{
	strcpy(spool_dir, "/tmp/test_spool_delivery.XXXXXX");
	loop = loop_create();
	rx = receiver_start(0);
	if (!mkdtemp(spool_dir) || !loop || !rx)
		abort();
}

static void teardown(void)
{
	receiver_stop(rx);
	loop_destroy(loop);
	support_rm_rf(spool_dir);
}

/* Issue #8: with an empty ffffffffffffffff.seg in SPOOL_DIR the sequence
 * wrapped to 0: one record was resent on every start, two were never sent
 * and spool_records_current stayed above 0. */
static void test_foreign_ffff_segment(void)
{
	struct sender *s;
	char p[128];
	int seen[31];

	setup();
	receiver_set_mode(rx, RECEIVER_REFUSE, 0);
	s = start(0);
	for (int i = 0; i < 10; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 300), 10);
	sender_destroy(s);
	snprintf(p, sizeof(p), "%s/ffffffffffffffff.seg", spool_dir);
	close(open(p, O_CREAT | O_WRONLY, 0600));

	/* Three starts, each with new records, the API up. */
	receiver_set_mode(rx, RECEIVER_OK, 0);
	for (int round = 0; round < 3; round++) {
		s = start(0);
		CHECK_INT(sender_pending(s), 0 + (round == 0 ? 10 : 0));
		for (int i = 10 + round * 5; i < 15 + round * 5; i++)
			CHECK_INT(post(s, i), 0);
		CHECK_INT(sender_drain(s, 10000), 0);
		sender_destroy(s);
	}
	s = start(0);
	CHECK_INT(sender_pending(s), 0);
	CHECK_DBL(value("spool_records_current"), 0, 0);
	sender_destroy(s);

	tally(25, seen);
	for (int i = 0; i < 25; i++)
		CHECK_INT(seen[i], 1);
	CHECK_INT(seen[25], 0);
	CHECK_INT(receiver_count(rx), 25);
	teardown();
}

/* The bound reaches the dead-letter file through sender_config: an API
 * that refuses everything leaves at most two bounded files. */
static void test_dead_letter_bound(void)
{
	const long long max = 1000;
	struct sender *s;
	char cur[128], old[128], logp[128];
	struct stat st;
	long long line, size = 0, per_file = 0;
	int rotations = 0;

	setup();
	receiver_set_mode(rx, RECEIVER_STATUS, 422);
	s = start(max);
	for (int i = 0; i < 30; i++)
		CHECK_INT(post(s, i), 0);
	CHECK_INT(sender_drain(s, 10000), 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "api_dead_letters_total", "endpoint_type=\"run\""),
		  30, 0);
	sender_destroy(s);

	snprintf(cur, sizeof(cur), "%s/dead-letter.jsonl", spool_dir);
	snprintf(old, sizeof(old), "%s/dead-letter.jsonl.1", spool_dir);
	/* Every line has one length; work out where the rotations fall. */
	line = (long long)(strchr(support_slurp(cur), '\n') - support_slurp(cur)) + 1;
	CHECK(line > 100 && line < max / 2);
	for (int i = 0; i < 30; i++) {
		if (size > 0 && size + line > max) {
			rotations++;
			per_file = size;
			size = 0;
		}
		size += line;
	}
	CHECK(rotations >= 2);
	CHECK_DBL(value("api_dead_letter_rotations_total"), rotations, 0);
	CHECK_INT(stat(cur, &st), 0);
	CHECK_INT(st.st_size, size);
	CHECK_INT(stat(old, &st), 0);
	CHECK_INT(st.st_size, per_file);
	/* And the spool does not take the rotated file for a foreign one. */
	snprintf(logp, sizeof(logp), "%s.log", spool_dir);
	CHECK_INT(log_open_file(logp, 0, 0), 0);
	s = start(max);
	CHECK_INT(sender_pending(s), 0);
	sender_destroy(s);
	log_close();
	CHECK(support_slurp(logp) != NULL);
	CHECK(strstr(support_slurp(logp), "dead-letter.jsonl.1") == NULL);
	unlink(logp);
	teardown();
}

int main(void)
{
	RUN(test_foreign_ffff_segment);
	RUN(test_dead_letter_bound);
	return TEST_DONE();
}
