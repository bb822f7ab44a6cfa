/* COBS encode/decode (Cheshire & Baker 1999), canonical encoder, tolerant decoder. */
#include "iotw/cobs.h"

size_t iotw_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
  if (cap < 1) return 0;
  size_t code_pos = 0, o = 1;
  uint8_t code = 1;
  for (size_t i = 0; i < len; i++) {
    if (in[i] == 0) {
      out[code_pos] = code;
      code_pos = o++;
      code = 1;
      if (o > cap) return 0;
      continue;
    }
    if (o >= cap) return 0;
    out[o++] = in[i];
    if (++code == 0xFF) {
      out[code_pos] = code;
      code = 1;
      if (i + 1 < len) { /* open a new block only if more input follows (canonical form) */
        code_pos = o++;
        if (o > cap) return 0;
      } else {
        return o;
      }
    }
  }
  out[code_pos] = code;
  return o;
}

long iotw_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
  size_t i = 0, o = 0;
  while (i < len) {
    uint8_t code = in[i++];
    if (code == 0) return -1;
    size_t run = (size_t)code - 1u;
    if (i + run > len) return -1;
    if (o + run > cap) return -2;
    for (size_t k = 0; k < run; k++) {
      if (in[i] == 0) return -1;
      out[o++] = in[i++];
    }
    if (code != 0xFF && i < len) {
      if (o >= cap) return -2;
      out[o++] = 0;
    }
  }
  return (long)o;
}
