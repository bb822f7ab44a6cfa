// A whole rig in sim mode, in process: the outputs of a real-time run, judged by the same scorer; refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "iotw/exit_code.hpp"
#include "iotw/harness/rig_loader.hpp"
#include "iotw/sim/sim_run.hpp"

namespace iotw::sim {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("iotw-sim-run-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

std::string rig(const std::string& name) { return std::string(test_paths::rigs_dir) + "/" + name; }

TEST(SimRun, SmokeRigPassesWithEveryOutputOfARealTimeRun) {
  const fs::path dir = fresh_dir("smoke");
  std::ostringstream out, err;
  std::atomic<bool> stop{false};
  const int code = run_sim_rig({rig("smoke.toml"), dir, 3, "test"}, stop, out, err);
  EXPECT_EQ(code, kExitPass) << out.str() << err.str();
  EXPECT_EQ(out.str().rfind("seed: 3\nmode: sim\n", 0), 0u) << out.str();
  for (const char* f : {"events.jsonl", "ledger.jsonl", "links.pcapng", "report.json", "junit.xml", "report.html",
                        "rig.toml", "sim.json"})
    EXPECT_TRUE(fs::is_regular_file(dir / f)) << f;
  std::ifstream in(dir / "report.json");
  const auto report = nlohmann::json::parse(in);
  EXPECT_EQ(report["mode"], "sim");
  EXPECT_EQ(report["pass"], true);
  EXPECT_TRUE(report["not_seeded"].empty());
  EXPECT_GE(report["blocks_finalized"].get<int>(), 20);
  EXPECT_GT(report["harness"]["captured_frames"].get<int>(), 0);
  fs::remove_all(dir);
}

TEST(SimRun, RefusesARigThatNeedsTheOsNamingTheKeyAndItsLine) {
  std::ostringstream out, err;
  std::atomic<bool> stop{false};
  EXPECT_EQ(run_sim_rig({rig("mesh_failover.toml"), fresh_dir("mesh"), 1, "test"}, stop, out, err), kExitUsage);
  EXPECT_NE(err.str().find("sim mode cannot run rig 'mesh_failover': [mesh] (line "), std::string::npos) << err.str();
  EXPECT_FALSE(fs::exists(fresh_dir("mesh")));  // refused before any folder is made
  std::ostringstream err2;
  EXPECT_EQ(run_sim_rig({rig("esp_tap.toml"), fresh_dir("tap"), 1, "test"}, stop, out, err2), kExitUsage);
  EXPECT_NE(err2.str().find("link = \"tap\" needs TAP interfaces"), std::string::npos) << err2.str();
}

TEST(SimRun, EveryFaultOfAPtyDeviceIsSimulated) {
  const auto spec = harness::parse_rig(R"(
[rig]
name = "faults"
[[devices]]
name_prefix = "esp"
count = 6
[pass]
ledger_valid = true
[[steps]]
fault = "drop_frames"
rate = 0.1
duration_s = 1
[[steps]]
fault = "partition"
duration_s = 1
[[steps]]
fault = "trust_node_stop"
duration_s = 1
[[steps]]
fault = "reboot"
[[steps]]
fault = "hang"
[[steps]]
name = "skew"
fault = "clock_skew"
offset_ms = 100
duration_s = 1
[[steps]]
name = "kill"
fault = "trust_node_kill"
)", "faults.toml");
  EXPECT_EQ(sim_unsupported(spec), std::nullopt);  // link, device and node faults are simulated
}

// A rig's uart steps in sim mode: the line goes into the module's UART, the module's answer is the emu_command event's
// reply (as the pool's control channel answers it in real time), and the appliance keeps mining.
TEST(SimRun, UartStepsTypeIntoTheModulesAndTheirAnswersAreInTheEvents) {
  const fs::path rig_file = fresh_dir("uart-rig.toml");
  {
    std::ofstream f(rig_file);
    f << R"([rig]
name = "uart"
deadline_s = 60
[trust_node]
witnesses = 2
block_interval_ms = 50
[[devices]]
name_prefix = "esp8266-at"
model = "esp8266"
link = "at"
count = 2
[[devices]]
name_prefix = "rtl8710-at"
model = "rtl8710"
link = "at"
count = 2
[traffic]
tx_per_s = 20
[target]
blocks = 20
[pass]
ledger_valid = true
false_blacklist_max = 0
[[steps]]
name = "gmr"
after_block = 3
uart = "AT+GMR"
device = "esp8266-at-01"
[[steps]]
name = "atsv"
uart = "ATSV"
device = "rtl8710-at-02"
)";
  }
  const fs::path dir = fresh_dir("uart");
  std::ostringstream out, err;
  std::atomic<bool> stop{false};
  EXPECT_EQ(run_sim_rig({rig_file, dir, 4, "test"}, stop, out, err), kExitPass) << out.str() << err.str();
  std::ifstream in(dir / "events.jsonl");
  std::map<std::string, nlohmann::json> replies;
  int typed = 0, control = 0;
  for (std::string line; std::getline(in, line);) {
    const auto e = nlohmann::json::parse(line);
    if (e["kind"] == "emu_command") replies[e["fields"]["step"].get<std::string>()] = e["fields"]["reply"];
    typed += e["kind"] == "uart_typed";
    control += e["kind"] == "control_command" && e["source"] == "emu" && e["fields"]["cmd"] == "uart";
  }
  ASSERT_EQ(replies.size(), 2u) << out.str();
  EXPECT_EQ(replies["gmr"]["ok"], true);
  EXPECT_EQ(replies["gmr"]["complete"], true);
  EXPECT_NE(replies["gmr"]["output"].get<std::string>().find("AT version:"), std::string::npos) << replies["gmr"];
  EXPECT_NE(replies["atsv"]["output"].get<std::string>().find("[ATSV] OK:v2.2.1"), std::string::npos)
      << replies["atsv"];
  EXPECT_EQ(typed, 2);
  EXPECT_EQ(control, 2);  // the pool's control_command, as in real time
  fs::remove_all(dir);
  fs::remove(rig_file);
}

TEST(SimRun, AnInterruptedRunWritesItsReportAndSaysSo) {
  const fs::path dir = fresh_dir("stop");
  std::ostringstream out, err;
  std::atomic<bool> stop{true};
  EXPECT_EQ(run_sim_rig({rig("smoke.toml"), dir, 3, "test"}, stop, out, err), kExitInterrupted);
  EXPECT_TRUE(fs::is_regular_file(dir / "junit.xml"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace iotw::sim
