/*
 * test_spool.c - the durable segment log: append, acknowledge, reopen,
 * torn and corrupt tails, corrupt regions in the middle, foreign names,
 * fuzzed segments, the size bound, segment removal and crashes at random
 * points (fork, SIGKILL or a half-written record, then reopen).
 */
#define _GNU_SOURCE
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "crc32c_testing.h"
#include "log.h"
#include "metrics_server.h"
#include "metrics_server_testing.h"
#include "metrics_testing.h"
#include "support.h"
#include "testlib.h"

/* Every test record is REC_BYTES on disk: 40 header + 2 path + 58 body. */
#define REC_BYTES 100
#define PATH "/p"

static char dir[64];

static void fresh_dir(void)
{
	if (dir[0])
		support_rm_rf(dir);
	strcpy(dir, "/tmp/test_spool.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	metrics_reset();
}

static struct spool *open_spool(long long max, long long seg)
{
	struct spool_config cfg = { .dir = dir, .max_bytes = max, .segment_bytes = seg };
	char err[256] = "";
	struct spool *sp = spool_open(&cfg, err, sizeof(err));

	if (!sp)
		fprintf(stderr, "spool_open: %s\n", err);
	CHECK(sp != NULL);
	return sp;
}

/* A 58-byte body that names its record. */
static void body_of(unsigned long long i, char *buf)
{
	snprintf(buf, 64, "{\"event_id\":\"e-%012llu\",\"pad\":\"%020d\"}", i, 0);
}

static int append(struct spool *sp, unsigned long long i, bool claim)
{
	char body[64];
	struct spool_rec r = { .svc = i % 2 ? SERVICE_FILEMON : SERVICE_PROCMON,
			       .ep = i % 2 ? ENDPOINT_SNAPSHOT : ENDPOINT_RUN,
			       .path = PATH, .body = body };

	body_of(i, body);
	if (spool_append(sp, &r, claim) < 0)
		return -1;
	return (int)r.seq;
}

/* Read everything left; each record must be intact and say its seq.
 * Returns how many, their seqs in got[]. */
static size_t read_all(struct spool *sp, unsigned long long *got, size_t max)
{
	struct spool_rec r;
	size_t n = 0;

	memset(got, 0, max * sizeof(*got));
	while (spool_next(sp, &r) == 1) {
		char want[64];

		body_of(r.seq, want);
		CHECK_STR(r.body, want);
		CHECK_STR(r.path, PATH);
		CHECK_INT(r.svc, r.seq % 2 ? SERVICE_FILEMON : SERVICE_PROCMON);
		CHECK_INT(r.ep, r.seq % 2 ? ENDPOINT_SNAPSHOT : ENDPOINT_RUN);
		if (n < max)
			got[n] = r.seq;
		n++;
		free(r.block);
	}
	return n;
}

static size_t count_files(const char *ext)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	while (d && (e = readdir(d))) {
		const char *dot = strrchr(e->d_name, '.');

		n += dot && strcmp(dot + 1, ext) == 0;
	}
	if (d)
		closedir(d);
	return n;
}

static long long file_size(const char *name)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static void append_to_file(const char *name, const void *data, size_t len)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, data, len), len);
	close(fd);
}

/* A node-wide series (corruption, bytes). */
static double metric(const char *name)
{
	return metrics_sample(SERVICE_PROCMON, name, "");
}

/* A per-service series, both services together (append() alternates them). */
static double metric_both(const char *name)
{
	return metrics_sample(SERVICE_PROCMON, name, "") + metrics_sample(SERVICE_FILEMON, name, "");
}

static void test_crc32c(void)
{
	CHECK_INT(crc32c(0, "123456789", 9), 0xe3069283u);
	/* Pieces chain to the same value as the whole. */
	CHECK_INT(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	CHECK_INT(crc32c(0, "", 0), 0);
}

/* RFC 3720's CRC-32C vectors, through one implementation. */
static void check_rfc3720(uint32_t (*crc)(uint32_t, const void *, size_t))
{
	unsigned char b[32];

	memset(b, 0, sizeof(b));
	CHECK_INT(crc(0, b, sizeof(b)), 0x8a9136aau);
	memset(b, 0xff, sizeof(b));
	CHECK_INT(crc(0, b, sizeof(b)), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	CHECK_INT(crc(0, b, sizeof(b)), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	CHECK_INT(crc(0, b, sizeof(b)), 0x113fdb5cu);
}

/* The crc32 instruction and the table agree at every length up to 300,
 * at every alignment, whole and split in two. */
static void test_crc32c_hardware_matches_table(void)
{
	uint32_t (*hw)(uint32_t, const void *, size_t) = crc32c_hardware();
	unsigned char buf[320];
	unsigned int x = 12345;
	int mismatches = 0;

	check_rfc3720(crc32c_table);
	check_rfc3720(crc32c);
#if defined(__x86_64__)
	CHECK(hw != NULL || !__builtin_cpu_supports("sse4.2"));
#endif
	if (!hw) {
		printf("  no crc32 instruction on this CPU: the table alone is used\n");
		return;
	}
	check_rfc3720(hw);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 300; len++) {
			const unsigned char *p = buf + off;
			size_t cut = len / 3;

			mismatches += hw(0, p, len) != crc32c_table(0, p, len);
			mismatches += hw(hw(7, p, cut), p + cut, len - cut) !=
				      crc32c_table(crc32c_table(7, p, cut), p + cut, len - cut);
		}
	CHECK_INT(mismatches, 0);
}

/* Little-endian stores, so the old-format bytes below do not depend on
 * this release's struct layout. */
static unsigned char *put_le(unsigned char *p, unsigned long long v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return p + n;
}

/* One record exactly as the previous release (git show HEAD~30:src/spool.c)
 * wrote it: magic "JCWR", version 1, service byte, endpoint byte, flags 0,
 * path and body lengths, sequence, wall time, CRC-32C of the header (CRC
 * field zero) and then of path and body, zero pad; then path and body.
 * Returns the bytes written to buf. */
static size_t old_record(unsigned char *buf, unsigned char svc, unsigned char ep,
			 unsigned long long seq, const char *path, const char *body)
{
	size_t plen = strlen(path), blen = strlen(body);
	unsigned char *p = buf;
	uint32_t crc;

	p = put_le(p, 0x5257434aU, 4);
	*p++ = 1;
	*p++ = svc;
	*p++ = ep;
	*p++ = 0;
	p = put_le(p, plen, 4);
	p = put_le(p, blen, 4);
	p = put_le(p, seq, 8);
	p = put_le(p, 1763915387000ULL + seq, 8);
	p = put_le(p, 0, 4);	/* CRC, zero while it is computed */
	p = put_le(p, 0, 4);	/* pad */
	crc = crc32c(crc32c(crc32c(0, buf, 40), path, plen), body, blen);
	put_le(buf + 32, crc, 4);
	memcpy(p, path, plen);
	memcpy(p + plen, body, blen);
	return 40 + plen + blen;
}

/* A spool left by the previous release replays each record to the
 * endpoint and path it was written for (the enum bytes are spool format). */
static void test_previous_release_segment(void)
{
	static const struct {
		unsigned char svc, ep;
		enum service want_svc;
		enum endpoint_type want_ep;
		const char *path, *body;
	} recs[] = {
		{ 0, 0, SERVICE_PROCMON, ENDPOINT_BUILD, "/api/os-1/hw1/202012345/logs/build",
		  "{\"event_id\":\"b\"}" },
		{ 0, 1, SERVICE_PROCMON, ENDPOINT_RUN, "/api/os-1/hw1/202012345/logs/run",
		  "{\"event_id\":\"r\"}" },
		{ 1, 2, SERVICE_FILEMON, ENDPOINT_SNAPSHOT,
		  "/api/os-1/hw1/202012345/a%40main.c/20261123_162846", "{\"bytes\":12}" },
	};
	unsigned char seg[1024];
	size_t len = 0;
	struct spool *sp;
	struct spool_rec r;
	char p[256];
	int fd;

	fresh_dir();
	for (size_t i = 0; i < 3; i++)
		len += old_record(seg + len, recs[i].svc, recs[i].ep, i + 1, recs[i].path,
				  recs[i].body);
	snprintf(p, sizeof(p), "%s/0000000000000001.seg", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, seg, len), len);
	close(fd);

	sp = open_spool(0, 0);
	CHECK_INT(spool_unread(sp), 3);
	for (size_t i = 0; i < 3; i++) {
		CHECK_INT(spool_next(sp, &r), 1);
		CHECK_INT(r.seq, i + 1);
		CHECK_INT(r.svc, recs[i].want_svc);
		CHECK_INT(r.ep, recs[i].want_ep);
		CHECK_STR(r.path, recs[i].path);
		CHECK_STR(r.body, recs[i].body);
		CHECK_INT(r.time_ms, 1763915387000LL + (long long)i + 1);
		free(r.block);
	}
	CHECK(spool_caught_up(sp));
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_corrupt_records_total", ""), 0, 0);
	spool_close(sp);
}

static void test_append_ack_reopen(void)
{
	struct spool *sp;
	struct spool_stats st;
	unsigned long long got[16];

	fresh_dir();
	sp = open_spool(0, 0);
	for (int i = 1; i <= 10; i++)
		CHECK_INT(append(sp, i, false), i);
	CHECK_INT(spool_unread(sp), 10);
	CHECK(spool_dirty(sp));
	spool_ack(sp, 2);
	spool_ack(sp, 5);
	spool_ack(sp, 5);	/* twice is once */
	spool_ack(sp, 99);	/* unknown: ignored */
	spool_stats(sp, &st);
	CHECK_INT(st.records, 8);
	CHECK_INT(st.bytes, 10 * REC_BYTES);
	CHECK(st.oldest_ms > 0);
	CHECK_INT(spool_sync(sp), 0);
	CHECK(!spool_dirty(sp));
	spool_close(sp);
	CHECK_INT(file_size("0000000000000001.seg"), 10 * REC_BYTES);
	CHECK_INT(file_size("0000000000000001.ack"), 2 * 16);

	sp = open_spool(0, 0);
	CHECK_INT(spool_unread(sp), 8);
	CHECK_INT(read_all(sp, got, 16), 8);
	CHECK_INT(got[0], 1);
	CHECK_INT(got[1], 3);
	CHECK_INT(got[3], 6);
	CHECK_INT(got[7], 10);
	CHECK(spool_caught_up(sp));
	/* New records continue the sequence in a new segment. */
	CHECK_INT(append(sp, 11, false), 11);
	CHECK_INT(read_all(sp, got, 16), 1);
	CHECK_INT(got[0], 11);
	/* A claimed record is not handed out again. */
	CHECK_INT(append(sp, 12, true), 12);
	CHECK_INT(spool_unread(sp), 0);
	CHECK_INT(read_all(sp, got, 16), 0);
	CHECK(spool_has(sp, 12));
	CHECK(!spool_has(sp, 13));
	spool_close(sp);
	CHECK_INT(file_size("000000000000000b.seg"), 2 * REC_BYTES);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_corrupt_records_total", ""), 0, 0);
}

static void test_second_open_refused(void)
{
	struct spool_config cfg = { .dir = dir };
	struct spool *sp;
	char err[256] = "";

	fresh_dir();
	sp = open_spool(0, 0);
	CHECK(spool_open(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "in use by another process") != NULL);
	spool_close(sp);
}

static void test_torn_tail(void)
{
	struct spool *sp;
	unsigned long long got[16];
	char p[256];

	fresh_dir();
	sp = open_spool(0, 0);
	for (int i = 1; i <= 5; i++)
		append(sp, i, false);
	spool_close(sp);
	/* Cut record 5 in the middle of its body. */
	snprintf(p, sizeof(p), "%s/0000000000000001.seg", dir);
	CHECK_INT(truncate(p, 4 * REC_BYTES + 70), 0);

	sp = open_spool(0, 0);
	CHECK_DBL(metric("spool_corrupt_records_total"), 1, 0);
	CHECK_INT(file_size("0000000000000001.seg"), 4 * REC_BYTES);	/* cut clean */
	CHECK_INT(read_all(sp, got, 16), 4);
	CHECK_INT(got[3], 4);
	CHECK_INT(append(sp, 6, false), 5);	/* the torn one's number is free again */
	spool_close(sp);

	metrics_reset();
	sp = open_spool(0, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_corrupt_records_total", ""), 0, 0);
	CHECK_INT(spool_unread(sp), 5);
	spool_close(sp);

	/* A torn header (fewer than 40 bytes) is the same. */
	append_to_file("0000000000000005.seg", "JCWR\x01", 5);
	sp = open_spool(0, 0);
	CHECK_DBL(metric("spool_corrupt_records_total"), 1, 0);
	CHECK_INT(spool_unread(sp), 5);
	spool_close(sp);
}

static void test_corrupt_tail_bytes(void)
{
	static const char junk[] = "\x4a\x43\x57\x52 this is not a record, whatever it claims";
	struct spool *sp;
	unsigned long long got[16];
	char p[256];
	int fd;

	fresh_dir();
	sp = open_spool(0, 0);
	for (int i = 1; i <= 5; i++)
		append(sp, i, false);
	spool_close(sp);
	append_to_file("0000000000000001.seg", junk, sizeof(junk));

	sp = open_spool(0, 0);
	CHECK_DBL(metric("spool_corrupt_records_total"), 1, 0);
	CHECK_INT(read_all(sp, got, 16), 5);
	CHECK_INT(got[4], 5);
	spool_close(sp);
	CHECK_INT(file_size("0000000000000001.seg"), 5 * REC_BYTES);

	/* A flipped byte in record 3 loses record 3 only: the scan finds
	 * record 4 by its magic and checksum. */
	metrics_reset();
	snprintf(p, sizeof(p), "%s/0000000000000001.seg", dir);
	fd = open(p, O_WRONLY);
	CHECK_INT(pwrite(fd, "X", 1, 2 * REC_BYTES + 60), 1);
	close(fd);
	sp = open_spool(0, 0);
	CHECK_DBL(metric("spool_corrupt_records_total"), 1, 0);
	CHECK_INT(read_all(sp, got, 16), 4);
	CHECK_INT(got[1], 2);
	CHECK_INT(got[2], 4);
	spool_close(sp);
}

/* ---- what recovery logs ---- */

static char logpath[64];

static void log_start(void)
{
	strcpy(logpath, "/tmp/test_spool_log.XXXXXX");
	close(mkstemp(logpath));
	CHECK_INT(log_open_file(logpath, 0, 0), 0);
}

/* Everything logged since log_start(), in a static buffer. */
static const char *log_end(void)
{
	static char text[16384];
	FILE *f;
	size_t n;

	log_close();
	f = fopen(logpath, "r");
	n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	text[n] = '\0';
	if (f)
		fclose(f);
	unlink(logpath);
	return text;
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void poke(const char *name, long long off, const void *data, size_t len)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY);
	CHECK(fd >= 0);
	CHECK_INT(pwrite(fd, data, len, off), len);
	close(fd);
}

/* Issue #8: one flipped bit in record 2 of 10 lost records 3..10 too (the
 * segment was cut at the first bad record, and counted as one). */
static void test_bit_flip_keeps_later_records(void)
{
	struct spool *sp;
	struct spool_stats st;
	unsigned long long got[16];
	const char *log;
	char c;

	fresh_dir();
	sp = open_spool(0, 0);
	for (int i = 1; i <= 10; i++)
		append(sp, i, false);
	spool_close(sp);
	/* One bit of record 2's body. */
	{
		char p[256];
		int fd;

		snprintf(p, sizeof(p), "%s/0000000000000001.seg", dir);
		fd = open(p, O_RDWR);
		CHECK_INT(pread(fd, &c, 1, REC_BYTES + 70), 1);
		c ^= 0x08;
		CHECK_INT(pwrite(fd, &c, 1, REC_BYTES + 70), 1);
		close(fd);
	}

	log_start();
	sp = open_spool(0, 0);
	spool_stats(sp, &st);
	CHECK_INT(st.records, 9);
	CHECK_INT(st.corrupt, 1);
	CHECK_INT(st.corrupt_regions, 1);
	CHECK_DBL(metric("spool_corrupt_records_total"), 1, 0);
	CHECK_DBL(metric("spool_corrupt_regions_total"), 1, 0);
	CHECK_INT(spool_unread(sp), 9);
	CHECK_INT(read_all(sp, got, 16), 9);
	CHECK_INT(got[0], 1);
	for (int i = 1; i < 9; i++)
		CHECK_INT(got[i], i + 2);
	spool_publish(sp);
	CHECK_DBL(metric_both("spool_records_current"), 9, 0);
	/* Each service's own: even records are procmon's, odd filemon's. */
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_records_current", ""), 4, 0);
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "spool_records_current", ""), 5, 0);
	spool_close(sp);
	log = log_end();
	CHECK_INT(count_str(log, "WARN  spool: "), 1);
	CHECK(strstr(log, "/0000000000000001.seg: checksum mismatch at offset 100; skipped 100 "
		      "byte(s) to the next sound record: 1 record(s) lost (2..2)\n") != NULL);
	/* Nothing is cut: the file keeps its length. */
	CHECK_INT(file_size("0000000000000001.seg"), 10 * REC_BYTES);

	/* The loss was journalled with the acknowledgements: a restart
	 * neither counts nor logs it again, and replays the same nine. */
	metrics_reset();
	log_start();
	sp = open_spool(0, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_corrupt_records_total", ""), 0, 0);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_corrupt_regions_total", ""), 0, 0);
	CHECK_INT(read_all(sp, got, 16), 9);
	CHECK_INT(got[1], 3);
	for (int i = 1; i <= 10; i++)
		spool_ack(sp, i);
	CHECK_INT(count_files("seg"), 0);
	spool_close(sp);
	CHECK_INT(count_str(log_end(), "WARN"), 0);
}

/* A damaged header (a length that points past the end) and a run of three
 * zeroed records: each region is found, counted and skipped. */
static void test_corrupt_regions(void)
{
	static const char zeros[3 * REC_BYTES];
	struct spool *sp;
	struct spool_stats st;
	unsigned long long got[32];
	const char *log;
	uint32_t huge = 100000;

	fresh_dir();
	sp = open_spool(0, 0);
	for (int i = 1; i <= 20; i++)
		append(sp, i, false);
	spool_close(sp);
	poke("0000000000000001.seg", 2 * REC_BYTES + 12, &huge, sizeof(huge));	/* record 3 */
	poke("0000000000000001.seg", 9 * REC_BYTES, zeros, sizeof(zeros));	/* 10..12 */

	log_start();
	sp = open_spool(0, 0);
	spool_stats(sp, &st);
	CHECK_INT(st.records, 16);
	CHECK_INT(st.corrupt, 4);
	CHECK_INT(st.corrupt_regions, 2);
	CHECK_DBL(metric("spool_corrupt_records_total"), 4, 0);
	CHECK_DBL(metric("spool_corrupt_regions_total"), 2, 0);
	CHECK_INT(read_all(sp, got, 32), 16);
	CHECK_INT(got[1], 2);
	CHECK_INT(got[2], 4);
	CHECK_INT(got[7], 9);
	CHECK_INT(got[8], 13);
	CHECK_INT(got[15], 20);
	spool_close(sp);
	log = log_end();
	CHECK(strstr(log, ".seg: torn payload at offset 200; skipped 100 byte(s) to the next "
		      "sound record: 1 record(s) lost (3..3)\n") != NULL);
	CHECK(strstr(log, ".seg: bad magic at offset 900; skipped 300 byte(s) to the next "
		      "sound record: 3 record(s) lost (10..12)\n") != NULL);

	/* Bytes inserted between two records lose none: a region, no record. */
	fresh_dir();
	sp = open_spool(0, 0);
	for (int i = 1; i <= 3; i++)
		append(sp, i, false);
	spool_close(sp);
	{
		char *all = malloc(3 * REC_BYTES), p[256];
		int fd;

		snprintf(p, sizeof(p), "%s/0000000000000001.seg", dir);
		fd = open(p, O_RDWR);
		CHECK_INT(pread(fd, all, 3 * REC_BYTES, 0), 3 * REC_BYTES);
		CHECK_INT(pwrite(fd, "garbage", 7, REC_BYTES), 7);
		CHECK_INT(pwrite(fd, all + REC_BYTES, 2 * REC_BYTES, REC_BYTES + 7),
			  2 * REC_BYTES);
		close(fd);
		free(all);
	}
	sp = open_spool(0, 0);
	spool_stats(sp, &st);
	CHECK_INT(st.corrupt, 0);
	CHECK_INT(st.corrupt_regions, 1);
	CHECK_INT(read_all(sp, got, 32), 3);
	CHECK_INT(got[2], 3);
	spool_close(sp);
}

static void test_foreign_file_ignored(void)
{
	char logp[] = "/tmp/test_spool_log.XXXXXX", text[4096] = "", p[256];
	struct spool *sp;
	FILE *f;
	size_t n;

	fresh_dir();
	close(mkstemp(logp));
	CHECK_INT(log_open_file(logp, 0, 0), 0);
	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	f = fopen(p, "w");
	fputs("random garbage\n", f);
	fclose(f);
	/* An orphan acknowledgement journal is removed quietly. */
	snprintf(p, sizeof(p), "%s/00000000000000aa.ack", dir);
	close(open(p, O_CREAT | O_WRONLY, 0600));

	sp = open_spool(0, 0);
	CHECK_INT(spool_unread(sp), 0);
	CHECK_INT(append(sp, 1, false), 1);
	spool_close(sp);
	log_close();
	f = fopen(logp, "r");
	n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	text[n] = '\0';
	if (f)
		fclose(f);
	CHECK(strstr(text, "WARN  spool: ") != NULL);
	CHECK(strstr(text, "/notes.txt is not a spool file; ignored") != NULL);
	CHECK_INT(file_size("notes.txt"), 15);
	CHECK_INT(file_size("00000000000000aa.ack"), -1);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_corrupt_records_total", ""), 0, 0);
	unlink(logp);
}

static void touch(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	close(open(p, O_CREAT | O_WRONLY, 0600));
}

/* Issue #8: an empty ffffffffffffffff.seg wrapped the next sequence number
 * to 0: one record was resent on every start, two never sent, and
 * spool_records_current never reached 0.  Such a name is not ours. */
static void test_no_wrap(void)
{
	struct spool *sp;
	unsigned long long got[32];
	const char *log;

	fresh_dir();
	sp = open_spool(0, 0);
	for (int i = 1; i <= 10; i++)
		append(sp, i, false);
	for (int i = 1; i <= 3; i++)
		spool_ack(sp, i);
	spool_close(sp);
	touch("ffffffffffffffff.seg");

	for (int start = 0; start < 3; start++) {
		log_start();
		sp = open_spool(0, 0);
		CHECK_INT(spool_unread(sp), start == 0 ? 7 : 0);
		CHECK_INT(append(sp, 11 + start, false), 11 + start);
		/* Deliver everything: each record exactly once. */
		CHECK_INT(read_all(sp, got, 32), start == 0 ? 8 : 1);
		CHECK_INT(got[0], start == 0 ? 4 : 11 + start);
		if (start == 0)
			CHECK_INT(got[7], 11);
		for (int i = 1; i <= 11 + start; i++)
			spool_ack(sp, i);
		spool_publish(sp);
		CHECK_DBL(metric_both("spool_records_current"), 0, 0);
		CHECK_INT(spool_sync(sp), 0);
		spool_close(sp);
		log = log_end();
		CHECK_INT(count_str(log, "/ffffffffffffffff.seg: sequence number out of range; ignored\n"), 1);
		CHECK_INT(file_size("ffffffffffffffff.seg"), 0);	/* left for a human */
	}
	sp = open_spool(0, 0);
	CHECK_INT(spool_unread(sp), 0);
	CHECK_INT(count_files("seg"), 1);	/* only the foreign one */
	spool_close(sp);
}

/* Only the exact names the spool writes are read: 16 lower-case hex
 * digits, a first sequence number from 1 below 2^62, .seg or .ack. */
static void test_foreign_segment_names(void)
{
	static const char *const names[] = {
		"0000000000000000.seg", "4000000000000000.seg", "8000000000000001.seg",
		"000000000000000A.seg", "00000000000000001.seg", "000000000000001.seg",
		"0000000000000001.seg.bak", "0000000000000001.SEG", " 000000000000001.seg",
		"+000000000000001.seg", "0000000000000001.segx",
	};
	const size_t n = sizeof(names) / sizeof(names[0]);
	struct spool *sp;
	unsigned long long got[8];
	const char *log;

	fresh_dir();
	for (size_t i = 0; i < n; i++) {
		touch(names[i]);
		append_to_file(names[i], "JCWR", 4);
	}
	log_start();
	sp = open_spool(0, 0);
	CHECK_INT(spool_unread(sp), 0);
	CHECK_INT(append(sp, 1, false), 1);
	CHECK_INT(read_all(sp, got, 8), 1);
	spool_close(sp);
	log = log_end();
	CHECK_INT(count_str(log, "WARN  spool: "), n);
	CHECK_INT(count_str(log, ": sequence number out of range; ignored\n"), 3);
	CHECK_INT(count_str(log, " is not a spool file; ignored\n"), n - 3);
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_corrupt_records_total", ""), 0, 0);
	for (size_t i = 0; i < n; i++)
		CHECK_INT(file_size(names[i]), 4);
}

/* Arbitrary bytes in a segment: recovery never reads out of bounds (run
 * under ASan), never hands out a record that is not intact, and hands out
 * every record the damage did not touch. */
static void test_fuzzed_segments(void)
{
	srand(777);
	for (int round = 0; round < 300; round++) {
		struct spool *sp;
		unsigned long long got[64];
		char p[256], *buf;
		int fd, nrec = 1 + rand() % 30, kind = rand() % 4;
		long long len = (long long)nrec * REC_BYTES, from, to;
		size_t n;

		fresh_dir();
		sp = open_spool(0, 0);
		for (int i = 1; i <= nrec; i++)
			append(sp, i, false);
		spool_close(sp);
		snprintf(p, sizeof(p), "%s/0000000000000001.seg", dir);
		buf = malloc((size_t)len);
		fd = open(p, O_RDWR);
		CHECK_INT(pread(fd, buf, (size_t)len, 0), len);
		from = rand() % len;
		to = from + 1 + rand() % (len - from);
		for (long long k = from; k < to; k++) {
			if (kind == 0)		/* random bytes */
				buf[k] = (char)rand();
			else if (kind == 1)	/* one bit per 16 bytes */
				buf[k] ^= k % 16 ? 0 : (char)(1 << rand() % 8);
			else if (kind == 2)	/* magic everywhere */
				buf[k] = "JCWR"[k % 4];
		}
		if (kind == 3) {
			/* A forged header with a wild sequence number and sane CRC. */
			struct { uint32_t magic; uint8_t v, svc, ep, fl; uint32_t pl, bl;
				 uint64_t seq; int64_t t; uint32_t crc, pad; } h = {
				0x5257434aU, 1, 0, 0, 0, 0, 0,
				(uint64_t)rand() << 40 | (uint64_t)rand(), 0, 0, 0 };

			h.crc = crc32c(0, &h, sizeof(h));
			if (from + (long long)sizeof(h) <= len)
				memcpy(buf + from, &h, sizeof(h));
		}
		CHECK_INT(pwrite(fd, buf, (size_t)len, 0), len);
		close(fd);
		free(buf);

		sp = open_spool(0, 0);
		n = read_all(sp, got, 64);	/* checks each body against its seq */
		CHECK(n <= (size_t)nrec);
		for (size_t k = 0; k < n && k < 64; k++)
			CHECK(got[k] >= 1 && got[k] <= (unsigned long long)nrec &&
			      (k == 0 || got[k] > got[k - 1]));
		/* Records wholly before the damage all survive. */
		CHECK(n >= (size_t)(from / REC_BYTES));
		/* And so do those wholly after it. */
		if (kind != 3)
			CHECK(n >= (size_t)(from / REC_BYTES) +
			      (size_t)(nrec - (to + REC_BYTES - 1) / REC_BYTES));
		spool_close(sp);
	}
	/* Nothing but noise, sprinkled with magic: no record at all. */
	for (int round = 0; round < 200; round++) {
		struct spool *sp;
		unsigned long long got[8];
		size_t len = (size_t)(rand() % 600);
		char *buf = malloc(len + 1), p[256];
		int fd;

		fresh_dir();
		for (size_t k = 0; k < len; k++)
			buf[k] = (char)rand();
		for (size_t k = 0; len >= 5 && k < len / 20; k++)
			memcpy(buf + rand() % (len - 4), "JCWR\x01", 5);
		snprintf(p, sizeof(p), "%s/0000000000000001.seg", dir);
		fd = open(p, O_WRONLY | O_CREAT, 0600);
		CHECK_INT(write(fd, buf, len), len);
		close(fd);
		free(buf);
		sp = open_spool(0, 0);
		CHECK_INT(read_all(sp, got, 8), 0);
		/* A clean start; 1 was the noise file's name, never reused. */
		CHECK_INT(append(sp, 1, false), 2);
		spool_close(sp);
	}
}

/* Segments of 10 records (1,000 bytes), at most 3,000 bytes: the 31st
 * record rolls a fourth segment and the first one, 10 records, goes. */
static void test_full_drops_oldest(void)
{
	struct spool *sp;
	struct spool_stats st;
	unsigned long long got[64];

	fresh_dir();
	sp = open_spool(3000, 1000);
	for (int i = 1; i <= 30; i++)
		CHECK_INT(append(sp, i, false), i);
	CHECK_INT(count_files("seg"), 3);
	spool_stats(sp, &st);
	CHECK_INT(st.dropped, 0);
	CHECK_INT(append(sp, 31, false), 31);
	spool_stats(sp, &st);
	CHECK_INT(st.dropped, 10);
	CHECK_INT(st.records, 21);
	CHECK_INT(st.bytes, 2100);
	CHECK_DBL(metric_both("spool_dropped_total"), 10, 0);
	CHECK_INT(file_size("0000000000000001.seg"), -1);
	CHECK(!spool_has(sp, 10));
	CHECK(spool_has(sp, 11));
	for (int i = 32; i <= 35; i++)
		append(sp, i, false);
	CHECK_INT(spool_unread(sp), 25);
	CHECK_INT(read_all(sp, got, 64), 25);
	CHECK_INT(got[0], 11);
	CHECK_INT(got[24], 35);

	/* Acknowledged records are not counted when their segment goes. */
	for (int i = 11; i <= 15; i++)
		spool_ack(sp, i);
	for (int i = 36; i <= 41; i++)
		append(sp, i, false);	/* 41 rolls; segment 11..20 goes with 5 unacked */
	spool_stats(sp, &st);
	CHECK_INT(st.dropped, 15);
	CHECK_INT(st.records, 21);
	CHECK_DBL(metric_both("spool_dropped_total"), 15, 0);
	/* 1..10 split 5/5; of 11..20, 11..15 were acknowledged: 16,18,20 and 17,19. */
	CHECK_DBL(metrics_sample(SERVICE_PROCMON, "spool_dropped_total", ""), 8, 0);
	CHECK_DBL(metrics_sample(SERVICE_FILEMON, "spool_dropped_total", ""), 7, 0);
	/* A record larger than the whole spool is refused, nothing dropped. */
	{
		char *big = malloc(4000);
		struct spool_rec r = { .path = PATH, .body = big };

		memset(big, 'x', 3999);
		big[3999] = '\0';
		CHECK_INT(spool_append(sp, &r, false), -EFBIG);
		free(big);
	}
	spool_stats(sp, &st);
	CHECK_INT(st.dropped, 15);
	spool_close(sp);

	/* The bound holds across a restart too. */
	sp = open_spool(3000, 1000);
	CHECK_INT(spool_unread(sp), 21);
	CHECK_INT(read_all(sp, got, 64), 21);
	CHECK_INT(got[0], 21);
	CHECK_INT(got[20], 41);
	spool_close(sp);
}

/* A segment goes once all its records are acknowledged, but never the one
 * being written. */
static void test_acked_segments_unlinked(void)
{
	struct spool *sp;
	struct spool_stats st;

	fresh_dir();
	sp = open_spool(0, 1000);
	for (int i = 1; i <= 25; i++)
		append(sp, i, true);
	CHECK_INT(count_files("seg"), 3);
	for (int i = 10; i >= 1; i--)	/* out of order */
		spool_ack(sp, i);
	CHECK_INT(count_files("seg"), 2);
	CHECK_INT(file_size("0000000000000001.seg"), -1);
	for (int i = 11; i <= 19; i++)
		spool_ack(sp, i);
	CHECK_INT(count_files("seg"), 2);
	spool_ack(sp, 20);
	CHECK_INT(count_files("seg"), 1);
	for (int i = 21; i <= 25; i++)
		spool_ack(sp, i);
	CHECK_INT(count_files("seg"), 1);	/* active */
	spool_stats(sp, &st);
	CHECK_INT(st.records, 0);
	CHECK_INT(st.oldest_ms, 0);
	CHECK_INT(st.bytes, 500);
	spool_close(sp);
	CHECK_INT(count_files("ack"), 1);
	/* On reopen the fully acknowledged segment is cleaned up. */
	sp = open_spool(0, 1000);
	CHECK_INT(spool_unread(sp), 0);
	CHECK_INT(count_files("seg"), 0);
	CHECK_INT(count_files("ack"), 0);
	CHECK_INT(append(sp, 26, false), 26);
	spool_close(sp);
}

/* ---- crashes ---- */

struct progress {
	unsigned long long appended;	/* 1..appended are in the spool */
	unsigned long long synced_upto;	/* acks of seqs <= this are durable */
};

/* Child: append forever; acknowledge every third record; sync every 64th
 * and tell the parent, through the pipe, what is known to be on disk. */
static void crash_child(int wfd, int torn)
{
	struct spool_config cfg = { .dir = dir, .segment_bytes = 2000 };
	char err[256];
	struct spool *sp = spool_open(&cfg, err, sizeof(err));

	if (!sp)
		_exit(3);
	for (unsigned long long i = 1; ; i++) {
		struct progress p;

		if (append(sp, i, false) != (int)i)
			_exit(4);
		if (i % 3 == 0)
			spool_ack(sp, i);
		p.appended = i;
		p.synced_upto = 0;
		if (i % 64 == 0) {
			spool_sync(sp);
			p.synced_upto = i;
		}
		if (write(wfd, &p, sizeof(p)) != sizeof(p))
			_exit(5);
		if (torn && (int)i == torn) {
			/* Die in the middle of writing record i + 1. */
			char name[64], path[128];
			int fd;

			snprintf(name, sizeof(name), "%016llx.seg", (i - 1) / 20 * 20 + 1);
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			fd = open(path, O_WRONLY | O_APPEND);
			if (fd >= 0 && write(fd, "JCWR\x01\x00\x03\x00\x02\x00\x00\x00", 12) < 0)
				_exit(6);
			_exit(0);
		}
	}
}

/* Replay after the crash: every record appended and not durably acked is
 * there exactly once and intact; nothing else is. */
static void check_replay(unsigned long long appended, unsigned long long synced, int torn)
{
	struct spool *sp;
	unsigned long long *got = calloc(appended + 2, sizeof(*got));
	char *seen = calloc(appended + 2, 1);
	size_t n;
	int bad = 0;

	metrics_reset();
	sp = open_spool(0, 2000);
	n = read_all(sp, got, appended + 2);
	CHECK(n <= appended + 1);
	for (size_t k = 0; k < n && k < appended + 2; k++) {
		/* The one record being written at the kill may or may not be there. */
		if (got[k] > appended + 1 || seen[got[k]]++)
			bad++;
	}
	for (unsigned long long i = 1; i <= appended; i++) {
		/* An ack not yet synced may or may not have reached the disk. */
		if (i % 3 == 0 && i > synced)
			continue;
		if (seen[i] != (i % 3 != 0))	/* lost, or replayed though acked */
			bad++;
	}
	CHECK_INT(bad, 0);
	if (torn)
		CHECK_DBL(metric("spool_corrupt_records_total"), 1, 0);
	spool_close(sp);
	free(got);
	free(seen);
}

static void crash_round(unsigned int seed, int torn)
{
	struct progress p, last = { 0, 0 };
	unsigned long long synced = 0;
	int fds[2], status;
	pid_t pid;

	fresh_dir();
	CHECK_INT(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		crash_child(fds[1], torn);
	}
	close(fds[1]);
	/* The random point counts from the first record, not from the fork:
	 * under a sanitizer the child can take longer than the delay to open
	 * the spool at all, and then the round would test nothing. */
	if (read(fds[0], &p, sizeof(p)) == sizeof(p))
		last = p;
	if (!torn) {
		usleep(2000 + seed % 30000);
		kill(pid, SIGKILL);
	}
	waitpid(pid, &status, 0);
	while (read(fds[0], &p, sizeof(p)) == sizeof(p)) {
		last = p;
		if (p.synced_upto)
			synced = p.synced_upto;
	}
	close(fds[0]);
	CHECK(last.appended > 0);
	check_replay(last.appended, synced, torn);
}

static void test_crash_random_points(void)
{
	srand(12345);
	for (int round = 0; round < 12; round++)
		crash_round((unsigned int)rand(), 0);
	for (int round = 0; round < 12; round++)
		crash_round(0, 1 + rand() % 300);
}

/*
 * The child of test_full_disk_not_ready: the spool on a 64 KiB tmpfs in a
 * mount namespace of its own.  Exit status = failed checks; 77 = cannot.
 */
static int full_disk_child(void)
{
	unsigned long long i;
	struct spool *sp;
	int seq = 0;

	tl_failures = 0;	/* its own checks only, not the parent's before the fork */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", dir, "tmpfs", 0, "size=64k") < 0)
		return 77;
	sp = open_spool(1 << 20, 1 << 20);
	if (!sp)
		return 1;
	CHECK(metrics_ready());
	for (i = 1; i <= 2000 && (seq = append(sp, i, true)) > 0; i++)
		;
	CHECK_INT(seq, -1);		/* the disk filled before 2000 records */
	CHECK_INT(errno, ENOSPC);
	CHECK(!metrics_ready());
	if (mount("none", dir, "tmpfs", MS_REMOUNT, "size=1m") < 0)
		return 77;
	CHECK_INT(append(sp, i, true), (int)i);	/* the record that failed, now taken */
	CHECK(metrics_ready());
	spool_close(sp);
	return tl_failures > 0;
}

/* SPOOL_DIR full: /readyz fails until a record is written again. */
static void test_full_disk_not_ready(void)
{
	int status = 0;
	pid_t pid;

	fresh_dir();
	metrics_server_reset_state();
	pid = fork();
	if (pid == 0)
		_exit(full_disk_child());
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "SKIP test_full_disk_not_ready: no private tmpfs here\n");
		return;
	}
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
}

int main(void)
{
	/* These tests count every line the spool logs. */
	log_set_rate_limit(0, 0);
	RUN(test_crc32c);
	RUN(test_crc32c_hardware_matches_table);
	RUN(test_append_ack_reopen);
	RUN(test_previous_release_segment);
	RUN(test_second_open_refused);
	RUN(test_torn_tail);
	RUN(test_corrupt_tail_bytes);
	RUN(test_foreign_file_ignored);
	RUN(test_bit_flip_keeps_later_records);
	RUN(test_corrupt_regions);
	RUN(test_no_wrap);
	RUN(test_foreign_segment_names);
	RUN(test_fuzzed_segments);
	RUN(test_full_drops_oldest);
	RUN(test_acked_segments_unlinked);
	RUN(test_crash_random_points);
	RUN(test_full_disk_not_ready);
	if (dir[0])
		support_rm_rf(dir);
	return TEST_DONE();
}
