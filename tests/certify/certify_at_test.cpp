// `iotw certify --profile at-esp` / `at-realtek`: the reference AT modules (`iotw-emu esp8266 --at --pty`, `iotw-emu
// rtl8710 --at --pty`) pass CERT-090 / CERT-095, the answers of ../shared/reference/esp_at.md and realtek_at.md byte
// for byte; the at_wrong_terminator mutant (every "\r\n" it prints becomes "\n") fails them. No trust node takes part.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "emu_child.hpp"
#include "iotw_process.hpp"

namespace iotw::test {
namespace {

/// One `iotw certify` run of `profile` against the emulated `model` with `mutant`; returns the report's one test,
/// which must be `id`.
nlohmann::json certify_at(const std::string& model, const std::string& profile, const std::string& id,
                          const std::string& mutant, int expected_exit) {
  const auto dir = scratch_dir() / (model + "-" + mutant);
  std::filesystem::create_directories(dir);
  EmuChild emu({model, "--at", "--pty", "--mutant", mutant}, 1, dir);
  EXPECT_EQ(emu.lines.size(), 1u);
  if (emu.lines.empty()) return {};
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + emu.lines[0], "--profile", profile, "--out",
                                 (dir / "run").string()},
                                dir);
  EXPECT_EQ(r.code, expected_exit) << r.out << r.err;
  const auto report = nlohmann::json::parse(slurp(dir / "run" / "report.json"));
  EXPECT_EQ(report["tests"].size(), 1u);
  EXPECT_EQ(report["tests"][0]["id"], id);
  EXPECT_FALSE(std::filesystem::exists(dir / "run" / "trust_node.toml")) << "no node in an AT profile";
  return report["tests"][0];
}

nlohmann::json certify_at(const std::string& mutant, int expected_exit) {
  return certify_at("esp8266", "at-esp", "CERT-090", mutant, expected_exit);
}

TEST(CertifyAt, TheReferenceEspAtModulePassesCert090) {
  const auto t = certify_at("honest", 0);
  EXPECT_EQ(t["verdict"], "pass") << t.dump();
  EXPECT_EQ(t["measured"]["AT"], "AT\r\n\r\nOK\r\n") << "the last AT runs with echo on";
}

TEST(CertifyAt, AModuleEndingResultLinesWithLfAloneFailsCert090) {
  const auto t = certify_at("at_wrong_terminator", 1);
  EXPECT_EQ(t["verdict"], "fail") << t.dump();
  EXPECT_NE(t["reason"].get<std::string>().find("\\nOK\\n"), std::string::npos) << t.dump();
}

TEST(CertifyAt, TheReferenceRealtekModulePassesCert095) {
  const auto t = certify_at("rtl8710", "at-realtek", "CERT-095", "honest", 0);
  EXPECT_EQ(t["verdict"], "pass") << t.dump();
  EXPECT_EQ(t["measured"]["AT"], "AT\r\n[AT] OK\r\n\n# ") << "the last AT runs with echo on";
  EXPECT_EQ(t["measured"]["ATZZ"], "\r\nunknown command 'ATZZ'\r\n\n# ");
}

TEST(CertifyAt, ARealtekModuleEndingLinesWithLfAloneFailsCert095) {
  const auto t = certify_at("rtl8710", "at-realtek", "CERT-095", "at_wrong_terminator", 1);
  EXPECT_EQ(t["verdict"], "fail") << t.dump();
  EXPECT_EQ(t["measured"]["ATSE=0"], "ATSE=0\n[ATSE] OK\n\n# ") << t.dump();
  EXPECT_EQ(t["reason"].get<std::string>().rfind("ATSE=0 answered ", 0), 0u) << t.dump();
}

}  // namespace
}  // namespace iotw::test
