/*
 * crc32c.c - CRC-32C: the CPU's crc32 instruction where it has one (x86-64
 * with SSE4.2), else a table, slicing by 8.
 *
 * The spool checks every record it writes and, at start-up, every record it
 * replays.  The table runs near 2 GB/s without CPU-specific instructions,
 * far beyond what the API could take, but it still cost about 4,000
 * instructions a record (callgrind), 4 % of a delivered run; the
 * instruction does eight bytes in one.  Both give the same result: the
 * test checks them against each other.
 */
#include "crc32c.h"
#include "crc32c_testing.h"

#include <pthread.h>
#include <string.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define POLY 0x82f63b78u	/* reflected Castagnoli polynomial */

static uint32_t table[8][256];
static uint32_t (*impl)(uint32_t crc, const void *data, size_t len) = crc32c_table;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t crc32c_table(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	crc = ~crc;
	/* Eight bytes at a time; the byte order of the load is fixed (little
	 * endian assembly below), so the result is the same on any host. */
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
			      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;

		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
		      table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		      table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
/* x86 is little endian, so the 8-byte load is the table's byte order. */
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t c = ~crc;

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));	/* any alignment */
		c = _mm_crc32_u64(c, v);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = _mm_crc32_u8(crc, *p++);
	return ~crc;
}
#endif

/* The table is built either way: the tests compare against it. */
static void choose(void)
{
	table_init();
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		impl = crc32c_sse42;
#endif
}

uint32_t (*crc32c_hardware(void))(uint32_t, const void *, size_t)
{
	pthread_once(&choose_once, choose);
	return impl == crc32c_table ? NULL : impl;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&choose_once, choose);
	return impl(crc, data, len);
}
