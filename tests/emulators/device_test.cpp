// The Device interface (common/device.hpp) and the factory (device_factory.hpp): every pool entry becomes the kind
// its keys say, every kind answers status and refuses what it does not take with the interface's one error, and the
// bench supply gives the reset reasons the control channel documents.
#include <gtest/gtest.h>
#include <pty.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "clock.hpp"
#include "device_factory.hpp"
#include "pool_control.hpp"

extern "C" {
#include "iotw/firmware.h"
}

namespace {
using namespace iotw::emu;
using nlohmann::json;

class DeviceKinds : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    char name[64];
    ASSERT_EQ(openpty(&master_, &slave_, name, nullptr, nullptr), 0);
    pty_ = name;
    dir_ = std::filesystem::temp_directory_path() / ("iotw_device_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    log_ = std::make_unique<EventLog>((dir_ / "events.jsonl").string());
  }
  void TearDown() override {
    ::close(master_);
    ::close(slave_);
    std::filesystem::remove_all(dir_);
  }
  DeviceSpec spec(const std::string& name, const std::string& model) {
    DeviceSpec s;
    s.name = name;
    s.model = model;
    s.link = pty_;
    s.nvs_dir = (dir_ / name).string();
    return s;
  }
  /// One spec of every kind, as load_pool_config leaves them.
  std::vector<DeviceSpec> pool() {
    std::vector<DeviceSpec> out{spec("esp-01", "esp32"), spec("dps-01", "dps"), spec("bulb-01", "bulb")};
    DeviceSpec bare = spec("dps-02", "dps");
    bare.link.clear();
    out.push_back(bare);
    DeviceSpec at = spec("at-01", "esp8266");
    at.link.clear();
    at.mode = "at";
    at.trust_node_udp = "127.0.0.1:9";
    out.push_back(at);
    DeviceSpec tap = spec("tap-01", "rtl8710");
    tap.link.clear();
    tap.tap = "iotwtap0";
    tap.tap_ip = "10.77.0.2/24";
    tap.tap_mac = "02:00:00:00:00:01";
    tap.trust_node_udp = "10.77.0.1:9";
    out.push_back(tap);
    DeviceSpec qemu = spec("qm-01", "qemu-cortex-m3");
    qemu.image = "/nonexistent.elf";
    qemu.seed = std::string(64, 'a');
    out.push_back(qemu);
    return out;
  }

  boost::asio::io_context io_;
  iotw::ManualClock clock_{1000};
  int master_ = -1, slave_ = -1;
  std::string pty_;
  std::filesystem::path dir_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(DeviceKinds, TheFactoryMapsEveryPoolEntryToItsKind) {
  const std::vector<DeviceKind> want{DeviceKind::soc_module, DeviceKind::dps,          DeviceKind::bulb,
                                     DeviceKind::dps,        DeviceKind::at_appliance, DeviceKind::tap_module,
                                     DeviceKind::qemu};
  const auto specs = pool();
  PoolContext ctx{io_, *log_, clock_, AccessPoint{}, "/bin/false", "pool.toml"};
  for (size_t i = 0; i < specs.size(); i++) {
    EXPECT_EQ(device_kind(specs[i]), want[i]) << specs[i].name;
    const auto d = make_device(specs[i], ctx);
    EXPECT_EQ(d->kind(), want[i]) << specs[i].name;
    EXPECT_EQ(d->name(), specs[i].name);
    EXPECT_EQ(d->model(), specs[i].model);
    const json s = d->status();
    EXPECT_EQ(s["name"], specs[i].name);
    EXPECT_EQ(s["kind"], kind_name(want[i]));
    EXPECT_EQ(s["takes"], json(d->control_commands()));
  }
}

TEST_F(DeviceKinds, EachKindTakesItsCommandsAndRefusesTheOthersWithOneError) {
  const std::map<std::string, std::vector<std::string>> takes{
      {"esp-01", {"reboot", "hang", "clock_skew", "clock", "power"}},
      {"dps-01", {"reboot", "hang", "clock_skew", "clock"}},
      {"bulb-01", {"reboot", "hang", "clock_skew", "clock"}},
      {"dps-02", {}},
      {"at-01", {"ap", "uart"}},
      {"tap-01", {}},
      {"qm-01", {"reboot", "power"}}};
  PoolContext ctx{io_, *log_, clock_, AccessPoint{}, "/bin/false", "pool.toml"};
  std::vector<std::unique_ptr<Device>> devices;
  PoolControl control(*log_);
  for (const auto& s : pool()) {
    devices.push_back(make_device(s, ctx));
    control.add(*devices.back());
  }
  EXPECT_EQ(control.handle(R"({"cmd": "ping"})")["devices"],
            json::array({"at-01", "bulb-01", "dps-01", "dps-02", "esp-01", "qm-01", "tap-01"}));
  for (const auto& d : devices) {
    ASSERT_EQ(d->control_commands(), takes.at(d->name()));
    const json st = control.handle(json{{"cmd", "status"}, {"device", d->name()}}.dump());
    ASSERT_EQ(st["ok"], true) << st;
    EXPECT_EQ(st["status"]["model"], d->model());
    std::string list;
    for (const auto& c : takes.at(d->name())) list += (list.empty() ? "" : ", ") + c;
    if (list.empty()) list = "no device command";
    for (const std::string cmd : {"reboot", "hang", "clock_skew", "clock", "power", "ap", "uart"}) {
      if (d->takes(cmd)) continue;
      // Valid parameters for every command: only the device's refusal remains.
      const json r = control.handle(json{{"cmd", cmd}, {"device", d->name()}, {"state", "off"}, {"rssi", -80},
                                         {"data", "AT\r\n"}}.dump());
      ASSERT_EQ(r["ok"], false) << d->name() << " " << cmd;
      const std::string prefix = "'" + cmd + "' is not supported by " + d->model() + " (device '" + d->name() +
                                 "'); it takes: " + list;
      EXPECT_EQ(r["error"].get<std::string>().substr(0, prefix.size()), prefix) << r;
    }
  }
  // The hints that say where to turn instead.
  auto error = [&](const std::string& cmd, const std::string& dev) {
    return control.handle(json{{"cmd", cmd}, {"device", dev}, {"state", "off"}, {"rssi", -80}}.dump())["error"]
        .get<std::string>();
  };
  EXPECT_NE(error("power", "bulb-01").find("VIN register"), std::string::npos);
  EXPECT_NE(error("reboot", "dps-02").find("runs no firmware"), std::string::npos);
  EXPECT_NE(error("reboot", "at-01").find("appliance MCU"), std::string::npos);
  EXPECT_NE(error("ap", "qm-01").find("needs an AT-mode device"), std::string::npos);
  EXPECT_NE(error("reboot", "tap-01").find("its own process"), std::string::npos);
  // Refusals are control errors, never commands.
  EXPECT_EQ(control.handle(R"({"cmd": "status", "device": "nobody"})")["ok"], false);
}

TEST(BenchSupply, ReturnsWithTheResetReasonOfTheLastCut) {
  BenchSupply supply;
  bool powered = true;
  std::vector<uint32_t> boots;
  auto apply = [&](Supply s) {
    supply.apply(s, powered, [&] { powered = false; }, [&](uint32_t why) {
      powered = true;
      boots.push_back(why);
    });
  };
  apply(Supply::on);  // on while on: nothing
  EXPECT_TRUE(boots.empty());
  apply(Supply::brownout);
  EXPECT_FALSE(powered);
  apply(Supply::on);
  apply(Supply::off);
  apply(Supply::on);
  apply(Supply::brownout);
  apply(Supply::off);  // a loss clears the brown-out latch
  apply(Supply::on);
  apply(Supply::off);
  apply(Supply::brownout);  // a brown-out of a supply already off keeps the loss: the return is a power-on
  apply(Supply::on);
  EXPECT_EQ(boots, (std::vector<uint32_t>{IOTW_RESET_BROWNOUT, IOTW_RESET_POWERON, IOTW_RESET_POWERON,
                                          IOTW_RESET_POWERON}));
  EXPECT_EQ(parse_supply("brownout"), Supply::brownout);
  EXPECT_FALSE(parse_supply("low"));
}

}  // namespace
