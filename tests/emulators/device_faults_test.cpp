// Device faults of the emulator pool (docs/faults.md "Device faults"): the control channel's command set
// (PoolControl, and ControlServer on a real UNIX-domain socket), the chips' watchdog timing and the device
// clock's skew. Time comes only from a ManualClock: no assertion depends on the wall clock.
#include <gtest/gtest.h>
#include <pty.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <fstream>
#include <thread>

#include "clock.hpp"
#include "device_clock.hpp"
#include "device_runtime.hpp"
#include "dps_chip/dps_device.hpp"
#include "esp_wifi/soc_module.hpp"
#include "pool_control.hpp"
#include "watchdog.hpp"

namespace {
using namespace iotw::emu;
using nlohmann::json;

TEST(Watchdog, BitesExactlyAtItsTimeoutOnTheClockItIsGiven) {
  iotw::ManualClock clock(1000);
  Watchdog wdt(clock, 5000);
  clock.advance(4999);
  EXPECT_FALSE(wdt.expired());
  wdt.feed();
  clock.advance(4999);
  EXPECT_FALSE(wdt.expired());
  EXPECT_EQ(wdt.starved_ms(), 4999u);
  clock.advance(1);
  EXPECT_TRUE(wdt.expired());
  Watchdog off(clock, 0);
  clock.advance(1'000'000);
  EXPECT_FALSE(off.expired());
}

TEST(SkewedClock, OffsetAndRateApplyFromTheSkewOnAndKeptWhenTheRateRecovers) {
  iotw::ManualClock base(10'000);
  SkewedClock dev(base);
  EXPECT_EQ(dev.now_ms(), 10'000u);
  dev.skew(+1500, 100'000);  // +1.5 s now, then 10 % fast
  EXPECT_EQ(dev.now_ms(), 11'500u);
  base.advance(1000);
  EXPECT_EQ(dev.now_ms(), 12'600u);
  EXPECT_EQ(dev.drift_ms(), 1600);
  dev.skew(0, 0);  // nominal rate again; the accumulated 1.6 s stay
  base.advance(1000);
  EXPECT_EQ(dev.drift_ms(), 1600);
  dev.skew(-20'000, -500'000);  // a step back below 0 is clamped; then half speed
  EXPECT_EQ(dev.now_ms(), 0u);
  base.advance(2000);
  EXPECT_EQ(dev.now_ms(), 1000u);
  dev.reset();
  EXPECT_EQ(dev.now_ms(), base.now_ms());
}

TEST(SkewedClock, SleepingOnASkewedClockWaitsTheBaseTimeItsRateNeeds) {
  iotw::ManualClock base(10'000);  // a ManualClock's sleep jumps it: the waits are exact and take no time
  SkewedClock dev(base);
  dev.skew(0, 1'000'000);  // twice the base rate
  dev.sleep_until_ns(dev.now_ns() + 1'000'000'000);  // one device second = half a base second
  EXPECT_EQ(base.now_ms(), 10'500u);
  EXPECT_GE(dev.now_ns(), 11'000'000'000u);
  const uint64_t before = base.now_ns();
  dev.sleep_until_ns(dev.now_ns() - 1);  // already past: no wait
  EXPECT_EQ(base.now_ns(), before);
}

class DeviceFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    char name[64];
    ASSERT_EQ(openpty(&master_, &slave_, name, nullptr, nullptr), 0);
    termios t{};
    tcgetattr(slave_, &t);
    cfmakeraw(&t);
    tcsetattr(slave_, TCSANOW, &t);
    slave_path_ = name;
    dir_ = std::filesystem::temp_directory_path() / ("iotw_device_faults_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    log_ = std::make_unique<EventLog>((dir_ / "events.jsonl").string());
  }
  void TearDown() override {
    devs_.clear();
    ::close(master_);
    ::close(slave_);
    std::filesystem::remove_all(dir_);
  }
  /// A started SoC module on the PTY; the io_context never runs, so only the test's tick() calls step it.
  SocModule& module(const std::string& model, const std::string& name) {
    DeviceSpec spec;
    spec.name = name;
    spec.model = model;
    spec.link = slave_path_;
    spec.nvs_dir = (dir_ / ("nvs-" + name)).string();
    devs_.push_back(std::make_unique<SocModule>(io_, spec, *log_, &clock_));
    devs_.back()->start();
    return *devs_.back();
  }
  /// Its chip's runtime.
  DeviceRuntime& device(const std::string& model, const std::string& name) { return module(model, name).runtime(); }
  std::vector<json> events(const std::string& kind) {
    std::vector<json> out;
    std::ifstream in(dir_ / "events.jsonl");
    for (std::string l; std::getline(in, l);) {
      auto e = json::parse(l, nullptr, false);
      if (e.is_object() && e.value("kind", "") == kind) out.push_back(e);
    }
    return out;
  }

  boost::asio::io_context io_;
  iotw::ManualClock clock_{50'000};
  int master_ = -1, slave_ = -1;
  std::string slave_path_;
  std::filesystem::path dir_;
  std::unique_ptr<EventLog> log_;
  std::vector<std::unique_ptr<SocModule>> devs_;
};

TEST_F(DeviceFaultsTest, Esp32TaskWatchdogResetsAHungFirmwareAfterFiveSecondsOfItsClock) {
  DeviceRuntime& d = device("esp32", "esp32-01");
  const uint32_t boots = d.boot_count();
  d.tick();
  d.hang();
  ASSERT_TRUE(d.hung());
  clock_.advance(4999);
  d.tick();
  EXPECT_TRUE(d.hung());
  EXPECT_TRUE(events("watchdog_reset").empty());
  clock_.advance(1);
  d.tick();
  EXPECT_FALSE(d.hung());
  EXPECT_EQ(d.reset_reason(), 6u);  // ESP_RST_TASK_WDT
  EXPECT_EQ(d.boot_count(), boots + 1);
  EXPECT_EQ(d.state(), IOTW_FW_HELLO_SENT);  // RAM lost: registers again with the key from NVS
  const auto bites = events("watchdog_reset");
  ASSERT_EQ(bites.size(), 1u);
  EXPECT_EQ(bites[0]["fields"]["starved_ms"], 5000);
  EXPECT_EQ(bites[0]["fields"]["watchdog"], "task_wdt");
  const auto banners = events("boot_banner");
  ASSERT_FALSE(banners.empty());
  EXPECT_NE(banners.back()["fields"]["text"].get<std::string>().find("rst:0xc (SW_CPU_RESET)"), std::string::npos);
}

TEST_F(DeviceFaultsTest, Esp8266SoftWatchdogRunsOnTheSkewedDeviceClock) {
  DeviceRuntime& d = device("esp8266", "esp8266-01");
  d.skew_clock(0, 1'000'000);  // the device's clock runs twice as fast: its 3.2 s soft WDT bites after 1.6 s
  d.hang();
  clock_.advance(1599);
  d.tick();
  EXPECT_TRUE(d.hung());
  clock_.advance(1);
  d.tick();
  EXPECT_FALSE(d.hung());
  EXPECT_EQ(d.reset_reason(), 7u);  // ESP_RST_WDT (the soft WDT; the ROM prints rst cause:2)
  EXPECT_EQ(events("watchdog_reset").at(0)["fields"]["starved_ms"], 3200);
}

TEST_F(DeviceFaultsTest, RebootKeepsTheIdentityAndReportsASoftwareReset) {
  DeviceRuntime& d = device("esp32", "esp32-01");
  std::vector<uint8_t> pk(d.pubkey(), d.pubkey() + 32);
  d.reboot();
  EXPECT_EQ(d.reset_reason(), 3u);  // ESP_RST_SW
  EXPECT_EQ(std::vector<uint8_t>(d.pubkey(), d.pubkey() + 32), pk);  // NVS survived
  EXPECT_EQ(events("reset").at(0)["fields"]["cause"], "software");
}

TEST_F(DeviceFaultsTest, ControlAnswersBadCommandsWithAnErrorAndAnEventNeverACrash) {
  SocModule& d = module("esp32", "esp32-01");
  PoolControl control(*log_);
  control.add(d);
  auto reply = control.handle(R"({"cmd": "ping", "id": 7})");
  EXPECT_EQ(reply["ok"], true);
  EXPECT_EQ(reply["id"], 7);
  EXPECT_EQ(reply["devices"], json::array({"esp32-01"}));
  for (const std::string bad : {"garbage", "[1, 2]", "{}", R"({"cmd": 5})"}) {
    reply = control.handle(bad);
    EXPECT_EQ(reply["ok"], false) << bad;
    EXPECT_FALSE(reply.value("error", "").empty()) << bad;
  }
  reply = control.handle(R"({"cmd": "melt", "device": "esp32-01", "id": "x"})");
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["id"], "x");
  EXPECT_NE(reply["error"].get<std::string>().find("unknown command 'melt'; allowed: ping, reboot, hang"), std::string::npos);
  reply = control.handle(R"({"cmd": "reboot", "device": "esp32-99"})");
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["error"], "unknown device 'esp32-99'; the pool's devices: esp32-01");
  reply = control.handle(R"({"cmd": "reboot"})");
  EXPECT_EQ(reply["error"], "'reboot' needs a string 'device'");
  reply = control.handle(R"({"cmd": "clock_skew", "device": "esp32-01", "ppm": "fast"})");
  EXPECT_EQ(reply["ok"], false);
  reply = control.handle(R"({"cmd": "clock_skew", "device": "esp32-01", "offset_ms": 1.5})");
  EXPECT_EQ(reply["ok"], false);
  reply = control.handle(R"({"cmd": "ap", "device": "esp32-01", "rssi": -80})");
  EXPECT_EQ(reply["ok"], false);  // an access-point command for a device without a module in AT mode
  EXPECT_EQ(reply["error"], "'ap' is not supported by esp32 (device 'esp32-01'); it takes: reboot, hang, clock_skew, "
                            "clock, power; 'ap' needs an AT-mode device (mode = \"at\")");
  EXPECT_EQ(events("control_error").size(), 10u);
  EXPECT_EQ(events("control_error").back()["fields"]["device"], "esp32-01");
  EXPECT_TRUE(events("control_command").empty());

  reply = control.handle(R"({"cmd": "clock_skew", "device": "esp32-01", "offset_ms": 2000, "ppm": 50000})");
  ASSERT_EQ(reply["ok"], true);
  EXPECT_EQ(reply["clock"]["drift_ms"], 2000);
  clock_.advance(1000);
  reply = control.handle(R"({"cmd": "clock", "device": "esp32-01"})");
  EXPECT_EQ(reply["clock"]["drift_ms"], 2050);
  EXPECT_EQ(reply["clock"]["uptime_ms"], 3050);  // what the next Heartbeat's uptime_ms carries
  reply = control.handle(R"({"cmd": "reboot", "device": "esp32-01"})");
  EXPECT_EQ(reply["ok"], true);
  EXPECT_EQ(reply["reset_reason"], 3);
  EXPECT_EQ(events("control_command").size(), 3u);
}

TEST_F(DeviceFaultsTest, ControlPowerSwitchesAnEspSupplyKeepingNvsWithTheRightResetReasons) {
  SocModule& m = module("esp32", "esp32-01");
  DeviceRuntime& d = m.runtime();
  PoolControl control(*log_);
  control.add(m);
  const std::vector<uint8_t> pk(d.pubkey(), d.pubkey() + 32);
  const uint32_t boots = d.boot_count();
  auto reply = control.handle(R"({"cmd": "power", "device": "esp32-01", "state": "off"})");
  ASSERT_EQ(reply["ok"], true) << reply.dump();
  EXPECT_EQ(reply["powered"], false);
  EXPECT_FALSE(d.powered());
  reply = control.handle(R"({"cmd": "power", "device": "esp32-01", "state": "on"})");
  ASSERT_EQ(reply["ok"], true) << reply.dump();
  EXPECT_EQ(reply["reset_reason"], 1);  // ESP_RST_POWERON
  EXPECT_EQ(reply["boot_count"], boots + 1);
  EXPECT_EQ(std::vector<uint8_t>(d.pubkey(), d.pubkey() + 32), pk);  // NVS survived
  reply = control.handle(R"({"cmd": "power", "device": "esp32-01", "state": "brownout"})");
  EXPECT_EQ(reply["powered"], false);
  EXPECT_EQ(control.handle(R"({"cmd": "reboot", "device": "esp32-01"})")["ok"], false);  // nothing runs
  reply = control.handle(R"({"cmd": "power", "device": "esp32-01", "state": "on"})");
  EXPECT_EQ(reply["reset_reason"], 9);  // ESP_RST_BROWNOUT
  EXPECT_EQ(reply["boot_count"], boots + 2);
  EXPECT_EQ(std::vector<uint8_t>(d.pubkey(), d.pubkey() + 32), pk);
  // A brown-out, then a loss: the latch is gone, the return is a power-on; "on" while on changes nothing.
  control.handle(R"({"cmd": "power", "device": "esp32-01", "state": "brownout"})");
  control.handle(R"({"cmd": "power", "device": "esp32-01", "state": "off"})");
  EXPECT_EQ(control.handle(R"({"cmd": "power", "device": "esp32-01", "state": "on"})")["reset_reason"], 1);
  reply = control.handle(R"({"cmd": "power", "device": "esp32-01", "state": "on"})");
  EXPECT_EQ(reply["boot_count"], boots + 3);
  EXPECT_EQ(events("reset").size(), 3u);
  reply = control.handle(R"({"cmd": "power", "device": "esp32-01", "state": "low"})");
  EXPECT_EQ(reply["ok"], false);
  EXPECT_NE(reply["error"].get<std::string>().find("'state'"), std::string::npos);
  // A chip behind a supply rail (dps, bulb) is powered through its VIN register, not switched here.
  DeviceSpec spec;
  spec.name = "dps-01";
  spec.model = "dps";
  spec.link = slave_path_;
  spec.nvs_dir = (dir_ / "nvs-dps-01").string();
  DpsDevice dps(io_, spec, *log_, clock_);
  PoolControl railed(*log_);
  railed.add(dps);
  reply = railed.handle(R"({"cmd": "power", "device": "dps-01", "state": "off"})");
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["error"], "'power' is not supported by dps (device 'dps-01'); it takes: reboot, hang, clock_skew, "
                            "clock; its supply is its chip's rail: write its VIN register (docs/faults.md brownout, "
                            "power_loss)");
  EXPECT_TRUE(d.powered());
}

TEST_F(DeviceFaultsTest, ControlServerSpeaksLineDelimitedJsonOnAUnixSocket) {
  SocModule& d = module("esp32", "esp32-01");
  PoolControl control(*log_);
  control.add(d);
  boost::asio::io_context io;
  const std::string path = (dir_ / "emu.sock").string();
  ControlServer server(io, path, control);
  server.start();
  std::thread t([&] { io.run(); });
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req = "{\"cmd\":\"ping\"}\nnot json\n\n{\"cmd\":\"hang\",\"device\":\"nobody\"}\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[1024];
  while (std::count(got.begin(), got.end(), '\n') < 3) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  std::istringstream lines(got);
  std::string l1, l2, l3;
  std::getline(lines, l1);
  std::getline(lines, l2);
  std::getline(lines, l3);
  EXPECT_EQ(json::parse(l1)["ok"], true);
  EXPECT_EQ(json::parse(l2)["ok"], false);
  EXPECT_EQ(json::parse(l3)["error"], "unknown device 'nobody'; the pool's devices: esp32-01");
  ::close(fd);
  boost::asio::post(io, [&] { server.stop(); });
  t.join();
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
