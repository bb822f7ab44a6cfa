// The qemu-cortex-m3 model (docs/emulators.md "QEMU Cortex-M devices"): its pool-file keys, the control channel's
// answers for it, a missing image, and, when the main build made the Cortex-M3 image (IOTW_QEMU_IMAGE), the real image
// in qemu-system-arm: its boot line, a QMP reset that keeps the identity, a power cycle, and QEMU killed from outside
// reported as an event while the pool lives on.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "device_runtime.hpp"
#include "event_log.hpp"
#include "pool_config.hpp"
#include "pool_config_error.hpp"
#include "pool_control.hpp"
#include "qemu/qemu_device.hpp"
#include "qemu/qemu_model.hpp"
#include "serial_link.hpp"

namespace {
using namespace iotw::emu;
using nlohmann::json;
namespace fs = std::filesystem;

const std::string kSeed(64, 'a');

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("iotw_qemu_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string pool_error(const std::string& name, const std::string& text) {
  return test::pool_config_error(fresh_dir(name) / "pool.toml", text);
}

const std::string kDevice = "[[device]]\nname = \"qm-01\"\nlink = \"/dev/pts/9\"\nnvs_dir = \"n\"\n";

TEST(QemuPoolConfig, LoadsImageAndSeedAndRefusesWhatDoesNotApply) {
  const fs::path p = fresh_dir("cfg") / "pool.toml";
  std::ofstream(p) << kDevice << "model = \"qemu-cortex-m3\"\nimage = \"/x/fw.elf\"\nseed = \"" << kSeed << "\"\n";
  const PoolConfig cfg = load_pool_config(p);
  ASSERT_EQ(cfg.devices.size(), 1u);
  EXPECT_EQ(cfg.devices[0].model, "qemu-cortex-m3");
  EXPECT_EQ(cfg.devices[0].image, "/x/fw.elf");
  EXPECT_EQ(cfg.devices[0].seed, kSeed);

  const std::string qemu = kDevice + "model = \"qemu-cortex-m3\"\nimage = \"/x/fw.elf\"\n";
  std::string e = pool_error("noseed", qemu);
  EXPECT_NE(e.find("missing key 'seed'"), std::string::npos) << e;
  e = pool_error("badseed", qemu + "seed = \"12\"\n");
  EXPECT_NE(e.find("'seed' must be 64 hex characters"), std::string::npos) << e;
  e = pool_error("byz", qemu + "seed = \"" + kSeed + "\"\nbehaviour = \"invert_verdict\"\n");
  EXPECT_NE(e.find("behaviour must be \"honest\""), std::string::npos) << e;
  e = pool_error("ram", qemu + "seed = \"" + kSeed + "\"\nram_budget_kib = 64\n");
  EXPECT_NE(e.find("'ram_budget_kib' does not apply to model 'qemu-cortex-m3'"), std::string::npos) << e;
  e = pool_error("espimage", kDevice + "model = \"esp32\"\nimage = \"/x/fw.elf\"\n");
  EXPECT_NE(e.find("'image' applies only to model 'qemu-cortex-m3'"), std::string::npos) << e;
  e = pool_error("at", "[[device]]\nname = \"qm-01\"\nmode = \"at\"\nnvs_dir = \"n\"\nmodel = \"qemu-cortex-m3\"\n"
                       "trust_node_udp = \"127.0.0.1:9\"\n");
  EXPECT_NE(e.find("runs only on a serial link"), std::string::npos) << e;  // not an AT module
}

struct QemuFixture : ::testing::Test {
  fs::path dir = fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::path events_file = dir / "events.jsonl";
  std::unique_ptr<EventLog> log = std::make_unique<EventLog>(events_file.string());
  boost::asio::io_context io;
  PtyPair link = open_pty_pair(0);  // UART0: nobody answers the firmware's Hello here

  ~QemuFixture() override {
    ::close(link.master);
    ::close(link.slave);
    fs::remove_all(dir);
  }
  DeviceSpec spec(const std::string& image) {
    DeviceSpec s;
    s.name = "qm-01";
    s.model = kQemuCortexM3Model;
    s.link = link.path;
    s.nvs_dir = (dir / "qm-01").string();
    s.image = image;
    s.seed = kSeed;
    return s;
  }
  std::vector<json> events(const std::string& kind) {
    std::vector<json> out;
    std::ifstream in(events_file);
    for (std::string line; std::getline(in, line);) {
      json e = json::parse(line);
      if (e["kind"] == kind) out.push_back(std::move(e));
    }
    return out;
  }
  /// Runs the pool's loop until `done` holds (checked every 50 ms), at most 30 s; returns whether it held.
  bool run_until(const std::function<bool()>& done) {
    for (int i = 0; i < 600; ++i) {
      io.run_for(std::chrono::milliseconds(50));
      io.restart();
      if (done()) return true;
    }
    return false;
  }
};

TEST_F(QemuFixture, ControlAnswersWhatTheModelCannotDoWithAClearError) {
  QemuDevice q(io, spec("/nonexistent.elf"), *log);
  PoolControl control(*log);
  control.add(q);
  EXPECT_EQ(control.handle(R"({"cmd": "ping"})")["devices"], json::array({"qm-01"}));
  for (const std::string cmd : {"hang", "clock_skew", "clock"}) {
    const json r = control.handle(R"({"cmd": ")" + cmd + R"(", "device": "qm-01", "offset_ms": 5})");
    EXPECT_EQ(r["ok"], false) << cmd;
    EXPECT_EQ(r["error"], "'" + cmd + "' is not supported by qemu-cortex-m3 (device 'qm-01'); it takes: reboot, power");
  }
  json r = control.handle(R"({"cmd": "ap", "device": "qm-01", "rssi": -80})");
  EXPECT_NE(r["error"].get<std::string>().find("needs an AT-mode device"), std::string::npos) << r;
  r = control.handle(R"({"cmd": "reboot", "device": "qm-01"})");  // never started: off
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"], "qm-01 is powered off: nothing to reboot (power it on first)");
  r = control.handle(R"({"cmd": "power", "device": "qm-01", "state": "sideways"})");
  EXPECT_EQ(r["ok"], false);
  r = control.handle(R"({"cmd": "power", "device": "qm-01", "state": "on"})");  // the image is missing
  EXPECT_EQ(r["ok"], false);
  EXPECT_NE(r["error"].get<std::string>().find("firmware image /nonexistent.elf is missing: build it with `bash "
                                               "scripts/build.sh`"), std::string::npos) << r;
  EXPECT_EQ(events("control_error").size(), 7u);
}

TEST_F(QemuFixture, AMissingImageIsRefusedNamingItAndTheBuildCommand) {
  QemuDevice q(io, spec((dir / "none.elf").string()), *log);
  try {
    q.start();
    FAIL() << "started without an image";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("none.elf is missing: build it with `bash scripts/build.sh`"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(q.powered());
  EXPECT_TRUE(events("qemu_started").empty());
}

#ifdef IOTW_QEMU_IMAGE
// The real image: boot line, identity in its flash files, a QMP reset (reason 3), a power cycle (reason 9 after a
// brown-out), QEMU killed from outside (an event; the device is off, the pool lives on).
TEST_F(QemuFixture, TheImageBootsResetsOverQmpAndKeepsItsIdentity) {
  ASSERT_EQ(qemu_unavailable(IOTW_QEMU_IMAGE), "");
  QemuDevice q(io, spec(IOTW_QEMU_IMAGE), *log);
  PoolControl control(*log);
  control.add(q);
  q.start();
  ASSERT_EQ(events("qemu_started").size(), 1u);
  EXPECT_EQ(events("qemu_started")[0]["fields"]["seed"], kSeed);
  const fs::path id_file = fs::path(spec("").nvs_dir) / "nvs.id.seed";
  auto boots = [&] {
    std::vector<json> out;
    for (json& e : events("log"))
      if (e["fields"]["event"] == "boot" && e["fields"]["detail"].get<std::string>().rfind("reset_reason=", 0) == 0)
        out.push_back(e["fields"]);  // the board's line; the core's own `boot boot_count=...` follows it
    return out;
  };
  ASSERT_TRUE(run_until([&] { return boots().size() == 1 && fs::exists(id_file); })) << "no boot line or identity";
  EXPECT_EQ(boots()[0]["detail"], "reset_reason=1");
  std::stringstream id_before;
  id_before << std::ifstream(id_file, std::ios::binary).rdbuf();

  json r = control.handle(R"({"cmd": "reboot", "device": "qm-01"})");
  ASSERT_EQ(r["ok"], true) << r;
  EXPECT_EQ(r["reset_reason"], 3);
  ASSERT_TRUE(run_until([&] { return events("reset").size() == 1; })) << "the reset was not reported";
  EXPECT_EQ(events("reset")[0]["fields"]["reset_reason"], 3);
  EXPECT_EQ(events("reset")[0]["fields"]["cause"], "software");
  EXPECT_EQ(boots().back()["detail"], "reset_reason=3");
  EXPECT_FALSE(fs::exists(fs::path(spec("").nvs_dir) / "reset_reason"));  // the firmware consumed it

  ASSERT_EQ(control.handle(R"({"cmd": "power", "device": "qm-01", "state": "brownout"})")["powered"], false);
  r = control.handle(R"({"cmd": "power", "device": "qm-01", "state": "on"})");
  ASSERT_EQ(r["ok"], true) << r;
  ASSERT_TRUE(run_until([&] { return events("reset").size() == 2; })) << "no boot after the power came back";
  EXPECT_EQ(events("reset")[1]["fields"]["reset_reason"], 9);  // IOTW_RESET_BROWNOUT
  EXPECT_EQ(events("reset")[1]["fields"]["cause"], "power");
  std::stringstream id_after;
  id_after << std::ifstream(id_file, std::ios::binary).rdbuf();
  EXPECT_EQ(id_after.str(), id_before.str());  // the identity survived a reset and a power cycle

  const int pid = events("qemu_started").back()["fields"]["pid"].get<int>();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(run_until([&] { return !events("qemu_exited").empty(); })) << "the exit was not reported";
  EXPECT_EQ(events("qemu_exited")[0]["fields"]["code"], 128 + SIGKILL);
  EXPECT_FALSE(q.powered());
  q.stop();
}
#endif

}  // namespace
