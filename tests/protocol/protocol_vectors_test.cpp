// The C implementation against the vectors in docs/protocol.md §9, which were derived independently
// (tools/protocol_vectors.py). The doc is read at test time, so doc and code cannot drift apart.
#include <gtest/gtest.h>
#include <sodium.h>

#include <fstream>
#include <map>
#include <regex>

#include "iotw/block_header.h"
#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
#include "test_hex.hpp"

namespace {

std::map<std::string, std::vector<uint8_t>> doc_vectors() {
  std::ifstream f(std::string(IOTW_DOCS_DIR) + "/protocol.md");
  std::map<std::string, std::vector<uint8_t>> v;
  std::regex re("^vector\\.([a-z0-9_.]+) = ([0-9a-f]+)$");
  for (std::string line; std::getline(f, line);) {
    std::smatch m;
    if (std::regex_match(line, m, re)) v[m[1]] = from_hex(m[2]);
  }
  return v;
}

class ProtocolVectors : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    v = doc_vectors();
    ASSERT_EQ(v.size(), 14u) << "docs/protocol.md §9 lost vectors";
  }
  std::vector<uint8_t> sha(const std::vector<uint8_t>& in) {
    std::vector<uint8_t> out(32);
    crypto_hash_sha256(out.data(), in.data(), in.size());
    return out;
  }
  std::map<std::string, std::vector<uint8_t>> v;
};

}  // namespace

TEST_F(ProtocolVectors, FrameEncodesHeartbeatByteExact) {
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_heartbeat_tag;
  env.body.heartbeat.seq = 1;
  env.body.heartbeat.uptime_ms = 1000;
  uint8_t payload[64], wire[IOTW_FRAME_MAX_WIRE];
  size_t n = iotw_msg_encode(&env, payload, sizeof payload);
  EXPECT_EQ(to_hex(payload, n), to_hex(v["frame.payload"]));
  size_t w = iotw_frame_encode(payload, n, wire, sizeof wire);
  EXPECT_EQ(to_hex(wire, w), to_hex(v["frame.wire"]));
}

TEST_F(ProtocolVectors, GenesisAndBlock1HeadersAndHashes) {
  iotw_block_header g{};
  g.version = IOTW_BLOCK_VERSION;
  crypto_hash_sha256(g.tx_root, nullptr, 0);
  uint8_t gbytes[IOTW_BLOCK_HEADER_SIZE];
  iotw_block_header_pack(&g, gbytes);
  EXPECT_EQ(to_hex(gbytes, sizeof gbytes), to_hex(v["genesis.header"]));
  EXPECT_EQ(to_hex(sha(v["genesis.header"])), to_hex(v["genesis.hash"]));
  EXPECT_EQ(to_hex(sha(v["tx.payload"])), to_hex(v["tx.hash"]));

  uint8_t pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, v["test_key.seed"].data());
  EXPECT_EQ(to_hex(pk, 32), to_hex(v["test_key.pubkey"]));

  iotw_block_header h{};
  h.version = 1;
  h.height = 1;
  memcpy(h.prev_hash, v["genesis.hash"].data(), 32);
  auto root = sha(v["tx.hash"]);
  memcpy(h.tx_root, root.data(), 32);
  h.timestamp_ms = 1700000000000ull;
  memcpy(h.miner_pubkey, pk, 32);
  h.tx_count = 1;
  uint8_t hbytes[IOTW_BLOCK_HEADER_SIZE];
  iotw_block_header_pack(&h, hbytes);
  EXPECT_EQ(to_hex(hbytes, sizeof hbytes), to_hex(v["block1.header"]));
  EXPECT_EQ(to_hex(sha(v["block1.header"])), to_hex(v["block1.hash"]));

  iotw_block_header back{};
  ASSERT_EQ(iotw_block_header_unpack(hbytes, &back), 0);
  EXPECT_EQ(back.height, 1u);
  EXPECT_EQ(back.timestamp_ms, 1700000000000ull);
  EXPECT_EQ(back.tx_count, 1u);
  hbytes[0] = 2;
  EXPECT_EQ(iotw_block_header_unpack(hbytes, &back), -1);
}

TEST_F(ProtocolVectors, SigningMessagesAndSignaturesUnderTestKey) {
  uint8_t pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, v["test_key.seed"].data());
  uint8_t msg[IOTW_SIG_MSG_MAX], sig[64];

  size_t n = iotw_sigmsg_result(1, v["block1.hash"].data(), msg);
  EXPECT_EQ(n, 54u);
  EXPECT_EQ(to_hex(msg, n), to_hex(v["result.message"]));
  crypto_sign_detached(sig, nullptr, msg, n, sk);
  EXPECT_EQ(to_hex(sig, 64), to_hex(v["result.signature"]));

  n = iotw_sigmsg_attest(1, v["block1.hash"].data(), 1, msg);
  EXPECT_EQ(n, 55u);
  EXPECT_EQ(to_hex(msg, n), to_hex(v["attest.message"]));
  crypto_sign_detached(sig, nullptr, msg, n, sk);
  EXPECT_EQ(to_hex(sig, 64), to_hex(v["attest.signature"]));
  EXPECT_EQ(crypto_sign_verify_detached(v["attest.signature"].data(), msg, n, pk), 0);

  // Domain separation: the attestation signature does not verify as a result or with another verdict.
  n = iotw_sigmsg_attest(1, v["block1.hash"].data(), 2, msg);
  EXPECT_NE(crypto_sign_verify_detached(v["attest.signature"].data(), msg, n, pk), 0);
  n = iotw_sigmsg_result(1, v["block1.hash"].data(), msg);
  EXPECT_NE(crypto_sign_verify_detached(v["attest.signature"].data(), msg, n, pk), 0);

  uint8_t nonce[32] = {7};
  EXPECT_EQ(iotw_sigmsg_register(nonce, pk, msg), 80u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(msg)), IOTW_TAG_REGISTER);
}
