// The standalone AT-mode modules of the real iotw-emu (`iotw-emu esp8266|rtl8710 --at --pty`) driven through
// socat by at_session.py: echo, version, join with right and wrong password, UDP (and for ESP also TCP) to
// loopback sockets playing the trust node, data both ways, byte for byte. Loopback only.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "emu_child.hpp"
#include "iotw/support/process.hpp"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& f) {
  std::ifstream in(f);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path scratch() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto d = fs::temp_directory_path() / ("iotw-at-interop-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// iotw-emu MODEL --at --pty ...; the PTY path is its first stdout line; SIGTERM on destruction.
struct AtModule : iotw::test::EmuChild {
  AtModule(const std::vector<std::string>& args, const fs::path& dir)
      : EmuChild(args, 1, dir), pty(lines.empty() ? "" : lines[0]) {}
  int exit_code() { return stop(); }
  std::string pty;
};

struct Run {
  int code;
  std::string out;
};

Run session(const std::string& model, const std::string& pty, const fs::path& dir) {
  const auto out = dir / "session.out";
  const int code = iotw::run_to_end(
      "/usr/bin/python3", {std::string(IOTW_INTEROP_DIR) + "/at_session.py", model, pty, "iotw-interop", "s3cret-pass"},
      {.stdout_file = out, .stderr_file = out});
  return {code, slurp(out)};
}

}  // namespace

TEST(AtInterop, Esp8266OverSocat) {
  fs::path dir = scratch();
  {
    AtModule m({"esp8266", "--at", "--pty", "--ssid", "iotw-interop", "--password", "s3cret-pass"}, dir);
    ASSERT_EQ(m.pty.rfind("/dev/pts/", 0), 0u) << m.pty;
    auto r = session("esp8266", m.pty, dir);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(m.exit_code(), 0);
  }
  EXPECT_NE(slurp(dir / "emu.events").find("\"at_started\""), std::string::npos);
  fs::remove_all(dir);
}

TEST(AtInterop, Rtl8710OverSocat) {
  fs::path dir = scratch();
  {
    AtModule m({"rtl8710", "--at", "--pty", "--ssid", "iotw-interop", "--password", "s3cret-pass"}, dir);
    ASSERT_EQ(m.pty.rfind("/dev/pts/", 0), 0u) << m.pty;
    auto r = session("rtl8710", m.pty, dir);
    EXPECT_EQ(r.code, 0) << r.out;
  }
  fs::remove_all(dir);
}

TEST(AtInterop, StandaloneNeedsAtAndPty) {
  fs::path dir = scratch();
  EXPECT_EQ(iotw::run_to_end(IOTW_EMU_EXE, {"esp32"}, {.stdout_file = "/dev/null", .stderr_file = dir / "err"}), 2);
  EXPECT_NE(slurp(dir / "err").find("needs --pty (with --at: its AT command set; without: SoC mode)"), std::string::npos)
      << slurp(dir / "err");
  fs::remove_all(dir);
}
