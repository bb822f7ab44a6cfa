// The firmware core (docs/protocol.md §6) driven through a GoogleMock port. Crypto defaults are real
// libsodium so every signature the core emits is checked with crypto_sign_verify_detached; NVS is an
// in-memory map shared across reboots; time is a variable the test advances.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "iotw/block_header.h"
#include "iotw/ecvrf.h"
#include "iotw/firmware.h"
#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
#include "iotw/signing.h"
}

#include "test_hex.hpp"

namespace {

using ::testing::_;
using ::testing::NiceMock;
using ::testing::Return;

using Bytes = std::vector<uint8_t>;

class MockPort {
 public:
  MOCK_METHOD(int, link_send, (const uint8_t *bytes, size_t len));
  MOCK_METHOD(uint64_t, now_ms, ());
  MOCK_METHOD(void, random_bytes, (uint8_t * out, size_t len));
  MOCK_METHOD(int, nvs_get, (const char *key, uint8_t *out, size_t cap, size_t *out_len));
  MOCK_METHOD(int, nvs_set, (const char *key, const uint8_t *data, size_t len));
  MOCK_METHOD(void, sha256, (const uint8_t *in, size_t len, uint8_t *out));
  MOCK_METHOD(void, ed25519_seed_keypair, (const uint8_t *seed, uint8_t *pk, uint8_t *sk));
  MOCK_METHOD(void, ed25519_sign, (const uint8_t *sk, const uint8_t *msg, size_t len, uint8_t *sig));
  MOCK_METHOD(void, log, (iotw_log_level level, const char *event, const char *detail));
  MOCK_METHOD(int, ed25519_verify, (const uint8_t *pk, const uint8_t *msg, size_t len, const uint8_t *sig));
  MOCK_METHOD(void, select_node, (uint8_t index, const char *reason));

  /** The C port table whose entries trampoline into this mock. */
  iotw_port table(iotw_link_kind kind) {
    iotw_port p{};
    p.ctx = this;
    p.link_kind = kind;
    p.link_send = [](void *c, const uint8_t *b, size_t n) { return self(c)->link_send(b, n); };
    p.now_ms = [](void *c) { return self(c)->now_ms(); };
    p.random_bytes = [](void *c, uint8_t *o, size_t n) { self(c)->random_bytes(o, n); };
    p.nvs_get = [](void *c, const char *k, uint8_t *o, size_t cap, size_t *n) {
      return self(c)->nvs_get(k, o, cap, n);
    };
    p.nvs_set = [](void *c, const char *k, const uint8_t *d, size_t n) { return self(c)->nvs_set(k, d, n); };
    p.sha256 = [](void *c, const uint8_t *i, size_t n, uint8_t o[32]) { self(c)->sha256(i, n, o); };
    p.ed25519_seed_keypair = [](void *c, const uint8_t s[32], uint8_t pk[32], uint8_t sk[64]) {
      self(c)->ed25519_seed_keypair(s, pk, sk);
    };
    p.ed25519_sign = [](void *c, const uint8_t sk[64], const uint8_t *m, size_t n, uint8_t sig[64]) {
      self(c)->ed25519_sign(sk, m, n, sig);
    };
    p.log = [](void *c, iotw_log_level l, const char *e, const char *d) { self(c)->log(l, e, d); };
    p.ed25519_verify = [](void *c, const uint8_t pk[32], const uint8_t *m, size_t n, const uint8_t sig[64]) {
      return self(c)->ed25519_verify(pk, m, n, sig);
    };
    p.select_node = [](void *c, uint8_t i, const char *r) { self(c)->select_node(i, r); };  // used when node_count > 1
    return p;
  }

 private:
  static MockPort *self(void *c) { return static_cast<MockPort *>(c); }
};

/** The miner the test headers name unless told otherwise (a fixed key): WitnessRequests carry its Result signature. */
struct TestMiner {
  uint8_t pk[32], sk[64];
};
const TestMiner &test_miner() {
  static const TestMiner m = [] {
    TestMiner t;
    uint8_t seed[32];
    std::memset(seed, 0x4d, sizeof seed);
    crypto_sign_seed_keypair(t.pk, t.sk, seed);
    return t;
  }();
  return m;
}

/** A header; miner (32 bytes) names the assigned miner (NULL: test_miner()). */
Bytes header_bytes(uint32_t version, uint64_t height, const uint8_t *miner = nullptr) {
  iotw_block_header h{};
  std::memcpy(h.miner_pubkey, miner ? miner : test_miner().pk, sizeof h.miner_pubkey);
  h.version = version;
  h.height = height;
  h.timestamp_ms = 1700000000000ull + height;
  h.tx_count = 3;
  std::memset(h.prev_hash, 0x11, sizeof h.prev_hash);
  std::memset(h.tx_root, 0x22, sizeof h.tx_root);
  Bytes out(IOTW_BLOCK_HEADER_SIZE);
  iotw_block_header_pack(&h, out.data());
  return out;
}

Bytes sha256(const Bytes &b) {
  Bytes h(32);
  crypto_hash_sha256(h.data(), b.data(), b.size());
  return h;
}

bool verifies(const uint8_t sig[64], const uint8_t *msg, size_t len, const uint8_t pk[32]) {
  return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}

class FirmwareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    ON_CALL(mock, link_send(_, _)).WillByDefault([this](const uint8_t *b, size_t n) {
      sent.emplace_back(b, b + n);
      return 0;
    });
    ON_CALL(mock, now_ms()).WillByDefault([this] { return now; });
    ON_CALL(mock, random_bytes(_, _)).WillByDefault([](uint8_t *o, size_t n) { randombytes_buf(o, n); });
    ON_CALL(mock, nvs_get(_, _, _, _)).WillByDefault([this](const char *k, uint8_t *o, size_t cap, size_t *n) {
      auto it = nvs.find(k);
      if (it == nvs.end()) return -1;
      if (it->second.size() > cap) return -2;
      std::copy(it->second.begin(), it->second.end(), o);
      *n = it->second.size();
      return 0;
    });
    ON_CALL(mock, nvs_set(_, _, _)).WillByDefault([this](const char *k, const uint8_t *d, size_t n) {
      nvs[k] = Bytes(d, d + n);
      return 0;
    });
    ON_CALL(mock, sha256(_, _, _)).WillByDefault([](const uint8_t *i, size_t n, uint8_t *o) {
      crypto_hash_sha256(o, i, n);
    });
    ON_CALL(mock, ed25519_seed_keypair(_, _, _)).WillByDefault([](const uint8_t *s, uint8_t *pk, uint8_t *sk) {
      crypto_sign_seed_keypair(pk, sk, s);
    });
    ON_CALL(mock, ed25519_sign(_, _, _, _))
        .WillByDefault([](const uint8_t *sk, const uint8_t *m, size_t n, uint8_t *sig) {
          crypto_sign_detached(sig, nullptr, m, n, sk);
        });
    ON_CALL(mock, ed25519_verify(_, _, _, _))
        .WillByDefault([](const uint8_t *pk, const uint8_t *m, size_t n, const uint8_t *sig) {
          return crypto_sign_verify_detached(sig, m, n, pk);
        });
    ON_CALL(mock, log(_, _, _)).WillByDefault([this](iotw_log_level, const char *e, const char *d) {
      logs.emplace_back(e, d);
    });
  }

  int boot(iotw_link_kind kind = IOTW_LINK_SERIAL) {
    port = mock.table(kind);
    port.node_count = node_count;
    return iotw_fw_boot(&fw, &cfg, &port);
  }

  /** Everything the device transmitted since the last call, decoded (asserts every frame is valid). */
  std::vector<iotw_v1_Envelope> take_sent() {
    std::vector<iotw_v1_Envelope> out;
    for (const Bytes &b : sent) {
      if (port.link_kind == IOTW_LINK_DATAGRAM) {
        long n = iotw_datagram_check(b.data(), b.size());
        EXPECT_GT(n, 0);
        iotw_v1_Envelope env;
        EXPECT_EQ(iotw_msg_decode(b.data(), static_cast<size_t>(n), &env), 0);
        out.push_back(env);
        continue;
      }
      EXPECT_EQ(b.back(), 0u) << "serial frame must end with its delimiter";
      iotw_frame_decoder dec;
      iotw_frame_decoder_init(&dec);
      for (uint8_t byte : b) {
        const uint8_t *payload;
        size_t len;
        iotw_frame_status st = iotw_frame_decoder_push(&dec, byte, &payload, &len);
        EXPECT_GE(st, IOTW_FRAME_EMPTY);
        if (st != IOTW_FRAME_OK) continue;
        iotw_v1_Envelope env;
        EXPECT_EQ(iotw_msg_decode(payload, len, &env), 0);
        out.push_back(env);
      }
    }
    sent.clear();
    return out;
  }

  /** The single message sent since the last call. */
  iotw_v1_Envelope take_one(unsigned which) {
    auto msgs = take_sent();
    EXPECT_EQ(msgs.size(), 1u);
    if (msgs.empty()) return iotw_v1_Envelope{};
    EXPECT_EQ(msgs[0].which_body, which) << iotw_msg_name(msgs[0].which_body);
    return msgs[0];
  }

  /** Node -> device bytes for env on the current link kind. */
  Bytes wire(const iotw_v1_Envelope &env) {
    uint8_t payload[IOTW_FRAME_MAX_PAYLOAD];
    size_t n = iotw_msg_encode(&env, payload, sizeof payload);
    EXPECT_GT(n, 0u);
    Bytes out(IOTW_FRAME_MAX_WIRE);
    size_t w = port.link_kind == IOTW_LINK_DATAGRAM ? iotw_datagram_encode(payload, n, out.data(), out.size())
                                                     : iotw_frame_encode(payload, n, out.data(), out.size());
    out.resize(w);
    return out;
  }

  void deliver(const iotw_v1_Envelope &env) {
    Bytes b = wire(env);
    iotw_fw_on_rx(&fw, b.data(), b.size());
  }

  static iotw_v1_Envelope challenge(uint8_t fill) {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_challenge_tag;
    std::memset(e.body.challenge.nonce, fill, 32);
    return e;
  }
  static iotw_v1_Envelope welcome(uint64_t height, uint32_t interval) {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_welcome_tag;
    e.body.welcome.height = height;
    e.body.welcome.heartbeat_interval_ms = interval;
    return e;
  }
  /** The node requests below are signed over ASSIGN / WITNESS / SEED with node_signer when it is set (a
   *  provisioned device checks them, docs/protocol.md §6 "Node requests"); unsigned otherwise. */
  iotw_v1_Envelope assignment(uint64_t id, const Bytes &header) const {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_assignment_tag;
    e.body.assignment.assignment_id = id;
    std::copy(header.begin(), header.end(), e.body.assignment.header);
    e.body.assignment.deadline_ms = 2000;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    if (node_signer)
      crypto_sign_detached(e.body.assignment.node_signature, nullptr, msg,
                           iotw_sigmsg_assign(id, sha256(header).data(), 2000, msg), node_signer);
    return e;
  }
  /** Carries test_miner()'s Result signature over RESULT(assignment_id = round + 100, hash), one bit of it flipped
   *  (before the node signs) when bad_miner_signature. */
  iotw_v1_Envelope witness(uint64_t round, const Bytes &header, const Bytes &hash,
                           bool bad_miner_signature = false) const {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_witness_request_tag;
    auto &w = e.body.witness_request;
    w.round_id = round;
    std::copy(header.begin(), header.end(), w.header);
    std::copy(hash.begin(), hash.end(), w.block_hash);
    w.deadline_ms = 2000;
    w.assignment_id = round + 100;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    crypto_sign_detached(w.miner_signature, nullptr, msg, iotw_sigmsg_result(w.assignment_id, hash.data(), msg),
                         test_miner().sk);
    if (bad_miner_signature) w.miner_signature[17] ^= 0x08;
    if (node_signer)
      crypto_sign_detached(w.node_signature, nullptr, msg,
                           iotw_sigmsg_witness(round, sha256(header).data(), hash.data(), 2000, w.assignment_id,
                                               w.miner_signature, msg),
                           node_signer);
    return e;
  }
  iotw_v1_Envelope vrf_seed(uint64_t height, uint8_t prev_fill, uint32_t suite) const {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_vrf_round_seed_tag;
    e.body.vrf_round_seed.height = height;
    std::memset(e.body.vrf_round_seed.prev_hash, prev_fill, 32);
    e.body.vrf_round_seed.suite = suite;
    e.body.vrf_round_seed.claim_window_ms = 200;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    if (node_signer)
      crypto_sign_detached(e.body.vrf_round_seed.node_signature, nullptr, msg,
                           iotw_sigmsg_seed(height, e.body.vrf_round_seed.prev_hash, suite, 200, msg), node_signer);
    return e;
  }
  const uint8_t *node_signer = nullptr;  ///< the trust node's secret key signing requests (nullptr: unsigned)
  /** alpha = "IOTW/1/VRF" 00 || height u64le || prev_hash (docs/protocol.md §5), built by hand. */
  static Bytes vrf_alpha(uint64_t height, uint8_t prev_fill) {
    const char tag[] = "IOTW/1/VRF";
    Bytes a(tag, tag + sizeof tag);  // includes the 0x00
    for (int i = 0; i < 8; i++) a.push_back(static_cast<uint8_t>(height >> (8 * i)));
    a.insert(a.end(), 32, prev_fill);
    return a;
  }
  static iotw_v1_Envelope error(uint32_t code) {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_error_tag;
    e.body.error.code = code;
    std::strcpy(e.body.error.text, "refused");
    return e;
  }
  static iotw_v1_Envelope heartbeat_ack(uint64_t seq, uint64_t height) {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_heartbeat_ack_tag;
    e.body.heartbeat_ack.seq = seq;
    e.body.heartbeat_ack.height = height;
    return e;
  }

  /** Boot and run the Hello / Challenge / Prove / Welcome exchange. */
  void attach(uint32_t heartbeat_ms = 0) {
    ASSERT_EQ(boot(), 0);
    take_one(iotw_v1_Envelope_hello_tag);
    deliver(challenge(0x5a));
    take_one(iotw_v1_Envelope_prove_tag);
    deliver(welcome(42, heartbeat_ms));
    ASSERT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
  }

  bool logged(const std::string &event) const {
    return std::any_of(logs.begin(), logs.end(), [&](const auto &l) { return l.first == event; });
  }

  NiceMock<MockPort> mock;
  uint8_t node_count = 0;  ///< port.node_count at boot (0 = one trust node)
  iotw_port port{};
  iotw_fw fw{};
  iotw_fw_config cfg{"esp-03", "esp8266", "1.2.3", 4, {}, nullptr, nullptr};
  uint64_t now = 10'000;
  std::map<std::string, Bytes> nvs;
  std::vector<Bytes> sent;
  std::vector<std::pair<std::string, std::string>> logs;
};

TEST_F(FirmwareTest, FirstBootCreatesAndStoresIdentity) {
  EXPECT_CALL(mock, random_bytes(_, 32)).Times(1);
  ASSERT_EQ(boot(), 0);
  ASSERT_EQ(nvs.count("id.seed"), 1u);
  ASSERT_EQ(nvs["id.seed"].size(), 32u);
  uint8_t pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, nvs["id.seed"].data());
  EXPECT_EQ(Bytes(pk, pk + 32), Bytes(fw.pk, fw.pk + 32));
  EXPECT_EQ(nvs["boot.count"], (Bytes{1, 0, 0, 0}));
  EXPECT_EQ(fw.boot_count, 1u);
  EXPECT_TRUE(logged("identity_created"));
  EXPECT_TRUE(logged("boot"));
}

TEST_F(FirmwareTest, SecondBootLoadsSameIdentityAndCountsBoots) {
  ASSERT_EQ(boot(), 0);
  Bytes first_pk(fw.pk, fw.pk + 32);
  EXPECT_CALL(mock, random_bytes(_, _)).Times(0);
  fw = iotw_fw{};
  ASSERT_EQ(boot(), 0);
  EXPECT_EQ(Bytes(fw.pk, fw.pk + 32), first_pk);
  EXPECT_EQ(fw.boot_count, 2u);
  EXPECT_EQ(nvs["boot.count"], (Bytes{2, 0, 0, 0}));
  EXPECT_TRUE(logged("identity_loaded"));
  auto msgs = take_sent();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[1].body.hello.boot_count, 2u);
}

TEST_F(FirmwareTest, HelloSentOnBootCarriesIdentityAndConfig) {
  ASSERT_EQ(boot(), 0);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_HELLO_SENT);
  iotw_v1_Envelope env = take_one(iotw_v1_Envelope_hello_tag);
  const iotw_v1_Hello &h = env.body.hello;
  EXPECT_EQ(Bytes(h.pubkey, h.pubkey + 32), Bytes(fw.pk, fw.pk + 32));
  EXPECT_STREQ(h.name, "esp-03");
  EXPECT_STREQ(h.model, "esp8266");
  EXPECT_STREQ(h.fw_version, "1.2.3");
  EXPECT_EQ(h.boot_count, 1u);
  EXPECT_EQ(h.reset_reason, 4u);
  EXPECT_EQ(fw.stats.frames_tx, 1u);
  EXPECT_TRUE(logged("hello_sent"));
}

TEST_F(FirmwareTest, OverlongConfigStringsAreTruncated) {
  cfg.name = "a-very-long-device-label-that-exceeds-31-bytes";
  cfg.model = "model-name-longer-than-15";
  ASSERT_EQ(boot(), 0);
  iotw_v1_Envelope env = take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(std::string(env.body.hello.name), std::string(cfg.name).substr(0, 31));
  EXPECT_EQ(std::string(env.body.hello.model), std::string(cfg.model).substr(0, 15));
}

TEST_F(FirmwareTest, BootFailsAndStaysOffWhenNvsCannotBeWritten) {
  EXPECT_CALL(mock, nvs_set(_, _, _)).WillRepeatedly(Return(-1));
  EXPECT_CALL(mock, link_send(_, _)).Times(0);
  EXPECT_EQ(boot(), -1);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_OFF);
  EXPECT_TRUE(logged("nvs_error"));
  Bytes ch = wire(challenge(1));
  iotw_fw_on_rx(&fw, ch.data(), ch.size());
  now += 60'000;
  iotw_fw_poll(&fw);
  EXPECT_EQ(fw.stats.frames_rx, 0u);
}

TEST_F(FirmwareTest, CorruptSeedIsReplacedByAFreshIdentity) {
  nvs["id.seed"] = Bytes(5, 0xee);
  nvs["boot.count"] = Bytes{7, 0, 0, 0};
  ASSERT_EQ(boot(), 0);
  EXPECT_TRUE(logged("identity_corrupt"));
  EXPECT_TRUE(logged("identity_created"));
  EXPECT_EQ(nvs["id.seed"].size(), 32u);
  EXPECT_EQ(fw.boot_count, 8u);
}

TEST_F(FirmwareTest, ChallengeIsAnsweredWithVerifyingProve) {
  ASSERT_EQ(boot(), 0);
  take_sent();
  deliver(challenge(0xa7));
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_PROVING);
  iotw_v1_Envelope env = take_one(iotw_v1_Envelope_prove_tag);
  const iotw_v1_Prove &p = env.body.prove;
  EXPECT_EQ(Bytes(p.pubkey, p.pubkey + 32), Bytes(fw.pk, fw.pk + 32));
  uint8_t nonce[32], msg[IOTW_SIG_MSG_MAX];
  std::memset(nonce, 0xa7, 32);
  size_t n = iotw_sigmsg_register(nonce, p.pubkey, msg);
  EXPECT_TRUE(verifies(p.signature, msg, n, p.pubkey));
  nonce[0] ^= 1;  // a signature for one nonce must not pass for another
  n = iotw_sigmsg_register(nonce, p.pubkey, msg);
  EXPECT_FALSE(verifies(p.signature, msg, n, p.pubkey));
}

// iotw_fw_next_poll_ms: a poll before it changes nothing; at it, the firmware acts (sim mode polls only then).
TEST_F(FirmwareTest, NextPollTimeIsWhenAPollFirstHasSomethingToDo) {
  EXPECT_EQ(iotw_fw_next_poll_ms(&fw), UINT64_MAX);  // OFF
  ASSERT_EQ(boot(), 0);
  take_sent();
  const uint64_t hello_due = iotw_fw_next_poll_ms(&fw);
  EXPECT_EQ(hello_due, now + IOTW_FW_HELLO_RETRY_MS);
  now = hello_due - 1;
  iotw_fw_poll(&fw);
  EXPECT_TRUE(take_sent().empty());  // before it: nothing
  now = hello_due;
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_hello_tag);  // at it: the Hello again
  attach(200);
  EXPECT_EQ(iotw_fw_next_poll_ms(&fw), 0u);  // after a Welcome the first Heartbeat is due at once
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_heartbeat_tag);
  const uint64_t beat_due = iotw_fw_next_poll_ms(&fw);
  EXPECT_EQ(beat_due, now + 200);  // the heartbeat interval (before the link timeout of several beats)
  now = beat_due - 1;
  iotw_fw_poll(&fw);
  EXPECT_TRUE(take_sent().empty());
  now = beat_due;
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_heartbeat_tag);
}

TEST_F(FirmwareTest, WelcomeAttachesAndHeartbeatsAtTheGivenInterval) {
  attach(200);
  EXPECT_EQ(fw.known_height, 42u);
  EXPECT_TRUE(logged("registered"));
  iotw_fw_poll(&fw);  // the first Heartbeat leaves at once on Welcome: the node gives work only after it (§6)
  EXPECT_EQ(take_one(iotw_v1_Envelope_heartbeat_tag).body.heartbeat.seq, 1u);
  iotw_fw_poll(&fw);  // same instant: no duplicate
  EXPECT_TRUE(take_sent().empty());
  now += 199;
  iotw_fw_poll(&fw);
  EXPECT_TRUE(take_sent().empty());
  now += 1;
  iotw_fw_poll(&fw);
  iotw_v1_Envelope hb = take_one(iotw_v1_Envelope_heartbeat_tag);
  EXPECT_EQ(hb.body.heartbeat.seq, 2u);
  EXPECT_EQ(hb.body.heartbeat.uptime_ms, 200u);
  iotw_fw_poll(&fw);  // same instant: no duplicate
  EXPECT_TRUE(take_sent().empty());
  now += 200;
  iotw_fw_poll(&fw);
  EXPECT_EQ(take_one(iotw_v1_Envelope_heartbeat_tag).body.heartbeat.seq, 3u);
  EXPECT_EQ(fw.stats.heartbeats, 3u);
  deliver(heartbeat_ack(3, 57));
  EXPECT_EQ(fw.known_height, 57u);
  EXPECT_TRUE(take_sent().empty());
}

TEST_F(FirmwareTest, WelcomeWithoutIntervalUsesTheDefault) {
  attach(0);
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_heartbeat_tag);  // the first one at once on Welcome
  now += IOTW_FW_HEARTBEAT_MS - 1;
  iotw_fw_poll(&fw);
  EXPECT_TRUE(take_sent().empty());
  now += 1;
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_heartbeat_tag);
}

TEST_F(FirmwareTest, AssignmentYieldsResultWithCorrectHashAndSignature) {
  attach();
  Bytes header = header_bytes(1, 43, fw.pk);  // names this device as the miner
  deliver(assignment(77, header));
  iotw_v1_Envelope env = take_one(iotw_v1_Envelope_result_tag);
  const iotw_v1_Result &r = env.body.result;
  EXPECT_EQ(r.assignment_id, 77u);
  EXPECT_EQ(Bytes(r.block_hash, r.block_hash + 32), sha256(header));
  uint8_t msg[IOTW_SIG_MSG_MAX];
  size_t n = iotw_sigmsg_result(77, r.block_hash, msg);
  EXPECT_TRUE(verifies(r.signature, msg, n, fw.pk));
  EXPECT_EQ(fw.stats.assignments, 1u);
  EXPECT_EQ(fw.stats.results, 1u);
  EXPECT_TRUE(logged("assignment"));
  EXPECT_TRUE(logged("result_sent"));
}

TEST_F(FirmwareTest, WrongHashFaultSignsAFlippedHash) {
  cfg.faults.wrong_hash = 1;
  attach();
  Bytes header = header_bytes(1, 43, fw.pk);
  deliver(assignment(78, header));
  const iotw_v1_Result r = take_one(iotw_v1_Envelope_result_tag).body.result;
  Bytes expect = sha256(header);
  expect[0] ^= 0xff;
  EXPECT_EQ(Bytes(r.block_hash, r.block_hash + 32), expect);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  EXPECT_TRUE(verifies(r.signature, msg, iotw_sigmsg_result(78, r.block_hash, msg), fw.pk));
}

class WitnessTest : public FirmwareTest {
 protected:
  /** Send a WitnessRequest and return the Attestation after checking its signature and echoed fields. */
  iotw_v1_Attestation attest(uint64_t round, const Bytes &header, const Bytes &hash, bool bad_miner_signature = false) {
    deliver(witness(round, header, hash, bad_miner_signature));
    iotw_v1_Attestation a = take_one(iotw_v1_Envelope_attestation_tag).body.attestation;
    EXPECT_EQ(a.round_id, round);
    EXPECT_EQ(Bytes(a.block_hash, a.block_hash + 32), hash);
    uint8_t msg[IOTW_SIG_MSG_MAX];
    size_t n = iotw_sigmsg_attest(round, hash.data(), static_cast<uint8_t>(a.verdict), msg);
    EXPECT_TRUE(verifies(a.signature, msg, n, fw.pk));
    return a;
  }
};

TEST_F(WitnessTest, MatchingHashIsValid) {
  attach();
  Bytes header = header_bytes(1, 10);
  EXPECT_EQ(attest(9, header, sha256(header)).verdict, iotw_v1_Verdict_VERDICT_VALID);
  EXPECT_EQ(fw.stats.witness_requests, 1u);
  EXPECT_EQ(fw.stats.attestations, 1u);
  EXPECT_TRUE(logged("attestation_sent"));
}

TEST_F(WitnessTest, MismatchingHashIsInvalid) {
  attach();
  Bytes header = header_bytes(1, 10);
  Bytes hash = sha256(header);
  hash[31] ^= 0x01;
  EXPECT_EQ(attest(10, header, hash).verdict, iotw_v1_Verdict_VERDICT_INVALID);
}

// §6 step 5: the miner's signature over RESULT(assignment_id, block_hash) under the header's miner_pubkey.
TEST_F(WitnessTest, BadMinerSignatureIsInvalidEvenWhenHashMatches) {
  attach();
  Bytes header = header_bytes(1, 10);
  EXPECT_EQ(attest(12, header, sha256(header), true).verdict, iotw_v1_Verdict_VERDICT_INVALID);
  EXPECT_EQ(fw.stats.witness_bad_miner_signature, 1u);
  EXPECT_TRUE(logged("witness_bad_miner_signature"));
  // A signature by another key than the header's miner is just as bad.
  Bytes other = header_bytes(1, 11, fw.pk);
  EXPECT_EQ(attest(13, other, sha256(other)).verdict, iotw_v1_Verdict_VERDICT_INVALID);
  EXPECT_EQ(fw.stats.witness_bad_miner_signature, 2u);
  // The good signature: valid.
  EXPECT_EQ(attest(14, header, sha256(header)).verdict, iotw_v1_Verdict_VERDICT_VALID);
}

TEST_F(WitnessTest, SkipMinerSignatureCheckMutantSaysValidForABadOne) {
  cfg.faults.skip_miner_signature_check = 1;
  attach();
  Bytes header = header_bytes(1, 10);
  EXPECT_EQ(attest(12, header, sha256(header), true).verdict, iotw_v1_Verdict_VERDICT_VALID);
  EXPECT_EQ(fw.stats.witness_bad_miner_signature, 0u);
}

TEST_F(WitnessTest, WrongHeaderVersionIsInvalidEvenWhenHashMatches) {
  attach();
  Bytes header = header_bytes(2, 10);
  EXPECT_EQ(attest(11, header, sha256(header)).verdict, iotw_v1_Verdict_VERDICT_INVALID);
}

TEST_F(WitnessTest, InvertVerdictFaultFlipsBothWays) {
  cfg.faults.invert_verdict = 1;
  attach();
  Bytes header = header_bytes(1, 10);
  Bytes good = sha256(header);
  Bytes bad = good;
  bad[0] ^= 0x80;
  EXPECT_EQ(attest(12, header, good).verdict, iotw_v1_Verdict_VERDICT_INVALID);
  EXPECT_EQ(attest(13, header, bad).verdict, iotw_v1_Verdict_VERDICT_VALID);
}

TEST_F(WitnessTest, VerdictOtherHashSignsAValidVerdictOverAnotherHash) {
  cfg.faults.verdict_other_hash = 1;
  attach();
  Bytes header = header_bytes(1, 10);
  Bytes good = sha256(header);
  deliver(witness(21, header, good));
  const iotw_v1_Attestation a = take_one(iotw_v1_Envelope_attestation_tag).body.attestation;
  EXPECT_EQ(a.round_id, 21u);
  EXPECT_EQ(a.verdict, iotw_v1_Verdict_VERDICT_VALID);
  Bytes other = good;
  other[31] ^= 0xff;
  EXPECT_EQ(Bytes(a.block_hash, a.block_hash + 32), other);  // not the hash it was asked about
  uint8_t msg[IOTW_SIG_MSG_MAX];
  EXPECT_TRUE(verifies(a.signature, msg, iotw_sigmsg_attest(21, a.block_hash, 1, msg), fw.pk));  // genuinely signed
}

TEST_F(WitnessTest, ReplayAttestationSendsTheFirstSignedAttestationAgain) {
  cfg.faults.replay_attestation = 1;
  attach();
  Bytes h1 = header_bytes(1, 10), h2 = header_bytes(1, 11);
  const iotw_v1_Attestation first = attest(30, h1, sha256(h1));  // the first answer is honest and signed
  EXPECT_EQ(first.verdict, iotw_v1_Verdict_VERDICT_VALID);
  for (uint64_t round : {31u, 32u}) {
    deliver(witness(round, h2, sha256(h2)));
    const iotw_v1_Attestation a = take_one(iotw_v1_Envelope_attestation_tag).body.attestation;
    EXPECT_EQ(a.round_id, 30u);  // the old round, not the one asked about
    EXPECT_EQ(Bytes(a.block_hash, a.block_hash + 32), sha256(h1));
    EXPECT_EQ(0, std::memcmp(a.signature, first.signature, 64));
  }
  EXPECT_EQ(fw.stats.attestations_replayed, 2u);
  EXPECT_TRUE(logged("attestation_replayed"));
}

TEST_F(WitnessTest, WrongKeySignsWithAKeyOtherThanTheRegisteredOne) {
  cfg.faults.wrong_key = 1;
  attach();
  Bytes header = header_bytes(1, 10);
  deliver(witness(40, header, sha256(header)));
  const iotw_v1_Attestation a = take_one(iotw_v1_Envelope_attestation_tag).body.attestation;
  EXPECT_EQ(a.round_id, 40u);
  EXPECT_EQ(a.verdict, iotw_v1_Verdict_VERDICT_VALID);
  EXPECT_EQ(Bytes(a.block_hash, a.block_hash + 32), sha256(header));
  uint8_t msg[IOTW_SIG_MSG_MAX];
  const size_t n = iotw_sigmsg_attest(40, a.block_hash, 1, msg);
  EXPECT_FALSE(verifies(a.signature, msg, n, fw.pk));  // not under the registered key
  // ... but under the documented other key: SHA-256("IOTW/wrong_key" 00 || seed).
  uint8_t in[15 + 32], seed2[32], pk2[32], sk2[64];
  std::memcpy(in, "IOTW/wrong_key", 15);
  std::memcpy(in + 15, fw.seed, 32);
  crypto_hash_sha256(seed2, in, sizeof in);
  crypto_sign_seed_keypair(pk2, sk2, seed2);
  EXPECT_TRUE(verifies(a.signature, msg, n, pk2));
  // Registration and Results still use the registered key: only attestations are affected.
  header = header_bytes(1, 10, fw.pk);
  deliver(assignment(5, header));
  const iotw_v1_Result r = take_one(iotw_v1_Envelope_result_tag).body.result;
  EXPECT_TRUE(verifies(r.signature, msg, iotw_sigmsg_result(5, r.block_hash, msg), fw.pk));
}

struct Board {
  int answer = -1;
  std::vector<uint64_t> asked;
  static int decide(void *c, uint64_t round, uint64_t) {
    auto *b = static_cast<Board *>(c);
    b->asked.push_back(round);
    return b->answer;
  }
};

TEST_F(WitnessTest, ColludeAllSlotsHoldsTheAnswerUntilTheGroupDecides) {
  Board board;
  iotw_fw_collusion coll{&Board::decide, &board};
  cfg.faults.collude_all_slots = 1;
  cfg.collusion = &coll;
  attach();
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_heartbeat_tag);  // the first Heartbeat, at once on Welcome
  Bytes header = header_bytes(1, 10);
  deliver(witness(50, header, sha256(header)));
  EXPECT_TRUE(take_sent().empty());  // held: the group has not decided
  now += 10;
  iotw_fw_poll(&fw);
  EXPECT_TRUE(take_sent().empty());
  board.answer = 1;  // every slot is the group's: lie
  now += 10;
  iotw_fw_poll(&fw);
  const iotw_v1_Attestation lie = take_one(iotw_v1_Envelope_attestation_tag).body.attestation;
  EXPECT_EQ(lie.round_id, 50u);
  EXPECT_EQ(lie.verdict, iotw_v1_Verdict_VERDICT_INVALID);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  EXPECT_TRUE(verifies(lie.signature, msg, iotw_sigmsg_attest(50, lie.block_hash, 2, msg), fw.pk));
  EXPECT_EQ(fw.stats.collusion_lies, 1u);
  EXPECT_EQ(board.asked, (std::vector<uint64_t>{50, 50, 50}));
  board.answer = 0;  // an honest witness holds a slot: the group tells the truth
  EXPECT_EQ(attest(51, header, sha256(header)).verdict, iotw_v1_Verdict_VERDICT_VALID);
  EXPECT_EQ(fw.stats.collusion_lies, 1u);
  EXPECT_TRUE(logged("collusion_decided"));
}

TEST_F(WitnessTest, ColludeAllSlotsWithoutAGroupChannelIsHonest) {
  cfg.faults.collude_all_slots = 1;
  attach();
  Bytes header = header_bytes(1, 10);
  EXPECT_EQ(attest(52, header, sha256(header)).verdict, iotw_v1_Verdict_VERDICT_VALID);
}

TEST_F(FirmwareTest, JobsBeforeAttachAreDroppedUnanswered) {
  ASSERT_EQ(boot(), 0);
  take_sent();
  Bytes header = header_bytes(1, 1);
  deliver(assignment(1, header));
  deliver(witness(1, header, sha256(header)));
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.dropped, 2u);
  EXPECT_EQ(fw.stats.assignments, 0u);
  EXPECT_EQ(fw.stats.witness_requests, 0u);
  EXPECT_EQ(fw.stats.frames_rx, 2u);
}

TEST_F(FirmwareTest, HelloIsRetriedUntilAttached) {
  ASSERT_EQ(boot(), 0);
  take_sent();
  now += IOTW_FW_HELLO_RETRY_MS - 1;
  iotw_fw_poll(&fw);
  EXPECT_TRUE(take_sent().empty());
  now += 1;
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(challenge(3));
  take_one(iotw_v1_Envelope_prove_tag);
  now += IOTW_FW_HELLO_RETRY_MS;  // Welcome lost: PROVING falls back to Hello too
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_HELLO_SENT);
  deliver(welcome(1, 0));  // the late Welcome still attaches
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
  EXPECT_EQ(fw.stats.reattaches, 0u);
}

TEST_F(FirmwareTest, ReChallengeWhileAttachedKeepsAttached) {
  attach();
  deliver(challenge(9));
  take_one(iotw_v1_Envelope_prove_tag);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
}

TEST_F(FirmwareTest, LinkSilenceReattachesWithHello) {
  attach(1000);  // silence limit: IOTW_FW_LINK_TIMEOUT_BEATS (6) intervals = 6000 ms, above the node's 5
  const uint64_t limit = IOTW_FW_LINK_TIMEOUT_BEATS * 1000u;
  ASSERT_EQ(limit, 6000u);
  // Traffic from the node keeps the link alive.
  now += limit - 1;
  iotw_fw_poll(&fw);
  deliver(heartbeat_ack(1, 42));
  now += limit - 1;
  iotw_fw_poll(&fw);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
  take_sent();
  // Then silence: our own heartbeats do not count as hearing the node.
  now += 1;
  iotw_fw_poll(&fw);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_HELLO_SENT);
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(fw.stats.reattaches, 1u);
  EXPECT_TRUE(logged("reattach"));
}

TEST_F(FirmwareTest, ErrorNotRegisteredTriggersHelloOtherErrorsDoNot) {
  attach();
  deliver(error(4));
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
  EXPECT_TRUE(logged("node_error"));
  deliver(error(1));
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_HELLO_SENT);
  EXPECT_EQ(fw.stats.reattaches, 1u);
}

TEST_F(FirmwareTest, GarbageAndCorruptFramesAreCountedAndSkipped) {
  ASSERT_EQ(boot(), 0);
  take_sent();
  // A boot banner and line noise, then a delimiter.
  std::string banner = "\r\nets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n";
  Bytes junk(banner.begin(), banner.end());
  junk.push_back(0);
  iotw_fw_on_rx(&fw, junk.data(), junk.size());
  // A valid frame with one flipped byte (bad CRC).
  Bytes bad = wire(challenge(1));
  bad[3] ^= 0x40;
  iotw_fw_on_rx(&fw, bad.data(), bad.size());
  // A frame whose CRC is fine but whose payload is not an Envelope.
  const uint8_t not_pb[] = {0xff, 0xff, 0xff};
  uint8_t frame[32];
  size_t fn = iotw_frame_encode(not_pb, sizeof not_pb, frame, sizeof frame);
  iotw_fw_on_rx(&fw, frame, fn);
  // Overlong run with no delimiter.
  Bytes flood(IOTW_FRAME_MAX_WIRE * 3, 0x42);
  flood.push_back(0);
  iotw_fw_on_rx(&fw, flood.data(), flood.size());
  // Lone delimiters are legal padding.
  const uint8_t zeros[] = {0, 0, 0};
  iotw_fw_on_rx(&fw, zeros, sizeof zeros);

  EXPECT_EQ(fw.stats.decode_errors, 4u);
  EXPECT_EQ(fw.stats.frames_rx, 0u);
  EXPECT_TRUE(take_sent().empty());
  EXPECT_TRUE(logged("decode_error"));
  // The decoder resynchronised: the next good frame is handled.
  deliver(challenge(2));
  take_one(iotw_v1_Envelope_prove_tag);
}

TEST_F(FirmwareTest, FramesSplitAcrossManyReadsReassemble) {
  ASSERT_EQ(boot(), 0);
  take_sent();
  Bytes stream = wire(challenge(1));
  Bytes second = wire(challenge(2));
  stream.insert(stream.begin(), 0);  // optional leading delimiter
  stream.insert(stream.end(), second.begin(), second.end());
  for (uint8_t b : stream) iotw_fw_on_rx(&fw, &b, 1);
  EXPECT_EQ(take_sent().size(), 2u);

  std::mt19937 rng(1234);  // fixed seed: random but reproducible chunking
  stream.clear();
  for (uint8_t i = 0; i < 20; i++) {
    Bytes f = wire(challenge(i));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  for (size_t pos = 0; pos < stream.size();) {
    size_t n = std::min<size_t>(stream.size() - pos, rng() % 17 + 1);
    iotw_fw_on_rx(&fw, stream.data() + pos, n);
    pos += n;
  }
  auto msgs = take_sent();
  ASSERT_EQ(msgs.size(), 20u);
  for (const auto &m : msgs) EXPECT_EQ(m.which_body, iotw_v1_Envelope_prove_tag);
  EXPECT_EQ(fw.stats.decode_errors, 0u);
}

TEST_F(FirmwareTest, DatagramLinkUsesOneDatagramPerMessage) {
  ASSERT_EQ(boot(IOTW_LINK_DATAGRAM), 0);
  ASSERT_EQ(sent.size(), 1u);
  // A datagram is the payload and its CRC-32, nothing else: no COBS stuffing, no delimiter. (Its last
  // byte is a CRC byte and is 0 one time in 256, so the check is on the layout, not on that byte.)
  EXPECT_EQ(iotw_datagram_check(sent[0].data(), sent[0].size()), static_cast<long>(sent[0].size()) - 4)
      << "datagram: payload followed by its CRC-32 expected";
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(challenge(4));
  take_one(iotw_v1_Envelope_prove_tag);
  Bytes bad = wire(challenge(5));
  bad.back() ^= 0x01;
  iotw_fw_on_rx(&fw, bad.data(), bad.size());
  const uint8_t tiny[] = {1, 2};
  iotw_fw_on_rx(&fw, tiny, sizeof tiny);
  EXPECT_EQ(fw.stats.decode_errors, 2u);
  EXPECT_TRUE(take_sent().empty());
}

TEST_F(FirmwareTest, SendFailureIsLoggedAndNotCounted) {
  EXPECT_CALL(mock, link_send(_, _)).WillOnce(Return(-1));
  ASSERT_EQ(boot(), 0);
  EXPECT_EQ(fw.stats.frames_tx, 0u);
  EXPECT_TRUE(logged("send_error"));
  EXPECT_FALSE(logged("hello_sent"));
}

TEST_F(FirmwareTest, SecretKeyIsNeverLogged) {
  cfg.faults.invert_verdict = 1;
  attach(100);
  Bytes header = header_bytes(1, 3, fw.pk);
  deliver(assignment(5, header));
  deliver(witness(6, header, sha256(header)));
  deliver(error(1));
  now += 10000;  // past the silence limit (6 x 100 ms)
  iotw_fw_poll(&fw);
  std::string sk_hex = to_hex(fw.sk, 64);
  std::string seed_hex = to_hex(nvs["id.seed"].data(), 32);
  ASSERT_GT(logs.size(), 5u);
  for (const auto &[event, detail] : logs) {
    EXPECT_EQ(detail.find(seed_hex), std::string::npos) << event;
    EXPECT_EQ(detail.find(sk_hex.substr(0, 16)), std::string::npos) << event;
  }
}

TEST_F(FirmwareTest, UsageReportIsSignedOverTheUsageDomainWithAPersistedSeq) {
  attach();
  EXPECT_EQ(iotw_fw_report_usage(&fw, 1234, 60, 61), 1);
  auto m = take_one(iotw_v1_Envelope_usage_report_tag);
  const auto &u = m.body.usage_report;
  EXPECT_EQ(u.seq, 1u);
  EXPECT_EQ(u.energy_mwh, 1234u);
  EXPECT_EQ(u.on_seconds, 60u);
  EXPECT_EQ(u.period_s, 61u);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  size_t n = iotw_sigmsg_usage(1, 1234, 60, 61, msg);
  EXPECT_TRUE(verifies(u.signature, msg, n, fw.pk));
  EXPECT_EQ(nvs["usage.seq"], (Bytes{1, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(fw.stats.usage_reports, 1u);
  EXPECT_TRUE(logged("usage_sent"));
}

TEST_F(FirmwareTest, UsageSeqKeepsIncreasingAcrossABrownoutReset) {
  attach();
  EXPECT_EQ(iotw_fw_report_usage(&fw, 1, 1, 1), 1);
  EXPECT_EQ(iotw_fw_report_usage(&fw, 2, 2, 2), 2);
  Bytes pk(fw.pk, fw.pk + 32);
  cfg.reset_reason = IOTW_RESET_BROWNOUT;  // RAM lost, NVS kept
  fw = iotw_fw{};
  take_sent();
  attach();
  EXPECT_EQ(Bytes(fw.pk, fw.pk + 32), pk);
  EXPECT_EQ(iotw_fw_report_usage(&fw, 3, 3, 3), 3);
  EXPECT_EQ(take_one(iotw_v1_Envelope_usage_report_tag).body.usage_report.seq, 3u);
}

TEST_F(FirmwareTest, BrownoutResetReasonIsReportedInHello) {
  cfg.reset_reason = IOTW_RESET_BROWNOUT;
  ASSERT_EQ(boot(), 0);
  EXPECT_EQ(take_one(iotw_v1_Envelope_hello_tag).body.hello.reset_reason, 9u);
}

TEST_F(FirmwareTest, UsageIsNotReportedUntilAttachedAndConsumesNoSeq) {
  ASSERT_EQ(boot(), 0);
  take_sent();
  EXPECT_EQ(iotw_fw_report_usage(&fw, 5, 5, 5), 0);
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(nvs.count("usage.seq"), 0u);
}

TEST_F(FirmwareTest, UsageNvsFailureSendsNothing) {
  attach();
  EXPECT_CALL(mock, nvs_set(_, _, _)).WillOnce(Return(-1));
  EXPECT_EQ(iotw_fw_report_usage(&fw, 5, 5, 5), -1);
  EXPECT_TRUE(take_sent().empty());
  EXPECT_TRUE(logged("nvs_error"));
}

TEST_F(FirmwareTest, CorruptUsageSeqRestartsFromZeroAndIsLogged) {
  attach();
  nvs["usage.seq"] = Bytes{1, 2, 3};
  EXPECT_EQ(iotw_fw_report_usage(&fw, 5, 5, 5), 1);
  EXPECT_TRUE(logged("usage_seq_corrupt"));
}

TEST_F(FirmwareTest, UsageSendFailureConsumesTheSeq) {
  attach();
  EXPECT_CALL(mock, link_send(_, _)).WillOnce(Return(-1)).WillRepeatedly(Return(0));
  EXPECT_EQ(iotw_fw_report_usage(&fw, 5, 5, 5), -2);
  EXPECT_EQ(fw.stats.usage_reports, 0u);
  EXPECT_EQ(iotw_fw_report_usage(&fw, 5, 5, 5), 2);
}

class FirmwareVrfTest : public FirmwareTest, public ::testing::WithParamInterface<iotw_ecvrf_suite> {};

TEST_P(FirmwareVrfTest, RoundSeedIsAnsweredWithAProofUnderTheIdentityKey) {
  const iotw_ecvrf_suite suite = GetParam();
  attach();
  EXPECT_CALL(mock, ed25519_sign(_, _, _, _)).Times(0);  // a claim is not signed: pi is the proof
  deliver(vrf_seed(7, 0x33, suite));
  iotw_v1_Envelope env = take_one(iotw_v1_Envelope_vrf_claim_tag);
  EXPECT_EQ(env.body.vrf_claim.height, 7u);
  const Bytes alpha = vrf_alpha(7, 0x33);
  ASSERT_EQ(alpha.size(), 51u);
  uint8_t beta[64];
  EXPECT_EQ(iotw_ecvrf_verify(suite, beta, fw.pk, env.body.vrf_claim.pi, alpha.data(), alpha.size()), IOTW_ECVRF_OK);
  // Deterministic (RFC 9381): the same proof as ECVRF_prove with the NVS seed as sk.
  uint8_t pi[80];
  ASSERT_EQ(iotw_ecvrf_prove(suite, pi, nvs["id.seed"].data(), alpha.data(), alpha.size()), IOTW_ECVRF_OK);
  EXPECT_EQ(Bytes(pi, pi + 80), Bytes(env.body.vrf_claim.pi, env.body.vrf_claim.pi + 80));
  EXPECT_EQ(fw.stats.vrf_seeds, 1u);
  EXPECT_EQ(fw.stats.vrf_claims, 1u);
  EXPECT_TRUE(logged("vrf_claim_sent"));
  // A proof for another round does not verify for this one.
  deliver(vrf_seed(8, 0x33, suite));
  env = take_one(iotw_v1_Envelope_vrf_claim_tag);
  EXPECT_EQ(iotw_ecvrf_verify(suite, beta, fw.pk, env.body.vrf_claim.pi, alpha.data(), alpha.size()),
            IOTW_ECVRF_INVALID);
}

INSTANTIATE_TEST_SUITE_P(Suites, FirmwareVrfTest, ::testing::Values(IOTW_ECVRF_TAI, IOTW_ECVRF_ELL2),
                         [](const auto &info) { return std::string(info.param == IOTW_ECVRF_TAI ? "tai" : "ell2"); });

TEST_F(FirmwareTest, VrfRoundSeedIsDroppedUntilAttached) {
  ASSERT_EQ(boot(), 0);
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(vrf_seed(1, 0, IOTW_ECVRF_TAI));
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.dropped, 1u);
  EXPECT_EQ(fw.stats.vrf_claims, 0u);
}

TEST_F(FirmwareTest, VrfRoundSeedWithUnknownSuiteIsLoggedNotAnswered) {
  attach();
  deliver(vrf_seed(3, 0x01, 5));
  EXPECT_TRUE(take_sent().empty());
  EXPECT_TRUE(logged("vrf_error"));
  EXPECT_EQ(fw.stats.vrf_seeds, 1u);
  EXPECT_EQ(fw.stats.vrf_claims, 0u);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
}

TEST_F(FirmwareTest, ForgeVrfFaultSendsAProofThatDoesNotVerify) {
  cfg.faults.forge_vrf = 1;
  attach();
  deliver(vrf_seed(2, 0x44, IOTW_ECVRF_TAI));
  iotw_v1_Envelope env = take_one(iotw_v1_Envelope_vrf_claim_tag);
  const Bytes alpha = vrf_alpha(2, 0x44);
  EXPECT_EQ(iotw_ecvrf_verify(IOTW_ECVRF_TAI, nullptr, fw.pk, env.body.vrf_claim.pi, alpha.data(), alpha.size()),
            IOTW_ECVRF_INVALID);
}

TEST_F(FirmwareTest, VrfClaimOverDatagramLink) {
  ASSERT_EQ(boot(IOTW_LINK_DATAGRAM), 0);
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(challenge(0x11));
  take_one(iotw_v1_Envelope_prove_tag);
  deliver(welcome(0, 0));
  deliver(vrf_seed(1, 0x00, IOTW_ECVRF_TAI));
  iotw_v1_Envelope env = take_one(iotw_v1_Envelope_vrf_claim_tag);
  const Bytes alpha = vrf_alpha(1, 0x00);
  EXPECT_EQ(iotw_ecvrf_verify(IOTW_ECVRF_TAI, nullptr, fw.pk, env.body.vrf_claim.pi, alpha.data(), alpha.size()),
            IOTW_ECVRF_OK);
}


// Light verification (docs/protocol.md §6): the device is provisioned with the trust node's key, keeps the last
// verified checkpoint, judges linkage only directly above it, and asks for a checkpoint when it is behind.
class LightVerificationTest : public WitnessTest {
 protected:
  void SetUp() override {
    WitnessTest::SetUp();
    uint8_t seed[32];
    std::memset(seed, 0x4e, sizeof seed);
    crypto_sign_seed_keypair(node_pk, node_sk, seed);
    cfg.node_pubkey = node_pk;
    node_signer = node_sk;
  }
  /** A Checkpoint signed by `sk` over CHECKPOINT(height, hash). */
  static iotw_v1_Envelope checkpoint(uint64_t height, const Bytes &hash, const uint8_t *sk) {
    iotw_v1_Envelope e = iotw_v1_Envelope_init_zero;
    e.which_body = iotw_v1_Envelope_checkpoint_tag;
    e.body.checkpoint.height = height;
    std::copy(hash.begin(), hash.end(), e.body.checkpoint.block_hash);
    uint8_t msg[IOTW_SIG_MSG_MAX];
    crypto_sign_detached(e.body.checkpoint.signature, nullptr, msg, iotw_sigmsg_checkpoint(height, hash.data(), msg),
                         sk);
    return e;
  }
  /** Header at height whose prev_hash is prev. */
  static Bytes linked_header(uint64_t height, const Bytes &prev) {
    Bytes h = header_bytes(1, height);
    std::copy(prev.begin(), prev.end(), h.begin() + 12);
    return h;
  }
  /** Attach; Welcome(42) makes a provisioned device without a checkpoint ask for one at once. */
  void attach_lv() {
    ASSERT_EQ(boot(), 0);
    take_one(iotw_v1_Envelope_hello_tag);
    deliver(challenge(0x5a));
    take_one(iotw_v1_Envelope_prove_tag);
    deliver(welcome(42, 0));
    const auto req = take_one(iotw_v1_Envelope_checkpoint_request_tag);
    EXPECT_EQ(req.body.checkpoint_request.have_height, 0u);
  }
  /** WitnessRequest; returns (attestation, messages sent after it). */
  std::pair<iotw_v1_Attestation, std::vector<iotw_v1_Envelope>> witness_all(uint64_t round, const Bytes &header) {
    const Bytes hash = sha256(header);
    deliver(witness(round, header, hash));
    auto msgs = take_sent();
    EXPECT_GE(msgs.size(), 1u);
    if (msgs.empty()) return {};
    EXPECT_EQ(msgs[0].which_body, iotw_v1_Envelope_attestation_tag);
    const iotw_v1_Attestation a = msgs[0].body.attestation;
    uint8_t msg[IOTW_SIG_MSG_MAX];
    EXPECT_TRUE(verifies(a.signature, msg, iotw_sigmsg_attest(round, hash.data(), static_cast<uint8_t>(a.verdict), msg),
                         fw.pk));
    msgs.erase(msgs.begin());
    return {a, msgs};
  }
  uint8_t node_pk[32], node_sk[64];
};

TEST_F(LightVerificationTest, AWitnessRequestThatDoesNotLinkIsInvalidAfterACheckpointItLinks) {
  attach_lv();
  const Bytes tip = sha256(header_bytes(1, 41));
  deliver(checkpoint(41, tip, node_sk));
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.checkpoints_adopted, 1u);
  EXPECT_TRUE(logged("checkpoint_adopted"));
  // Height 42 on top of the checkpoint: linked, valid.
  auto [good, after_good] = witness_all(1, linked_header(42, tip));
  EXPECT_EQ(good.verdict, iotw_v1_Verdict_VERDICT_VALID);
  EXPECT_TRUE(after_good.empty());
  // Height 42 on another parent: the hash matches the header, but it does not link -> invalid, with the reason.
  Bytes other = tip;
  other[0] ^= 0xff;
  auto [bad, after_bad] = witness_all(2, linked_header(42, other));
  EXPECT_EQ(bad.verdict, iotw_v1_Verdict_VERDICT_INVALID);
  EXPECT_TRUE(after_bad.empty());
  EXPECT_EQ(fw.stats.witness_unlinked, 1u);
  EXPECT_TRUE(logged("witness_unlinked"));
  const auto w = std::find_if(logs.rbegin(), logs.rend(), [](const auto &l) { return l.first == "witness"; });
  ASSERT_NE(w, logs.rend());
  EXPECT_NE(w->second.find("verdict=invalid linkage=does_not_link"), std::string::npos) << w->second;
}

TEST_F(LightVerificationTest, WithoutACheckpointItDoesNotJudgeLinkageAndAsksForOne) {
  attach_lv();
  now += IOTW_FW_CHECKPOINT_RETRY_MS;
  // No checkpoint yet: an honest header on any parent is valid (behind devices are never a reason for invalid).
  Bytes parent(32, 0x77);
  auto [a, after] = witness_all(1, linked_header(42, parent));
  EXPECT_EQ(a.verdict, iotw_v1_Verdict_VERDICT_VALID);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].which_body, iotw_v1_Envelope_checkpoint_request_tag);
  // Now the device knows 41; it adopts the checkpoint and the next block links.
  const Bytes tip = sha256(header_bytes(1, 41));
  deliver(checkpoint(41, tip, node_sk));
  EXPECT_EQ(witness_all(2, linked_header(42, tip)).first.verdict, iotw_v1_Verdict_VERDICT_VALID);
  EXPECT_EQ(witness_all(3, linked_header(42, parent)).first.verdict, iotw_v1_Verdict_VERDICT_INVALID);
}

TEST_F(LightVerificationTest, ADeviceBehindItsCheckpointDoesNotJudgeAndRequestsRateLimited) {
  attach_lv();
  const Bytes tip = sha256(header_bytes(1, 30));
  deliver(checkpoint(30, tip, node_sk));
  Bytes parent(32, 0x33);  // the device cannot know block 41: no judgement, a checkpoint request instead
  auto [a1, after1] = witness_all(1, linked_header(42, parent));
  EXPECT_EQ(a1.verdict, iotw_v1_Verdict_VERDICT_VALID);
  ASSERT_EQ(after1.size(), 1u);
  EXPECT_EQ(after1[0].body.checkpoint_request.have_height, 30u);
  auto [a2, after2] = witness_all(2, linked_header(43, parent));  // within the retry interval: no second request
  EXPECT_EQ(a2.verdict, iotw_v1_Verdict_VERDICT_VALID);
  EXPECT_TRUE(after2.empty());
  // At or below the checkpoint height: not judged either.
  EXPECT_EQ(witness_all(3, linked_header(30, parent)).first.verdict, iotw_v1_Verdict_VERDICT_VALID);
  // A HeartbeatAck beyond the checkpoint asks again once the interval passed.
  now += IOTW_FW_CHECKPOINT_RETRY_MS;
  deliver(heartbeat_ack(1, 31));
  EXPECT_EQ(take_one(iotw_v1_Envelope_checkpoint_request_tag).body.checkpoint_request.have_height, 30u);
  deliver(heartbeat_ack(2, 30));
  EXPECT_TRUE(take_sent().empty());
}

TEST_F(LightVerificationTest, AForgedCheckpointIsRejectedAndChangesNothing) {
  attach_lv();
  const Bytes tip = sha256(header_bytes(1, 41));
  deliver(checkpoint(41, tip, node_sk));
  uint8_t evil_pk[32], evil_sk[64];
  crypto_sign_keypair(evil_pk, evil_sk);
  Bytes fork(32, 0x66);
  deliver(checkpoint(41, fork, evil_sk));  // signed by another key
  iotw_v1_Envelope tampered = checkpoint(50, fork, node_sk);
  tampered.body.checkpoint.height = 41;  // the node's signature, over another height
  deliver(tampered);
  EXPECT_EQ(fw.stats.checkpoints_rejected, 2u);
  EXPECT_EQ(fw.stats.checkpoints_adopted, 1u);
  EXPECT_TRUE(logged("checkpoint_rejected"));
  EXPECT_EQ(fw.ckpt_height, 41u);
  EXPECT_EQ(Bytes(fw.ckpt_hash, fw.ckpt_hash + 32), tip);
  // The fork the forger wanted does not link; the real chain does.
  EXPECT_EQ(witness_all(1, linked_header(42, fork)).first.verdict, iotw_v1_Verdict_VERDICT_INVALID);
  EXPECT_EQ(witness_all(2, linked_header(42, tip)).first.verdict, iotw_v1_Verdict_VERDICT_VALID);
}

TEST_F(LightVerificationTest, TheCheckpointSurvivesARebootInNvs) {
  attach_lv();
  const Bytes tip = sha256(header_bytes(1, 41));
  deliver(checkpoint(41, tip, node_sk));
  ASSERT_EQ(nvs.count("lv.ckpt"), 1u);
  EXPECT_EQ(nvs["lv.ckpt"].size(), 40u);
  logs.clear();
  ASSERT_EQ(boot(), 0);  // reboot: RAM lost, NVS kept
  EXPECT_TRUE(logged("checkpoint_loaded"));
  take_sent();
  deliver(challenge(0x5a));
  deliver(welcome(41, 0));  // the chain is not beyond the checkpoint: nothing to ask
  take_sent();
  Bytes other(32, 0x01);
  EXPECT_EQ(witness_all(1, linked_header(42, other)).first.verdict, iotw_v1_Verdict_VERDICT_INVALID);
  EXPECT_EQ(witness_all(2, linked_header(42, tip)).first.verdict, iotw_v1_Verdict_VERDICT_VALID);
}

TEST_F(LightVerificationTest, UnprovisionedDeviceDropsCheckpointsAndNeverAsks) {
  cfg.node_pubkey = nullptr;
  attach();  // no CheckpointRequest after Welcome (take_one inside checked exactly one message each step)
  deliver(checkpoint(41, sha256(header_bytes(1, 41)), node_sk));
  EXPECT_EQ(fw.stats.dropped, 1u);
  EXPECT_EQ(fw.ckpt_valid, 0u);
  Bytes other(32, 0x01);
  EXPECT_EQ(attest(1, linked_header(42, other), sha256(linked_header(42, other))).verdict,
            iotw_v1_Verdict_VERDICT_VALID);
  deliver(heartbeat_ack(1, 100));
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.checkpoints_requested, 0u);
}

// --- Node requests (docs/protocol.md §6 "Node requests", certification CERT-037) ---

TEST_F(LightVerificationTest, UnsignedOrForgedWitnessRequestsAreNotAnswered) {
  attach_lv();
  const Bytes header = header_bytes(1, 43);
  const Bytes hash = sha256(header);
  node_signer = nullptr;  // a forger on the link: no node key
  deliver(witness(7, header, hash));
  EXPECT_TRUE(take_sent().empty());
  uint8_t other_pk[32], other_sk[64], seed[32];
  std::memset(seed, 0x13, sizeof seed);
  crypto_sign_seed_keypair(other_pk, other_sk, seed);
  node_signer = other_sk;  // signed, but not by the provisioned node key
  deliver(witness(8, header, hash));
  EXPECT_TRUE(take_sent().empty());
  node_signer = node_sk;  // the real node's request with one byte of its header changed on the way
  iotw_v1_Envelope tampered = witness(9, header, hash);
  tampered.body.witness_request.header[100] ^= 0x01;
  deliver(tampered);
  EXPECT_TRUE(take_sent().empty());
  // ... or with the miner's signature swapped on the way (WITNESS binds assignment_id and miner_signature).
  iotw_v1_Envelope swapped = witness(10, header, hash);
  swapped.body.witness_request.miner_signature[3] ^= 0x01;
  deliver(swapped);
  EXPECT_TRUE(take_sent().empty());
  iotw_v1_Envelope renumbered = witness(11, header, hash);
  renumbered.body.witness_request.assignment_id += 1;
  deliver(renumbered);
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.attestations, 0u);
  EXPECT_EQ(fw.stats.requests_unauthenticated, 5u);
  EXPECT_TRUE(logged("request_unauthenticated"));
  // The forgeries consumed no round: the real request for round 7 is answered, signed.
  auto [a, after] = witness_all(7, header);
  EXPECT_EQ(a.round_id, 7u);
  EXPECT_EQ(a.verdict, iotw_v1_Verdict_VERDICT_VALID);
}

TEST_F(LightVerificationTest, ForgedAssignmentsAndSeedsAreNotAnswered) {
  attach_lv();
  const Bytes mine = header_bytes(1, 43, fw.pk);
  iotw_v1_Envelope job = assignment(5, mine);
  job.body.assignment.deadline_ms = 60000;  // changed on the way: the signature covers deadline_ms
  deliver(job);
  iotw_v1_Envelope seed = vrf_seed(9, 0x22, IOTW_ECVRF_TAI);
  seed.body.vrf_round_seed.prev_hash[0] ^= 0x01;
  deliver(seed);
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.requests_unauthenticated, 2u);
  deliver(assignment(5, mine));
  EXPECT_EQ(take_one(iotw_v1_Envelope_result_tag).body.result.assignment_id, 5u);
  deliver(vrf_seed(9, 0x22, IOTW_ECVRF_TAI));
  EXPECT_EQ(take_one(iotw_v1_Envelope_vrf_claim_tag).body.vrf_claim.height, 9u);
}

TEST_F(LightVerificationTest, AcceptUnsignedRequestMutantAnswersAForgery) {
  cfg.faults.accept_unsigned_request = 1;
  attach_lv();
  node_signer = nullptr;
  const Bytes header = header_bytes(1, 43);
  deliver(witness(7, header, sha256(header)));
  EXPECT_EQ(take_one(iotw_v1_Envelope_attestation_tag).body.attestation.round_id, 7u);
  EXPECT_EQ(fw.stats.requests_unauthenticated, 0u);
}

TEST_F(FirmwareTest, InflateUsageReportsTwiceTheMeasuredEnergy) {
  cfg.faults.inflate_usage = 1;
  attach();
  ASSERT_EQ(iotw_fw_report_usage(&fw, 1234, 10, 60), 1);
  const auto u = take_one(iotw_v1_Envelope_usage_report_tag).body.usage_report;
  EXPECT_EQ(u.energy_mwh, 2468u);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  EXPECT_TRUE(verifies(u.signature, msg, iotw_sigmsg_usage(1, 2468, 10, 60, msg), fw.pk));  // signed as sent
}

// --- Reference rules of docs/protocol.md §6 steps 4 and 5 (certification CERT-022, CERT-034, CERT-035) ---

TEST_F(FirmwareTest, AnAssignmentNamingAnotherMinerGetsNoResult) {
  attach();
  uint8_t other[32];
  std::memset(other, 0x77, sizeof other);
  deliver(assignment(90, header_bytes(1, 43, other)));
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.assignments_foreign, 1u);
  EXPECT_EQ(fw.stats.results, 0u);
  EXPECT_TRUE(logged("assignment_foreign"));
  deliver(assignment(91, header_bytes(1, 43, fw.pk)));  // its own job is still mined
  EXPECT_EQ(take_one(iotw_v1_Envelope_result_tag).body.result.assignment_id, 91u);
}

// The same request again (its Attestation was lost; the node had no other witness to ask): the same signed
// Attestation goes out again, byte for byte, and nothing new is signed. The same round with another block is a
// replay and gets nothing.
TEST_F(WitnessTest, TheSameRequestAgainGetsTheSameAttestationAndAnAlteredOneNothing) {
  attach();
  const Bytes header = header_bytes(1, 10);
  const iotw_v1_Attestation first = attest(5, header, sha256(header));
  deliver(witness(5, header, sha256(header)));
  const iotw_v1_Attestation again = take_one(iotw_v1_Envelope_attestation_tag).body.attestation;
  EXPECT_EQ(again.round_id, first.round_id);
  EXPECT_EQ(again.verdict, first.verdict);
  EXPECT_EQ(0, std::memcmp(again.block_hash, first.block_hash, sizeof first.block_hash));
  EXPECT_EQ(0, std::memcmp(again.signature, first.signature, sizeof first.signature)) << "no new signature";
  EXPECT_EQ(fw.stats.attestations_resent, 1u);
  EXPECT_EQ(fw.stats.attestations, 1u);
  EXPECT_TRUE(logged("attestation_resent"));
  Bytes other = header_bytes(1, 11);
  deliver(witness(5, other, sha256(other)));  // round 5 again, another block: a replay
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.witness_stale, 1u);
  EXPECT_TRUE(logged("witness_stale"));
}

TEST_F(WitnessTest, AStaleRequestIsNotAnsweredAndAHigherRoundIs) {
  attach();
  const Bytes header = header_bytes(1, 10);
  attest(7, header, sha256(header));
  deliver(witness(6, header, sha256(header)));  // below the highest answered
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.witness_stale, 1u);
  EXPECT_EQ(attest(8, header, sha256(header)).verdict, iotw_v1_Verdict_VERDICT_VALID);
  EXPECT_EQ(fw.stats.attestations, 2u);
}

TEST_F(WitnessTest, AnsweredRoundsAreForgottenAtAReboot) {
  attach();
  const Bytes header = header_bytes(1, 10);
  attest(7, header, sha256(header));
  fw = iotw_fw{};  // RAM lost: the node may ask again for a round it has no answer to
  take_sent();
  attach();
  EXPECT_EQ(attest(7, header, sha256(header)).verdict, iotw_v1_Verdict_VERDICT_VALID);
}

// --- Certification mutants (docs/certification.md "Mutants"): each flag shows its bug ---

TEST_F(FirmwareTest, WrongDomainSignsTheResultUnderAttestNotResult) {
  cfg.faults.wrong_domain = 1;
  attach();
  deliver(assignment(77, header_bytes(1, 43, fw.pk)));
  const iotw_v1_Result r = take_one(iotw_v1_Envelope_result_tag).body.result;
  uint8_t msg[IOTW_SIG_MSG_MAX];
  EXPECT_FALSE(verifies(r.signature, msg, iotw_sigmsg_result(77, r.block_hash, msg), fw.pk));
  EXPECT_TRUE(verifies(r.signature, msg, iotw_sigmsg_attest(77, r.block_hash, 1, msg), fw.pk));
}

/** A Challenge frame with a flipped CRC byte (the last byte before the delimiter). */
Bytes bad_crc_challenge(const Bytes &good) {
  Bytes bad = good;
  bad[bad.size() - 2] ^= 0x01;
  return bad;
}

TEST_F(FirmwareTest, ABadCrcChallengeIsIgnoredByTheReference) {
  attach();
  Bytes bad = bad_crc_challenge(wire(challenge(0x31)));
  iotw_fw_on_rx(&fw, bad.data(), bad.size());
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.decode_errors, 1u);
}

TEST_F(FirmwareTest, IgnoreCrcAnswersABadCrcChallenge) {
  cfg.faults.ignore_crc = 1;
  attach();
  Bytes bad = bad_crc_challenge(wire(challenge(0x31)));
  iotw_fw_on_rx(&fw, bad.data(), bad.size());
  const iotw_v1_Prove p = take_one(iotw_v1_Envelope_prove_tag).body.prove;
  uint8_t nonce[32], msg[IOTW_SIG_MSG_MAX];
  std::memset(nonce, 0x31, sizeof nonce);
  EXPECT_TRUE(verifies(p.signature, msg, iotw_sigmsg_register(nonce, fw.pk, msg), fw.pk));
}

TEST_F(FirmwareTest, IgnoreCrcAcceptsABadCrcDatagram) {
  cfg.faults.ignore_crc = 1;
  ASSERT_EQ(boot(IOTW_LINK_DATAGRAM), 0);
  take_sent();
  Bytes bad = wire(challenge(0x32));
  bad.back() ^= 0x01;
  iotw_fw_on_rx(&fw, bad.data(), bad.size());
  take_one(iotw_v1_Envelope_prove_tag);
}

TEST_F(WitnessTest, StaleWitnessAnswersReplayedAndStaleRequests) {
  cfg.faults.stale_witness = 1;
  attach();
  const Bytes header = header_bytes(1, 10);
  attest(7, header, sha256(header));
  attest(7, header, sha256(header));
  attest(6, header, sha256(header));
  EXPECT_EQ(fw.stats.witness_stale, 0u);
  EXPECT_EQ(fw.stats.attestations, 3u);
}

TEST_F(FirmwareTest, SlowMinerSendsTheResultOnlyAfterTheDeadline) {
  cfg.faults.slow_miner = 1;
  attach();
  const uint64_t t0 = now;
  deliver(assignment(77, header_bytes(1, 43, fw.pk)));  // deadline_ms 2000
  EXPECT_TRUE(take_sent().empty());
  now = t0 + 2000;  // the deadline: still nothing
  deliver(heartbeat_ack(1, 42));  // keeps the link alive
  iotw_fw_poll(&fw);
  for (const auto &m : take_sent()) EXPECT_NE(m.which_body, iotw_v1_Envelope_result_tag);
  now = t0 + 2000 + IOTW_FW_SLOW_MINER_LATE_MS;
  iotw_fw_poll(&fw);
  std::vector<iotw_v1_Envelope> msgs = take_sent();
  auto r = std::find_if(msgs.begin(), msgs.end(),
                        [](const iotw_v1_Envelope &m) { return m.which_body == iotw_v1_Envelope_result_tag; });
  ASSERT_NE(r, msgs.end());
  EXPECT_EQ(r->body.result.assignment_id, 77u);
  uint8_t msg[IOTW_SIG_MSG_MAX];
  EXPECT_TRUE(verifies(r->body.result.signature, msg, iotw_sigmsg_result(77, r->body.result.block_hash, msg), fw.pk));
}

/** n seeded random non-zero bytes, then a delimiter: line noise, not a frame. */
Bytes garbage(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto &x : b) x = static_cast<uint8_t>(1 + rng() % 255);
  b.push_back(0);
  return b;
}

TEST_F(FirmwareTest, TheReferenceSurvivesALongGarbageRun) {
  attach();
  Bytes g = garbage(IOTW_FW_GARBAGE_PANIC_BYTES, 4);
  iotw_fw_on_rx(&fw, g.data(), g.size());
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
  deliver(challenge(0x33));
  take_one(iotw_v1_Envelope_prove_tag);
}

TEST_F(FirmwareTest, ResetOnGarbagePanicsOnALongRejectedRunOnly) {
  cfg.faults.reset_on_garbage = 1;
  attach();
  Bytes bad = bad_crc_challenge(wire(challenge(0x31)));  // short bad frames: no panic
  iotw_fw_on_rx(&fw, bad.data(), bad.size());
  Bytes flood(IOTW_FRAME_MAX_WIRE + 100, 0x42);  // an overflow is dropped by the decoder: no panic
  flood.push_back(0);
  iotw_fw_on_rx(&fw, flood.data(), flood.size());
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
  Bytes g = garbage(IOTW_FW_GARBAGE_PANIC_BYTES, 4);
  Bytes after = wire(challenge(0x33));
  g.insert(g.end(), after.begin(), after.end());
  iotw_fw_on_rx(&fw, g.data(), g.size());
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_OFF);  // the host resets the chip from here
  EXPECT_TRUE(logged("panic"));
  EXPECT_TRUE(take_sent().empty());  // a crashed firmware answers nothing, not even the Challenge behind it
}

TEST_F(FirmwareTest, DropHeartbeatsSendsEveryOtherHeartbeat) {
  cfg.faults.drop_heartbeats = 1;
  attach(100);
  size_t heartbeats = 0;
  for (int i = 0; i < 4; i++) {
    now += 100;
    iotw_fw_poll(&fw);
    for (const auto &m : take_sent()) heartbeats += m.which_body == iotw_v1_Envelope_heartbeat_tag;
  }
  EXPECT_EQ(heartbeats, 2u);
  EXPECT_EQ(fw.stats.heartbeats, 2u);
}

TEST_F(FirmwareTest, WrongResetReasonReportsPowerOnAfterASoftwareReset) {
  cfg.faults.wrong_reset_reason = 1;
  cfg.reset_reason = 3;  // ESP_RST_SW
  ASSERT_EQ(boot(), 0);
  EXPECT_EQ(take_one(iotw_v1_Envelope_hello_tag).body.hello.reset_reason, IOTW_RESET_POWERON);
  cfg.reset_reason = IOTW_RESET_BROWNOUT;  // the one code it does tell apart
  fw = iotw_fw{};
  ASSERT_EQ(boot(), 0);
  EXPECT_EQ(take_one(iotw_v1_Envelope_hello_tag).body.hello.reset_reason, IOTW_RESET_BROWNOUT);
}

TEST_F(FirmwareTest, UsageSeqResetRestartsAtOneAfterAReset) {
  cfg.faults.usage_seq_reset = 1;
  attach();
  EXPECT_EQ(iotw_fw_report_usage(&fw, 1, 1, 1), 1);
  EXPECT_EQ(iotw_fw_report_usage(&fw, 2, 2, 2), 2);
  fw = iotw_fw{};
  take_sent();
  attach();
  EXPECT_EQ(iotw_fw_report_usage(&fw, 3, 3, 3), 1);  // the reference says 3 (UsageSeqKeepsIncreasing...)
  EXPECT_EQ(take_one(iotw_v1_Envelope_usage_report_tag).body.usage_report.seq, 1u);
}

TEST_F(FirmwareTest, ForeignAssignmentMinesAnotherMinersJob) {
  cfg.faults.foreign_assignment = 1;
  attach();
  uint8_t other[32];
  std::memset(other, 0x77, sizeof other);
  deliver(assignment(90, header_bytes(1, 43, other)));
  EXPECT_EQ(take_one(iotw_v1_Envelope_result_tag).body.result.assignment_id, 90u);
  EXPECT_EQ(fw.stats.assignments_foreign, 0u);
}

TEST_F(FirmwareTest, CachedNonceSignsTheFirstNonceForASecondChallenge) {
  cfg.faults.cached_nonce = 1;
  attach();  // Challenge 0x5a
  deliver(challenge(0x6b));
  const iotw_v1_Prove p = take_one(iotw_v1_Envelope_prove_tag).body.prove;
  uint8_t first[32], second[32], msg[IOTW_SIG_MSG_MAX];
  std::memset(first, 0x5a, sizeof first);
  std::memset(second, 0x6b, sizeof second);
  EXPECT_FALSE(verifies(p.signature, msg, iotw_sigmsg_register(second, fw.pk, msg), fw.pk));
  EXPECT_TRUE(verifies(p.signature, msg, iotw_sigmsg_register(first, fw.pk, msg), fw.pk));
  deliver(error(1));  // a new session (Hello) registers again with the node's fresh nonce
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(challenge(0x7c));
  const iotw_v1_Prove p2 = take_one(iotw_v1_Envelope_prove_tag).body.prove;
  uint8_t third[32];
  std::memset(third, 0x7c, sizeof third);
  EXPECT_TRUE(verifies(p2.signature, msg, iotw_sigmsg_register(third, fw.pk, msg), fw.pk));
}

TEST_F(FirmwareTest, TheReferenceSignsEachChallengesOwnNonce) {
  attach();
  deliver(challenge(0x6b));
  const iotw_v1_Prove p = take_one(iotw_v1_Envelope_prove_tag).body.prove;
  uint8_t second[32], msg[IOTW_SIG_MSG_MAX];
  std::memset(second, 0x6b, sizeof second);
  EXPECT_TRUE(verifies(p.signature, msg, iotw_sigmsg_register(second, fw.pk, msg), fw.pk));
}

TEST_F(LightVerificationTest, AcceptForgedCheckpointAdoptsAForgeryAndVouchesForItsFork) {
  cfg.faults.accept_forged_checkpoint = 1;
  attach_lv();
  uint8_t evil_pk[32], evil_sk[64];
  crypto_sign_keypair(evil_pk, evil_sk);
  Bytes fork(32, 0x66);
  deliver(checkpoint(41, fork, evil_sk));
  EXPECT_EQ(fw.stats.checkpoints_adopted, 1u);
  EXPECT_EQ(fw.stats.checkpoints_rejected, 0u);
  EXPECT_EQ(witness_all(1, linked_header(42, fork)).first.verdict, iotw_v1_Verdict_VERDICT_VALID);
}

// Several trust nodes (docs/protocol.md §6 "Several trust nodes (mesh failover)"): Error 6, silence and unanswered
// Hellos move the device to the next node of its list.
class MeshTest : public FirmwareTest {
 protected:
  void SetUp() override {
    FirmwareTest::SetUp();
    node_count = 3;
    ON_CALL(mock, select_node(_, _)).WillByDefault([this](uint8_t i, const char *r) {
      selected.emplace_back(i, r);
    });
  }
  /** The detail of the last log line of kind event ("" if none). */
  std::string last_detail(const std::string &event) const {
    for (auto it = logs.rbegin(); it != logs.rend(); ++it)
      if (it->first == event) return it->second;
    return "";
  }
  /** Challenge / Prove / Welcome on the current node (after its Hello was taken). */
  void register_here() {
    deliver(challenge(0x33));
    take_one(iotw_v1_Envelope_prove_tag);
    deliver(welcome(42, 1000));
    ASSERT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
  }
  std::vector<std::pair<unsigned, std::string>> selected;  ///< select_node calls: index, reason
};

TEST_F(MeshTest, BootSelectsTheFirstNode) {
  ASSERT_EQ(boot(), 0);
  ASSERT_EQ(selected.size(), 1u);
  EXPECT_EQ(selected[0], (std::pair<unsigned, std::string>{0, "boot"}));
  take_one(iotw_v1_Envelope_hello_tag);
}

TEST_F(MeshTest, ErrorNotAssigningMovesToTheNextNodeWithAHello) {
  ASSERT_EQ(boot(), 0);
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(error(6));  // the answer to our Hello: this node does not assign jobs now
  ASSERT_EQ(selected.size(), 2u);
  EXPECT_EQ(selected[1], (std::pair<unsigned, std::string>{1, "not_assigning"}));
  EXPECT_EQ(fw.node_index, 1u);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_HELLO_SENT);
  iotw_v1_Envelope h = take_one(iotw_v1_Envelope_hello_tag);  // at once, on the new node
  EXPECT_EQ(h.body.hello.boot_count, 1u);                     // a failover is not a boot
  EXPECT_EQ(nvs["boot.count"], (Bytes{1, 0, 0, 0}));
  EXPECT_EQ(fw.stats.failovers, 1u);
  EXPECT_EQ(fw.stats.reattaches, 0u);
  EXPECT_EQ(last_detail("failover"), "from=0 to=1 reason=not_assigning");
  register_here();
  // Attached on node 1, which then loses the leadership: its next answer is Error 6.
  deliver(error(6));
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_HELLO_SENT);
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(selected.back(), (std::pair<unsigned, std::string>{2, "not_assigning"}));
  EXPECT_EQ(last_detail("failover"), "from=1 to=2 reason=not_assigning");
  // Jobs are answered only once attached on the new node.
  Bytes header = header_bytes(1, 43, fw.pk);
  deliver(assignment(5, header));
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.failovers, 2u);
}

TEST_F(MeshTest, TheListWrapsAndAFullCircleWithoutWelcomePacesTheHello) {
  node_count = 2;
  ASSERT_EQ(boot(), 0);
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(error(6));
  take_one(iotw_v1_Envelope_hello_tag);  // node 1 at once
  deliver(error(6));                     // node 1 does not assign either: back to node 0 ...
  EXPECT_EQ(selected.back(), (std::pair<unsigned, std::string>{0, "not_assigning"}));
  EXPECT_TRUE(take_sent().empty());      // ... but every node was tried: no Hello storm
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_HELLO_SENT);
  now += IOTW_FW_HELLO_RETRY_MS - 1;
  iotw_fw_poll(&fw);
  EXPECT_TRUE(take_sent().empty());
  now += 1;
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_hello_tag);  // the retry period after the last Hello
  EXPECT_EQ(fw.node_index, 0u);
  register_here();                       // a Welcome ends the circle: the next failover is immediate again
  deliver(error(6));
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(fw.node_index, 1u);
}

TEST_F(MeshTest, SilenceWhileAttachedMovesToTheNextNodeNotTheSameOne) {
  ASSERT_EQ(boot(), 0);
  take_one(iotw_v1_Envelope_hello_tag);
  register_here();
  take_sent();
  now += IOTW_FW_LINK_TIMEOUT_BEATS * 1000u - 1;
  iotw_fw_poll(&fw);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_ATTACHED);
  take_sent();
  now += 1;
  iotw_fw_poll(&fw);
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_HELLO_SENT);
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(selected.back(), (std::pair<unsigned, std::string>{1, "link_timeout"}));
  EXPECT_EQ(fw.stats.failovers, 1u);
  EXPECT_EQ(fw.stats.reattaches, 0u);
  EXPECT_EQ(fw.boot_count, 1u);
}

TEST_F(MeshTest, UnansweredHellosMoveToTheNextNode) {
  ASSERT_EQ(boot(), 0);  // node 0 is dead: Hello 1 at boot
  take_one(iotw_v1_Envelope_hello_tag);
  for (unsigned i = 1; i < IOTW_FW_FAILOVER_HELLOS; i++) {  // Hellos 2 .. N, one per retry period, same node
    now += IOTW_FW_HELLO_RETRY_MS;
    iotw_fw_poll(&fw);
    take_one(iotw_v1_Envelope_hello_tag);
    EXPECT_EQ(fw.node_index, 0u);
  }
  now += IOTW_FW_HELLO_RETRY_MS;  // N Hellos unanswered: the next node, with a Hello
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(selected.back(), (std::pair<unsigned, std::string>{1, "no_answer"}));
  EXPECT_EQ(fw.stats.failovers, 1u);
  // Node 1 answers a Hello (a Challenge; the Prove is lost): the count of unanswered Hellos starts again.
  now += IOTW_FW_HELLO_RETRY_MS;
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(challenge(1));
  take_one(iotw_v1_Envelope_prove_tag);
  for (unsigned i = 0; i < IOTW_FW_FAILOVER_HELLOS; i++) {
    now += IOTW_FW_HELLO_RETRY_MS;
    iotw_fw_poll(&fw);
    take_one(iotw_v1_Envelope_hello_tag);
    EXPECT_EQ(fw.node_index, 1u);
  }
  now += IOTW_FW_HELLO_RETRY_MS;
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(selected.back(), (std::pair<unsigned, std::string>{2, "no_answer"}));
  EXPECT_EQ(fw.stats.failovers, 2u);
}

TEST_F(MeshTest, WorkInFlightAtTheSwitchIsNeverAnsweredOnTheNewNode) {
  cfg.faults.slow_miner = 1;  // holds its Result until after the deadline: in flight at the switch
  ASSERT_EQ(boot(), 0);
  take_one(iotw_v1_Envelope_hello_tag);
  register_here();
  deliver(assignment(77, header_bytes(1, 43, fw.pk)));
  EXPECT_TRUE(take_sent().empty());
  deliver(error(6));
  take_one(iotw_v1_Envelope_hello_tag);
  register_here();
  now += 2000 + IOTW_FW_SLOW_MINER_LATE_MS;
  deliver(heartbeat_ack(1, 42));
  iotw_fw_poll(&fw);
  for (const auto &m : take_sent()) EXPECT_NE(m.which_body, iotw_v1_Envelope_result_tag);
  EXPECT_EQ(fw.stats.results, 0u);
}

TEST_F(MeshTest, BytesAfterTheErrorInTheSameReadBelongToTheOldNode) {
  ASSERT_EQ(boot(), 0);
  take_sent();
  Bytes b = wire(error(6));
  Bytes ch = wire(challenge(7));
  b.insert(b.end(), ch.begin(), ch.end());
  iotw_fw_on_rx(&fw, b.data(), b.size());
  take_one(iotw_v1_Envelope_hello_tag);  // the Hello to node 1, no Prove for node 0's Challenge
  EXPECT_EQ(iotw_fw_get_state(&fw), IOTW_FW_HELLO_SENT);
}

TEST_F(MeshTest, OneNodeNeverSelectsAndRetriesTheSameNode) {
  node_count = 1;
  EXPECT_CALL(mock, select_node(_, _)).Times(0);
  ASSERT_EQ(boot(), 0);
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(error(6));  // not attached: logged only, the Hello retry goes on
  EXPECT_TRUE(take_sent().empty());
  for (unsigned i = 0; i < IOTW_FW_FAILOVER_HELLOS + 2; i++) {
    now += IOTW_FW_HELLO_RETRY_MS;
    iotw_fw_poll(&fw);
    take_one(iotw_v1_Envelope_hello_tag);
  }
  register_here();
  deliver(error(6));  // attached: Hello again to the same node
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(fw.stats.reattaches, 1u);
  EXPECT_EQ(fw.stats.failovers, 0u);
  register_here();
  now += IOTW_FW_LINK_TIMEOUT_BEATS * 1000u;
  iotw_fw_poll(&fw);
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(fw.stats.reattaches, 2u);
  EXPECT_EQ(fw.stats.failovers, 0u);
  EXPECT_FALSE(logged("failover"));
}

TEST_F(MeshTest, WithoutSelectNodeSeveralNodesMeanOne) {
  ASSERT_EQ(boot(), 0);
  port.select_node = nullptr;  // a port that cannot switch
  take_one(iotw_v1_Envelope_hello_tag);
  deliver(error(6));
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(fw.stats.failovers, 0u);
}

// Over a datagram link (UDP: one address per trust node) the same rule holds; the Error 6 of the vector in
// docs/protocol.md §3 ("5a 02 08 06") is what moves the device.
TEST_F(MeshTest, DatagramLinkFailsOverOnTheDocumentedErrorBytes) {
  node_count = 2;
  ASSERT_EQ(boot(IOTW_LINK_DATAGRAM), 0);
  take_one(iotw_v1_Envelope_hello_tag);
  const uint8_t payload[] = {0x5a, 0x02, 0x08, 0x06};
  uint8_t dgram[16];
  const size_t n = iotw_datagram_encode(payload, sizeof payload, dgram, sizeof dgram);
  ASSERT_GT(n, 0u);
  iotw_fw_on_rx(&fw, dgram, n);
  take_one(iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(selected.back(), (std::pair<unsigned, std::string>{1, "not_assigning"}));
  EXPECT_EQ(fw.stats.failovers, 1u);
}

}  // namespace
