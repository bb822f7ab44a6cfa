/* COBS, Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 7(2), 1999). C11, no heap.
 * The encoder emits the canonical form (no trailing 0x01 block after a full 0xFF block); the decoder
 * accepts both forms. Neither function writes the 0x00 frame delimiter. */
#ifndef IOTW_COBS_H
#define IOTW_COBS_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/** Worst-case encoded size (without delimiter) for len input bytes: len + len/254 + 1. */
#define IOTW_COBS_MAX_ENCODED(len) ((len) + (len) / 254u + 1u)

/** Encode len bytes into out (capacity cap). Returns bytes written, or 0 if cap is too small. */
size_t iotw_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/** Decode len COBS bytes (no delimiter) into out (capacity cap).
 *  Returns decoded length >= 0, or -1 on a malformed input (a 0x00 byte, a code running past the end)
 *  or -2 if cap is too small. out may be in itself (decoding in place: every output byte is written at or before the
 *  position of an input byte already read); other overlaps are not allowed. */
long iotw_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
