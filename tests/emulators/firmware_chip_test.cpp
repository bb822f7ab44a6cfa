// FirmwareChip, the chip model DeviceRuntime and sim::SimDevice share: driven here with a ManualClock and a recording
// owner (ports/host with a seed and RAM-only NVS: no files, no sockets).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/chip_profile.hpp"
#include "firmware_chip.hpp"

extern "C" {
#include "host_port.h"
}

namespace iotw::emu {
namespace {

/// Records what the chip asks of its owner.
struct Recorder : FirmwareChip::Owner {
  bool write(std::size_t node, std::vector<uint8_t> bytes) override {
    writes.push_back({node, std::move(bytes)});
    return true;
  }
  void wake_after(uint64_t us) override { wakes.push_back(us); }
  void emit(const char* kind, nlohmann::json fields) override { events.push_back({kind, std::move(fields)}); }
  void booted() override { boots++; }
  std::vector<nlohmann::json> of(const std::string& kind) const {
    std::vector<nlohmann::json> out;
    for (const auto& [k, f] : events)
      if (k == kind) out.push_back(f);
    return out;
  }
  std::vector<std::pair<std::size_t, std::vector<uint8_t>>> writes;
  std::vector<uint64_t> wakes;
  std::vector<std::pair<std::string, nlohmann::json>> events;
  int boots = 0;
};

class FirmwareChipTest : public ::testing::Test {
 protected:
  FirmwareChip& chip(const std::string& model, std::string behaviour = "honest") {
    profile_ = &chip_profile(model);
    ctx_ = {};
    ctx_.kind = IOTW_LINK_SERIAL;
    ctx_.nvs_ram_only = 1;
    ctx_.seeded = 1;
    for (int i = 0; i < 32; i++) ctx_.seed[i] = static_cast<uint8_t>(i);
    iotw_port port{};
    if (iotw_host_port_init(&port, &ctx_) != 0) throw std::runtime_error("libsodium");
    FirmwareChipConfig cfg;
    cfg.name = "dev-01";
    cfg.behaviour = std::move(behaviour);
    chip_ = std::make_unique<FirmwareChip>(*profile_, clock_, cfg, port, owner_);
    return *chip_;
  }
  uint64_t now_us() const { return clock_.now_ns() / 1000; }

  ManualClock clock_{50'000};
  const ChipProfile* profile_ = nullptr;
  iotw_host_port_ctx ctx_{};
  Recorder owner_;
  std::unique_ptr<FirmwareChip> chip_;
};

TEST_F(FirmwareChipTest, TheHelloIsHeldUntilTheBootAndTheKeyDerivationAreDone) {
  FirmwareChip& c = chip("esp32");
  const uint64_t start_us = now_us();
  c.start();
  EXPECT_EQ(owner_.boots, 1);
  EXPECT_EQ(c.state(), IOTW_FW_HELLO_SENT);
  ASSERT_EQ(c.frames_held(), 1u) << "the Hello waits for the CPU";
  EXPECT_TRUE(owner_.writes.empty());
  const uint64_t due = c.cpu_busy_until_us();
  const uint64_t busy = profile_->boot_ms * 1000ull + static_cast<uint64_t>(profile_->ed25519_keypair_us());
  EXPECT_GE(due, start_us + busy);
  EXPECT_LT(due, start_us + busy + 1000);
  ASSERT_FALSE(owner_.wakes.empty());
  EXPECT_EQ(owner_.wakes.back(), due - start_us) << "the owner is asked to wake the chip when the frame is due";

  clock_.advance_ns((due - now_us() - 1) * 1000);  // 1 µs early
  c.release_held();
  EXPECT_EQ(c.frames_held(), 1u);
  EXPECT_TRUE(owner_.writes.empty());
  clock_.advance_ns(1000);
  c.release_held();
  EXPECT_EQ(c.frames_held(), 0u);
  ASSERT_EQ(owner_.writes.size(), 1u);
  EXPECT_EQ(owner_.writes[0].first, 0u) << "to trust node 0";

  // A software reset: a new banner, the boot time once more.
  c.reboot();
  EXPECT_EQ(owner_.boots, 2);
  ASSERT_EQ(owner_.of("reset").size(), 1u);
  EXPECT_EQ(owner_.of("reset")[0]["cause"], "software");
  EXPECT_EQ(owner_.of("reset")[0]["reset_reason"], profile_->sw_reset);
  EXPECT_EQ(c.reset_reason(), profile_->sw_reset);
  EXPECT_EQ(c.frames_held(), 1u);
  EXPECT_GE(c.cpu_busy_until_us(), now_us() + profile_->boot_ms * 1000ull);
}

TEST_F(FirmwareChipTest, AHungFirmwareIsResetByTheWatchdogAfterItsTimeoutOnTheDevicesClock) {
  FirmwareChip& c = chip("esp8266");
  c.start();
  clock_.advance(profile_->boot_ms + 100);
  c.release_held();
  c.tick();
  c.hang();
  EXPECT_TRUE(c.hung());
  ASSERT_EQ(owner_.of("hung").size(), 1u);
  EXPECT_EQ(owner_.of("hung")[0]["watchdog_timeout_ms"], profile_->wdt_timeout_ms);
  EXPECT_FALSE(c.receive(reinterpret_cast<const uint8_t*>("\0"), 1)) << "a hung firmware hears nothing";
  // The device's clock runs 10 % fast: the watchdog bites after timeout / 1.1 of the owner's time.
  c.skew_clock(0, 100'000);
  const uint64_t bite_ms = (profile_->wdt_timeout_ms * 10 + 10) / 11;
  clock_.advance(bite_ms - 2);
  c.tick();
  EXPECT_TRUE(owner_.of("watchdog_reset").empty());
  clock_.advance(2);
  c.tick();
  ASSERT_EQ(owner_.of("watchdog_reset").size(), 1u);
  EXPECT_GE(owner_.of("watchdog_reset")[0]["starved_ms"].get<uint64_t>(), profile_->wdt_timeout_ms);
  ASSERT_EQ(owner_.of("reset").size(), 1u);
  EXPECT_EQ(owner_.of("reset")[0]["cause"], "watchdog");
  EXPECT_EQ(owner_.of("reset")[0]["reset_reason"], profile_->wdt_reset);
  EXPECT_FALSE(c.hung());
  EXPECT_EQ(owner_.of("clock_skewed").size(), 1u);
  EXPECT_EQ(c.clock_json()["ppm"], 100'000.0);
}

TEST_F(FirmwareChipTest, PowerOffDropsTheHeldFramesAndPowerOnBootsAgain) {
  FirmwareChip& c = chip("esp32");
  c.start();
  ASSERT_EQ(c.frames_held(), 1u);
  c.power_off();
  EXPECT_FALSE(c.powered());
  EXPECT_EQ(c.frames_held(), 0u) << "frames waiting for the CPU die with it";
  EXPECT_EQ(c.state(), IOTW_FW_OFF);
  EXPECT_EQ(c.reset_reason(), 0u);
  EXPECT_EQ(c.report_usage(1, 1, 1), 0);
  clock_.advance(10'000);
  c.release_held();
  c.tick();
  EXPECT_TRUE(owner_.writes.empty());
  EXPECT_EQ(owner_.of("state").back()["state"], "off");

  c.power_on(IOTW_RESET_BROWNOUT);
  ASSERT_EQ(owner_.of("reset").size(), 1u);
  EXPECT_EQ(owner_.of("reset")[0]["reset_reason"], IOTW_RESET_BROWNOUT);
  EXPECT_FALSE(owner_.of("reset")[0].contains("cause"));
  EXPECT_EQ(owner_.of("reset")[0]["boot_count"], 2u) << "NVS kept the boot counter";
  EXPECT_EQ(c.frames_held(), 1u) << "the Hello waits for the boot again";
  clock_.advance(profile_->boot_ms + 50);
  c.release_held();
  EXPECT_EQ(owner_.writes.size(), 1u);
}

TEST_F(FirmwareChipTest, TheBannerAndTheStateAndLogLinesGoToTheOwner) {
  FirmwareChip& c = chip("esp32");
  c.emit_boot_banner({{"link", "/dev/pts/9"}});
  c.start();
  ASSERT_FALSE(owner_.events.empty());
  const auto& banner = owner_.events.front();
  EXPECT_EQ(banner.first, "boot_banner");
  EXPECT_EQ(banner.second["link"], "/dev/pts/9");
  EXPECT_EQ(banner.second["model"], "esp32");
  EXPECT_EQ(banner.second["boot_ms"], profile_->boot_ms);
  EXPECT_EQ(owner_.of("state").back()["state"], "hello_sent");
  EXPECT_FALSE(owner_.of("log").empty()) << "the firmware's log lines, as {level, event, detail}";
  EXPECT_TRUE(owner_.of("log")[0].contains("level"));
}

TEST_F(FirmwareChipTest, FaultsNeedAPoweredChip) {
  FirmwareChip& c = chip("esp32");
  EXPECT_THROW(c.reboot(), std::runtime_error);
  EXPECT_THROW(c.hang(), std::runtime_error);
  EXPECT_THROW(chip("esp32", "no_such_behaviour"), std::invalid_argument);
}

}  // namespace
}  // namespace iotw::emu
