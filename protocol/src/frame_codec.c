/* Serial and UDP framing: docs/protocol.md §2. */
#include "iotw/frame_codec.h"

#include <string.h>

#include "iotw/block_header.h"
#include "iotw/crc32.h"

size_t iotw_datagram_encode(const uint8_t *payload, size_t len, uint8_t *out, size_t cap) {
  if (len == 0 || len > IOTW_FRAME_MAX_PAYLOAD || cap < len + 4u) return 0;
  memmove(out, payload, len);
  iotw_put_u32le(out + len, iotw_crc32(payload, len));
  return len + 4u;
}

long iotw_datagram_check(const uint8_t *dgram, size_t len) {
  if (len < 5u || len > IOTW_DATAGRAM_MAX) return -1;
  size_t n = len - 4u;
  if (iotw_crc32(dgram, n) != iotw_get_u32le(dgram + n)) return -2;
  return (long)n;
}

size_t iotw_frame_encode(const uint8_t *payload, size_t len, uint8_t *out, size_t cap) {
  uint8_t raw[IOTW_FRAME_MAX_PAYLOAD + 4u];
  size_t n = iotw_datagram_encode(payload, len, raw, sizeof raw);
  if (n == 0) return 0;
  size_t w = iotw_cobs_encode(raw, n, out, cap);
  if (w == 0 || w + 1u > cap) return 0;
  out[w] = 0;
  return w + 1u;
}

void iotw_frame_decoder_init(iotw_frame_decoder *d) { memset(d, 0, sizeof *d); }

iotw_frame_status iotw_frame_decoder_push(iotw_frame_decoder *d, uint8_t byte, const uint8_t **payload,
                                          size_t *len) {
  if (byte != 0) {
    if (d->wire_len < sizeof d->wire) {
      d->wire[d->wire_len++] = byte;
    } else {
      d->overflowed = 1;
    }
    return IOTW_FRAME_NONE;
  }
  size_t n = d->wire_len;
  int overflowed = d->overflowed;
  d->wire_len = 0;
  d->overflowed = 0;
  if (overflowed) {
    d->overflows++;
    return IOTW_FRAME_OVERFLOW;
  }
  if (n == 0) {
    d->empty++;
    return IOTW_FRAME_EMPTY;
  }
  /* In place: every output position is at or behind the input byte last read (a block's code byte yields no output),
   * so decoding never overwrites input it has not read yet. */
  long dec = iotw_cobs_decode(d->wire, n, d->wire, IOTW_FRAME_MAX_PAYLOAD + 4u);
  if (dec < 0) {
    d->bad_cobs++;
    return IOTW_FRAME_BAD_COBS;
  }
  *payload = d->wire;
  long p = iotw_datagram_check(d->wire, (size_t)dec);
  if (p < 0) {
    d->bad_crc++;
    *len = (size_t)dec;
    return IOTW_FRAME_BAD_CRC;
  }
  d->frames_ok++;
  *len = (size_t)p;
  return IOTW_FRAME_OK;
}
