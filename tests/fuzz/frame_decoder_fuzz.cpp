// libFuzzer target: the serial frame decoder (COBS + CRC-32, docs/protocol.md §2), the UDP datagram check
// and the Envelope decoder behind both. Invariants: a finished frame is 1..512 bytes, decoding never
// reads past it, and every decoded Envelope re-encodes.
#include <cstdint>
#include <cstdlib>

#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"

static void decode_payload(const uint8_t *p, size_t n) {
  iotw_v1_Envelope env;
  if (iotw_msg_decode(p, n, &env) != 0) return;
  uint8_t out[IOTW_FRAME_MAX_PAYLOAD];
  (void)iotw_msg_encode(&env, out, sizeof out);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  iotw_frame_decoder dec;
  iotw_frame_decoder_init(&dec);
  for (size_t i = 0; i < size; ++i) {
    const uint8_t *payload = nullptr;
    size_t len = 0;
    if (iotw_frame_decoder_push(&dec, data[i], &payload, &len) == IOTW_FRAME_OK) {
      if (len == 0 || len > IOTW_FRAME_MAX_PAYLOAD) std::abort();
      decode_payload(payload, len);
    }
  }
  const long n = iotw_datagram_check(data, size);
  if (n > 0) decode_payload(data, static_cast<size_t>(n));
  return 0;
}
