// ports/mcu (mcu_port.h) on the host: the hash DRBG is the documented SHA-256(seed || boot_count || i), the boot
// counter lives in NVS and moves the stream at every init, NVS failures are reported, and the hex parser is strict.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include "mcu_port.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

struct FakeBoard {
  static inline std::map<std::string, Bytes> nvs;
  static inline bool fail_writes = false;
  static inline std::string fail_key;
  static size_t link_read(uint8_t *, size_t) { return 0; }
  static int link_write(const uint8_t *, size_t) { return 0; }
  static void log_write(const char *) {}
  static uint64_t millis() { return 0; }
  static int nvs_get(const char *key, uint8_t *out, size_t cap, size_t *out_len) {
    auto it = nvs.find(key);
    if (it == nvs.end()) return -1;
    if (it->second.size() > cap) return -2;
    std::memcpy(out, it->second.data(), it->second.size());
    *out_len = it->second.size();
    return 0;
  }
  static int nvs_set(const char *key, const uint8_t *data, size_t len) {
    if (fail_writes || fail_key == key) return -1;
    nvs[key] = Bytes(data, data + len);
    return 0;
  }
  static void idle() {}
  static const iotw_mcu_board *board() {
    static const iotw_mcu_board b = {link_read, link_write, log_write, millis, nvs_get, nvs_set, idle};
    return &b;
  }
};

class McuPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    FakeBoard::nvs.clear();
    FakeBoard::fail_writes = false;
    FakeBoard::fail_key.clear();
    for (int i = 0; i < 32; i++) seed[i] = static_cast<uint8_t>(i * 7 + 1);
  }
  Bytes draw(size_t n) {
    Bytes out(n);
    port.random_bytes(port.ctx, out.data(), n);
    return out;
  }
  /** Block i of the DRBG as docs/firmware.md states it. */
  Bytes expected_block(uint32_t boots, uint64_t i) const {
    Bytes in(seed, seed + 32);
    for (int k = 0; k < 4; k++) in.push_back(static_cast<uint8_t>(boots >> (8 * k)));
    for (int k = 0; k < 8; k++) in.push_back(static_cast<uint8_t>(i >> (8 * k)));
    Bytes out(32);
    crypto_hash_sha256(out.data(), in.data(), in.size());
    return out;
  }
  uint8_t seed[32];
  iotw_port port{};
  iotw_mcu_port_ctx ctx{};
};

TEST_F(McuPortTest, RandomBytesAreTheDocumentedHashDrbg) {
  ASSERT_EQ(iotw_mcu_port_init(&port, &ctx, FakeBoard::board(), seed), 0);
  Bytes got = draw(40);  // one whole block, then 8 bytes of the next
  Bytes b0 = expected_block(1, 0), b1 = expected_block(1, 1);
  EXPECT_EQ(Bytes(got.begin(), got.begin() + 32), b0);
  EXPECT_EQ(Bytes(got.begin() + 32, got.end()), Bytes(b1.begin(), b1.begin() + 8));
  EXPECT_EQ(draw(32), expected_block(1, 2)) << "a new request starts at the next block";
}

TEST_F(McuPortTest, EveryInitBumpsTheBootCounterInNvsAndMovesTheStream) {
  ASSERT_EQ(iotw_mcu_port_init(&port, &ctx, FakeBoard::board(), seed), 0);
  Bytes first = draw(32);
  EXPECT_EQ(FakeBoard::nvs["drbg.boots"], (Bytes{1, 0, 0, 0}));
  ASSERT_EQ(iotw_mcu_port_init(&port, &ctx, FakeBoard::board(), seed), 0);
  EXPECT_EQ(FakeBoard::nvs["drbg.boots"], (Bytes{2, 0, 0, 0}));
  Bytes second = draw(32);
  EXPECT_NE(first, second) << "a reset must not repeat the random stream";
  EXPECT_EQ(second, expected_block(2, 0));
}

TEST_F(McuPortTest, InitFailsWhenNvsCannotBeWritten) {
  FakeBoard::fail_writes = true;
  EXPECT_EQ(iotw_mcu_port_init(&port, &ctx, FakeBoard::board(), seed), -1);
}

TEST_F(McuPortTest, PortCryptoIsEd25519AndSha256) {
  ASSERT_EQ(iotw_mcu_port_init(&port, &ctx, FakeBoard::board(), seed), 0);
  uint8_t pk[32], sk[64], sig[64], h[32], ref[32];
  port.ed25519_seed_keypair(port.ctx, seed, pk, sk);
  const uint8_t msg[] = "IOTW";
  port.ed25519_sign(port.ctx, sk, msg, sizeof msg, sig);
  EXPECT_EQ(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
  EXPECT_EQ(port.ed25519_verify(port.ctx, pk, msg, sizeof msg, sig), 0);
  sig[5] ^= 1;
  EXPECT_NE(port.ed25519_verify(port.ctx, pk, msg, sizeof msg, sig), 0);
  port.sha256(port.ctx, msg, sizeof msg, h);
  crypto_hash_sha256(ref, msg, sizeof msg);
  EXPECT_EQ(0, std::memcmp(h, ref, 32));
  EXPECT_EQ(port.link_kind, IOTW_LINK_SERIAL);
}

TEST_F(McuPortTest, RunReturnsWhenTheCoreCannotBootAndTheIdentityIsFromTheDrbg) {
  FakeBoard::fail_key = "id.seed";
  ASSERT_EQ(iotw_mcu_port_init(&port, &ctx, FakeBoard::board(), seed), 0);
  iotw_fw fw;
  iotw_fw_config cfg{};
  cfg.name = "t";
  cfg.model = "m";
  cfg.fw_version = "v";
  EXPECT_EQ(iotw_mcu_run(&fw, &cfg, &port), -1) << "iotw_fw_boot fails: NVS id.seed not writable";
  EXPECT_EQ(FakeBoard::nvs.count("id.seed"), 0u);
}

TEST_F(McuPortTest, Hex32AcceptsExactly64HexDigits) {
  uint8_t out[32];
  std::string good(64, 'a');
  good[0] = 'F';
  EXPECT_EQ(iotw_mcu_hex32(good.c_str(), out), 0);
  EXPECT_EQ(out[0], 0xFA);
  EXPECT_EQ(iotw_mcu_hex32(std::string(62, '0').c_str(), out), -1);
  EXPECT_EQ(iotw_mcu_hex32(std::string(66, '0').c_str(), out), -1);
  std::string bad(64, '0');
  bad[10] = 'g';
  EXPECT_EQ(iotw_mcu_hex32(bad.c_str(), out), -1);
  EXPECT_EQ(iotw_mcu_hex32(nullptr, out), -1);
}

}  // namespace
