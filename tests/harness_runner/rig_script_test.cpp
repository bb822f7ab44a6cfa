// RigScript against a mocked rig (ScriptHost): steps fire in order on their triggers, faults reach the link policies,
// recoveries, waits and expectations become pass/fail check events naming the step and its line.
#include "rig_script.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tuple>

#include "iotw/harness/inline_step.hpp"
#include "iotw/harness/rig_loader.hpp"
#include "scripted_host.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::json;

using test::Check;
using test::CheckPassing;
using test::CheckSaying;
using ::testing::InSequence;

/// The fake rig's devices d-01..d-04 are attached (scripted_host.hpp).
struct Host : test::ScriptedHost {
  Host() : ScriptedHost({"d-01", "d-02", "d-03", "d-04"}) {}
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
  Host host;
  RigScript script{spec, {{"d-01", {&p1}}, {"d-02", {&p2}}, {"d-03", {&p3}}, {"d-04", {&p4}}}, host};
};

TEST(RigScript, PartitionThenExpectThenEventTriggeredWait) {
  Fixture f;
  f.script.tick(0);
  EXPECT_FALSE(f.p1.faults().stall) << "after_block 3 not reached";
  f.host.h->height = 3;
  f.host.scores["false_blacklist"] = 0;
  f.host.expect_checks({Check("check (line 17): expect false_blacklist == 0", true)});
  f.script.tick(1);  // the expect step runs right after the fault started
  EXPECT_TRUE(f.p1.faults().stall);
  EXPECT_FALSE(f.p2.faults().stall) << "only the listed device is cut";

  f.host.expect_checks({});
  f.script.tick(3.5);  // fault over: healed, recovery pending until d-01 carries frames both ways
  EXPECT_FALSE(f.p1.faults().stall);
  std::vector<std::uint8_t> frame{1, 2, 0};
  f.p1.on_chunk(Direction::NodeToDevice, frame);
  f.p1.on_chunk(Direction::DeviceToNode, frame);
  f.host.expect_checks({Check("cut (line 10): partition recovered", true)});
  f.script.tick(4);

  f.host.expect_checks({CheckSaying(false, "last height = 3")});
  EXPECT_FALSE(f.script.done());
  f.host.pending.push_back({{"source", "emu:d-02"}, {"kind", "state"}, {"fields", {{"state", "attached"}}}});
  f.script.tick(5);
  f.script.tick(10);  // waiting for height >= 10 with a 4 s deadline
  EXPECT_TRUE(f.script.done());
}

TEST(RigScript, UnrecoveredFaultAndUntriggeredStepsFailAtTheEnd) {
  Fixture f;
  f.host.h->height = 5;
  f.host.attached.erase("d-01");
  f.host.expect_checks({CheckPassing(false) /* the expect's score was unavailable */,
                        CheckSaying(false, "d-01 (no frame to the device), d-01 (not attached)")});
  f.script.tick(0);
  f.script.tick(2.5);  // healed, but d-01 never re-attaches nor carries a frame
  f.script.tick(8);    // past recover_within_s = 5
  f.host.expect_checks({Check("later (line 20): ran", false)});
  f.script.finish(9, "deadline");
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
  Host host;
  RigScript script{spec, {{"d-01", {&p1}}, {"d-02", {&p2}}, {"d-03", {&p3}}, {"d-04", {&p4}}}, host};
  EXPECT_CALL(host, kill_trust_node(0)).Times(0);
  script.tick(0.5);
  host.attached = {"d-01"};
  host.expect_checks({});  // 3 devices not attached yet, deadline not reached
  {
    InSequence kill_then_restart;  // duration 0: restarted in the same tick
    EXPECT_CALL(host, kill_trust_node(0));
    EXPECT_CALL(host, restart_trust_node(0));
  }
  script.tick(1);
  EXPECT_FALSE(script.trust_node_down());
  host.attached = {"d-01", "d-02", "d-03", "d-04"};
  host.expect_checks({CheckPassing(true)});
  script.tick(2);
  EXPECT_TRUE(script.done());
}

// A module on a TCP AT link has no fault proxy (no FaultPolicy here): a trust-node fault must still wait until it
// is attached again, and name it while it is not (a recovery over the proxied devices alone passed vacuously).
TEST(RigScript, TrustNodeKillAlsoWaitsForDevicesWithoutAFaultProxy) {
  RigSpec spec = parse_rig(R"([rig]
name = "s"
[trust_node]
witnesses = 1
[[devices]]
name_prefix = "d"
count = 2
[[devices]]
name_prefix = "t"
model = "esp8266"
link = "at"
at_transport = "tcp"
[pass]
ledger_valid = true
[[steps]]
at_s = 1
fault = "trust_node_kill"
recover_within_s = 3
)",
                           "t.toml");
  FaultPolicy p1{1}, p2{2};
  Host host;
  RigScript script{spec, {{"d-01", {&p1}}, {"d-02", {&p2}}}, host};
  EXPECT_CALL(host, kill_trust_node(0));
  EXPECT_CALL(host, restart_trust_node(0));
  host.attached = {"d-01", "d-02"};
  script.tick(1);
  host.expect_checks({});
  script.tick(2);
  EXPECT_FALSE(script.done()) << "t-01 has not attached to the restarted node";
  host.expect_checks({CheckSaying(false, "t-01 (not attached)")});
  script.tick(4.5);
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
  Host host;
  host.attached.insert("p-01");
  RigScript script{spec, {{"d-01", {&p1}}, {"d-02", {&p2}}, {"d-03", {&p3}}, {"p-01", {&p4}}}, host};
  EXPECT_CALL(host, set_supply("p-01", 3.5, 0.0));  // default targets: every dps device, and only those
  script.tick(1);
  EXPECT_FALSE(p4.faults().stall) << "a power fault leaves the serial link alone";
  host.expect_checks({});
  EXPECT_CALL(host, set_supply("p-01", 24.0, 5.0));  // supply back: 24 V at 5 V/s
  script.tick(3.5);
  host.expect_checks({});
  script.tick(4);  // still attached in the node's view, but not registered again yet: no check
  host.expect_checks({Check("sag (line 13): brownout recovered", true)});
  host.pending.push_back({{"source", "trust-node"}, {"kind", "device_registered"}, {"fields", {{"name", "p-01"}}}});
  script.tick(4.5);
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
  Host host;
  RigScript script{spec, {{"d-01", {&p1}}, {"d-02", {&p2}}, {"d-03", {&p3}}, {"d-04", {&p4}}, {"p-01", {&p5}}}, host};
  EXPECT_CALL(host, set_supply("p-01", 0.0, 0.0));
  script.tick(0);
  host.expect_checks({CheckSaying(false, "p-01 (has not registered again since its supply came back)")});
  script.tick(1.5);
  script.tick(4);
}

// Inline steps (docs/console.md): RigScript::add() starts a step at once, whatever the rig's own steps are doing;
// an open-ended fault lasts until end(), then its recovery is checked like any fault that ends.
TEST(RigScriptAdded, StartsAtOnceAndAnOpenEndedPartitionEndsOnRequest) {
  Fixture f;
  f.script.tick(0);  // the rig's first step waits for block 3
  const InlineStep cut = parse_inline_step("fault partition device=d-02", kRig, "s.toml");
  Step step = cut.step;
  step.label = "console action 1";
  step.line = 0;
  const std::size_t id = f.script.add(step, 0.5);
  EXPECT_TRUE(f.p2.faults().stall) << "started at once";
  EXPECT_FALSE(f.p1.faults().stall) << "the rig's own step has not fired";
  EXPECT_TRUE(f.script.open_ended_active(id));
  f.script.tick(100);  // open-ended: lasts until end()
  EXPECT_TRUE(f.p2.faults().stall);
  EXPECT_THROW(f.script.end(0, 100), std::invalid_argument) << "a rig step is not ended from outside";

  f.script.end(id, 101);
  EXPECT_FALSE(f.p2.faults().stall);
  EXPECT_FALSE(f.script.open_ended_active(id));
  EXPECT_THROW(f.script.end(id, 102), std::invalid_argument) << "ended already";
  std::vector<std::uint8_t> frame{1, 2, 0};
  f.p2.on_chunk(Direction::NodeToDevice, frame);
  f.p2.on_chunk(Direction::DeviceToNode, frame);
  f.host.expect_checks({Check("console action 1: partition recovered", true)});  // no line for an inline step
  f.script.tick(102);
}

TEST(RigScriptAdded, TrafficAndUartSteps) {
  Fixture f;
  using ::testing::_;
  EXPECT_CALL(f.host, pause_traffic(true));
  f.script.add(parse_inline_step("traffic pause", kRig, "s.toml").step, 1);
  ::testing::Mock::VerifyAndClearExpectations(&f.host);
  EXPECT_CALL(f.host, pause_traffic(false));
  f.script.add(parse_inline_step("traffic resume", kRig, "s.toml").step, 2);
  ::testing::Mock::VerifyAndClearExpectations(&f.host);

  // A uart step types into the module through the pool's `uart` command; "\r\n" is appended unless given.
  const std::string at_rig = std::string(kRig) + R"(
[[devices]]
name_prefix = "m"
model = "esp8266"
link = "at"
)";
  f.host.expect_checks({});
  EXPECT_CALL(f.host, emu_command(json{{"cmd", "uart"}, {"device", "m-01"}, {"data", "AT+GMR\r\n"}}))
      .WillOnce(::testing::Return(json{{"ok", true}, {"output", "AT version:2.2.0\r\nOK\r\n"}}));
  json reply;
  f.script.add(parse_inline_step("uart device=m-01 data=AT+GMR", at_rig, "s.toml").step, 3, &reply);
  EXPECT_EQ(reply["output"], "AT version:2.2.0\r\nOK\r\n");
  // A pool that refuses: a failed check, and the reply says why.
  f.host.expect_checks({CheckSaying(false, "unknown command 'uart'")});
  EXPECT_CALL(f.host, emu_command(_)).WillOnce(::testing::Throw(std::runtime_error("uart m-01: unknown command 'uart'")));
  f.script.add(parse_inline_step("uart device=m-01 data=\"AT\n\"", at_rig, "s.toml").step, 4, &reply);
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["error"], "uart m-01: unknown command 'uart'");
}

TEST(RigScriptAdded, AnOpenEndedBrownoutStillActiveAtTheEndIsHealedWithoutACheck) {
  const std::string rig = R"([rig]
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
)";
  RigSpec spec = parse_rig(rig, "s.toml");
  FaultPolicy p1{1}, p2{2}, p3{3}, p4{4};
  Host host;
  RigScript script{spec, {{"d-01", {&p1}}, {"d-02", {&p2}}, {"d-03", {&p3}}, {"p-01", {&p4}}}, host};
  EXPECT_CALL(host, set_supply("p-01", 3.5, 0.0));
  const std::size_t id = script.add(parse_inline_step("fault brownout device=p-01 vin=3.5", rig, "s.toml").step, 1);
  script.tick(50);
  EXPECT_TRUE(script.open_ended_active(id)) << "no duration: it lasts";
  EXPECT_TRUE(script.done()) << "an open-ended fault does not hold the run";
  host.expect_checks({});  // the run is stopped while it is active: supply back, no recovery check
  EXPECT_CALL(host, set_supply("p-01", 24.0, 0.0));
  script.finish(60, "stopped");
}

}  // namespace
}  // namespace iotw::harness

namespace iotw::harness {
namespace {

// [mesh] rigs (docs/faults.md "Trust-node mesh faults"): three nodes, three PTY links per device.
const char* kMeshHead = R"([rig]
name = "m"
[mesh]
trust_nodes = 3
etcd_members = 3
[trust_node]
witnesses = 2
[[devices]]
name_prefix = "d"
count = 4
[pass]
ledger_valid = true
)";

struct MeshFixture {
  explicit MeshFixture(const std::string& steps) : spec(parse_rig(std::string(kMeshHead) + steps, "m.toml")) {}
  RigSpec spec;
  FaultPolicy p[4][3] = {{FaultPolicy{1}, FaultPolicy{2}, FaultPolicy{3}}, {FaultPolicy{4}, FaultPolicy{5}, FaultPolicy{6}},
                         {FaultPolicy{7}, FaultPolicy{8}, FaultPolicy{9}}, {FaultPolicy{10}, FaultPolicy{11}, FaultPolicy{12}}};
  Host host;
  std::map<std::string, std::vector<FaultPolicy*>> links() {
    std::map<std::string, std::vector<FaultPolicy*>> out;
    for (int d = 0; d < 4; ++d) out["d-0" + std::to_string(d + 1)] = {&p[d][0], &p[d][1], &p[d][2]};
    return out;
  }
};

MATCHER_P2(Started, key, value, "a fault_started event with this field") {
  return arg.contains(key) && arg[key] == value && !arg.contains("check");
}

// node = "leader": the node the host says is assigning at the start is killed and, at the end, started again (the
// same node, though another is assigning by then); recovered once every device is attached, one node is assigning
// and the height grew past the one at the end.
TEST(RigScriptMesh, LeaderKillResolvesTheAssigningNodeOnceAndChecksTheMesh) {
  MeshFixture f("[[steps]]\nat_s = 1\nfault = \"trust_node_kill\"\nnode = \"leader\"\nduration_s = 2\nrecover_within_s = 5\n");
  RigScript script{f.spec, f.links(), f.host};
  f.host.assigning = 2;
  f.host.h->height = 10;
  EXPECT_CALL(f.host, emit("fault_started", Started("node", "tn-2")));
  EXPECT_CALL(f.host, kill_trust_node(2));
  script.tick(1);
  EXPECT_TRUE(script.node_down(2));
  EXPECT_FALSE(script.node_down(0));
  EXPECT_FALSE(script.trust_node_down()) << "two nodes still run";
  f.host.assigning = 0;  // a standby took over: the killed node is still the one restarted
  f.host.expect_checks({});
  EXPECT_CALL(f.host, restart_trust_node(2));
  f.host.mesh = {2, 12};  // two nodes claim the role: not recovered
  f.host.h->height = 12;  // the height when the fault ends
  script.tick(3);
  EXPECT_FALSE(script.node_down(2));
  f.host.mesh = {1, 12};  // one assigning node, but no block since the end
  script.tick(3.5);
  EXPECT_FALSE(script.done());
  f.host.expect_checks({Check("step 1 (line 13): trust_node_kill recovered", true)});
  f.host.mesh = {1, 13};
  script.tick(4);
  EXPECT_TRUE(script.done());
}

TEST(RigScriptMesh, LeaderKillWithoutAnAssigningNodeFailsTheStep) {
  MeshFixture f("[[steps]]\nat_s = 1\nfault = \"trust_node_kill\"\nnode = \"leader\"\n");
  RigScript script{f.spec, f.links(), f.host};
  f.host.assigning = std::nullopt;
  EXPECT_CALL(f.host, kill_trust_node(::testing::_)).Times(0);
  f.host.expect_checks({CheckSaying(false, "no trust node says role \"assigning\"")});
  script.tick(1);
  EXPECT_TRUE(script.done());
  EXPECT_FALSE(script.node_down(0));
}

TEST(RigScriptMesh, MeshCheckNamesWhatIsMissingAtTheDeadline) {
  MeshFixture f("[[steps]]\nat_s = 1\nfault = \"etcd_stop\"\nmember = 1\nduration_s = 1\nrecover_within_s = 2\n");
  RigScript script{f.spec, f.links(), f.host};
  EXPECT_CALL(f.host, pause_etcd(1, true));
  script.tick(1);
  EXPECT_CALL(f.host, pause_etcd(1, false));
  f.host.mesh = {0, 0};
  script.tick(2);
  f.host.expect_checks({CheckSaying(false, "the mesh (0 trust nodes say role \"assigning\", not 1)")});
  script.tick(4.5);
}

TEST(RigScriptMesh, EtcdKillRestartsTheMember) {
  MeshFixture f("[[steps]]\nat_s = 1\nfault = \"etcd_kill\"\nmember = 2\nduration_s = 1\n");
  RigScript script{f.spec, f.links(), f.host};
  EXPECT_CALL(f.host, emit("fault_started", Started("member", 2)));
  EXPECT_CALL(f.host, kill_etcd(2));
  script.tick(1);
  f.host.mesh = {1, 1};  // the height grew past 0
  f.host.expect_checks({CheckPassing(true)});
  EXPECT_CALL(f.host, restart_etcd(2));
  script.tick(2);
  EXPECT_TRUE(script.done());
}

// from = "devices": every device's link of that node stalls (and only those); from = "etcd": the host cuts the
// node's relays; both heal at the end.
TEST(RigScriptMesh, PartitionNodeFromDevicesStallsThatNodesLinksOnly) {
  MeshFixture f("[[steps]]\nat_s = 1\nfault = \"partition_node\"\nnode = 1\nfrom = \"devices\"\nduration_s = 2\n"
                "[[steps]]\nat_s = 1\nfault = \"partition_node\"\nnode = 2\nfrom = \"etcd\"\nduration_s = 2\n"
                "[[steps]]\nat_s = 1\nfault = \"corrupt\"\nrate = 0.5\ndevices = [\"d-03\"]\n");
  RigScript script{f.spec, f.links(), f.host};
  EXPECT_CALL(f.host, cut_node_from_etcd(2, true));
  script.tick(1);
  for (int d = 0; d < 4; ++d) {
    EXPECT_FALSE(f.p[d][0].faults().stall) << d;
    EXPECT_TRUE(f.p[d][1].faults().stall) << d;
    EXPECT_FALSE(f.p[d][2].faults().stall) << d;
  }
  for (int n = 0; n < 3; ++n) EXPECT_EQ(f.p[2][n].faults().corrupt_rate, 0.5) << "a device's link fault: all its links";
  EXPECT_EQ(f.p[1][1].faults().corrupt_rate, 0.0);
  EXPECT_CALL(f.host, cut_node_from_etcd(2, false));
  script.tick(3);
  for (int d = 0; d < 4; ++d) EXPECT_FALSE(f.p[d][1].faults().stall) << d;
  EXPECT_EQ(f.p[2][1].faults().corrupt_rate, 0.5) << "the open-ended corrupt step goes on";
}

}  // namespace
}  // namespace iotw::harness

namespace iotw::harness {
namespace {

// host_partition ([hosts] rigs): the script cuts the host link and brings it back (ScriptHost::cut_host_link), its
// targets are the far host's devices only, and it has recovered once each of them is attached and its UDP link
// carried a datagram each way since the link came back.
TEST(RigScript, HostPartitionCutsTheHostLinkAndRecoversOnTheFarHostsDevices) {
  const RigSpec spec = parse_rig(R"([rig]
name = "h"
[hosts]
names = ["lab", "remote"]
[trust_node]
witnesses = 1
[[devices]]
name_prefix = "l"
model = "esp8266"
link = "at"
count = 2
[[devices]]
name_prefix = "r"
model = "esp8266"
link = "at"
count = 2
host = "remote"
[pass]
ledger_valid = true
[[steps]]
name = "cut"
fault = "host_partition"
duration_s = 2
recover_within_s = 5
)",
                                 "h.toml");
  test::ScriptedHost host({"l-01", "l-02", "r-01", "r-02"});
  UdpFaultPolicy l1{1}, l2{2}, r1{3}, r2{4};
  RigScript script(spec, {}, host, {{"l-01", &l1}, {"l-02", &l2}, {"r-01", &r1}, {"r-02", &r2}});
  {
    InSequence order;
    EXPECT_CALL(host, cut_host_link(true));
    EXPECT_CALL(host, emit("fault_started", ::testing::Truly([](const nlohmann::ordered_json& f) {
                             return f["devices"] == json({"r-01", "r-02"}) && f["hosts"] == json({"lab", "remote"});
                           })));
  }
  script.tick(0);
  ::testing::Mock::VerifyAndClearExpectations(&host);
  host.expect_checks({});
  EXPECT_FALSE(r1.faults().partition) << "the kernel cuts the link; the proxies stay as they are";
  EXPECT_CALL(host, cut_host_link(false));
  host.attached = {"l-01", "l-02"};  // the far host's devices were detached
  script.tick(2.5);
  ::testing::Mock::VerifyAndClearExpectations(&host);
  host.expect_checks({});
  script.tick(3);  // not attached, no datagram yet: undecided
  host.attached = {"l-01", "l-02", "r-01", "r-02"};
  for (UdpFaultPolicy* p : {&r1, &r2})
    for (Direction dir : {Direction::DeviceToNode, Direction::NodeToDevice}) p->on_datagram(dir, {1, 2, 3});
  host.expect_checks({Check("cut (line 20): host_partition recovered", true)});
  script.tick(4);
  EXPECT_TRUE(script.done());
}

}  // namespace
}  // namespace iotw::harness
