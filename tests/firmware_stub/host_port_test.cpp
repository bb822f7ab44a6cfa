// ports/host: file-backed NVS (round trip, persistence, atomic replace, key validation), libsodium crypto,
// and the firmware core booting twice on the same NVS directory.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

extern "C" {
#include "host_port.h"
#include "iotw/firmware.h"
#include "iotw/frame_codec.h"
#include "iotw/message_codec.h"
}

#include "test_hex.hpp"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

class HostPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "iotw_nvs_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root = tmpl;
    dir = root / "nested" / "nvs";  // does not exist yet: created on first write
    init();
  }
  void TearDown() override { fs::remove_all(root); }

  void init() {
    ctx = iotw_host_port_ctx{};
    std::snprintf(ctx.nvs_dir, sizeof ctx.nvs_dir, "%s", dir.c_str());
    ctx.kind = IOTW_LINK_SERIAL;
    ctx.user = this;
    ctx.send = [](void *u, const uint8_t *b, size_t n) {
      static_cast<HostPortTest *>(u)->sent.emplace_back(b, b + n);
      return 0;
    };
    ctx.log = [](void *, iotw_log_level, const char *, const char *) {};
    ASSERT_EQ(iotw_host_port_init(&port, &ctx), 0);
  }

  int get(const char *key, Bytes &out, size_t cap = 64) {
    out.assign(cap, 0);
    size_t n = 0;
    int rc = port.nvs_get(port.ctx, key, out.data(), cap, &n);
    out.resize(rc == 0 ? n : 0);
    return rc;
  }


 public:
  fs::path root, dir;
  iotw_host_port_ctx ctx{};
  iotw_port port{};
  std::vector<Bytes> sent;
  std::string logged;
};

TEST_F(HostPortTest, NvsRoundTripsAndPersistsAcrossReinit) {
  Bytes out;
  EXPECT_EQ(get("id.seed", out), -1) << "absent key";
  const Bytes value{1, 2, 3, 0, 255};
  ASSERT_EQ(port.nvs_set(port.ctx, "id.seed", value.data(), value.size()), 0);
  EXPECT_TRUE(fs::is_regular_file(dir / "id.seed"));
  ASSERT_EQ(get("id.seed", out), 0);
  EXPECT_EQ(out, value);

  init();  // a "reboot": a fresh context on the same directory
  ASSERT_EQ(get("id.seed", out), 0);
  EXPECT_EQ(out, value);

  const Bytes shorter{9};
  ASSERT_EQ(port.nvs_set(port.ctx, "id.seed", shorter.data(), shorter.size()), 0);
  ASSERT_EQ(get("id.seed", out), 0);
  EXPECT_EQ(out, shorter);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1) << "no temp files left";
}

TEST_F(HostPortTest, NvsRejectsOversizedValuesAndBadKeys) {
  const Bytes value(40, 7);
  ASSERT_EQ(port.nvs_set(port.ctx, "big", value.data(), value.size()), 0);
  Bytes out;
  EXPECT_EQ(get("big", out, 39), -2);
  EXPECT_EQ(get("big", out, 40), 0);
  for (const char *key : {"", "../escape", "a/b", ".hidden", "sp ace"}) {
    EXPECT_LT(port.nvs_set(port.ctx, key, value.data(), value.size()), 0) << key;
    EXPECT_EQ(get(key, out), -2) << key;
  }
  EXPECT_FALSE(fs::exists(root / "nested" / "escape"));
}

// The no_nvs mutant's NVS: values read back until the host clears RAM at a reboot; the directory is never touched.
TEST_F(HostPortTest, RamOnlyNvsForgetsEverythingAtAClearAndNeverWritesTheDirectory) {
  ctx.nvs_ram_only = 1;
  const Bytes seed(32, 0x5a), ckpt(40, 1);
  ASSERT_EQ(port.nvs_set(port.ctx, "id.seed", seed.data(), seed.size()), 0);
  ASSERT_EQ(port.nvs_set(port.ctx, "lv.ckpt", ckpt.data(), ckpt.size()), 0);
  Bytes out;
  ASSERT_EQ(get("id.seed", out), 0);
  EXPECT_EQ(out, seed);
  EXPECT_EQ(get("id.seed", out, 31), -2);
  const Bytes too_big(65, 0);
  EXPECT_LT(port.nvs_set(port.ctx, "big", too_big.data(), too_big.size()), 0);
  EXPECT_LT(port.nvs_set(port.ctx, "../escape", seed.data(), seed.size()), 0);
  iotw_host_port_nvs_ram_clear(&ctx);  // the reboot
  EXPECT_EQ(get("id.seed", out), -1);
  EXPECT_EQ(get("lv.ckpt", out), -1);
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(HostPortTest, NvsWithoutDirectoryFails) {
  ctx.nvs_dir[0] = '\0';
  const uint8_t v = 1;
  EXPECT_LT(port.nvs_set(port.ctx, "k", &v, 1), 0);
}

TEST_F(HostPortTest, CryptoMatchesStandardVectors) {
  uint8_t h[32];
  port.sha256(port.ctx, reinterpret_cast<const uint8_t *>("abc"), 3, h);
  const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                           0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                           0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  EXPECT_EQ(std::memcmp(h, abc, 32), 0);  // FIPS 180-2 example "abc"

  // RFC 8032 §7.1 TEST 1: seed -> public key, and the signature of the empty message.
  const Bytes seed = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  uint8_t pk[32], sk[64], sig[64];
  port.ed25519_seed_keypair(port.ctx, seed.data(), pk, sk);
  EXPECT_EQ(Bytes(pk, pk + 32), unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
  port.ed25519_sign(port.ctx, sk, nullptr, 0, sig);
  EXPECT_EQ(Bytes(sig, sig + 64), unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                                        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"));

  uint64_t t1 = port.now_ms(port.ctx), t2 = port.now_ms(port.ctx);
  EXPECT_LE(t1, t2);
}

TEST_F(HostPortTest, SendAndLogGoThroughCallbacks) {
  const uint8_t b[] = {1, 2, 3};
  EXPECT_EQ(port.link_send(port.ctx, b, 3), 0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0], (Bytes{1, 2, 3}));
  ctx.send = nullptr;
  EXPECT_LT(port.link_send(port.ctx, b, 3), 0);

  ctx.log = [](void *u, iotw_log_level level, const char *event, const char *detail) {
    static_cast<HostPortTest *>(u)->logged = std::to_string(level) + " " + event + " " + detail;
  };
  port.log(port.ctx, IOTW_LOG_WARN, "reattach", "link_timeout");
  EXPECT_EQ(logged, "2 reattach link_timeout");
}

TEST_F(HostPortTest, FirmwareKeepsIdentityAcrossRebootsOnDisk) {
  iotw_fw_config cfg{"host-1", "esp32", "0.1.0", 1, {}, nullptr, nullptr};
  static iotw_fw fw;  // as on a device: static RAM, not stack
  ASSERT_EQ(iotw_fw_boot(&fw, &cfg, &port), 0);
  Bytes pk(fw.pk, fw.pk + 32);
  init();
  ASSERT_EQ(iotw_fw_boot(&fw, &cfg, &port), 0);
  EXPECT_EQ(Bytes(fw.pk, fw.pk + 32), pk);
  EXPECT_EQ(fw.boot_count, 2u);

  ASSERT_EQ(sent.size(), 2u);
  iotw_frame_decoder dec;
  iotw_frame_decoder_init(&dec);
  const uint8_t *payload = nullptr;
  size_t len = 0;
  iotw_frame_status st = IOTW_FRAME_NONE;
  for (uint8_t b : sent[1]) st = iotw_frame_decoder_push(&dec, b, &payload, &len);
  ASSERT_EQ(st, IOTW_FRAME_OK);
  iotw_v1_Envelope env;
  ASSERT_EQ(iotw_msg_decode(payload, len, &env), 0);
  ASSERT_EQ(env.which_body, iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(env.body.hello.boot_count, 2u);
  EXPECT_EQ(Bytes(env.body.hello.pubkey, env.body.hello.pubkey + 32), pk);
}

TEST_F(HostPortTest, SeededPortDrawsTheHashDrbgOfItsSeedWithBootZero) {
  uint8_t seed[32];
  for (int i = 0; i < 32; i++) seed[i] = static_cast<uint8_t>(0xa0 + i);
  ctx.seeded = 1;
  std::memcpy(ctx.seed, seed, 32);
  ASSERT_EQ(iotw_host_port_init(&port, &ctx), 0);
  Bytes got(40);
  port.random_bytes(port.ctx, got.data(), got.size());
  auto block = [&](uint64_t i) {  // SHA-256(seed || boot 0 (u32 LE) || i (u64 LE)), as sodium_crypto.h states it
    Bytes in(seed, seed + 32);
    for (int k = 0; k < 4; k++) in.push_back(0);
    for (int k = 0; k < 8; k++) in.push_back(static_cast<uint8_t>(i >> (8 * k)));
    Bytes out(32);
    crypto_hash_sha256(out.data(), in.data(), in.size());
    return out;
  };
  EXPECT_EQ(Bytes(got.begin(), got.begin() + 32), block(0));
  const Bytes b1 = block(1);
  EXPECT_EQ(Bytes(got.begin() + 32, got.end()), Bytes(b1.begin(), b1.begin() + 8));
}

TEST_F(HostPortTest, SeededIdentityFollowsTheSeedOnABlankFlash) {
  // Two blank flashes and the same seed: the same device key; another seed: another key; no seed: the OS's.
  auto first_boot_pk = [&](const uint8_t *seed) {
    fs::remove_all(dir);
    ctx = iotw_host_port_ctx{};
    init();
    if (seed) {
      ctx.seeded = 1;
      std::memcpy(ctx.seed, seed, 32);
      EXPECT_EQ(iotw_host_port_init(&port, &ctx), 0);
    }
    iotw_fw_config cfg{"host-1", "esp32", "0.1.0", 1, {}, nullptr, nullptr};
    static iotw_fw fw;
    EXPECT_EQ(iotw_fw_boot(&fw, &cfg, &port), 0);
    return Bytes(fw.pk, fw.pk + 32);
  };
  uint8_t a[32], b[32];
  std::memset(a, 1, sizeof a);
  std::memset(b, 2, sizeof b);
  const Bytes pk_a = first_boot_pk(a);
  EXPECT_EQ(first_boot_pk(a), pk_a);
  EXPECT_NE(first_boot_pk(b), pk_a);
  EXPECT_NE(first_boot_pk(nullptr), first_boot_pk(nullptr)) << "unseeded: OS randomness";
}

/** The host port of a device that knows two trust nodes: one link each, select_node picks the one send writes to. */
struct TwoLinks {
  std::vector<Bytes> link[2];
  unsigned current = 9;  ///< none chosen yet
  std::vector<std::string> reasons;
};

/** The messages in one link's frames. */
std::vector<iotw_v1_Envelope> decode_frames(const std::vector<Bytes> &frames) {
  std::vector<iotw_v1_Envelope> out;
  for (const Bytes &f : frames) {
    iotw_frame_decoder dec;
    iotw_frame_decoder_init(&dec);
    for (uint8_t b : f) {
      const uint8_t *payload;
      size_t len;
      if (iotw_frame_decoder_push(&dec, b, &payload, &len) != IOTW_FRAME_OK) continue;
      iotw_v1_Envelope env;
      if (iotw_msg_decode(payload, len, &env) == 0) out.push_back(env);
    }
  }
  return out;
}

TEST_F(HostPortTest, SeveralTrustNodesSwitchTheLinkSendWritesTo) {
  TwoLinks links;
  ctx.user = &links;
  ctx.send = [](void *u, const uint8_t *b, size_t n) {
    auto *l = static_cast<TwoLinks *>(u);
    if (l->current > 1) return -1;
    l->link[l->current].emplace_back(b, b + n);
    return 0;
  };
  ctx.select_node = [](void *u, uint8_t i, const char *reason) {
    auto *l = static_cast<TwoLinks *>(u);
    l->current = i;
    l->reasons.emplace_back(reason);
  };
  ctx.node_count = 2;
  ASSERT_EQ(iotw_host_port_init(&port, &ctx), 0);
  EXPECT_EQ(port.node_count, 2u);
  iotw_fw_config cfg{"host-1", "esp32", "0.1.0", 1, {}, nullptr, nullptr};
  static iotw_fw fw;
  ASSERT_EQ(iotw_fw_boot(&fw, &cfg, &port), 0);
  ASSERT_EQ(decode_frames(links.link[0]).size(), 1u);  // Hello to the first node
  EXPECT_TRUE(links.link[1].empty());
  iotw_v1_Envelope err = iotw_v1_Envelope_init_zero;  // that node does not assign jobs
  err.which_body = iotw_v1_Envelope_error_tag;
  err.body.error.code = 6;
  uint8_t payload[IOTW_FRAME_MAX_PAYLOAD], wire[IOTW_FRAME_MAX_WIRE];
  const size_t n = iotw_msg_encode(&err, payload, sizeof payload);
  const size_t w = iotw_frame_encode(payload, n, wire, sizeof wire);
  iotw_fw_on_rx(&fw, wire, w);
  const auto on_second = decode_frames(links.link[1]);
  ASSERT_EQ(on_second.size(), 1u);
  EXPECT_EQ(on_second[0].which_body, iotw_v1_Envelope_hello_tag);
  EXPECT_EQ(links.reasons, (std::vector<std::string>{"boot", "not_assigning"}));
  EXPECT_EQ(links.link[0].size(), 1u);
}

TEST_F(HostPortTest, OneTrustNodeLeavesThePortWithoutANodeList) {
  ctx.select_node = [](void *, uint8_t, const char *) {};
  ctx.node_count = 1;
  ASSERT_EQ(iotw_host_port_init(&port, &ctx), 0);
  EXPECT_EQ(port.node_count, 0u);
  EXPECT_EQ(port.select_node, nullptr);
}

}  // namespace
