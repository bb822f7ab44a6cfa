// Test double of the trust node on the master side of a PTY: sends framed messages and waits for the
// device's messages of a given kind (docs/protocol.md framing).
#pragma once
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

extern "C" {
#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
}

namespace iotw::test {

class FakeTrustNode {
 public:
  explicit FakeTrustNode(int master) : fd_(master) { iotw_frame_decoder_init(&dec_); }

  void send(const iotw_v1_Envelope& env) {
    uint8_t payload[IOTW_FRAME_MAX_PAYLOAD], wire[IOTW_FRAME_MAX_WIRE];
    size_t n = iotw_msg_encode(&env, payload, sizeof payload);
    ASSERT_GT(n, 0u);
    size_t w = iotw_frame_encode(payload, n, wire, sizeof wire);
    ASSERT_EQ(::write(fd_, wire, w), static_cast<ssize_t>(w));
  }

  // Next message of the given kind within timeout_ms (others, e.g. heartbeats, are skipped).
  bool expect(pb_size_t which, iotw_v1_Envelope& out, int timeout_ms = 3000) {
    for (int waited = 0; waited < timeout_ms; waited += 10) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      uint8_t buf[256];
      ssize_t r = ::read(fd_, buf, sizeof buf);
      for (ssize_t i = 0; i < r; i++) {
        const uint8_t* payload;
        size_t len;
        if (iotw_frame_decoder_push(&dec_, buf[i], &payload, &len) != IOTW_FRAME_OK) continue;
        if (iotw_msg_decode(payload, len, &out) == 0 && out.which_body == which) return true;
      }
    }
    return false;
  }

 private:
  int fd_;
  iotw_frame_decoder dec_;
};

}  // namespace iotw::test
