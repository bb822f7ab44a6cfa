// Envelope codec: every message kind round-trips, garbage is refused without crashing.
#include <gtest/gtest.h>

#include <vector>

#include <cstring>
#include <random>

#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"

TEST(MessageCodec, WitnessRequestRoundTripsWithFixedFields) {
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_witness_request_tag;
  auto& w = env.body.witness_request;
  w.round_id = 0x0102030405060708ull;
  for (int i = 0; i < 120; i++) w.header[i] = static_cast<uint8_t>(i);
  for (int i = 0; i < 32; i++) w.block_hash[i] = static_cast<uint8_t>(0xA0 + i);
  w.deadline_ms = 1500;
  w.assignment_id = 0x1122334455667788ull;
  for (int i = 0; i < 64; i++) w.miner_signature[i] = static_cast<uint8_t>(0x40 + i);
  uint8_t buf[IOTW_FRAME_MAX_PAYLOAD];
  size_t n = iotw_msg_encode(&env, buf, sizeof buf);
  ASSERT_GT(n, 0u);
  iotw_v1_Envelope back;
  ASSERT_EQ(iotw_msg_decode(buf, n, &back), 0);
  ASSERT_EQ(back.which_body, iotw_v1_Envelope_witness_request_tag);
  EXPECT_EQ(back.body.witness_request.round_id, w.round_id);
  EXPECT_EQ(0, memcmp(back.body.witness_request.header, w.header, 120));
  EXPECT_EQ(0, memcmp(back.body.witness_request.block_hash, w.block_hash, 32));
  EXPECT_EQ(back.body.witness_request.deadline_ms, 1500u);
  EXPECT_EQ(back.body.witness_request.assignment_id, w.assignment_id);
  EXPECT_EQ(0, memcmp(back.body.witness_request.miner_signature, w.miner_signature, 64));
  EXPECT_STREQ(iotw_msg_name(back.which_body), "witness_request");
}

TEST(MessageCodec, LargestMessagesFitOneFrame) {
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_hello_tag;
  memset(env.body.hello.pubkey, 0xFF, 32);
  memset(env.body.hello.model, 'm', 15);
  memset(env.body.hello.fw_version, 'v', 15);
  memset(env.body.hello.name, 'n', 31);
  env.body.hello.boot_count = 0xFFFFFFFFu;
  env.body.hello.reset_reason = 0xFFFFFFFFu;
  uint8_t buf[IOTW_FRAME_MAX_PAYLOAD];
  EXPECT_GT(iotw_msg_encode(&env, buf, sizeof buf), 0u);
  EXPECT_LE(iotw_v1_Envelope_size, IOTW_FRAME_MAX_PAYLOAD);
}

TEST(MessageCodec, EmptyBodyIsNotEncodedOrAccepted) {
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  uint8_t buf[64];
  EXPECT_EQ(iotw_msg_encode(&env, buf, sizeof buf), 0u);
  EXPECT_EQ(iotw_msg_decode(buf, 0, &env), -1);
  const uint8_t unknown_field[] = {0xA0, 0x06, 0x01};  // field 100, varint: no body
  EXPECT_EQ(iotw_msg_decode(unknown_field, sizeof unknown_field, &env), -1);
}

TEST(MessageCodec, RandomGarbageNeverCrashes) {
  std::mt19937 rng(1234);
  uint8_t buf[IOTW_FRAME_MAX_PAYLOAD];
  int accepted = 0;
  for (int i = 0; i < 20000; i++) {
    size_t len = rng() % sizeof buf;
    for (size_t k = 0; k < len; k++) buf[k] = static_cast<uint8_t>(rng());
    iotw_v1_Envelope env;
    if (iotw_msg_decode(buf, len, &env) == 0) {
      ++accepted;
      EXPECT_NE(env.which_body, 0);
    }
  }
  EXPECT_LT(accepted, 20000);
}

// docs/protocol.md §3 "Encoding rules": a fixed-length bytes field is sent at its full length or omitted (all
// zero); any other length makes the whole message undecodable; a string longer than its limit likewise.
TEST(MessageCodec, FixedLengthFieldsAreFullLengthOrOmitted) {
  // Envelope{challenge{nonce: 31 bytes}}: field 2 (0x12), length 33; inner field 1 (0x0a), length 31.
  std::vector<uint8_t> short_nonce = {0x12, 33, 0x0a, 31};
  short_nonce.resize(short_nonce.size() + 31, 0xab);
  iotw_v1_Envelope env{};
  EXPECT_NE(iotw_msg_decode(short_nonce.data(), short_nonce.size(), &env), 0) << "a 31-byte nonce is refused";
  const std::vector<uint8_t> omitted = {0x12, 0x00};  // Envelope{challenge{}}: the nonce omitted
  ASSERT_EQ(iotw_msg_decode(omitted.data(), omitted.size(), &env), 0);
  EXPECT_EQ(env.which_body, iotw_v1_Envelope_challenge_tag);
  for (uint8_t b : env.body.challenge.nonce) EXPECT_EQ(b, 0) << "an omitted fixed-length field reads as all zero";
  std::vector<uint8_t> long_name = {0x0a, 34, 0x32, 32};  // Envelope{hello{name: 32 bytes}}: limit 31
  long_name.resize(long_name.size() + 32, 'n');
  EXPECT_NE(iotw_msg_decode(long_name.data(), long_name.size(), &env), 0) << "a 32-byte name is refused";
  long_name = {0x0a, 33, 0x32, 31};
  long_name.resize(long_name.size() + 31, 'n');
  EXPECT_EQ(iotw_msg_decode(long_name.data(), long_name.size(), &env), 0) << "31 bytes is the limit";
}
