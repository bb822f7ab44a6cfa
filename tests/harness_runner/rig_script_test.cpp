// RigScript against a fake rig: steps fire in order on their triggers, faults reach the link policies,
// recoveries, waits and expectations become pass/fail check events naming the step and its line.
#include "rig_script.hpp"

#include <gtest/gtest.h>

#include <tuple>

#include "iotw/harness/rig_loader.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::json;

struct FakeHost : ScriptHost {
  std::optional<Health> h = Health{};
  std::set<std::string> attached{"d-01", "d-02", "d-03", "d-04"};
  std::vector<json> pending;
  std::map<std::string, double> scores;
  std::vector<std::pair<std::string, nlohmann::ordered_json>> emitted;
  int kills = 0, restarts = 0;
  std::optional<Health> health() override { return h; }
  std::optional<std::set<std::string>> attached_devices() override { return attached; }
  std::vector<json> new_events() override { return std::exchange(pending, {}); }
  std::optional<double> score_so_far(const std::string& s) override {
    auto it = scores.find(s);
    return it == scores.end() ? std::nullopt : std::optional<double>(it->second);
  }
  void emit(const std::string& kind, nlohmann::ordered_json f) override { emitted.emplace_back(kind, std::move(f)); }
  void kill_trust_node() override { ++kills; }
  void restart_trust_node() override { ++restarts; }
  void pause_trust_node(bool) override {}
  std::vector<std::tuple<std::string, double, double>> supplies;  // device, V, V/s
  void set_supply(const std::string& d, double vin, double ramp) override { supplies.emplace_back(d, vin, ramp); }
  std::vector<nlohmann::ordered_json> checks() const {
    std::vector<nlohmann::ordered_json> out;
    for (const auto& [k, f] : emitted)
      if (f.contains("check")) out.push_back(f);
    return out;
  }
};

const char* kRig = R"([rig]
name = "s"
[trust_node]
witnesses = 2
[[devices]]
name_prefix = "d"
count = 4
[pass]
ledger_valid = true
[[steps]]
name = "cut"
after_block = 3
fault = "partition"
devices = ["d-01"]
duration_s = 2
recover_within_s = 5
[[steps]]
name = "check"
expect = "false_blacklist == 0"
[[steps]]
name = "later"
when_device = "d-02"
reaches = "attached"
wait = "height >= 10"
deadline_s = 4
)";

struct Fixture {
  RigSpec spec = parse_rig(kRig, "s.toml");
  FaultPolicy p1{1}, p2{2}, p3{3}, p4{4};
  FakeHost host;
  RigScript script{spec, {{"d-01", &p1}, {"d-02", &p2}, {"d-03", &p3}, {"d-04", &p4}}, host};
};

TEST(RigScript, PartitionThenExpectThenEventTriggeredWait) {
  Fixture f;
  f.script.tick(0);
  EXPECT_FALSE(f.p1.faults().stall) << "after_block 3 not reached";
  f.host.h->height = 3;
  f.host.scores["false_blacklist"] = 0;
  f.script.tick(1);
  EXPECT_TRUE(f.p1.faults().stall);
  EXPECT_FALSE(f.p2.faults().stall) << "only the listed device is cut";
  ASSERT_EQ(f.host.checks().size(), 1u) << "the expect step ran right after the fault started";
  EXPECT_EQ(f.host.checks()[0]["check"], "check (line 17): expect false_blacklist == 0");
  EXPECT_EQ(f.host.checks()[0]["pass"], true);

  f.script.tick(3.5);  // fault over: healed, recovery pending until d-01 carries frames both ways
  EXPECT_FALSE(f.p1.faults().stall);
  EXPECT_EQ(f.host.checks().size(), 1u);
  std::vector<std::uint8_t> frame{1, 2, 0};
  f.p1.on_chunk(Direction::NodeToDevice, frame);
  f.p1.on_chunk(Direction::DeviceToNode, frame);
  f.script.tick(4);
  ASSERT_EQ(f.host.checks().size(), 2u);
  EXPECT_EQ(f.host.checks()[1]["check"], "cut (line 10): partition recovered");
  EXPECT_EQ(f.host.checks()[1]["pass"], true);

  EXPECT_FALSE(f.script.done());
  f.host.pending.push_back({{"source", "emu:d-02"}, {"kind", "state"}, {"fields", {{"state", "attached"}}}});
  f.script.tick(5);
  f.script.tick(10);  // waiting for height >= 10 with a 4 s deadline
  ASSERT_EQ(f.host.checks().size(), 3u);
  EXPECT_EQ(f.host.checks()[2]["pass"], false);
  EXPECT_NE(f.host.checks()[2]["detail"].get<std::string>().find("last height = 3"), std::string::npos);
  EXPECT_TRUE(f.script.done());
}

TEST(RigScript, UnrecoveredFaultAndUntriggeredStepsFailAtTheEnd) {
  Fixture f;
  f.host.h->height = 5;
  f.host.attached.erase("d-01");
  f.script.tick(0);
  f.script.tick(2.5);  // healed, but d-01 never re-attaches nor carries a frame
  f.script.tick(8);    // past recover_within_s = 5
  auto checks = f.host.checks();
  ASSERT_GE(checks.size(), 2u);
  EXPECT_EQ(checks[1]["pass"], false);
  EXPECT_NE(checks[1]["detail"].get<std::string>().find("d-01 (no frame to the device), d-01 (not attached)"),
            std::string::npos);
  EXPECT_EQ(checks[0]["pass"], false) << "the expect's score was unavailable";
  f.script.finish(9, "deadline");
  checks = f.host.checks();
  EXPECT_EQ(checks.back()["check"], "later (line 20): ran");
  EXPECT_EQ(checks.back()["pass"], false);
}

TEST(RigScript, TrustNodeKillRestartsAndWaitsForEveryDevice) {
  RigSpec spec = parse_rig(R"([rig]
name = "s"
[trust_node]
witnesses = 2
[[devices]]
name_prefix = "d"
count = 4
[pass]
ledger_valid = true
[[steps]]
at_s = 1
fault = "trust_node_kill"
)",
                           "k.toml");
  FaultPolicy p1{1}, p2{2}, p3{3}, p4{4};
  FakeHost host;
  RigScript script{spec, {{"d-01", &p1}, {"d-02", &p2}, {"d-03", &p3}, {"d-04", &p4}}, host};
  script.tick(0.5);
  EXPECT_EQ(host.kills, 0);
  host.attached = {"d-01"};
  script.tick(1);  // kill, and duration 0: restarted in the same tick
  EXPECT_EQ(host.kills, 1);
  EXPECT_EQ(host.restarts, 1);
  EXPECT_FALSE(script.trust_node_down());
  EXPECT_TRUE(host.checks().empty()) << "3 devices not attached yet, deadline not reached";
  host.attached = {"d-01", "d-02", "d-03", "d-04"};
  script.tick(2);
  ASSERT_EQ(host.checks().size(), 1u);
  EXPECT_EQ(host.checks()[0]["pass"], true);
  EXPECT_TRUE(script.done());
}

TEST(RigScript, BrownoutSetsTheSupplyAndRecoversOnlyOnceTheDeviceRegistersAgain) {
  RigSpec spec = parse_rig(R"([rig]
name = "s"
[trust_node]
witnesses = 2
[[devices]]
name_prefix = "d"
count = 3
[[devices]]
name_prefix = "p"
model = "dps"
[pass]
ledger_valid = true
[[steps]]
name = "sag"
at_s = 1
fault = "brownout"
vin = 3.5
duration_s = 2
ramp_v_per_s = 5
recover_within_s = 4
)",
                           "s.toml");
  FaultPolicy p1{1}, p2{2}, p3{3}, p4{4};
  FakeHost host;
  host.attached.insert("p-01");
  RigScript script{spec, {{"d-01", &p1}, {"d-02", &p2}, {"d-03", &p3}, {"p-01", &p4}}, host};
  script.tick(1);
  ASSERT_EQ(host.supplies.size(), 1u) << "default targets: every dps device";
  EXPECT_EQ(host.supplies[0], std::make_tuple(std::string("p-01"), 3.5, 0.0));
  EXPECT_FALSE(p4.faults().stall) << "a power fault leaves the serial link alone";
  script.tick(3.5);  // supply back: 24 V at 5 V/s
  ASSERT_EQ(host.supplies.size(), 2u);
  EXPECT_EQ(host.supplies[1], std::make_tuple(std::string("p-01"), 24.0, 5.0));
  script.tick(4);
  EXPECT_TRUE(host.checks().empty()) << "still attached in the node's view, but not registered again yet";
  host.pending.push_back({{"source", "trust-node"}, {"kind", "device_registered"}, {"fields", {{"name", "p-01"}}}});
  script.tick(4.5);
  ASSERT_EQ(host.checks().size(), 1u);
  EXPECT_EQ(host.checks()[0]["check"], "sag (line 13): brownout recovered");
  EXPECT_EQ(host.checks()[0]["pass"], true);
}

TEST(RigScript, PowerFaultThatNeverComesBackFailsItsRecovery) {
  RigSpec spec = parse_rig(R"([rig]
name = "s"
[[devices]]
name_prefix = "d"
count = 4
[[devices]]
name_prefix = "p"
model = "dps"
[pass]
ledger_valid = true
[[steps]]
at_s = 0
fault = "power_loss"
devices = ["p-01"]
duration_s = 1
recover_within_s = 2
)",
                           "s.toml");
  FaultPolicy p1{1}, p2{2}, p3{3}, p4{4}, p5{5};
  FakeHost host;
  RigScript script{spec, {{"d-01", &p1}, {"d-02", &p2}, {"d-03", &p3}, {"d-04", &p4}, {"p-01", &p5}}, host};
  script.tick(0);
  EXPECT_EQ(host.supplies.at(0), std::make_tuple(std::string("p-01"), 0.0, 0.0));
  script.tick(1.5);
  script.tick(4);
  ASSERT_EQ(host.checks().size(), 1u);
  EXPECT_EQ(host.checks()[0]["pass"], false);
  EXPECT_NE(host.checks()[0]["detail"].get<std::string>().find("p-01 (has not registered again since its supply came back)"),
            std::string::npos);
}

}  // namespace
}  // namespace iotw::harness
