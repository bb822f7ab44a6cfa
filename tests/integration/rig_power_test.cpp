// The powered-device rigs (DPS chips, smart bulbs) through the real binaries: supply faults reach the
// firmware, the devices re-attach with the identity they had, and usage rewards reach report.json.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <string>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

struct PowerRun {
  std::filesystem::path run;
  IotwResult result;
  json report;
  std::vector<json> events;
};

PowerRun run_rig(const std::string& rig) {
  PowerRun r;
  const auto dir = scratch_dir();
  r.run = dir / "run";
  r.result = run_iotw({"rig", "run", std::string(IOTW_RIGS_DIR) + "/" + rig, "--out", r.run.string(), "--seed", "5"}, dir);
  if (std::filesystem::exists(r.run / "report.json")) r.report = json::parse(slurp(r.run / "report.json"));
  std::ifstream in(r.run / "events.jsonl");
  for (std::string line; std::getline(in, line);) r.events.push_back(json::parse(line));
  return r;
}

/// Per device name: the pubkeys it registered with and whether a later registration was a re-attach.
struct Registrations {
  std::map<std::string, std::set<std::string>> keys;
  std::map<std::string, int> count;
  std::map<std::string, bool> reattached;  // a registration with new = false
};

Registrations registrations(const std::vector<json>& events) {
  Registrations r;
  for (const json& e : events) {
    if (e["kind"] != "device_registered") continue;
    const std::string name = e["fields"]["name"];
    r.keys[name].insert(e["fields"]["device"].get<std::string>());
    ++r.count[name];
    if (e["fields"]["new"] == false) r.reattached[name] = true;
  }
  return r;
}

/// reset events of a device (source "emu:<name>"), as reset reasons in order.
std::vector<int> resets(const std::vector<json>& events, const std::string& name) {
  std::vector<int> out;
  for (const json& e : events)
    if (e["kind"] == "reset" && e["source"] == "emu:" + name) out.push_back(e["fields"]["reset_reason"]);
  return out;
}

TEST(RigPower, DpsBrownoutResetsTheFirmwareWhichReattachesAndEarnsUsageRewards) {
  const PowerRun r = run_rig("dps_brownout.toml");
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  EXPECT_EQ(r.report["pass"], true);
  EXPECT_EQ(r.report["ledger_valid"], true);
  EXPECT_GE(r.report["blocks_finalized"].get<int>(), 30);
  const Registrations regs = registrations(r.events);
  for (const std::string bo : {"dpsbo-01", "dpsbo-02"}) {
    EXPECT_EQ(resets(r.events, bo), std::vector<int>{9}) << bo << ": one reset, reason 9 (brown-out)";
    EXPECT_EQ(regs.keys.at(bo).size(), 1u) << bo << " kept its Ed25519 identity across the brown-out";
    EXPECT_EQ(regs.count.at(bo), 2);
    EXPECT_TRUE(regs.reattached.count(bo)) << bo;
  }
  for (const std::string steady : {"dps-01", "dps-02"}) {
    EXPECT_TRUE(resets(r.events, steady).empty()) << steady;
    EXPECT_EQ(regs.count.at(steady), 1);
  }
  EXPECT_TRUE(r.report["blacklisted"].empty());
  const json& u = r.report["usage"];
  EXPECT_EQ(u["rewarded_devices"], 4);
  EXPECT_GT(u["energy_mwh_total"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(u["rewards_total"].get<std::uint64_t>(), 5 * u["reports_finalized"].get<std::uint64_t>())
      << "5 base units per finalized usage-data tx (trust node default [rewards] usage)";
  for (const std::string d : {"dps-01", "dps-02", "dpsbo-01", "dpsbo-02"}) EXPECT_GT(u["rewards_by_device"][d].get<int>(), 0) << d;
}

TEST(RigPower, SmartBulbPowerLossAndSlowRampRebootsAsPowerOnAndReattaches) {
  const PowerRun r = run_rig("smart_bulbs.toml");
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  EXPECT_EQ(r.report["pass"], true);
  EXPECT_EQ(r.report["ledger_valid"], true);
  EXPECT_EQ(resets(r.events, "bulbpl-01"), std::vector<int>{1}) << "power loss: the next boot is a power-on reset";
  const Registrations regs = registrations(r.events);
  EXPECT_EQ(regs.keys.at("bulbpl-01").size(), 1u);
  EXPECT_TRUE(regs.reattached.count("bulbpl-01"));
  EXPECT_EQ(r.report["usage"]["rewarded_devices"], 4);
}

TEST(RigPower, HarnessBrownoutAndPowerLossOverModbusAreRecoveredAndScored) {
  const PowerRun r = run_rig("dps_power_faults.toml");
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  EXPECT_EQ(r.report["pass"], true);
  EXPECT_EQ(r.report["recoveries_failed"], 0);
  std::map<std::string, bool> checks;
  for (const auto& c : r.report["step_checks"]) checks[c["name"]] = c["pass"];
  EXPECT_EQ(checks["brownout dps-02 (line 29): brownout recovered"], true);
  EXPECT_EQ(checks["power loss dps-04, slow ramp back (line 38): power_loss recovered"], true);
  // The harness wrote the supply over Modbus TCP: the chip saw the writes, the rail browned out / lost power,
  // and the firmware came back with the matching reset reason.
  int writes = 0;
  std::vector<std::string> rail;
  for (const json& e : r.events) {
    if (e["kind"] == "modbus_write" && e["fields"]["transport"] == "tcp") ++writes;
    if (e["kind"] == "rail" && e["fields"]["event"] != "boot") rail.push_back(e["source"].get<std::string>() + ":" + e["fields"]["event"].get<std::string>());
  }
  EXPECT_EQ(writes, 8) << "VIN_RAMP + VIN at the start and at the end of both faults";
  EXPECT_EQ(rail, (std::vector<std::string>{"emu:dps-02:brownout", "emu:dps-04:power_lost"}));
  EXPECT_EQ(resets(r.events, "dps-02"), std::vector<int>{9});
  EXPECT_EQ(resets(r.events, "dps-04"), std::vector<int>{1});
  EXPECT_TRUE(resets(r.events, "dps-01").empty());
  const Registrations regs = registrations(r.events);
  EXPECT_EQ(regs.keys.at("dps-02").size(), 1u);
  EXPECT_EQ(regs.keys.at("dps-04").size(), 1u);
}

}  // namespace
}  // namespace iotw::test
