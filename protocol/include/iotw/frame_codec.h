/* Link framing (docs/protocol.md §2). C11, no heap.
 *
 * Serial links: wire = COBS(payload || CRC32_LE(payload)) || 0x00.
 * UDP links:    one datagram = payload || CRC32_LE(payload) (no COBS, no delimiter).
 * payload is one encoded Envelope, 1..IOTW_FRAME_MAX_PAYLOAD bytes. */
#ifndef IOTW_FRAME_CODEC_H
#define IOTW_FRAME_CODEC_H
#include <stddef.h>
#include <stdint.h>
#include "iotw/cobs.h"
#ifdef __cplusplus
extern "C" {
#endif

/** Largest payload (an encoded Envelope) in bytes. */
#define IOTW_FRAME_MAX_PAYLOAD 512u
/** Largest serial frame on the wire in bytes, delimiter included. */
#define IOTW_FRAME_MAX_WIRE (IOTW_COBS_MAX_ENCODED(IOTW_FRAME_MAX_PAYLOAD + 4u) + 1u)
/** Largest UDP datagram in bytes. */
#define IOTW_DATAGRAM_MAX (IOTW_FRAME_MAX_PAYLOAD + 4u)

/** Encode a serial frame. Returns bytes written (delimiter included), or 0 if len is 0, len exceeds
 *  IOTW_FRAME_MAX_PAYLOAD or cap is too small. */
size_t iotw_frame_encode(const uint8_t *payload, size_t len, uint8_t *out, size_t cap);

/** Encode a UDP datagram. Returns bytes written or 0 (same conditions as iotw_frame_encode). */
size_t iotw_datagram_encode(const uint8_t *payload, size_t len, uint8_t *out, size_t cap);

/** Check a UDP datagram. Returns the payload length (payload = dgram[0..n)), or -1 when the datagram
 *  is shorter than 5 bytes or longer than IOTW_DATAGRAM_MAX, or -2 on a CRC mismatch. */
long iotw_datagram_check(const uint8_t *dgram, size_t len);

/** Result of pushing one byte into the decoder. */
typedef enum {
  IOTW_FRAME_NONE = 0,      /**< byte consumed, no frame finished */
  IOTW_FRAME_OK = 1,        /**< a frame finished; payload/len are valid until the next push */
  IOTW_FRAME_EMPTY = -1,    /**< a lone delimiter (0x00 0x00); ignored, counted */
  IOTW_FRAME_BAD_COBS = -2, /**< malformed COBS; frame dropped, counted */
  IOTW_FRAME_BAD_CRC = -3,  /**< CRC mismatch or fewer than 5 decoded bytes; dropped, counted */
  IOTW_FRAME_OVERFLOW = -4  /**< more than IOTW_FRAME_MAX_WIRE bytes before a delimiter; dropped, counted */
} iotw_frame_status;

/** Streaming serial-frame decoder: resynchronises on every 0x00. One buffer: a finished frame is COBS-decoded in
 *  place (COBS never decodes to more bytes than it read), so the decoder is IOTW_FRAME_MAX_WIRE bytes of RAM plus
 *  its counters. */
typedef struct {
  uint8_t wire[IOTW_FRAME_MAX_WIRE];
  size_t wire_len;
  int overflowed;
  uint32_t frames_ok, empty, bad_cobs, bad_crc, overflows; /**< counters since init */
} iotw_frame_decoder;

void iotw_frame_decoder_init(iotw_frame_decoder *d);

/** Push one received byte. On IOTW_FRAME_OK, *payload and *len give the frame's payload (CRC stripped),
 *  pointing into d. On IOTW_FRAME_BAD_CRC they give the decoded bytes that failed the check (payload and CRC
 *  together, possibly fewer than 5), pointing into d. Both are valid until the next push. */
iotw_frame_status iotw_frame_decoder_push(iotw_frame_decoder *d, uint8_t byte, const uint8_t **payload,
                                          size_t *len);

#ifdef __cplusplus
}
#endif
#endif
