// The firmware's static RAM against the chip's budget through the real binaries (docs/emulators.md "Chip
// profiles"): iotw-emu refuses a device that does not fit before serving anything (exit 2, a message naming the
// device, the chip and the bytes, a ram_refused event), and `iotw rig check` refuses the rig at its line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "iotw/support/process.hpp"

namespace {

/// `exe args...` to its end: exit code and stdout + stderr.
iotw::CapturedRun run(const std::string& exe, const std::vector<std::string>& args) {
  return iotw::run_captured(exe, args, iotw::Stderr::merge);
}

std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("iotw_ram_budget_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

TEST(RamBudgetCli, IotwEmuRefusesADeviceWhoseFirmwareDoesNotFitBeforeServing) {
  const auto dir = temp_dir("emu");
  std::ofstream(dir / "pool.toml") << "events = \"" << (dir / "events.jsonl").string() << "\"\n"
                                   << "[[device]]\nname = \"esp-01\"\nmodel = \"esp32\"\nlink = \"/dev/null\"\n"
                                   << "nvs_dir = \"" << (dir / "nvs").string() << "\"\n"
                                   << "[[device]]\nname = \"rtl-01\"\nmodel = \"rtl8195\"\ntap = \"tapx0\"\n"
                                   << "ip = \"10.9.0.2/24\"\nmac = \"02:00:00:00:00:01\"\n"
                                   << "trust_node_udp = \"10.9.0.1:4000\"\nram_budget_kib = 4\n"
                                   << "nvs_dir = \"" << (dir / "nvs2").string() << "\"\n";
  const auto r = run(IOTW_EMU_EXE, {"--config", (dir / "pool.toml").string()});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("[iotw-emu] [error] rtl-01: the firmware needs "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bytes of static RAM but the RTL8195AM (rtl8195) leaves 4096 bytes to the application "
                       "(ram_budget_kib = 4); refused"),
            std::string::npos)
      << r.output;
  std::ifstream in(dir / "events.jsonl");
  std::stringstream ev;
  ev << in.rdbuf();
  EXPECT_NE(ev.str().find("\"ram_refused\""), std::string::npos) << ev.str();
  EXPECT_NE(ev.str().find("\"ram_check\""), std::string::npos) << "the esp32 fits: " << ev.str();
  EXPECT_EQ(ev.str().find("pool_started"), std::string::npos) << "nothing was served";
  EXPECT_FALSE(std::filesystem::exists(dir / "nvs")) << "no device booted";
  std::filesystem::remove_all(dir);
}

TEST(RamBudgetCli, RigCheckRefusesAGroupThatDoesNotFitAtItsLine) {
  const auto dir = temp_dir("rig");
  const std::string rig = "[rig]\nname = \"ram\"\n\n[[devices]]\nname_prefix = \"esp\"\nmodel = \"esp8266\"\n"
                          "count = 5\nram_budget_kib = 8\n\n[target]\nblocks = 1\n\n[pass]\nblocks_finalized_min = 1\n";
  std::ofstream(dir / "small.toml") << rig;
  auto r = run(IOTW_EXE, {"rig", "check", (dir / "small.toml").string()});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("small.toml:8:18: esp-01: the firmware needs "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("but the ESP8266EX (esp8266) leaves 8192 bytes"), std::string::npos) << r.output;

  std::string fits = rig;
  fits.replace(fits.find("ram_budget_kib = 8"), 18, "ram_budget_kib = 64");
  std::ofstream(dir / "fits.toml") << fits;
  r = run(IOTW_EXE, {"rig", "check", (dir / "fits.toml").string()});
  EXPECT_EQ(r.code, 0) << r.output;

  std::string at = rig;
  at.replace(at.find("count = 5"), 9, "count = 5\nlink = \"at\"");
  std::ofstream(dir / "at.toml") << at;
  r = run(IOTW_EXE, {"rig", "check", (dir / "at.toml").string()});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("'ram_budget_kib' in [[devices]] does not apply to link 'at'"), std::string::npos) << r.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
