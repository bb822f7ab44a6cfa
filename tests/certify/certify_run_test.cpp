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
                                 dut.reset_cmd, "--seed", "11", "--fuzz-s", "2"},
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
  // The per-test log holds that test's frames, decoded.
  EXPECT_NE(slurp(run / "logs" / "CERT-011.log").find("prove pubkey="), std::string::npos);
  expect_junit_valid(run / "junit.xml", dir);
  const IotwResult v = run_iotw({"certify", "verify", run.string(), "--certifier", to_hex(pk)}, dir);
  EXPECT_EQ(v.code, 0) << v.out << v.err;
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
