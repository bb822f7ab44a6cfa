// `iotw certify --profile at-esp`: the reference ESP-AT module (`iotw-emu esp8266 --at --pty`) passes CERT-090, the
// answers of ../shared/reference/esp_at.md byte for byte; the at_wrong_terminator mutant (result lines ending in
// "\n" alone) fails it. No trust node takes part.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "emu_child.hpp"
#include "iotw_process.hpp"

namespace iotw::test {
namespace {

nlohmann::json certify_at(const std::string& mutant, int expected_exit) {
  const auto dir = scratch_dir() / mutant;
  std::filesystem::create_directories(dir);
  EmuChild emu({"esp8266", "--at", "--pty", "--mutant", mutant}, 1, dir);
  EXPECT_EQ(emu.lines.size(), 1u);
  if (emu.lines.empty()) return {};
  const IotwResult r = run_iotw({"certify", "--dut", "serial:" + emu.lines[0], "--profile", "at-esp", "--out",
                                 (dir / "run").string()},
                                dir);
  EXPECT_EQ(r.code, expected_exit) << r.out << r.err;
  const auto report = nlohmann::json::parse(slurp(dir / "run" / "report.json"));
  EXPECT_EQ(report["tests"].size(), 1u);
  EXPECT_EQ(report["tests"][0]["id"], "CERT-090");
  EXPECT_FALSE(std::filesystem::exists(dir / "run" / "trust_node.toml")) << "no node in an AT profile";
  return report["tests"][0];
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

}  // namespace
}  // namespace iotw::test
