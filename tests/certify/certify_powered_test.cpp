// `iotw certify --profile dps|bulb` through the real binaries: the reference DPS chip and bulb (firmware on a PTY,
// their Modbus map, Yeelight LAN side and supply on loopback) pass every test of their profile, every one of them
// run; without --modbus, --lan and --power-cmd the tests that need them are not_run with the reason and the
// report is incomplete; `iotw-emu dps --pty` is a DUT the certifier can open.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <fstream>
#include <set>

#include "iotw/certify/catalogue.hpp"
#include "emu_child.hpp"
#include "iotw_process.hpp"
#include "reference_dut.hpp"

namespace iotw::test {
namespace {

using json = nlohmann::json;

/// Runs the whole profile against the reference device of that model; every test must run and pass.
void expect_profile_passes(const std::string& profile) {
  const auto dir = scratch_dir();
  ReferenceDut dut(dir, "honest", profile);
  const auto run = dir / "run";
  std::vector<std::string> args = {"certify", "--dut", "serial:" + dut.port, "--profile", profile, "--out", run.string(),
                                   "--node-key", dut.node_key.string(), "--reset-cmd", dut.reset_cmd, "--power-cmd",
                                   dut.power_cmd, "--usage-period-s", "1", "--seed", "7", "--fuzz-s", "1"};
  // dps: its Modbus map is under test; bulb: its Yeelight side (its chip's Modbus only carries the power command)
  if (profile == "dps") args.insert(args.end(), {"--modbus", dut.modbus});
  if (profile == "bulb") args.insert(args.end(), {"--lan", dut.lan});
  const IotwResult r = run_iotw(args, dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  const json report = json::parse(slurp(run / "report.json"));
  std::set<std::string> ran;
  for (const auto& t : report["tests"]) {
    EXPECT_EQ(t["verdict"], "pass") << t.dump();
    ran.insert(t["id"].get<std::string>());
  }
  const auto tests = iotw::certify::tests_of(profile);
  EXPECT_EQ(ran.size(), tests.size());
  for (const auto* t : tests) EXPECT_TRUE(ran.count(t->id)) << t->id << " did not run";
  EXPECT_EQ(report["complete"], true);
  EXPECT_EQ(report["dut"]["model"], profile);
  const json config = json::parse(slurp(run / "config.json"));
  EXPECT_EQ(config["modbus"], profile == "dps" ? json(dut.modbus) : json(nullptr));
  EXPECT_EQ(config["power_cmd"], dut.power_cmd);
}

TEST(CertifyPowered, TheReferenceDpsPassesEveryDpsTest) { expect_profile_passes("dps"); }

TEST(CertifyPowered, TheReferenceBulbPassesEveryBulbTest) {
  expect_profile_passes("bulb");
  const auto bulb = iotw::certify::tests_of("bulb");
  EXPECT_TRUE(std::any_of(bulb.begin(), bulb.end(), [](const auto* t) { return t->id == "CERT-085"; }));
}

TEST(CertifyPowered, TheStandaloneDpsIsADutAndTestsWithoutTheirSideAreNotRunWithTheReason) {
  const auto dir = scratch_dir();
  EmuChild emu({"dps", "--pty", "--modbus-rtu-pty", "--modbus-tcp", "127.0.0.1:0", "--usage-period-ms", "1000",
                "--nvs-dir", (dir / "nvs").string()},
               3, dir);  // the firmware's PTY, the Modbus RTU PTY, the Modbus TCP endpoint
  const auto& out = emu.lines;
  ASSERT_EQ(out.size(), 3u);
  ASSERT_EQ(out[0].rfind("/dev/pts/", 0), 0u) << out[0];
  ASSERT_EQ(out[1].rfind("/dev/pts/", 0), 0u) << out[1];
  // No --modbus, --power-cmd, --reset-cmd: those tests cannot run, the others pass.
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + out[0], "--profile", "dps", "--out",
                                 (dir / "run1").string(), "--usage-period-s", "1", "--only",
                                 "CERT-010,CERT-014,CERT-061,CERT-062,CERT-080,CERT-081,CERT-082"},
                                dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("certification incomplete: 5 test(s) could not run"), std::string::npos) << r.out;
  const json report = json::parse(slurp(dir / "run1" / "report.json"));
  EXPECT_EQ(report["complete"], false);
  std::map<std::string, json> by_id;
  for (const auto& t : report["tests"]) by_id[t["id"].get<std::string>()] = t;
  EXPECT_EQ(by_id["CERT-010"]["verdict"], "pass");
  EXPECT_EQ(by_id["CERT-061"]["verdict"], "pass") << by_id["CERT-061"].dump();
  for (const char* id : {"CERT-014", "CERT-080"}) {
    EXPECT_EQ(by_id[id]["verdict"], "not_run") << id;
    EXPECT_NE(by_id[id]["reason"].get<std::string>().find("--power-cmd"), std::string::npos) << by_id[id].dump();
  }
  EXPECT_NE(by_id["CERT-062"]["reason"].get<std::string>().find("--reset-cmd"), std::string::npos);
  for (const char* id : {"CERT-081", "CERT-082"}) {
    EXPECT_EQ(by_id[id]["verdict"], "not_run") << id;
    EXPECT_NE(by_id[id]["reason"].get<std::string>().find("--modbus"), std::string::npos) << by_id[id].dump();
  }
  // With its Modbus side, over TCP and over RTU: the map and the exceptions pass.
  const IotwResult m = run_iotw({"certify", "--dut", "serial:" + out[0], "--profile", "dps", "--out",
                                 (dir / "run2").string(), "--modbus", "tcp:" + out[2], "--only", "CERT-081,CERT-082"},
                                dir);
  EXPECT_EQ(m.code, 0) << m.out << m.err;
  const IotwResult rtu = run_iotw({"certify", "--dut", "serial:" + out[0], "--profile", "dps", "--out",
                                   (dir / "run4").string(), "--modbus", "rtu:" + out[1], "--only", "CERT-081,CERT-082"},
                                  dir);
  EXPECT_EQ(rtu.code, 0) << rtu.out << rtu.err;
  EXPECT_NE(slurp(dir / "run4" / "logs" / "CERT-082.log").find("exception 2"), std::string::npos);
  // A bad --modbus is a usage error naming the option.
  const IotwResult bad = run_iotw({"certify", "--dut", "serial:" + out[0], "--profile", "dps", "--out",
                                   (dir / "run3").string(), "--modbus", "udp:1.2.3.4:5"},
                                  dir);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--modbus"), std::string::npos) << bad.err;
  // A device side the profile has no test for is a mistake, not silently ignored.
  const IotwResult lan = run_iotw({"certify", "--dut", "serial:" + out[0], "--profile", "dps", "--out",
                                   (dir / "run5").string(), "--lan", "127.0.0.1:55443"},
                                  dir);
  EXPECT_EQ(lan.code, 2);
  EXPECT_NE(lan.err.find("--lan applies to the bulb profile, not to dps"), std::string::npos) << lan.err;
}

TEST(CertifyPowered, TheStandaloneBulbPrintsItsPtyThenItsEndpointsAndPassesYeelightControl) {
  const auto dir = scratch_dir();
  EmuChild emu({"bulb", "--pty", "--yeelight", "127.0.0.1:0", "--discovery", "127.0.0.1:0", "--modbus-tcp",
                "127.0.0.1:0", "--nvs-dir", (dir / "nvs").string()},
               4, dir);  // the firmware's PTY, Yeelight control (TCP), discovery (UDP), its chip's Modbus TCP
  ASSERT_EQ(emu.lines.size(), 4u);
  EXPECT_EQ(emu.lines[0].rfind("/dev/pts/", 0), 0u) << emu.lines[0];
  for (std::size_t i = 1; i < 4; ++i) EXPECT_EQ(emu.lines[i].rfind("127.0.0.1:", 0), 0u) << emu.lines[i];
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + emu.lines[0], "--profile", "bulb", "--out",
                                 (dir / "run").string(), "--lan", emu.lines[1] + ",discovery=" + emu.lines[2],
                                 "--only", "CERT-010,CERT-085"},
                                dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(slurp(dir / "run" / "logs" / "CERT-085.log").find("yeelight <- "), std::string::npos);
}

}  // namespace
}  // namespace iotw::test
