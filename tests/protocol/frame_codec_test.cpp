// Serial frame decoder and UDP datagram checks (docs/protocol.md §2).
#include <gtest/gtest.h>

#include <vector>

#include "iotw/cobs.h"
#include "iotw/frame_codec.h"
#include "test_hex.hpp"

namespace {

std::vector<uint8_t> encode_frame(const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> wire(IOTW_FRAME_MAX_WIRE);
  size_t n = iotw_frame_encode(payload.data(), payload.size(), wire.data(), wire.size());
  wire.resize(n);
  return wire;
}

// Feeds bytes; returns decoded payloads and the last status of each completed delimiter.
std::vector<std::vector<uint8_t>> feed(iotw_frame_decoder& d, const std::vector<uint8_t>& bytes) {
  std::vector<std::vector<uint8_t>> frames;
  for (uint8_t b : bytes) {
    const uint8_t* p = nullptr;
    size_t len = 0;
    if (iotw_frame_decoder_push(&d, b, &p, &len) == IOTW_FRAME_OK) frames.emplace_back(p, p + len);
  }
  return frames;
}

}  // namespace

TEST(FrameCodec, RoundTripsMaxPayloadAndRejectsOversize) {
  std::vector<uint8_t> payload(IOTW_FRAME_MAX_PAYLOAD);
  for (size_t i = 0; i < payload.size(); i++) payload[i] = static_cast<uint8_t>(i);
  auto wire = encode_frame(payload);
  ASSERT_FALSE(wire.empty());
  EXPECT_LE(wire.size(), IOTW_FRAME_MAX_WIRE);
  iotw_frame_decoder d;
  iotw_frame_decoder_init(&d);
  auto frames = feed(d, wire);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], payload);

  std::vector<uint8_t> big(IOTW_FRAME_MAX_PAYLOAD + 1, 1), out(2000);
  EXPECT_EQ(iotw_frame_encode(big.data(), big.size(), out.data(), out.size()), 0u);
  EXPECT_EQ(iotw_frame_encode(big.data(), 0, out.data(), out.size()), 0u);
}

TEST(FrameCodec, ResynchronisesAfterBannerTextAndCountsErrors) {
  iotw_frame_decoder d;
  iotw_frame_decoder_init(&d);
  std::vector<uint8_t> stream;
  const std::string banner = "ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n";
  stream.insert(stream.end(), banner.begin(), banner.end());
  stream.push_back(0);  // banner ends at the sender's leading delimiter
  auto good = encode_frame({1, 2, 3, 0, 4});
  stream.insert(stream.end(), good.begin(), good.end());
  auto corrupt = encode_frame({9, 9, 9});
  corrupt[2] ^= 0x40;  // flip a payload bit: CRC must catch it
  stream.insert(stream.end(), corrupt.begin(), corrupt.end());
  stream.push_back(0);  // empty frame
  stream.insert(stream.end(), good.begin(), good.end());

  auto frames = feed(d, stream);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], (std::vector<uint8_t>{1, 2, 3, 0, 4}));
  EXPECT_EQ(d.frames_ok, 2u);
  EXPECT_EQ(d.bad_crc + d.bad_cobs, 2u);  // the banner and the corrupted frame
  EXPECT_EQ(d.empty, 1u);
}

TEST(FrameCodec, OverflowIsDroppedAndNextFrameStillDecodes) {
  iotw_frame_decoder d;
  iotw_frame_decoder_init(&d);
  std::vector<uint8_t> stream(IOTW_FRAME_MAX_WIRE + 50, 0x41);
  stream.push_back(0);
  auto good = encode_frame({7});
  stream.insert(stream.end(), good.begin(), good.end());
  auto frames = feed(d, stream);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], std::vector<uint8_t>{7});
  EXPECT_EQ(d.overflows, 1u);
}

TEST(FrameCodec, DatagramCarriesCrcAndRejectsDamage) {
  const uint8_t payload[] = {0x4A, 0x00, 0x10};
  uint8_t dgram[IOTW_DATAGRAM_MAX];
  size_t n = iotw_datagram_encode(payload, sizeof payload, dgram, sizeof dgram);
  ASSERT_EQ(n, sizeof payload + 4);
  EXPECT_EQ(iotw_datagram_check(dgram, n), 3);
  dgram[1] ^= 1;
  EXPECT_EQ(iotw_datagram_check(dgram, n), -2);
  EXPECT_EQ(iotw_datagram_check(dgram, 4), -1);
  EXPECT_EQ(iotw_datagram_check(dgram, IOTW_DATAGRAM_MAX + 1), -1);
}

// The decoder COBS-decodes in place, in its one buffer: a frame whose runs fill the buffer decodes correctly (output
// never overtakes input), and a frame that fails its CRC hands out its decoded bytes (payload, then the 4 CRC bytes as
// received), which the firmware's ignore_crc fault uses.
TEST(FrameCodec, DecodesInPlaceAndHandsOutTheBytesOfABadCrcFrame) {
  std::vector<uint8_t> payload(IOTW_FRAME_MAX_PAYLOAD);
  for (size_t i = 0; i < payload.size(); i++) payload[i] = static_cast<uint8_t>(i % 3 == 0 ? 0 : i);  // many runs
  iotw_frame_decoder d;
  iotw_frame_decoder_init(&d);
  EXPECT_EQ(sizeof d.wire, IOTW_FRAME_MAX_WIRE);
  auto frames = feed(d, encode_frame(payload));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], payload);

  auto bad = encode_frame({5, 6, 0, 7});
  std::vector<uint8_t> raw(8);
  ASSERT_EQ(iotw_datagram_encode(std::vector<uint8_t>{5, 6, 0, 7}.data(), 4, raw.data(), raw.size()), 8u);
  raw[7] ^= 0x01;  // the CRC's last byte: the payload is intact
  bad.assign(IOTW_FRAME_MAX_WIRE, 0);
  bad.resize(iotw_cobs_encode(raw.data(), raw.size(), bad.data(), bad.size()));
  bad.push_back(0);
  const uint8_t* p = nullptr;
  size_t len = 0;
  iotw_frame_status st = IOTW_FRAME_NONE;
  for (uint8_t b : bad) st = iotw_frame_decoder_push(&d, b, &p, &len);
  ASSERT_EQ(st, IOTW_FRAME_BAD_CRC);
  EXPECT_EQ(std::vector<uint8_t>(p, p + len), raw);
  EXPECT_EQ(d.bad_crc, 1u);
}
