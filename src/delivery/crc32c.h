/*
 * crc32c.h - CRC-32C (Castagnoli), the check on every spool record.
 *
 * Castagnoli rather than zlib's polynomial: better error detection on the
 * short messages we write, and no dependency on zlib for 25 lines of code.
 */
#ifndef JCW_CRC32C_H
#define JCW_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0, feed the pieces in order.
 * crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
