// ports/sim: determinism from the seed, virtual time driving the firmware's timers, in-RAM NVS.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "iotw/firmware.h"
#include "sim_port.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

struct SimDevice {
  iotw_sim_port_ctx ctx{};
  iotw_port port{};
  iotw_fw fw{};
  iotw_fw_config cfg{"sim-1", "esp32", "0.1.0", 0, {}, nullptr, nullptr};
  std::vector<Bytes> sent;

  explicit SimDevice(uint64_t seed) {
    uint8_t s[32] = {};  // a stand-in component seed: the u64 in its first 8 bytes
    for (int i = 0; i < 8; ++i) s[i] = static_cast<uint8_t>(seed >> (8 * i));
    ctx.user = this;
    ctx.send = [](void *u, const uint8_t *b, size_t n) {
      static_cast<SimDevice *>(u)->sent.emplace_back(b, b + n);
      return 0;
    };
    EXPECT_EQ(iotw_sim_port_init(&port, &ctx, s), 0);
  }
  int boot() { return iotw_fw_boot(&fw, &cfg, &port); }
};

TEST(SimPort, SameSeedGivesByteIdenticalDevices) {
  SimDevice a(42), b(42), c(43);
  ASSERT_EQ(a.boot(), 0);
  ASSERT_EQ(b.boot(), 0);
  ASSERT_EQ(c.boot(), 0);
  EXPECT_EQ(a.sent, b.sent);
  EXPECT_EQ(std::memcmp(a.fw.pk, b.fw.pk, 32), 0);
  EXPECT_NE(std::memcmp(a.fw.pk, c.fw.pk, 32), 0);
}

TEST(SimPort, VirtualClockDrivesHelloRetry) {
  SimDevice d(7);
  d.ctx.now_ms = 500;
  ASSERT_EQ(d.boot(), 0);
  ASSERT_EQ(d.sent.size(), 1u);
  d.ctx.now_ms += IOTW_FW_HELLO_RETRY_MS - 1;
  iotw_fw_poll(&d.fw);
  EXPECT_EQ(d.sent.size(), 1u);
  d.ctx.now_ms += 1;
  iotw_fw_poll(&d.fw);
  EXPECT_EQ(d.sent.size(), 2u);
  EXPECT_EQ(d.sent[0], d.sent[1]) << "the retried Hello is the same Hello";
}

TEST(SimPort, NvsKeepsIdentityAcrossRebootsAndReportsFullFlash) {
  SimDevice d(9);
  ASSERT_EQ(d.boot(), 0);
  Bytes pk(d.fw.pk, d.fw.pk + 32);
  ASSERT_EQ(d.boot(), 0);
  EXPECT_EQ(Bytes(d.fw.pk, d.fw.pk + 32), pk);
  EXPECT_EQ(d.fw.boot_count, 2u);

  const uint8_t v[IOTW_SIM_NVS_VALUE_MAX + 1] = {};
  EXPECT_LT(d.port.nvs_set(d.port.ctx, "too.big", v, sizeof v), 0);
  for (unsigned i = 0; i < IOTW_SIM_NVS_SLOTS - 2; i++) {
    std::string key = "k" + std::to_string(i);
    ASSERT_EQ(d.port.nvs_set(d.port.ctx, key.c_str(), v, 4), 0) << key;
  }
  EXPECT_LT(d.port.nvs_set(d.port.ctx, "one.more", v, 4), 0) << "table full";
  EXPECT_EQ(d.port.nvs_set(d.port.ctx, "k0", v, 8), 0) << "overwriting needs no free slot";

  SimDevice wiped(9);  // a blank flash: fresh identity, boot_count 1
  ASSERT_EQ(wiped.boot(), 0);
  EXPECT_EQ(wiped.fw.boot_count, 1u);
}

}  // namespace
