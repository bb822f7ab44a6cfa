#include "iotw/harness/rig_loader.hpp"
#include "rig_error_of.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/device_behaviour.hpp"

using iotw::harness::Criterion;
using iotw::harness::load_rig;
using iotw::harness::parse_rig;
using iotw::harness::RigError;

namespace {

constexpr const char* kMinimal = R"([rig]
name = "t"
[[devices]]
count = 5
[pass]
ledger_valid = true
)";

}  // namespace

TEST(RigLoader, SmokeRig) {
  const auto rig = load_rig(std::string(IOTW_RIGS_DIR) + "/smoke.toml");
  EXPECT_EQ(rig.name, "smoke");
  EXPECT_EQ(rig.deadline_s, 90);
  EXPECT_FALSE(rig.seed.has_value());
  EXPECT_EQ(rig.trust_node.witnesses, 3);
  EXPECT_EQ(rig.target_blocks, 20);
  const auto devices = rig.instances();
  ASSERT_EQ(devices.size(), 8u);
  EXPECT_EQ(devices.front().name, "esp8266-01");
  EXPECT_EQ(devices.front().model, "esp8266");
  EXPECT_EQ(devices.back().name, "esp32-04");
  EXPECT_EQ(devices.back().model, "esp32");
  for (const auto& d : devices) {
    EXPECT_FALSE(d.byzantine()) << d.name;
    EXPECT_EQ(d.link, "pty");
  }
  ASSERT_EQ(rig.pass.size(), 5u);  // file order
  EXPECT_EQ(rig.pass[0].name, "blocks_finalized_min");
  EXPECT_EQ(rig.pass[0].score, "blocks_finalized");
  EXPECT_EQ(rig.pass[0].op, Criterion::Op::AtLeast);
  EXPECT_EQ(rig.pass[0].threshold, 20);
  EXPECT_EQ(rig.pass[1].name, "coherence_rate_min");
  EXPECT_EQ(rig.pass[1].threshold, 1.0);
  EXPECT_EQ(rig.pass[2].name, "ledger_valid");
  EXPECT_EQ(rig.pass[2].op, Criterion::Op::Equals);
  EXPECT_EQ(rig.pass[2].threshold, 1.0);
  EXPECT_EQ(rig.pass[3].name, "false_blacklist_max");
  EXPECT_EQ(rig.pass[3].op, Criterion::Op::AtMost);
  EXPECT_EQ(rig.pass[4].name, "blacklisted_max");
  EXPECT_EQ(rig.pass[4].threshold, 0);
}

TEST(RigLoader, ByzantineWitnessRig) {
  const auto rig = load_rig(std::string(IOTW_RIGS_DIR) + "/byzantine_witness.toml");
  EXPECT_EQ(rig.name, "byzantine_witness");
  const auto devices = rig.instances();
  ASSERT_EQ(devices.size(), 8u);
  int byzantine = 0;
  for (const auto& d : devices) byzantine += d.byzantine();
  EXPECT_EQ(byzantine, 1);
  EXPECT_EQ(devices.back().name, "byz-01");
  EXPECT_EQ(devices.back().behaviour, "invert_verdict");
  std::vector<std::string> names;
  for (const auto& c : rig.pass) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"blocks_finalized_min", "ledger_valid", "byzantine_blacklisted",
                                             "incoherent_rounds_blacklisted", "byzantine_rounds_detected_min",
                                             "false_blacklist_max"}));
  EXPECT_EQ(rig.pass.back().threshold, 2);
}

TEST(RigLoader, DefaultsAndInstanceNumbering) {
  const auto rig = parse_rig(R"([rig]
name = "t"
seed = 42
[[devices]]
name_prefix = "a"
count = 12
[[devices]]
name_prefix = "b"
behaviour = "wrong_hash"
[pass]
ledger_valid = false
)",
                             "x.toml");
  EXPECT_EQ(rig.seed, 42u);
  EXPECT_EQ(rig.file, "x.toml");
  EXPECT_EQ(rig.deadline_s, 120);
  EXPECT_EQ(rig.trust_node.block_interval_ms, 50);
  EXPECT_EQ(rig.traffic.payload_bytes, 48);
  ASSERT_EQ(rig.devices.size(), 2u);
  EXPECT_EQ(rig.devices[1].line, 7);
  const auto d = rig.instances();
  ASSERT_EQ(d.size(), 13u);
  EXPECT_EQ(d[9].name, "a-10");
  EXPECT_EQ(d[12].name, "b-01");
  EXPECT_TRUE(d[12].byzantine());
  EXPECT_EQ(d[12].model, "esp32");
  EXPECT_EQ(rig.pass[0].threshold, 0);
}

TEST(RigLoader, MinimalRigIsValid) { EXPECT_EQ(error_of(kMinimal), ""); }

TEST(RigLoader, UnknownKeyNamesLineAndAllowedKeys) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "[trust_node]\nwitnessez = 3\n"),
            "x.toml:8:1: unknown key 'witnessez' in [trust_node]; allowed: witnesses, block_interval_ms, "
            "max_txs_per_block, assignment_timeout_ms, witness_timeout_ms, device_timeout_ms, selection, vrf_suite");
  EXPECT_EQ(error_of(R"([rig]
name = "t"
colour = "red"
)"),
            "x.toml:3:1: unknown key 'colour' in [rig]; allowed: name, description, seed, deadline_s, monte_carlo");
}

TEST(RigLoader, UnknownModelFromDataFileNamesFileLineAndModels) {
  const std::string file = std::string(IOTW_HARNESS_DATA_DIR) + "/bad_model.toml";
  try {
    load_rig(file);
    FAIL() << "no error";
  } catch (const RigError& e) {
    EXPECT_EQ(std::string(e.what()), file + ":9:9: unknown model 'esp33' in [[devices]]; allowed: esp8266, esp32, dps, bulb, rtl8710, rtl8195, qemu-cortex-m3");
  }
}

TEST(RigLoader, UnknownBehaviourAndLink) {
  // The allowed behaviours are the emulator's registry (emulators/common/device_behaviour.hpp), every one of them.
  std::string allowed;
  for (const auto& b : iotw::emu::device_behaviours()) allowed += (allowed.empty() ? "" : ", ") + b;
  EXPECT_NE(allowed.find("cached_nonce"), std::string::npos);
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\n[[devices]]\nbehaviour = \"liar\"\n"),
            "x.toml:4:13: unknown behaviour 'liar' in [[devices]]; allowed: " + allowed);
  const auto rig = parse_rig("[rig]\nname = \"t\"\n[[devices]]\nbehaviour = \"stale_witness\"\ncount = 6\n[pass]\nledger_valid = true\n",
                             "x.toml");
  EXPECT_EQ(rig.devices.at(0).behaviour, "stale_witness");
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\n[[devices]]\nlink = \"tun\"\n"), "x.toml:4:8: unknown link 'tun' in [[devices]]; allowed: pty, at, tap");
}

TEST(RigLoader, UnknownTopLevelTable) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "[faults]\nx = 1\n"),
            "x.toml:7:2: unknown table 'faults'; allowed: rig, trust_node, devices, traffic, target, pass, steps, tap, mesh, hosts");
}

TEST(RigLoader, WrongTypeSaysExpectedType) {
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\n[[devices]]\ncount = \"four\"\n"),
            "x.toml:4:9: 'count' in [[devices]] must be an integer in 1..256, got a string");
  EXPECT_EQ(error_of("[rig]\nname = 7\n"), "x.toml:2:8: 'name' in [rig] must be a string, got an integer");
  EXPECT_EQ(error_of(std::string(kMinimal) + "byzantine_blacklisted = 1\n"),
            "x.toml:7:25: 'byzantine_blacklisted' in [pass] must be true or false, got an integer");
  EXPECT_EQ(error_of("devices = 3\n[rig]\nname = \"t\"\n"), "x.toml:1:11: 'devices' must be an array of tables: one [[devices]] per group");
}

TEST(RigLoader, OutOfRangeGivesRange) {
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\n[[devices]]\ncount = 300\n"),
            "x.toml:4:9: 'count' in [[devices]] is 300; allowed range 1..256");
  EXPECT_EQ(error_of(std::string(kMinimal) + "coherence_rate_min = 1.5\n"),
            "x.toml:7:22: 'coherence_rate_min' in [pass] is 1.5; allowed range 0..1");
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\nseed = -1\n"),
            "x.toml:3:8: 'seed' in [rig] is -1; allowed range 0..9223372036854775807");
  EXPECT_EQ(error_of(std::string(kMinimal) + "[traffic]\npayload_bytes = 0\n"),
            "x.toml:8:17: 'payload_bytes' in [traffic] is 0; allowed range 1..4096");
}

TEST(RigLoader, TomlSyntaxErrorCarriesLine) {
  const std::string e = error_of("[rig]\nname = \"t\"\ndeadline_s = = 3\n");
  EXPECT_EQ(e.rfind("x.toml:3:", 0), 0u) << e;
}

TEST(RigLoader, DuplicatePrefixNamesBothGroups) {
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\n[[devices]]\ncount = 3\n[[devices]]\ncount = 2\n"),
            "x.toml:5:1: name_prefix 'esp' is already used by the [[devices]] group at line 3; device names must "
            "be unique across groups");
}

TEST(RigLoader, TooManyWitnessesNamesTheWitnessesLine) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "[trust_node]\nwitnesses = 4\n"),
            "x.toml:8:13: witnesses = 4 needs more than 5 devices (the miner and a spare for a silent witness are "
            "never witnesses); the rig has 5");
  // The default (3) is too many for 3 devices: the error points at the [[devices]] group.
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\n[[devices]]\ncount = 3\n[pass]\nledger_valid = true\n")
                .rfind("x.toml:3:1: witnesses = 3 needs more than 4 devices", 0),
            0u);
}

TEST(RigLoader, MissingRequiredParts) {
  EXPECT_EQ(error_of("[[devices]]\n"), "x.toml:1:1: missing required table [rig] (with at least: name = \"...\")");
  EXPECT_EQ(error_of("[rig]\ndescription = \"d\"\n"),
            "x.toml:1:1: missing required key 'name' in [rig] (a non-empty string)");
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\n"), "x.toml:1:1: missing [[devices]]: a rig needs at least one device group");
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\n[[devices]]\ncount = 4\n").rfind("x.toml:1:1: missing [pass]", 0), 0u);
}

TEST(RigLoader, UnknownPassKeyListsCriteria) {
  const std::string e = error_of(std::string(kMinimal) + "coherence = 1\n");
  EXPECT_EQ(e.rfind("x.toml:7:1: unknown key 'coherence' in [pass]; allowed: blocks_finalized_min, coherence_rate_min",
                    0),
            0u)
      << e;
  EXPECT_NE(e.find("liveness_blocks_per_min_min"), std::string::npos);
}

TEST(RigLoader, MissingFileIsRigError) {
  try {
    load_rig("/nonexistent/rig.toml");
    ADD_FAILURE() << "no RigError";
  } catch (const RigError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/rig.toml: cannot read the rig file: No such file or directory");
  }
}

namespace {

std::string with_steps(const std::string& steps) {
  return std::string(kMinimal) + steps;
}

}  // namespace

TEST(RigLoaderSteps, FaultRigsLoadWithTheirSteps) {
  const auto noise = load_rig(std::string(IOTW_RIGS_DIR) + "/link_noise.toml");
  ASSERT_EQ(noise.steps.size(), 3u);
  EXPECT_EQ(noise.steps[0].trigger, iotw::harness::Step::Trigger::AfterBlock);
  EXPECT_EQ(noise.steps[0].fault.kind, "corrupt");
  EXPECT_TRUE(noise.steps[0].fault.per_frame);
  EXPECT_EQ(noise.steps[1].trigger, iotw::harness::Step::Trigger::AfterPrevious);
  EXPECT_EQ(noise.steps[2].action, iotw::harness::Step::Action::Expect);
  const auto part = load_rig(std::string(IOTW_RIGS_DIR) + "/partition.toml");
  EXPECT_EQ(part.steps[0].fault.devices, (std::vector<std::string>{"esp32-01", "esp32-02", "esp32-03"}));
  EXPECT_EQ(part.steps[2].trigger, iotw::harness::Step::Trigger::DeviceState);
  EXPECT_EQ(part.steps[2].state, "attached");
  const auto crash = load_rig(std::string(IOTW_RIGS_DIR) + "/trust_node_crash.toml");
  EXPECT_EQ(crash.steps[0].fault.kind, "trust_node_kill");
  EXPECT_EQ(crash.steps[1].condition.name, "height");
  EXPECT_EQ(crash.steps[1].condition.value, 15);
}

TEST(RigLoaderSteps, ErrorsNameTheLineAndTheAllowedValues) {
  EXPECT_EQ(error_of(with_steps("[[steps]]\nat_s = 1\nfault = \"melt\"\n")),
            "x.toml:9:9: unknown fault 'melt' in [[steps]] #1; allowed: corrupt, bit_flip, drop_bytes, drop_frames, "
            "garbage, stall, baud_mismatch, delay, partition, trust_node_kill, trust_node_stop, etcd_kill, etcd_stop, "
            "partition_node, brownout, power_loss, udp_loss, udp_duplicate, udp_reorder, udp_delay, "
            "reboot, hang, clock_skew, ap_rssi, ap_down, host_partition");
  EXPECT_NE(error_of(with_steps("[[steps]]\nfault = \"stall\"\ndevices = [\"esp-09\"]\n"))
                .find("x.toml:9:12: unknown device 'esp-09' in [[steps]] #1; the rig's devices: esp-01"),
            std::string::npos);
  EXPECT_NE(error_of(with_steps("[[steps]]\nfault = \"corrupt\"\n")).find("x.toml:7:1: fault 'corrupt' in [[steps]] #1 needs 'rate'"),
            std::string::npos);
  EXPECT_NE(error_of(with_steps("[[steps]]\nat_s = 1\nafter_block = 2\nexpect = \"rounds >= 1\"\n")).find("has 2 triggers"),
            std::string::npos);
  EXPECT_NE(error_of(with_steps("[[steps]]\nwait = \"height >= 1\"\nexpect = \"rounds >= 1\"\n"))
                .find("needs exactly one action: fault, wait, expect, traffic or uart"),
            std::string::npos);
  EXPECT_NE(error_of(with_steps("[[steps]]\nwait = \"heigth >= 1\"\n")).find("x.toml:8:8: unknown live value 'heigth'"),
            std::string::npos);
  EXPECT_NE(error_of(with_steps("[[steps]]\nexpect = \"rounds => 1\"\n")).find("unknown operator '=>'"), std::string::npos);
  EXPECT_NE(error_of(with_steps("[[steps]]\nfault = \"partition\"\n")).find("needs 'duration_s'"), std::string::npos);
  EXPECT_NE(error_of(with_steps("[[steps]]\nfault = \"stall\"\ndelay_ms = 3\n")).find("'delay_ms' in [[steps]] #1 applies only to delay and udp_delay faults"),
            std::string::npos);
  EXPECT_NE(error_of(with_steps("[[steps]]\nfault = \"trust_node_kill\"\ndevices = [\"esp-01\"]\n"))
                .find("acts on a trust node, not on devices"),
            std::string::npos);
  EXPECT_NE(error_of(with_steps("[[steps]]\nwhen_device = \"esp-01\"\nexpect = \"rounds >= 1\"\n"))
                .find("'when_device' and 'reaches' go together"),
            std::string::npos);
}

TEST(RigLoaderPowered, DpsRigCarriesUsagePeriodLoadAndSupplySchedule) {
  const auto rig = load_rig(std::string(IOTW_RIGS_DIR) + "/dps_brownout.toml");
  const auto devices = rig.instances();
  ASSERT_EQ(devices.size(), 4u);
  EXPECT_EQ(devices[0].model, "dps");
  EXPECT_EQ(devices[0].powered.usage_period_ms, 1000);
  EXPECT_EQ(devices[0].powered.load_ohm, 10.0);
  EXPECT_TRUE(devices[0].powered.power.empty());
  ASSERT_EQ(devices[3].powered.power.size(), 2u);
  EXPECT_EQ(devices[3].powered.power[0].at_ms, 3000);
  EXPECT_DOUBLE_EQ(devices[3].powered.power[0].vin, 4.0);
  EXPECT_DOUBLE_EQ(devices[3].powered.power[1].vin, 24.0);
  ASSERT_EQ(rig.pass.back().score, "usage_rewarded_devices");
  const auto bulbs = load_rig(std::string(IOTW_RIGS_DIR) + "/smart_bulbs.toml").instances();
  EXPECT_DOUBLE_EQ(bulbs.back().powered.power[1].ramp_v_per_s, 5.0);
}

TEST(RigLoaderPowered, PoweredKeysOnTheWrongModelOrOutOfOrderNameTheLine) {
  const std::string head = "[rig]\nname = \"t\"\n[pass]\nledger_valid = true\n[[devices]]\ncount = 5\n";
  EXPECT_EQ(error_of(head + "model = \"esp32\"\nload_ohm = 10\n"),
            "x.toml:8:12: 'load_ohm' does not apply to model 'esp32'; it is for model dps");
  EXPECT_EQ(error_of(head + "model = \"bulb\"\nload_ohm = 10\n"),
            "x.toml:8:12: 'load_ohm' does not apply to model 'bulb'; it is for model dps");
  EXPECT_NE(error_of(head + "model = \"dps\"\npower = [ { at_ms = 50, vin = 4 }, { at_ms = 10, vin = 24 } ]\n")
                .find("x.toml:8:"),
            std::string::npos);
  EXPECT_NE(error_of(head + "model = \"dps\"\npower = [ { at_ms = 50 } ]\n").find("needs at_ms and vin"),
            std::string::npos);
  EXPECT_NE(error_of(head + "model = \"dps\"\npower = [ { at_ms = 50, vin = 4, volts = 2 } ]\n").find("unknown key 'volts'"),
            std::string::npos);
  EXPECT_NE(error_of(head + "model = \"dps\"\nusage_period_ms = 5\n").find("allowed range 100..86400000"),
            std::string::npos);
  EXPECT_EQ(error_of(head + "model = \"dps\"\nusage_period_ms = 500\nload_ohm = 4.7\n"), "");
}

TEST(RigLoader, MonteCarloAndColludeKeys) {
  EXPECT_FALSE(parse_rig(kMinimal, "x.toml").monte_carlo);
  const auto r = parse_rig("[rig]\nname = \"t\"\nmonte_carlo = true\n[[devices]]\ncount = 4\n[[devices]]\n"
                              "name_prefix = \"c\"\nbehaviour = \"collude\"\n[pass]\nledger_valid = true\n",
                              "x.toml");
  EXPECT_TRUE(r.monte_carlo);
  EXPECT_EQ(r.instances().back().behaviour, "collude");
  EXPECT_TRUE(r.instances().back().byzantine());
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\nmonte_carlo = 1\n"),
            "x.toml:3:15: 'monte_carlo' in [rig] must be true or false, got an integer");
}

TEST(RigLoaderPowered, PowerFaultStepsNeedDpsDevicesAndADuration) {
  const auto rig = load_rig(std::string(IOTW_RIGS_DIR) + "/dps_power_faults.toml");
  ASSERT_EQ(rig.steps.size(), 3u);
  EXPECT_EQ(rig.steps[0].fault.kind, "brownout");
  EXPECT_TRUE(rig.steps[0].fault.power_fault());
  EXPECT_FALSE(rig.steps[0].fault.link_fault());
  EXPECT_DOUBLE_EQ(rig.steps[0].fault.vin, 4.0);
  EXPECT_EQ(rig.steps[1].fault.kind, "power_loss");
  EXPECT_DOUBLE_EQ(rig.steps[1].fault.vin, 0.0);
  EXPECT_DOUBLE_EQ(rig.steps[1].fault.ramp_v_per_s, 10.0);
  const std::string head =
      "[rig]\nname = \"t\"\n[pass]\nledger_valid = true\n[[devices]]\ncount = 4\n[[devices]]\nname_prefix = \"d\"\nmodel = \"dps\"\n";
  EXPECT_EQ(error_of(head + "[[steps]]\nfault = \"brownout\"\nduration_s = 1\n"), "");
  EXPECT_NE(error_of(head + "[[steps]]\nfault = \"brownout\"\n").find("needs 'duration_s'"), std::string::npos);
  EXPECT_NE(error_of(head + "[[steps]]\nfault = \"brownout\"\nduration_s = 1\ndevices = [\"esp-01\"]\n")
                .find("x.toml:13:12: fault 'brownout' in [[steps]] #1 needs a dps device"),
            std::string::npos)
      << error_of(head + "[[steps]]\nfault = \"brownout\"\nduration_s = 1\ndevices = [\"esp-01\"]\n");
  EXPECT_NE(error_of(head + "[[steps]]\nfault = \"power_loss\"\nduration_s = 1\nvin = 3\n").find("'vin' in [[steps]] #1 applies only to brownout faults"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[[steps]]\nfault = \"stall\"\nramp_v_per_s = 3\n").find("applies only to brownout and power_loss faults"),
            std::string::npos);
  const std::string no_dps = "[rig]\nname = \"t\"\n[pass]\nledger_valid = true\n[[devices]]\ncount = 5\n";
  EXPECT_NE(error_of(no_dps + "[[steps]]\nfault = \"brownout\"\nduration_s = 1\n").find("needs at least one model = \"dps\" device"),
            std::string::npos);
}

TEST(RigLoaderAt, EspAtRigHasAtLinkedEspAndRealtekModules) {
  const auto rig = load_rig(std::string(IOTW_RIGS_DIR) + "/esp_at.toml");
  const auto devices = rig.instances();
  ASSERT_EQ(devices.size(), 6u);
  for (const auto& d : devices) EXPECT_EQ(d.link, "at") << d.name;
  EXPECT_EQ(devices[0].model, "esp8266");
  EXPECT_EQ(devices[5].model, "rtl8710");
  EXPECT_EQ(devices[5].name, "rtl8710-at-03");
}

TEST(RigLoaderAt, AtLinkNeedsAModuleAndRealtekNeedsAtAndLinkFaultsNeedAPty) {
  const std::string head = "[rig]\nname = \"t\"\n[pass]\nledger_valid = true\n[[devices]]\ncount = 5\n";
  EXPECT_EQ(error_of(head + "model = \"rtl8195\"\nlink = \"at\"\n"), "");
  EXPECT_EQ(error_of(head + "model = \"esp32\"\nlink = \"at\"\n"), "");
  EXPECT_EQ(error_of(head + "model = \"rtl8710\"\n"),
            "x.toml:7:9: model 'rtl8710' in [[devices]] runs only in AT mode or over TAP: add link = \"at\" or link = \"tap\"");
  EXPECT_EQ(error_of(head + "model = \"dps\"\nlink = \"at\"\n"),
            "x.toml:8:8: link 'at' in [[devices]] needs a Wi-Fi module model (esp8266, esp32, rtl8710, rtl8195), not 'dps'");
  const std::string mixed = head + "model = \"esp8266\"\nlink = \"at\"\nname_prefix = \"at\"\n"
                                   "[[devices]]\nname_prefix = \"esp\"\ncount = 2\n";
  EXPECT_NE(error_of(mixed + "[[steps]]\nfault = \"corrupt\"\nrate = 0.1\ndevices = [\"at-02\"]\n")
                .find("x.toml:16:11: serial link fault 'corrupt' in [[steps]] #1: 'at-02' has link = \"at\""),
            std::string::npos)
      << error_of(mixed + "[[steps]]\nfault = \"corrupt\"\nrate = 0.1\ndevices = [\"at-02\"]\n");
  EXPECT_EQ(error_of(mixed + "[[steps]]\nfault = \"stall\"\ndevices = [\"esp-02\"]\n"), "");
  EXPECT_EQ(error_of(mixed + "[[steps]]\nfault = \"trust_node_kill\"\n"), "");
  EXPECT_NE(error_of(head + "model = \"esp8266\"\nlink = \"at\"\n[[steps]]\nfault = \"drop_frames\"\nrate = 0.1\n")
                .find("every device has link = \"at\""),
            std::string::npos);
}

TEST(RigLoaderUdp, UdpFaultsNeedAtDevicesPartitionAndStallTakeBoth) {
  const std::string head = "[rig]\nname = \"t\"\n[pass]\nledger_valid = true\n[[devices]]\ncount = 5\n";
  const std::string mixed = head + "model = \"esp8266\"\nlink = \"at\"\nname_prefix = \"at\"\n"
                                   "[[devices]]\nname_prefix = \"esp\"\ncount = 2\n";
  // lines: 13 [[steps]], 14 fault, 15 rate/devices ...
  EXPECT_EQ(error_of(mixed + "[[steps]]\nfault = \"udp_loss\"\nrate = 0.1\ndevices = [\"esp-01\"]\n"),
            "x.toml:16:11: UDP link fault 'udp_loss' in [[steps]] #1: 'esp-01' has a PTY link (serial; UDP faults need "
            "link = \"at\" or \"tap\")");
  EXPECT_EQ(error_of(mixed + "[[steps]]\nfault = \"udp_loss\"\nrate = 0.1\ndevices = [\"at-01\"]\n"), "");
  EXPECT_EQ(error_of(mixed + "[[steps]]\nfault = \"udp_duplicate\"\nrate = 0.05\nduration_s = 3\nrecover_within_s = 9\n"), "");
  EXPECT_EQ(error_of(mixed + "[[steps]]\nfault = \"udp_reorder\"\nrate = 0.05\n"), "");
  EXPECT_EQ(error_of(mixed + "[[steps]]\nfault = \"udp_delay\"\ndelay_ms = 20\njitter_ms = 10\n"), "");
  EXPECT_EQ(error_of(mixed + "[[steps]]\nfault = \"partition\"\nduration_s = 2\ndevices = [\"at-01\", \"esp-01\"]\n"), "");
  EXPECT_EQ(error_of(mixed + "[[steps]]\nfault = \"stall\"\ndevices = [\"at-02\"]\n"), "");
  EXPECT_NE(error_of(mixed + "[[steps]]\nfault = \"udp_loss\"\n").find("fault 'udp_loss' in [[steps]] #1 needs 'rate' (0..1)"),
            std::string::npos);
  EXPECT_NE(error_of(mixed + "[[steps]]\nfault = \"udp_delay\"\nrate = 0.1\n").find("'rate' in [[steps]] #1 applies only to"),
            std::string::npos);
  EXPECT_NE(error_of(mixed + "[[steps]]\nfault = \"udp_loss\"\nrate = 0.1\nper = \"frame\"\n").find("'per' in [[steps]] #1 applies only to corrupt"),
            std::string::npos);
  EXPECT_NE(error_of(mixed + "[[steps]]\nfault = \"udp_loss\"\nrate = 1.5\n").find("x.toml:15:8"), std::string::npos);
  // a rig without AT devices has no UDP link
  EXPECT_EQ(error_of(head + "[[steps]]\nfault = \"udp_reorder\"\nrate = 0.1\n"),
            "x.toml:7:1: UDP link fault 'udp_reorder' in [[steps]] #1: the rig has no link = \"at\" or \"tap\" device "
            "(UDP faults act on UDP links)");
}

TEST(RigLoaderUdp, UdpFaultsRig) {
  const auto rig = load_rig(std::string(IOTW_RIGS_DIR) + "/udp_faults.toml");
  ASSERT_EQ(rig.instances().size(), 6u);
  for (const auto& d : rig.instances()) EXPECT_EQ(d.link, "at") << d.name;
  ASSERT_EQ(rig.steps.size(), 4u);
  EXPECT_EQ(rig.steps[0].fault.kind, "udp_loss");
  EXPECT_DOUBLE_EQ(rig.steps[0].fault.rate, 0.10);
  EXPECT_EQ(rig.steps[1].fault.kind, "udp_duplicate");
  EXPECT_EQ(rig.steps[2].fault.kind, "udp_reorder");
  EXPECT_EQ(rig.steps[3].fault.kind, "partition");
  EXPECT_EQ(rig.steps[3].fault.devices, std::vector<std::string>{"esp8266-at-03"});
  EXPECT_TRUE(rig.steps[0].fault.udp_fault());
  EXPECT_FALSE(rig.steps[3].fault.udp_fault());
  EXPECT_FALSE(rig.steps[3].fault.serial_fault());
}

TEST(RigLoaderVrf, SelectionAndVrfSuite) {
  const auto vrf = load_rig(std::string(IOTW_RIGS_DIR) + "/vrf_selection.toml");
  EXPECT_EQ(vrf.trust_node.selection, "vrf");
  EXPECT_EQ(vrf.trust_node.vrf_suite, "tai");
  const auto defaults = parse_rig(kMinimal, "x.toml");
  EXPECT_EQ(defaults.trust_node.selection, "uniform");
  EXPECT_EQ(defaults.trust_node.vrf_suite, "tai");
  const auto ell2 = parse_rig(std::string(kMinimal) + "[trust_node]\nselection = \"vrf\"\nvrf_suite = \"ell2\"\n", "x.toml");
  EXPECT_EQ(ell2.trust_node.selection, "vrf");
  EXPECT_EQ(ell2.trust_node.vrf_suite, "ell2");
  EXPECT_EQ(parse_rig(std::string(kMinimal) + "[trust_node]\nselection = \"reputation\"\n", "x.toml").trust_node.selection,
            "reputation");
  EXPECT_EQ(error_of(std::string(kMinimal) + "[trust_node]\nselection = \"random\"\n"),
            "x.toml:8:13: unknown selection 'random' in [trust_node]; allowed: uniform, reputation, vrf");
  EXPECT_EQ(error_of(std::string(kMinimal) + "[trust_node]\nselection = \"vrf\"\nvrf_suite = \"sha256\"\n"),
            "x.toml:9:13: unknown vrf_suite 'sha256' in [trust_node]; allowed: tai, ell2");
  EXPECT_NE(error_of(std::string(kMinimal) + "[trust_node]\nselection = 3\n").find("x.toml:8:13:"), std::string::npos);
}

TEST(RigLoaderAtTcp, AtTransportOnlyOnAtLinksAndTcpDevicesTakeSerialLinkFaults) {
  const std::string head = "[rig]\nname = \"t\"\n[pass]\nledger_valid = true\n[[devices]]\ncount = 5\n";
  // lines: 7 model, 8 link, 9 at_transport / name_prefix ...
  EXPECT_EQ(error_of(head + "model = \"rtl8710\"\nlink = \"at\"\nat_transport = \"tcp\"\n"), "");
  EXPECT_EQ(error_of(head + "model = \"esp8266\"\nlink = \"at\"\nat_transport = \"udp\"\n"), "");
  EXPECT_EQ(error_of(head + "model = \"esp32\"\nat_transport = \"tcp\"\n"),
            "x.toml:8:16: 'at_transport' in [[devices]] applies only to link = \"at\" (this group's link is 'pty')");
  EXPECT_NE(error_of(head + "model = \"esp32\"\nlink = \"at\"\nat_transport = \"quic\"\n").find("x.toml:9:"),
            std::string::npos);
  const std::string rig = head + "model = \"esp8266\"\nlink = \"at\"\nat_transport = \"tcp\"\nname_prefix = \"tcp\"\n"
                                 "[[devices]]\nmodel = \"esp8266\"\nlink = \"at\"\nname_prefix = \"udp\"\n";
  // lines: 15 [[steps]], 16 fault, 17.. keys
  // A TCP link is relayed through the serial fault proxy: serial link faults, partition and stall apply; UDP and
  // access-point faults do not.
  for (const char* fault : {"fault = \"udp_loss\"\nrate = 0.1\n", "fault = \"ap_down\"\nduration_s = 2\n"}) {
    const std::string e = error_of(rig + "[[steps]]\n" + fault + "devices = [\"tcp-01\"]\n");
    EXPECT_TRUE(e.find("'tcp-01' has a serial link (link = \"at\", at_transport = \"tcp\"") != std::string::npos ||
                e.find("'tcp-01' has link = \"at\", at_transport = \"tcp\"") != std::string::npos)
        << fault << ": " << e;
    EXPECT_EQ(e.rfind("x.toml:18:11: ", 0), 0u) << e;
  }
  for (const char* fault : {"fault = \"partition\"\nduration_s = 2\n", "fault = \"stall\"\n",
                            "fault = \"corrupt\"\nrate = 0.1\n", "fault = \"drop_frames\"\nrate = 0.1\n",
                            "fault = \"delay\"\ndelay_ms = 20\n"})
    EXPECT_EQ(error_of(rig + "[[steps]]\n" + fault + "devices = [\"tcp-01\"]\n"), "") << fault;
  // without devices, a serial fault takes the TCP devices (the only serial links)
  const auto faulted = iotw::harness::parse_rig(rig + "[[steps]]\nfault = \"corrupt\"\nrate = 0.1\n", "x.toml");
  EXPECT_TRUE(faulted.steps.at(0).fault.devices.empty()) << "the script takes every serial link";
  EXPECT_EQ(error_of(rig + "[[steps]]\nfault = \"udp_loss\"\nrate = 0.1\ndevices = [\"udp-01\"]\n"), "");
  EXPECT_EQ(error_of(rig + "[[steps]]\nfault = \"udp_loss\"\nrate = 0.1\n"), "");  // the UDP devices only
  EXPECT_NE(error_of(head + "model = \"esp8266\"\nlink = \"at\"\nat_transport = \"tcp\"\n[[steps]]\nfault = \"udp_loss\"\nrate = 0.1\n")
                .find("UDP link fault 'udp_loss'"),
            std::string::npos);
  const auto spec = iotw::harness::parse_rig(rig, "x.toml");
  EXPECT_EQ(spec.instances()[0].at_transport, "tcp");
  EXPECT_EQ(spec.instances()[5].at_transport, "udp");  // tcp-01..05, then udp-01
}

TEST(RigLoader, DevicesTakeTheirSeedFromTheRigUnlessSeedIsOs) {
  const auto rig = parse_rig(R"([rig]
name = "s"
[[devices]]
name_prefix = "a"
count = 4
[[devices]]
name_prefix = "b"
seed = "os"
[pass]
ledger_valid = true
)", "x.toml");
  const auto d = rig.instances();
  ASSERT_EQ(d.size(), 5u);
  EXPECT_FALSE(d[0].seed_from_os);  // default "rig"
  EXPECT_TRUE(d[4].seed_from_os);
  EXPECT_EQ(error_of("[rig]\nname = \"s\"\n[[devices]]\ncount = 5\nseed = \"random\"\n[pass]\nledger_valid = true\n"),
            "x.toml:5:8: unknown seed 'random' in [[devices]]; allowed: rig, os");
  EXPECT_NE(error_of("[rig]\nname = \"s\"\n[[devices]]\ncount = 5\nmodel = \"qemu-cortex-m3\"\nseed = \"os\"\n[pass]\n"
                     "ledger_valid = true\n")
                .find("model 'qemu-cortex-m3' has no randomness but its seed"),
            std::string::npos);
}
