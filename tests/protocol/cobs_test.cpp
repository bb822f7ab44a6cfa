// COBS and CRC-32 against the reference vectors (tests/data/framing_vectors.txt, a copy of
// shared/reference/framing_vectors.txt: Wikipedia's COBS table and the RevEng CRC check values).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "iotw/cobs.h"
#include "iotw/crc32.h"
#include "test_hex.hpp"

namespace {

// Expands "01 02 ... FE" notation into bytes.
std::vector<uint8_t> parse_bytes(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> tok;
  for (std::string t; in >> t;) tok.push_back(t);
  std::vector<uint8_t> out;
  for (size_t i = 0; i < tok.size(); i++) {
    if (tok[i] == "...") {
      int from = out.back(), to = std::stoi(tok.at(i + 1), nullptr, 16);
      for (int b = from + 1; b < to; b++) out.push_back(static_cast<uint8_t>(b));
      continue;
    }
    out.push_back(static_cast<uint8_t>(std::stoi(tok[i], nullptr, 16)));
  }
  return out;
}

struct CobsVector {
  int example;
  std::vector<uint8_t> raw, encoded;
};

std::vector<CobsVector> load_cobs_vectors() {
  std::ifstream f(std::string(IOTW_TEST_DATA_DIR) + "/framing_vectors.txt");
  std::vector<CobsVector> v;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("example = ", 0) == 0) v.push_back({std::stoi(line.substr(10)), {}, {}});
    if (line.rfind("raw = ", 0) == 0) v.back().raw = parse_bytes(line.substr(6));
    if (line.rfind("encoded = ", 0) == 0) v.back().encoded = parse_bytes(line.substr(10));
  }
  return v;
}

}  // namespace

TEST(Crc32, CheckValueOf123456789) {
  const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  EXPECT_EQ(iotw_crc32(check, 9), 0xCBF43926u);
  EXPECT_EQ(iotw_crc32_update(iotw_crc32_update(0, check, 4), check + 4, 5), 0xCBF43926u);
  EXPECT_EQ(iotw_crc32(nullptr, 0), 0u);
}

TEST(Cobs, AllElevenWikipediaExamples) {
  auto vectors = load_cobs_vectors();
  ASSERT_EQ(vectors.size(), 11u);
  for (const auto& v : vectors) {
    SCOPED_TRACE("example " + std::to_string(v.example));
    ASSERT_EQ(v.encoded.back(), 0);  // the table includes the delimiter
    std::vector<uint8_t> enc(IOTW_COBS_MAX_ENCODED(v.raw.size()));
    size_t n = iotw_cobs_encode(v.raw.data(), v.raw.size(), enc.data(), enc.size());
    enc.resize(n);
    EXPECT_EQ(to_hex(enc), to_hex(std::vector<uint8_t>(v.encoded.begin(), v.encoded.end() - 1)));
    std::vector<uint8_t> dec(300);
    long d = iotw_cobs_decode(v.encoded.data(), v.encoded.size() - 1, dec.data(), dec.size());
    ASSERT_GE(d, 0);
    dec.resize(static_cast<size_t>(d));
    EXPECT_EQ(dec, v.raw);
  }
}

TEST(Cobs, EmptyInputAndNonCanonicalTrailingBlock) {
  uint8_t out[4];
  ASSERT_EQ(iotw_cobs_encode(nullptr, 0, out, sizeof out), 1u);
  EXPECT_EQ(out[0], 0x01);
  // Example 7 with the extra 01 block a naive encoder emits decodes to the same 254 bytes.
  std::vector<uint8_t> enc{0xFF};
  for (int b = 1; b <= 0xFE; b++) enc.push_back(static_cast<uint8_t>(b));
  enc.push_back(0x01);
  std::vector<uint8_t> dec(300);
  EXPECT_EQ(iotw_cobs_decode(enc.data(), enc.size(), dec.data(), dec.size()), 254);
}

TEST(Cobs, RejectsMalformedAndShortBuffers) {
  const uint8_t zero_inside[] = {0x03, 0x11, 0x00};
  uint8_t out[8];
  EXPECT_EQ(iotw_cobs_decode(zero_inside, sizeof zero_inside, out, sizeof out), -1);
  const uint8_t overrun[] = {0x05, 0x11, 0x22};
  EXPECT_EQ(iotw_cobs_decode(overrun, sizeof overrun, out, sizeof out), -1);
  const uint8_t ok[] = {0x05, 0x11, 0x22, 0x33, 0x44};
  EXPECT_EQ(iotw_cobs_decode(ok, sizeof ok, out, 2), -2);
  const uint8_t raw[] = {0x11, 0x22, 0x33};
  EXPECT_EQ(iotw_cobs_encode(raw, sizeof raw, out, 3), 0u);
}

TEST(Cobs, RoundTripsEveryLengthUpTo600) {
  for (size_t len = 0; len <= 600; len++) {
    std::vector<uint8_t> raw(len);
    for (size_t i = 0; i < len; i++) raw[i] = static_cast<uint8_t>((i * 37 + len) % 7 == 0 ? 0 : i * 13 + 1);
    std::vector<uint8_t> enc(IOTW_COBS_MAX_ENCODED(len));
    size_t n = iotw_cobs_encode(raw.data(), len, enc.data(), enc.size());
    ASSERT_GT(n, 0u) << len;
    for (size_t i = 0; i < n; i++) ASSERT_NE(enc[i], 0) << len;
    std::vector<uint8_t> dec(len + 1);
    ASSERT_EQ(iotw_cobs_decode(enc.data(), n, dec.data(), dec.size()), static_cast<long>(len));
    dec.resize(len);
    EXPECT_EQ(dec, raw);
  }
}
