// `iotw certify --dut ... --profile soc` through the real binaries (iotw, iotw-trust-node, iotw-emu): the honest
// reference device passes every soc test and its signed report verifies; a DUT that says nothing fails every test
// with "no response from the DUT within N s" and the run ends; an unknown port exits 2 listing the ports; a port
// another process holds exits 3; --list prints the catalogue.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "iotw/certify/catalogue.hpp"
#include "iotw/certify/manifest.hpp"
#include "iotw_process.hpp"
#include "reference_dut.hpp"

namespace iotw::test {
namespace {

using json = nlohmann::json;

json read_json(const std::filesystem::path& f) { return json::parse(slurp(f)); }

/// A PTY nobody serves: the test holds the master and never writes.
struct SilentPty {
  SilentPty() {
    master = ::posix_openpt(O_RDWR | O_NOCTTY);
    EXPECT_GE(master, 0);
    ::grantpt(master);
    ::unlockpt(master);
    path = ::ptsname(master);
  }
  ~SilentPty() { ::close(master); }
  int master = -1;
  std::string path;
};

void expect_junit_valid(const std::filesystem::path& junit, const std::filesystem::path& scratch) {
  const IotwResult x = run_program("/usr/bin/xmllint", {"--noout", "--schema", std::string(IOTW_TEST_DATA_DIR) + "/junit.xsd",
                                                        junit.string()}, scratch);
  EXPECT_EQ(x.code, 0) << x.out << x.err;
}

TEST(CertifyRun, TheReferenceDevicePassesEverySocTestAndItsSignedReportVerifies) {
  const auto dir = scratch_dir();
  ReferenceDut dut(dir, "honest");
  const auto key = dir / "certifier.key";
  const auto pk = iotw::certify::generate_certifier_key(key);
  const auto run = dir / "run";
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + dut.port, "--profile", "soc", "--out", run.string(),
                                 "--key", key.string(), "--node-key", dut.node_key.string(), "--reset-cmd",
                                 dut.reset_cmd, "--power-cmd", dut.power_cmd, "--seed", "11", "--fuzz-s", "2"},
                                dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  const json report = read_json(run / "report.json");
  std::set<std::string> ran;
  for (const auto& t : report["tests"]) {
    EXPECT_EQ(t["verdict"], "pass") << t.dump();
    ran.insert(t["id"].get<std::string>());
    EXPECT_TRUE(std::filesystem::exists(run / t["log"].get<std::string>())) << t["log"];
  }
  for (const auto* t : iotw::certify::tests_of("soc")) EXPECT_TRUE(ran.count(t->id)) << t->id << " did not run";
  EXPECT_EQ(report["complete"], true);
  EXPECT_EQ(report["signed"], true);
  EXPECT_EQ(report["dut"]["model"], "esp32");
  EXPECT_EQ(report["dut"]["public_key"].get<std::string>().size(), 64u);
  for (const char* f : {"config.json", "dut.json", "trust_node.toml", "junit.xml", "report.html", "manifest.json",
                        "manifest.sig", "logs/CERT-001.log"})
    EXPECT_TRUE(std::filesystem::exists(run / f)) << f;
  EXPECT_EQ(read_json(run / "config.json")["seed"], 11);
  // The bench supply (the pool's power request): the identity survives a power loss and a brown-out, and the
  // Hello after each names it (ESP-IDF 1 power-on, 9 brown-out).
  for (const auto& t : report["tests"]) {
    if (t["id"] != "CERT-014" && t["id"] != "CERT-080") continue;
    EXPECT_EQ(t["measured"]["reset_reason"], t["id"] == "CERT-014" ? 1 : 9) << t.dump();
    EXPECT_EQ(t["measured"]["pubkey_after"], t["measured"]["pubkey_before"]) << t.dump();
  }
  // CERT-021 reports its latency next to the esp32 profile's own compute time (SHA-256 of the header + a signature).
  for (const auto& t : report["tests"])
    if (t["id"] == "CERT-021") {
      const json& chip = t["measured"]["chip_profile"];
      EXPECT_EQ(chip["model"], "esp32") << t.dump();
      EXPECT_GT(chip["compute_ms"].get<double>(), 0.0) << t.dump();
      EXPECT_LT(chip["compute_ms"].get<double>(), t["measured"]["p50_ms"].get<double>()) << t.dump();
    }
  // The per-test log holds that test's frames, decoded.
  EXPECT_NE(slurp(run / "logs" / "CERT-011.log").find("prove pubkey="), std::string::npos);
  expect_junit_valid(run / "junit.xml", dir);
  const IotwResult v = run_iotw({"certify", "verify", run.string(), "--certifier", to_hex(pk)}, dir);
  EXPECT_EQ(v.code, 0) << v.out << v.err;
}

TEST(CertifyRun, ReferenceDevicesOnlyWhenATestNeedsThem) {
  const auto dir = scratch_dir();
  ReferenceDut dut(dir, "honest");
  // Without a fleet test: no reference devices, one witness per round, no HTTP API.
  const auto plain = dir / "plain";
  const IotwResult p = run_iotw({"certify", "--dut", "serial:" + dut.port, "--only", "CERT-030", "--out", plain.string(),
                                 "--seed", "4", "--node-key", dut.node_key.string()},
                                dir);
  EXPECT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_FALSE(std::filesystem::exists(plain / "fleet"));
  EXPECT_EQ(slurp(plain / "trust_node.toml").find("[http]"), std::string::npos);
  EXPECT_NE(slurp(plain / "trust_node.toml").find("witnesses = 1"), std::string::npos);
  // With them (a fleet test listed after another: the fleet tests still run first, the report is in id order), on
  // a freshly booted DUT: the first one answered round 10^9, so until it reboots it refuses the node's rounds.
  const auto fresh_dir = dir / "fresh";
  std::filesystem::create_directories(fresh_dir);
  ReferenceDut fresh(fresh_dir, "honest");
  const auto run = dir / "fleet";
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + fresh.port, "--only", "CERT-030,CERT-038,CERT-023",
                                 "--out", run.string(), "--seed", "4", "--node-key", fresh.node_key.string()},
                                dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_LT(r.out.find("CERT-038  pass"), r.out.find("CERT-030  pass")) << r.out;
  EXPECT_NE(slurp(run / "trust_node.toml").find("witnesses = 3"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(run / "fleet" / "emu.toml"));
  const json report = read_json(run / "report.json");
  ASSERT_EQ(report["tests"].size(), 3u);
  EXPECT_EQ(report["tests"][0]["id"], "CERT-023");
  EXPECT_EQ(report["tests"][2]["id"], "CERT-038");
  for (const auto& t : report["tests"]) EXPECT_EQ(t["verdict"], "pass") << t.dump();
  // The block CERT-023 found: mined by the DUT, attested by the three reference devices, in the node's own ledger.
  const json& found = report["tests"][0]["measured"];
  EXPECT_EQ(found["witnesses"].get<std::set<std::string>>(), (std::set<std::string>{"ref-01", "ref-02", "ref-03"}))
      << found.dump();
  const IotwResult exported = run_program(iotw::test_paths::trust_node_exe,
                                          {"--config", (run / "trust_node.toml").string(), "--export-ledger",
                                           (dir / "ledger.jsonl").string()},
                                          dir);
  ASSERT_EQ(exported.code, 0) << exported.err;
  std::istringstream lines(slurp(dir / "ledger.jsonl"));
  std::string line;
  bool seen = false;
  while (std::getline(lines, line)) {
    const json b = json::parse(line);
    if (b["height"] != found["height"]) continue;
    seen = true;
    EXPECT_EQ(b["miner"], report["dut"]["public_key"]);
    EXPECT_EQ(b["hash"], found["hash"]);
    EXPECT_EQ(b["attestations"].size(), 3u);
  }
  EXPECT_TRUE(seen) << "block " << found["height"] << " is not in the exported ledger";
  // CERT-038's blocks carry the DUT's valid attestation.
  EXPECT_GE(report["tests"][2]["measured"]["blocks_with_dut_attestation"].size(), 3u);
}

TEST(CertifyRun, NoPowerCmdLeavesTheSupplyTestsNotRun) {
  const auto dir = scratch_dir();
  ReferenceDut dut(dir, "honest");
  const auto run = dir / "run";
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + dut.port, "--only", "CERT-013,CERT-014,CERT-080",
                                 "--out", run.string(), "--seed", "6", "--node-key", dut.node_key.string(),
                                 "--reset-cmd", dut.reset_cmd},
                                dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;  // nothing failed; two tests could not run
  EXPECT_NE(r.out.find("certification incomplete: 2 test(s) could not run"), std::string::npos) << r.out;
  const json report = read_json(run / "report.json");
  EXPECT_EQ(report["complete"], false);
  ASSERT_EQ(report["tests"].size(), 3u);
  EXPECT_EQ(report["tests"][0]["verdict"], "pass") << report["tests"][0].dump();  // CERT-013: the reset
  for (int i : {1, 2}) {
    EXPECT_EQ(report["tests"][i]["verdict"], "not_run") << report["tests"][i].dump();
    EXPECT_EQ(report["tests"][i]["reason"].get<std::string>().rfind("no way to cut the DUT's power: give --power-cmd", 0),
              0u) << report["tests"][i].dump();
  }
  // An AT profile has no supply test: --power-cmd there is a usage error.
  const IotwResult at = run_iotw({"certify", "--dut", "serial:" + dut.port, "--profile", "at-esp", "--out",
                                  (dir / "at").string(), "--power-cmd", dut.power_cmd},
                                 dir);
  EXPECT_EQ(at.code, 2);
  EXPECT_NE(at.err.find("--power-cmd applies to the soc, dps and bulb profiles, not to at-esp"), std::string::npos)
      << at.err;
}

TEST(CertifyRun, ASilentDutFailsEveryTestWithNoResponseAndTheRunEnds) {
  const auto dir = scratch_dir();
  SilentPty pty;
  const auto run = dir / "run";
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + pty.path, "--out", run.string(), "--seed", "3"}, dir);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("report NOT signed"), std::string::npos) << r.out;
  const json report = read_json(run / "report.json");
  EXPECT_EQ(report["signed"], false);
  EXPECT_EQ(report["tests"].size(), iotw::certify::tests_of("soc").size());
  for (const auto& t : report["tests"]) {
    EXPECT_EQ(t["verdict"], "fail") << t.dump();
    EXPECT_EQ(t["reason"], "no response from the DUT within 10 s") << t.dump();
  }
  EXPECT_FALSE(std::filesystem::exists(run / "manifest.json"));
  expect_junit_valid(run / "junit.xml", dir);
}

TEST(CertifyRun, AnUnknownPortExits2AndListsThePorts) {
  const auto dir = scratch_dir();
  const IotwResult r = run_iotw({"certify", "--dut", "serial:/dev/ttyIOTWNOPE0", "--out", (dir / "run").string()}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no such port /dev/ttyIOTWNOPE0"), std::string::npos) << r.err;
  const IotwResult ports = run_iotw({"ports", "--json"}, dir);
  for (const auto& p : json::parse(ports.out)) EXPECT_NE(r.err.find(p["path"].get<std::string>()), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "run" / "report.json"));
}

TEST(CertifyRun, APortHeldByAnotherProcessExits3) {
  const auto dir = scratch_dir();
  SilentPty pty;
  const int held = ::open(pty.path.c_str(), O_RDWR | O_NOCTTY);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX | LOCK_NB), 0);
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + pty.path, "--out", (dir / "run").string()}, dir);
  ::close(held);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("held by another process"), std::string::npos) << r.err;
}

TEST(CertifyRun, ListPrintsTheProfilesCatalogueAndOnlyRefusesUnknownIds) {
  const auto dir = scratch_dir();
  const IotwResult r = run_iotw({"certify", "--list", "--profile", "soc"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  std::size_t lines = 0;
  for (const auto* t : iotw::certify::tests_of("soc")) {
    EXPECT_NE(r.out.find(t->id + "  " + t->title), std::string::npos) << t->id;
    ++lines;
  }
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), static_cast<long>(lines));
  EXPECT_GE(lines, 25u);
  EXPECT_EQ(run_iotw({"certify", "--list", "--profile", "toaster"}, dir).code, 2);
  SilentPty pty;
  const IotwResult o = run_iotw({"certify", "--dut", "serial:" + pty.path, "--only", "CERT-001,CERT-999"}, dir);
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("CERT-999"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace iotw::test
