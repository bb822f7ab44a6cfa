/* CRC-32/ISO-HDLC (the zlib/Ethernet CRC-32): poly 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF.
 * Check value: iotw_crc32("123456789", 9) == 0xCBF43926 (RevEng catalogue). C11, no heap. */
#ifndef IOTW_CRC32_H
#define IOTW_CRC32_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/** CRC-32 of len bytes at data (data may be NULL when len == 0). */
uint32_t iotw_crc32(const uint8_t *data, size_t len);

/** Incremental form: start with crc = 0, feed chunks; the result equals iotw_crc32 over the concatenation. */
uint32_t iotw_crc32_update(uint32_t crc, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
