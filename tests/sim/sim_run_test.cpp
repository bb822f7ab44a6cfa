// A whole rig in sim mode, in process: the outputs of a real-time run, judged by the same scorer; refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

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
  EXPECT_EQ(run_sim_rig({rig("two_hosts.toml"), fresh_dir("hosts"), 1, "test"}, stop, out, err), kExitUsage);
  EXPECT_NE(err.str().find("sim mode cannot run rig 'two_hosts': [hosts] (line "), std::string::npos) << err.str();
  EXPECT_FALSE(fs::exists(fresh_dir("hosts")));  // refused before any folder is made
  std::ostringstream err2;
  EXPECT_EQ(run_sim_rig({rig("esp_tap.toml"), fresh_dir("tap"), 1, "test"}, stop, out, err2), kExitUsage);
  EXPECT_NE(err2.str().find("link = \"tap\" needs TAP interfaces"), std::string::npos) << err2.str();
}

/// The events of a run folder, parsed.
std::vector<nlohmann::json> read_events(const fs::path& dir) {
  std::vector<nlohmann::json> events;
  std::ifstream in(dir / "events.jsonl");
  for (std::string line; std::getline(in, line);) events.push_back(nlohmann::json::parse(line));
  return events;
}

/// Runs `rig_file` in sim mode into `dir` with `seed` and returns its events; empty (and a failure with the run's output)
/// when it does not pass.
std::vector<nlohmann::json> events_of_passing_run(const fs::path& rig_file, const fs::path& dir, std::uint64_t seed) {
  std::ostringstream out, err;
  std::atomic<bool> stop{false};
  const int code = run_sim_rig({rig_file, dir, seed, "test"}, stop, out, err);
  if (code != kExitPass) {
    ADD_FAILURE() << rig_file << " exited " << code << "\n" << out.str() << err.str();
    return {};
  }
  return read_events(dir);
}

/// The mesh_role events of one node: (role, reason) in order.
std::vector<std::pair<std::string, std::string>> roles_of(const std::vector<nlohmann::json>& events,
                                                         const std::string& node) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : events)
    if (e.value("kind", "") == "mesh_role" && e.value("node", "") == node)
      out.emplace_back(e["fields"]["role"], e["fields"]["reason"]);
  return out;
}

// rigs/mesh_failover.toml in virtual time: three trust nodes on one SimEtcd ledger; the assigning node is killed, its
// lease runs out, another node is elected and the devices move to its link on Error 6 or silence; the killed node comes
// back as standby; an etcd member is killed. One chain under the one node key, every acknowledged tx in it.
TEST(SimRun, AMeshRigFailsOverToAnotherTrustNodeAndKeepsOneChain) {
  const fs::path dir = fresh_dir("mesh-failover");
  const auto events = events_of_passing_run(rig("mesh_failover.toml"), dir, 1);
  ASSERT_FALSE(events.empty());
  // tn-0 is elected first (it starts first), is killed, and comes back as a standby of the node elected after it.
  const auto tn0 = roles_of(events, "tn-0");
  ASSERT_GE(tn0.size(), 3u);
  EXPECT_EQ(tn0[1], (std::pair<std::string, std::string>{"assigning", "elected"}));
  std::string successor;
  std::uint64_t killed_ms = 0, elected_ms = 0;
  for (const auto& e : events) {
    if (e.value("kind", "") == "process_exited" && e["fields"]["name"] == "tn-0") killed_ms = e["time_ms"];
    if (killed_ms && !elected_ms && e.value("kind", "") == "mesh_role" && e["fields"]["role"] == "assigning") {
      successor = e.value("node", "");
      elected_ms = e["time_ms"];
    }
  }
  ASSERT_FALSE(successor.empty());
  EXPECT_NE(successor, "tn-0");
  // Not before the dead leader's lease (2 s) can have run out since its last keepalive (every 2/3 s).
  EXPECT_GE(elected_ms - killed_ms, 2000u - 667u);
  EXPECT_LE(elected_ms - killed_ms, 2000u);
  EXPECT_EQ(tn0.back(), (std::pair<std::string, std::string>{"standby", "observed"}));
  // Devices moved to the successor's link (their firmware's node list, docs/protocol.md §6).
  int moved = 0;
  for (const auto& e : events)
    if (e.value("kind", "") == "node_selected" && e["fields"]["reason"] != "boot") ++moved;
  EXPECT_GE(moved, 6);
  std::ifstream in(dir / "report.json");
  const auto report = nlohmann::json::parse(in);
  EXPECT_TRUE(report["ledger_valid"].get<bool>());
  EXPECT_EQ(report["acked_tx_lost"].get<int>(), 0);
  EXPECT_GT(report["failover_ms"].get<double>(), 0.0);
  fs::remove_all(dir);
}

// rigs/mesh_partition.toml in virtual time: the leader cut off from etcd steps down on the store's error and another
// node takes over; a frozen leader's lease runs out while it cannot notice and, resumed, it steps down ("stale") and
// writes nothing; a leader cut off from its devices hands the leadership over. Every height once in the ledger.
TEST(SimRun, AMeshLeaderCutOffOrFrozenNeverForksTheChain) {
  const fs::path dir = fresh_dir("mesh-partition");
  const auto events = events_of_passing_run(rig("mesh_partition.toml"), dir, 1);
  ASSERT_FALSE(events.empty());
  std::map<std::string, int> reasons;  // why nodes stopped assigning
  for (const auto& e : events)
    if (e.value("kind", "") == "mesh_role" && e["fields"]["role"] != "assigning")
      ++reasons[e["fields"]["reason"].get<std::string>().substr(0, 12)];
  EXPECT_GE(reasons["store: etcd:"], 1);  // cut off from etcd: its next store write failed
  EXPECT_GE(reasons["no etcd conf"], 1);  // frozen past half its lease
  bool handed_over = false;
  for (const auto& e : events)
    if (e.value("kind", "") == "mesh_role" &&
        e["fields"]["reason"].get<std::string>().find("leadership handed over") != std::string::npos)
      handed_over = true;
  EXPECT_TRUE(handed_over);
  std::ifstream ledger(dir / "ledger.jsonl");
  std::uint64_t expect = 0;
  for (std::string line; std::getline(ledger, line);) {
    const auto b = nlohmann::json::parse(line);
    if (!b.contains("height") || b.contains("tip")) continue;
    EXPECT_EQ(b["height"].get<std::uint64_t>(), expect++);
  }
  EXPECT_GE(expect, 41u);
  fs::remove_all(dir);
}

// The etcd member that leads the Raft group (member 0 at the start) is killed, then frozen: the members elect another
// within the clients' timeouts, so no trust node sees the store go away (no "stale"), and blocks keep coming; DPS chips
// and bulbs fail over between the nodes as the ESP modules do.
TEST(SimRun, AMeshRidesThroughAnEtcdLeaderElection) {
  const fs::path dir = fresh_dir("mesh-etcd-leader");
  const fs::path file = fresh_dir("mesh-etcd-leader-rig.toml");
  std::ofstream(file) << R"(
[rig]
name = "mesh_etcd_leader"
deadline_s = 60
[mesh]
trust_nodes = 2
etcd_members = 3
[trust_node]
witnesses = 2
block_interval_ms = 100
device_timeout_ms = 2000
[[devices]]
name_prefix = "dps"
model = "dps"
count = 2
[[devices]]
name_prefix = "bulb"
model = "bulb"
count = 2
[[devices]]
name_prefix = "esp"
model = "esp8266"
count = 2
[target]
blocks = 30
[[steps]]
name = "kill the assigning node"
after_block = 5
fault = "trust_node_kill"
node = "leader"
duration_s = 2
recover_within_s = 15
[[steps]]
name = "kill etcd's leader"
after_block = 12
fault = "etcd_kill"
member = 0
duration_s = 2
recover_within_s = 15
[[steps]]
name = "freeze etcd's next leader"
after_block = 20
fault = "etcd_stop"
member = 1
duration_s = 2
recover_within_s = 15
[pass]
blocks_finalized_min = 30
ledger_valid = true
acked_tx_lost_max = 0
recoveries_failed_max = 0
)";
  const auto events = events_of_passing_run(file, dir, 4);
  ASSERT_FALSE(events.empty());
  int elected = 0;
  std::set<std::string> moved;  // devices whose firmware changed node
  for (const auto& e : events) {
    if (e.value("kind", "") == "mesh_role") {
      EXPECT_NE(e["fields"]["role"], "stale") << e.dump();
      elected += e["fields"]["reason"] == "elected";
    }
    if (e.value("kind", "") == "node_selected" && e["fields"]["reason"] != "boot") moved.insert(e["source"]);
  }
  EXPECT_EQ(elected, 2);  // tn-0 at the start, tn-1 after tn-0's kill; none after the etcd faults
  EXPECT_EQ(moved.size(), 6u);
  fs::remove_all(dir);
  fs::remove(file);
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
