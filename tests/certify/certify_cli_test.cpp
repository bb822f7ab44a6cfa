// `iotw ports`, `iotw certify keygen` and `iotw certify verify` through the real binary: the port list agrees
// with pyserial's (an independent enumerator), and verify's exit codes are 0 valid, 1 invalid, 2 unreadable.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "iotw/certify/manifest.hpp"
#include "iotw_process.hpp"

namespace iotw::test {
namespace {

TEST(CertifyCli, PortsListWhatPyserialFinds) {
  const auto dir = scratch_dir();
  const IotwResult r = run_iotw({"ports", "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto ports = nlohmann::json::parse(r.out);
  std::set<std::string> ours;
  for (const auto& p : ports) {
    ours.insert(p["path"].get<std::string>());
    EXPECT_TRUE(p.contains("transport") && p.contains("usb_vid") && p.contains("serial_number")) << p.dump();
  }
  const IotwResult py = run_program("/usr/bin/python3", {"-m", "serial.tools.list_ports", "-q"}, dir);
  std::istringstream lines(py.out);
  std::set<std::string> theirs;
  for (std::string l; std::getline(lines, l);) {
    while (!l.empty() && (l.back() == ' ' || l.back() == '\r')) l.pop_back();
    if (!l.empty()) theirs.insert(l);
  }
  for (const std::string& p : theirs) EXPECT_TRUE(ours.count(p)) << p << " (pyserial lists it) is missing from iotw ports";
  const IotwResult table = run_iotw({"ports"}, dir);
  EXPECT_EQ(table.code, 0);
  EXPECT_EQ(table.out.rfind(ours.empty() ? "no serial ports found" : "PATH", 0), 0u) << table.out;
}

TEST(CertifyCli, KeygenThenVerifyAGoodATamperedAndAnUnreadableReport) {
  const auto dir = scratch_dir();
  const auto key = dir / "certifier.key";
  const IotwResult k = run_iotw({"certify", "keygen", "-o", key.string()}, dir);
  ASSERT_EQ(k.code, 0) << k.err;
  const auto at = k.out.find("public key: ");
  ASSERT_NE(at, std::string::npos) << k.out;
  const std::string pk = k.out.substr(at + 12, 64);
  EXPECT_EQ(run_iotw({"certify", "keygen", "-o", key.string()}, dir).code, 2) << "an existing key file is kept";

  const auto report = dir / "report";
  std::filesystem::create_directories(report);
  std::ofstream(report / "report.json") << R"({"verdict": "pass"})";
  iotw::certify::write_manifest(report, iotw::certify::read_certifier_key(key));
  IotwResult v = run_iotw({"certify", "verify", report.string(), "--certifier", pk}, dir);
  EXPECT_EQ(v.code, 0) << v.out << v.err;
  EXPECT_EQ(v.out, "valid: 1 files, certifier " + pk + "\n");

  std::ofstream(report / "report.json") << R"({"verdict": "fail"})";
  v = run_iotw({"certify", "verify", report.string()}, dir);
  EXPECT_EQ(v.code, 1);
  EXPECT_EQ(v.out, "invalid: report.json: SHA-256 differs from the manifest\n");

  v = run_iotw({"certify", "verify", (dir / "absent").string()}, dir);
  EXPECT_EQ(v.code, 2);
  EXPECT_EQ(v.out.rfind("unreadable: ", 0), 0u) << v.out;
  EXPECT_EQ(run_iotw({"certify", "verify", report.string(), "--certifier", "xyz"}, dir).code, 2);
}

}  // namespace
}  // namespace iotw::test
