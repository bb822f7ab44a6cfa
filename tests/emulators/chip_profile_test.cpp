// Chip profiles (issue 4, "Chip profiles"; docs/emulators.md): the four chips' figures, the crypto and boot times
// derived from their clocks, the firmware's static RAM against each chip's budget (and its refusal), and the
// device runtime holding the firmware's output for the boot and for signatures on the device's clock. Time comes
// only from a ManualClock.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "clock.hpp"
#include "device_runtime.hpp"
#include "common/chip_profile.hpp"
#include "fake_trust_node.hpp"
#include "pool_config.hpp"
#include "firmware_footprint.hpp"
#include "ram_budget.hpp"

namespace {
using namespace iotw::emu;

TEST(ChipProfile, AllFourChipsHaveProfilesAndEspModelsListsThem) {
  EXPECT_EQ(chip_models(), (std::vector<std::string>{"esp8266", "esp32", "rtl8710", "rtl8195"}));
  EXPECT_EQ(serial_soc_models(), (std::vector<std::string>{"esp8266", "esp32"}));
  EXPECT_THROW(chip_profile("esp33"), std::invalid_argument);
  struct Want {
    const char* model;
    const char* chip;
    int mhz, ram_kib;
    uint32_t app_ram, flash, boot_ms, wdt_ms, wdt_reset;
  };
  for (const Want& w : {Want{"esp8266", "ESP8266EX", 80, 80, 51200, 2u << 20, 250, 3200, 7},
                        Want{"esp32", "ESP32-D0WD", 240, 520, 122880, 4u << 20, 300, 5000, 6},
                        Want{"rtl8710", "RTL8710BN", 125, 256, 98304, 1u << 20, 200, 5000, 7},
                        Want{"rtl8195", "RTL8195AM", 166, 512, 196608, 2u << 20, 400, 5000, 7}}) {
    const ChipProfile& p = chip_profile(w.model);
    SCOPED_TRACE(w.model);
    EXPECT_EQ(p.model, w.model);
    EXPECT_EQ(p.chip, w.chip);
    EXPECT_EQ(p.cpu_mhz, w.mhz);
    EXPECT_EQ(p.ram_kib, w.ram_kib);
    EXPECT_EQ(p.app_ram_bytes, w.app_ram);
    EXPECT_LT(p.app_ram_bytes, static_cast<uint32_t>(p.ram_kib) * 1024);
    EXPECT_EQ(p.flash_bytes, w.flash);
    EXPECT_LT(p.app_flash_bytes, p.flash_bytes);
    EXPECT_EQ(p.boot_ms, w.boot_ms);
    EXPECT_EQ(p.power_on_reset, 1u);
    EXPECT_EQ(p.sw_reset, 3u);
    EXPECT_EQ(p.wdt_reset, w.wdt_reset);
    EXPECT_EQ(p.wdt_timeout_ms, w.wdt_ms);
    EXPECT_FALSE(p.boot_banner.empty());
    EXPECT_FALSE(p.sw_reset_banner.empty());
    EXPECT_FALSE(p.wdt_reset_banner.empty());
  }
  EXPECT_EQ(chip_profile("rtl8195").boot_banner[1], "ROM Version: 0.3");
  EXPECT_EQ(chip_profile("rtl8710").boot_banner[0], "<RTL8195A>");  // the AmebaZ ROM's own name for itself
}

TEST(ChipProfile, CryptoTimesAreCyclesOverTheClock) {
  // Ed25519 from X25519 in C (2x the published assembly) times lib25519's sign / verify / key ratios.
  struct Want {
    const char* model;
    double x25519_c;  // cycles
  };
  for (const Want& w : {Want{"esp8266", 3'589'850 * 2.0}, Want{"esp32", 907'240 * 2.0 * 1.5},
                        Want{"rtl8710", 907'240 * 2.0}, Want{"rtl8195", 907'240 * 2.0 * 1.5}}) {
    const ChipProfile& p = chip_profile(w.model);
    SCOPED_TRACE(w.model);
    EXPECT_NEAR(p.ed25519_sign_cycles, w.x25519_c * 0.37, 2);
    EXPECT_NEAR(p.ed25519_verify_cycles, w.x25519_c * 1.29, 2);
    EXPECT_NEAR(p.ed25519_keypair_cycles, w.x25519_c * 0.33, 2);
    EXPECT_DOUBLE_EQ(p.ed25519_sign_us(), static_cast<double>(p.ed25519_sign_cycles) / p.cpu_mhz);
    EXPECT_DOUBLE_EQ(p.ed25519_verify_us(), static_cast<double>(p.ed25519_verify_cycles) / p.cpu_mhz);
    EXPECT_GT(p.ed25519_verify_us(), p.ed25519_sign_us());
    // SHA-256: whole 64-byte blocks after padding (9 bytes of 0x80 + length).
    EXPECT_DOUBLE_EQ(p.sha256_us(0), 1.0 * p.sha256_block_cycles / p.cpu_mhz);
    EXPECT_DOUBLE_EQ(p.sha256_us(55), 1.0 * p.sha256_block_cycles / p.cpu_mhz);
    EXPECT_DOUBLE_EQ(p.sha256_us(56), 2.0 * p.sha256_block_cycles / p.cpu_mhz);
    EXPECT_DOUBLE_EQ(p.sha256_us(120), 3.0 * p.sha256_block_cycles / p.cpu_mhz);  // a block header: 120 bytes
  }
  // The figures in docs/emulators.md's table (µs, rounded).
  EXPECT_NEAR(chip_profile("esp8266").ed25519_sign_us(), 33206, 1);
  EXPECT_NEAR(chip_profile("esp8266").ed25519_verify_us(), 115773, 1);
  EXPECT_NEAR(chip_profile("esp32").ed25519_sign_us(), 4196, 1);
  EXPECT_NEAR(chip_profile("esp32").ed25519_verify_us(), 14629, 1);
  EXPECT_NEAR(chip_profile("rtl8710").ed25519_sign_us(), 5371, 1);
  EXPECT_NEAR(chip_profile("rtl8710").ed25519_verify_us(), 18725, 1);
  EXPECT_NEAR(chip_profile("rtl8195").ed25519_sign_us(), 6066, 1);
  EXPECT_NEAR(chip_profile("rtl8195").ed25519_verify_us(), 21151, 1);
  EXPECT_TRUE(chip_profile("esp32").sha256_hardware);
  EXPECT_NEAR(chip_profile("esp32").sha256_us(64), 2 * 400 / 240.0, 1e-9);
  EXPECT_NEAR(chip_profile("esp8266").sha256_us(64), 2 * 4000 / 80.0, 1e-9);
}

TEST(RamBudget, FirmwareRamIsTheMeasuredFootprintOfTheChipsCrossTarget) {
  // Each chip takes the figures measured on the cross target that stands for it (firmware_footprint.hpp, written
  // by tools/firmware_size_report.py); the esp32 uses the lx106 build as its proxy.
  const std::map<std::string, std::string> target_of = {
      {"esp8266", "lx106"}, {"esp32", "lx106"}, {"rtl8710", "cortex-m4"}, {"rtl8195", "cortex-m3"}};
  for (const auto& m : chip_models()) {
    const FirmwareRam r = firmware_ram(m);
    EXPECT_EQ(r.target, target_of.at(m)) << m;
    const FirmwareFootprint* row = nullptr;
    for (const auto& f : kFirmwareFootprints)
      if (r.target == f.target) row = &f;
    ASSERT_NE(row, nullptr) << m;
    EXPECT_EQ(r.static_ram, row->static_ram_bytes) << m;
    EXPECT_EQ(r.stack, row->stack_bytes) << m;
    EXPECT_EQ(r.total(), row->static_ram_bytes + row->stack_bytes) << m;
    // A measurement, not a placeholder: an image has data or bss, a call path, and code.
    EXPECT_GT(row->static_ram_bytes, 0u) << m;
    EXPECT_GT(row->stack_bytes, 0u) << m;
    EXPECT_GT(row->flash_bytes, 0u) << m;
    const RamCheck c = check_ram_budget("d", m, "soc", 0);
    EXPECT_TRUE(c.applies) << m;
    EXPECT_TRUE(c.fits) << m << ": " << c.message;
    EXPECT_EQ(c.available, chip_profile(m).app_ram_bytes);
    EXPECT_EQ(c.needed, r.total()) << m;
    EXPECT_LE(row->flash_bytes, chip_profile(m).app_flash_bytes) << m;
  }
  EXPECT_EQ(check_ram_budget("d", "dps", "soc", 0).chip_model, "esp8266");
  EXPECT_EQ(check_ram_budget("d", "dps", "soc", 0).needed, firmware_ram("esp8266").total());
  EXPECT_EQ(check_ram_budget("d", "bulb", "soc", 0).chip_model, "esp32");
  EXPECT_THROW(check_ram_budget("d", "esp33", "soc", 0), std::invalid_argument);
  EXPECT_THROW(firmware_ram("dps"), std::invalid_argument);  // a pool model, not a chip: check_ram_budget maps it
}

TEST(RamBudget, ALowerBudgetIsRefusedNamingDeviceChipAndBytes) {
  const size_t need = firmware_ram("rtl8710").total();
  const RamCheck c = check_ram_budget("rtl-07", "rtl8710", "soc", 8);
  EXPECT_FALSE(c.fits);
  EXPECT_EQ(c.available, 8192u);
  EXPECT_EQ(c.message, "rtl-07: the firmware needs " + std::to_string(need) +
                           " bytes of static RAM but the RTL8710BN (rtl8710) leaves 8192 bytes to the application "
                           "(ram_budget_kib = 8); refused");
  // A budget just big enough fits.
  const size_t need_esp = firmware_ram("esp8266").total();
  EXPECT_TRUE(check_ram_budget("d", "esp8266", "soc", static_cast<uint32_t>((need_esp + 1023) / 1024)).fits);
  EXPECT_FALSE(check_ram_budget("d", "esp8266", "soc", static_cast<uint32_t>((need_esp - 1) / 1024)).fits);
  // AT mode: the firmware runs on the appliance MCU; the module's budget is not checked.
  const RamCheck at = check_ram_budget("d", "rtl8710", "at", 1);
  EXPECT_FALSE(at.applies);
  EXPECT_TRUE(at.fits);
}

TEST(RamBudget, PoolKeyIsReadAndRefusedInAtMode) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto ok = dir / "iotw_pool_ram_ok.toml";
  std::ofstream(ok) << "[[device]]\nname = \"e\"\nmodel = \"esp32\"\nlink = \"/dev/pts/9\"\nnvs_dir = \"n\"\n"
                       "ram_budget_kib = 12\n";
  EXPECT_EQ(load_pool_config(ok).devices.at(0).ram_budget_kib, 12u);
  const auto at = dir / "iotw_pool_ram_at.toml";
  std::ofstream(at) << "[[device]]\nname = \"e\"\nmodel = \"rtl8710\"\nmode = \"at\"\n"
                       "trust_node_udp = \"127.0.0.1:5\"\nnvs_dir = \"n\"\nram_budget_kib = 12\n";
  try {
    load_pool_config(at);
    ADD_FAILURE() << "accepted";
  } catch (const PoolConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(":7:18: 'ram_budget_kib' does not apply to mode 'at'"), std::string::npos)
        << e.what();
  }
  const auto range = dir / "iotw_pool_ram_range.toml";
  std::ofstream(range) << "[[device]]\nname = \"e\"\nmodel = \"esp32\"\nlink = \"/dev/pts/9\"\nnvs_dir = \"n\"\n"
                          "ram_budget_kib = 0\n";
  EXPECT_THROW(load_pool_config(range), PoolConfigError);
}

class ChipTimingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    char name[64];
    ASSERT_EQ(openpty(&master_, &slave_, name, nullptr, nullptr), 0);
    termios t{};
    tcgetattr(slave_, &t);
    cfmakeraw(&t);
    tcsetattr(slave_, TCSANOW, &t);
    tcgetattr(master_, &t);
    cfmakeraw(&t);
    tcsetattr(master_, TCSANOW, &t);
    fcntl(master_, F_SETFL, fcntl(master_, F_GETFL) | O_NONBLOCK);
    slave_path_ = name;
    dir_ = std::filesystem::temp_directory_path() / ("iotw_chip_timing_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    log_ = std::make_unique<EventLog>((dir_ / "events.jsonl").string());
  }
  void TearDown() override {
    dev_.reset();
    ::close(master_);
    ::close(slave_);
    std::filesystem::remove_all(dir_);
  }
  DeviceRuntime& device(const std::string& model) {
    DeviceSpec spec;
    spec.name = model + "-01";
    spec.model = model;
    spec.link = slave_path_;
    spec.nvs_dir = (dir_ / "nvs").string();
    dev_ = std::make_unique<DeviceRuntime>(io_, spec, chip_profile(model), *log_, &clock_);
    dev_->start();
    return *dev_;
  }
  /// Bytes the device wrote to its link so far (non-blocking).
  size_t drain() {
    size_t n = 0;
    uint8_t buf[1024];
    for (ssize_t k; (k = ::read(master_, buf, sizeof buf)) > 0;) n += static_cast<size_t>(k);
    return n;
  }

  boost::asio::io_context io_;  // never run: only tick() releases frames
  iotw::ManualClock clock_{50'000};
  int master_ = -1, slave_ = -1;
  std::string slave_path_;
  std::filesystem::path dir_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<DeviceRuntime> dev_;
};

TEST_F(ChipTimingTest, TheFirstHelloWaitsForTheBootTimeAndTheKeyDerivation) {
  for (const char* model : {"esp32", "rtl8195"}) {
    SCOPED_TRACE(model);
    const ChipProfile& p = chip_profile(model);
    const uint64_t start_us = clock_.now_ms() * 1000;
    DeviceRuntime& d = device(model);
    EXPECT_EQ(d.state(), IOTW_FW_HELLO_SENT);
    EXPECT_EQ(d.frames_held(), 1u) << "the Hello waits for the boot";
    // Boot, then the seed's key pair (and any hashing of the boot) before the Hello leaves.
    const uint64_t due = d.cpu_busy_until_us();
    EXPECT_GE(due, start_us + p.boot_ms * 1000 + static_cast<uint64_t>(p.ed25519_keypair_us()));
    EXPECT_LT(due, start_us + p.boot_ms * 1000 + static_cast<uint64_t>(p.ed25519_keypair_us()) + 1000);
    const uint64_t due_ms = (due + 999) / 1000;
    clock_.advance(due_ms - 1 - clock_.now_ms());
    d.tick();
    EXPECT_EQ(d.frames_held(), 1u);
    EXPECT_EQ(drain(), 0u);
    clock_.advance(1);
    d.tick();
    EXPECT_EQ(d.frames_held(), 0u);
    EXPECT_GT(drain(), 0u) << "the Hello is on the wire";
    // A software reset boots again: the next Hello waits for boot_ms once more.
    d.reboot();
    EXPECT_EQ(d.frames_held(), 1u);
    clock_.advance(p.boot_ms - 1);
    d.tick();
    EXPECT_EQ(d.frames_held(), 1u);
    clock_.advance(100);
    d.tick();
    EXPECT_EQ(d.frames_held(), 0u);
    drain();
    dev_.reset();
    std::filesystem::remove_all(dir_ / "nvs");
  }
}

TEST_F(ChipTimingTest, ASignedProveLeavesAfterTheChipsSigningTime) {
  const ChipProfile& p = chip_profile("esp8266");
  DeviceRuntime& d = device("esp8266");
  clock_.advance(p.boot_ms + 100);
  d.tick();
  ASSERT_EQ(d.frames_held(), 0u);
  iotw::test::FakeTrustNode node(master_);
  iotw_v1_Envelope m;
  ASSERT_TRUE(node.expect(iotw_v1_Envelope_hello_tag, m, 1000));
  iotw_v1_Envelope ch = iotw_v1_Envelope_init_zero;
  ch.which_body = iotw_v1_Envelope_challenge_tag;
  randombytes_buf(ch.body.challenge.nonce, 32);
  node.send(ch);
  const uint64_t sent_us = clock_.now_ms() * 1000;
  for (int i = 0; i < 200 && d.frames_held() == 0; i++) {  // the runtime reads the PTY on its (unrun) io_context
    io_.poll();
    if (d.frames_held() == 0) ::usleep(5000);
  }
  ASSERT_EQ(d.state(), IOTW_FW_PROVING);
  ASSERT_EQ(d.frames_held(), 1u) << "the Prove waits for the signature";
  const uint64_t due = d.cpu_busy_until_us();
  EXPECT_GE(due, sent_us + static_cast<uint64_t>(p.ed25519_sign_us()));
  EXPECT_LT(due, sent_us + static_cast<uint64_t>(p.ed25519_sign_us() + p.sha256_us(256) * 4) + 1);
  clock_.advance((due - sent_us) / 1000 - 1);  // just before the signature is done
  d.tick();
  EXPECT_EQ(d.frames_held(), 1u);
  clock_.advance(2);
  d.tick();
  EXPECT_EQ(d.frames_held(), 0u);
  EXPECT_TRUE(node.expect(iotw_v1_Envelope_prove_tag, m, 1000));
}

}  // namespace
