/*
 * crc32c_testing.h - the two implementations behind crc32c(), for the
 * test that checks they agree.
 */
#ifndef JCW_CRC32C_TESTING_H
#define JCW_CRC32C_TESTING_H

#include <stddef.h>
#include <stdint.h>

/* The portable table; crc32c_table() is only valid once crc32c() or
 * crc32c_hardware() has run (they build the table). */
uint32_t crc32c_table(uint32_t crc, const void *data, size_t len);

/* The instruction-based implementation crc32c() uses, NULL when the CPU
 * has none and the table is what crc32c() runs. */
uint32_t (*crc32c_hardware(void))(uint32_t crc, const void *data, size_t len);

#endif
