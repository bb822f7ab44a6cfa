// The C implementation against the vectors in docs/protocol.md §9, which were derived independently
// (tools/protocol_vectors.py). The doc is read at test time, so doc and code cannot drift apart.
#include <gtest/gtest.h>
#include <sodium.h>

#include <fstream>
#include <map>
#include <regex>
#include <vector>

#include "iotw/block_header.h"
#include "iotw/ecvrf.h"
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
    if (std::regex_match(line, m, re)) v[m[1]] = unhex(m[2]);
  }
  return v;
}

class ProtocolVectors : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    v = doc_vectors();
    ASSERT_EQ(v.size(), 25u) << "docs/protocol.md §9 lost vectors";
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

TEST_F(ProtocolVectors, VrfAlphaRoundSeedAndClaimOfBlock2) {
  uint8_t alpha[IOTW_VRF_ALPHA_SIZE];
  ASSERT_EQ(iotw_vrf_alpha(2, v["block1.hash"].data(), alpha), 51u);
  EXPECT_EQ(to_hex(alpha, 51), to_hex(v["vrf.alpha"]));

  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_vrf_round_seed_tag;
  env.body.vrf_round_seed.height = 2;
  memcpy(env.body.vrf_round_seed.prev_hash, v["block1.hash"].data(), 32);
  env.body.vrf_round_seed.suite = IOTW_ECVRF_TAI;
  env.body.vrf_round_seed.claim_window_ms = 200;
  // node_signature over SEED, the test key standing in for the node key (docs/protocol.md §5, §9).
  uint8_t smsg[IOTW_SIG_MSG_MAX], spk[32], ssk[64];
  const size_t sn = iotw_sigmsg_seed(2, v["block1.hash"].data(), IOTW_ECVRF_TAI, 200, smsg);
  EXPECT_EQ(sn, 60u);
  EXPECT_EQ(to_hex(smsg, sn), to_hex(v["vrf_seed.message"]));
  crypto_sign_seed_keypair(spk, ssk, v["test_key.seed"].data());
  crypto_sign_detached(env.body.vrf_round_seed.node_signature, nullptr, smsg, sn, ssk);
  EXPECT_EQ(to_hex(env.body.vrf_round_seed.node_signature, 64), to_hex(v["vrf_seed.signature"]));
  uint8_t payload[IOTW_FRAME_MAX_PAYLOAD];
  size_t n = iotw_msg_encode(&env, payload, sizeof payload);
  EXPECT_EQ(to_hex(payload, n), to_hex(v["vrf_seed.payload"]));
  iotw_v1_Envelope back;
  ASSERT_EQ(iotw_msg_decode(payload, n, &back), 0);
  EXPECT_STREQ(iotw_msg_name(back.which_body), "vrf_round_seed");

  // The test key's claim: pi and beta as `iotw vrf prove --suite tai` prints them (crypto/ passes RFC 9381).
  uint8_t pi[IOTW_ECVRF_PROOF_BYTES], beta[IOTW_ECVRF_OUTPUT_BYTES];
  ASSERT_EQ(iotw_ecvrf_prove(IOTW_ECVRF_TAI, pi, v["test_key.seed"].data(), alpha, sizeof alpha), IOTW_ECVRF_OK);
  EXPECT_EQ(to_hex(pi, sizeof pi), to_hex(v["vrf_claim.pi"]));
  ASSERT_EQ(iotw_ecvrf_verify(IOTW_ECVRF_TAI, beta, v["test_key.pubkey"].data(), pi, alpha, sizeof alpha), IOTW_ECVRF_OK);
  EXPECT_EQ(to_hex(beta, sizeof beta), to_hex(v["vrf_claim.beta"]));
  // Suite 4 (ELL2): from our implementation (crypto/ passes the RFC 9381 ELL2 vectors); deterministic.
  uint8_t pi4[IOTW_ECVRF_PROOF_BYTES], beta4[IOTW_ECVRF_OUTPUT_BYTES];
  ASSERT_EQ(iotw_ecvrf_prove(IOTW_ECVRF_ELL2, pi4, v["test_key.seed"].data(), alpha, sizeof alpha), IOTW_ECVRF_OK);
  EXPECT_EQ(to_hex(pi4, sizeof pi4), to_hex(v["vrf_claim_ell2.pi"]));
  ASSERT_EQ(iotw_ecvrf_verify(IOTW_ECVRF_ELL2, beta4, v["test_key.pubkey"].data(), pi4, alpha, sizeof alpha),
            IOTW_ECVRF_OK);
  EXPECT_EQ(to_hex(beta4, sizeof beta4), to_hex(v["vrf_claim_ell2.beta"]));
  env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_vrf_claim_tag;
  env.body.vrf_claim.height = 2;
  memcpy(env.body.vrf_claim.pi, pi, sizeof pi);
  n = iotw_msg_encode(&env, payload, sizeof payload);
  // field 14 (0x72), length 84; height = field 1; pi = field 2, 80 bytes
  EXPECT_EQ(to_hex(payload, n), "7254080212" + std::string("50") + to_hex(pi, sizeof pi));
  ASSERT_EQ(iotw_msg_decode(payload, n, &back), 0);
  EXPECT_STREQ(iotw_msg_name(back.which_body), "vrf_claim");
}

TEST_F(ProtocolVectors, CheckpointMessageSignatureAndEnvelope) {
  uint8_t pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, v["test_key.seed"].data());
  uint8_t msg[IOTW_SIG_MSG_MAX], sig[64];
  const size_t n = iotw_sigmsg_checkpoint(1, v["block1.hash"].data(), msg);
  EXPECT_EQ(n, 58u);
  EXPECT_EQ(to_hex(msg, n), to_hex(v["checkpoint.message"]));
  crypto_sign_detached(sig, nullptr, msg, n, sk);
  EXPECT_EQ(to_hex(sig, 64), to_hex(v["checkpoint.signature"]));
  // Domain separation: a checkpoint signature is not a RESULT or an ATTEST, and binds the height.
  uint8_t other[IOTW_SIG_MSG_MAX];
  size_t m = iotw_sigmsg_result(1, v["block1.hash"].data(), other);
  EXPECT_NE(crypto_sign_verify_detached(sig, other, m, pk), 0);
  m = iotw_sigmsg_checkpoint(2, v["block1.hash"].data(), other);
  EXPECT_NE(crypto_sign_verify_detached(sig, other, m, pk), 0);

  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_checkpoint_tag;
  env.body.checkpoint.height = 1;
  memcpy(env.body.checkpoint.block_hash, v["block1.hash"].data(), 32);
  memcpy(env.body.checkpoint.signature, sig, 64);
  uint8_t payload[IOTW_FRAME_MAX_PAYLOAD];
  const size_t len = iotw_msg_encode(&env, payload, sizeof payload);
  EXPECT_EQ(to_hex(payload, len), to_hex(v["checkpoint.payload"]));
  iotw_v1_Envelope back;
  ASSERT_EQ(iotw_msg_decode(payload, len, &back), 0);
  EXPECT_STREQ(iotw_msg_name(back.which_body), "checkpoint");

  // CheckpointRequest: field 15 (0x7a); an empty request is the two bytes 7a 00 and still decodes.
  env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_checkpoint_request_tag;
  EXPECT_EQ(to_hex(payload, iotw_msg_encode(&env, payload, sizeof payload)), "7a00");
  ASSERT_EQ(iotw_msg_decode(payload, 2, &back), 0);
  EXPECT_STREQ(iotw_msg_name(back.which_body), "checkpoint_request");
  env.body.checkpoint_request.have_height = 5;
  EXPECT_EQ(to_hex(payload, iotw_msg_encode(&env, payload, sizeof payload)), "7a020805");
}

// ECVRF and Ed25519 derive their nonce alike (SHA-512(secret prefix || 32 bytes)); the identity key is safe as the
// VRF key only while no Ed25519 message a device signs is 32 bytes long (docs/vrf.md "Key").
TEST_F(ProtocolVectors, NoSigningMessageIs32BytesLong) {
  uint8_t msg[IOTW_SIG_MSG_MAX], h[32] = {1}, nonce[32] = {2};
  EXPECT_EQ(iotw_sigmsg_register(nonce, h, msg), 80u);
  EXPECT_EQ(iotw_sigmsg_result(1, h, msg), 54u);
  EXPECT_EQ(iotw_sigmsg_attest(1, h, 1, msg), 55u);
  EXPECT_EQ(iotw_sigmsg_usage(1, 2, 3, 4, msg), 37u);
  EXPECT_EQ(iotw_sigmsg_checkpoint(1, h, msg), 58u);  // signed by the node key, not a device key, anyway
  // Node requests (node key, never a device key), each with its own tag: a signature never verifies as another kind.
  EXPECT_EQ(iotw_sigmsg_assign(1, h, 2, msg), 58u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(msg)), IOTW_TAG_ASSIGN);
  uint8_t miner_sig[64] = {3};
  EXPECT_EQ(iotw_sigmsg_witness(1, h, nonce, 2, 5, miner_sig, msg), 163u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(msg)), IOTW_TAG_WITNESS);
  EXPECT_EQ(iotw_sigmsg_seed(1, h, 3, 200, msg), 60u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(msg)), IOTW_TAG_SEED);
  EXPECT_EQ(sizeof(IOTW_TAG_VRF) + 8 + 32, IOTW_VRF_ALPHA_SIZE);  // alpha is never signed, only VRF-proved
}

// WITNESS as docs/protocol.md §5 lays it out, built by hand: tag 00 || round_id u64le || header_hash[32] ||
// block_hash[32] || deadline_ms u32le || assignment_id u64le || miner_signature[64].
TEST_F(ProtocolVectors, WitnessMessageBindsTheMinersResult) {
  uint8_t hh[32], bh[32], ms[64];
  for (int i = 0; i < 32; i++) hh[i] = static_cast<uint8_t>(i), bh[i] = static_cast<uint8_t>(0x80 + i);
  for (int i = 0; i < 64; i++) ms[i] = static_cast<uint8_t>(0xc0 ^ i);
  std::vector<uint8_t> want(IOTW_TAG_WITNESS, IOTW_TAG_WITNESS + sizeof IOTW_TAG_WITNESS);  // with its 00
  for (uint8_t b : {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}) want.push_back(b);
  want.insert(want.end(), hh, hh + 32);
  want.insert(want.end(), bh, bh + 32);
  for (uint8_t b : {0xdc, 0x05, 0x00, 0x00}) want.push_back(b);  // 1500
  for (uint8_t b : {0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}) want.push_back(b);  // 42
  want.insert(want.end(), ms, ms + 64);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  const size_t n = iotw_sigmsg_witness(0x0102030405060708ull, hh, bh, 1500, 42, ms, msg);
  ASSERT_EQ(n, want.size());
  EXPECT_EQ(std::vector<uint8_t>(msg, msg + n), want);
}
