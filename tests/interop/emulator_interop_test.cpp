// Real third-party peers against the real iotw-emu binary: mbpoll (Modbus RTU over a PTY, Modbus TCP on
// loopback), pymodbus (python3-pymodbus) incl. a brownout written over Modbus while this test plays the
// trust node on the firmware's serial link, and a Yeelight socket client. Loopback only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <signal.h>
#include <sodium.h>
#include <termios.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../emulators/fake_trust_node.hpp"

extern "C" {
#include "iotw/signing.h"
}
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
  auto d = fs::temp_directory_path() / ("iotw-interop-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

struct ToolResult {
  int code;
  std::string out, err;
};

/// Runs a third-party tool to completion (each is bounded by its own timeouts).
ToolResult run_tool(const std::string& exe, const std::vector<std::string>& args, const fs::path& dir) {
  const auto out = dir / "tool.out", err = dir / "tool.err";
  const int code = iotw::run_to_end(exe, args, {.stdout_file = out, .stderr_file = err});
  return {code, slurp(out), slurp(err)};
}

/// iotw-emu in a standalone mode; endpoint lines read from its stdout; SIGTERM on destruction.
using Emu = iotw::test::EmuChild;

std::string port_of(const std::string& host_port) { return host_port.substr(host_port.rfind(':') + 1); }

}  // namespace

class DpsInterop : public ::testing::Test {
 protected:
  fs::path dir = scratch();
  void TearDown() override { fs::remove_all(dir); }
};

TEST_F(DpsInterop, MbpollReadsTheDatasheetRegistersOverTcpAndRtu) {
  Emu emu({"dps", "--modbus-rtu-pty", "--modbus-tcp", "127.0.0.1:0"}, 2, dir);
  ASSERT_EQ(emu.lines.size(), 2u);
  const std::string pty = emu.lines[0], tcp = emu.lines[1];
  ASSERT_EQ(pty.rfind("/dev/pts/", 0), 0u) << pty;
  // 0-based reference 0, 13 registers: U-SET .. VERSION
  auto t = run_tool("mbpoll", {"-m", "tcp", "-p", port_of(tcp), "-a", "1", "-1", "-0", "-r", "0", "-c", "13",
                               "127.0.0.1"}, dir);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("[11]: \t5005"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("[12]: \t17"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("[5]: \t2400"), std::string::npos) << t.out;
  auto r = run_tool("mbpoll", {"-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", "-1", "-0", "-r", "0", "-c", "13",
                               pty}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("[11]: \t5005"), std::string::npos) << r.out;
  // the energy-metering block (FC 04)
  auto in = run_tool("mbpoll", {"-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", "-1", "-0", "-t", "3", "-r", "0",
                                "-c", "20", pty}, dir);
  ASSERT_EQ(in.code, 0) << in.err;
  EXPECT_NE(in.out.find("[3]: \t2400"), std::string::npos) << in.out;
}

TEST_F(DpsInterop, MbpollWritesAndGetsTheThreeExceptions) {
  Emu emu({"dps", "--modbus-rtu-pty", "--modbus-tcp", "127.0.0.1:0"}, 2, dir);
  ASSERT_EQ(emu.lines.size(), 2u);
  const std::string pty = emu.lines[0], port = port_of(emu.lines[1]);
  const std::vector<std::string> tcp{"-m", "tcp", "-p", port, "-a", "1", "-1", "-0"};
  auto with = [](std::vector<std::string> a, std::vector<std::string> b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  auto w = run_tool("mbpoll", with(tcp, {"-r", "0", "127.0.0.1", "1234"}), dir);  // FC06 U-SET 12.34 V
  ASSERT_EQ(w.code, 0) << w.err;
  auto w16 = run_tool("mbpoll", {"-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", "-1", "-0", "-r", "1", pty, "1500",
                                 "1"}, dir);  // FC16 to I-SET and UOUT: UOUT is read-only, so nothing is written
  EXPECT_NE(w16.code, 0);
  EXPECT_NE(w16.err.find("Illegal data address"), std::string::npos) << w16.err;
  auto back = run_tool("mbpoll", with(tcp, {"-r", "0", "-c", "2", "127.0.0.1"}), dir);
  ASSERT_EQ(back.code, 0) << back.err;
  EXPECT_NE(back.out.find("[0]: \t1234"), std::string::npos) << back.out;
  EXPECT_NE(back.out.find("[1]: \t2000"), std::string::npos) << "refused FC16 wrote nothing: " << back.out;

  auto hole = run_tool("mbpoll", with(tcp, {"-r", "13", "127.0.0.1"}), dir);
  EXPECT_NE(hole.code, 0);
  EXPECT_NE(hole.err.find("Illegal data address"), std::string::npos) << hole.err;
  auto value = run_tool("mbpoll", with(tcp, {"-r", "9", "127.0.0.1", "2"}), dir);
  EXPECT_NE(value.code, 0);
  EXPECT_NE(value.err.find("Illegal data value"), std::string::npos) << value.err;
  auto coil = run_tool("mbpoll", with(tcp, {"-t", "0", "-r", "0", "127.0.0.1"}), dir);
  EXPECT_NE(coil.code, 0);
  EXPECT_NE(coil.err.find("Illegal function"), std::string::npos) << coil.err;
  EXPECT_NE(slurp(dir / "emu.events").find("\"modbus_exception\""), std::string::npos);
}

TEST_F(DpsInterop, PymodbusOverTcp) {
  Emu emu({"dps", "--modbus-tcp", "127.0.0.1:0"}, 1, dir);
  ASSERT_EQ(emu.lines.size(), 1u);
  auto r = run_tool("/usr/bin/python3", {std::string(IOTW_INTEROP_DIR) + "/dps_pymodbus_client.py", "tcp", emu.lines[0]}, dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST_F(DpsInterop, PymodbusOverRtuPty) {
  Emu emu({"dps", "--modbus-rtu-pty"}, 1, dir);
  ASSERT_EQ(emu.lines.size(), 1u);
  auto r = run_tool("/usr/bin/python3", {std::string(IOTW_INTEROP_DIR) + "/dps_pymodbus_client.py", "rtu", emu.lines[0]}, dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST_F(DpsInterop, BrownoutOverModbusRebootsTheFirmwareWhichReattachesWithTheSameIdentity) {
  ASSERT_GE(sodium_init(), 0);
  int master = -1, slave = -1;
  char name[64];
  ASSERT_EQ(::openpty(&master, &slave, name, nullptr, nullptr), 0);
  termios t{};
  ::tcgetattr(slave, &t);
  ::cfmakeraw(&t);
  ::tcsetattr(slave, TCSANOW, &t);
  iotw::test::FakeTrustNode node(master);
  std::atomic<bool> done{false};
  std::vector<iotw_v1_Hello> hellos;
  // the trust node: answer every Hello with Challenge / Welcome, acknowledge heartbeats
  std::thread tn([&] {
    while (!done) {
      iotw_v1_Envelope m;
      if (!node.expect(iotw_v1_Envelope_hello_tag, m, 100)) continue;
      hellos.push_back(m.body.hello);
      iotw_v1_Envelope ch = iotw_v1_Envelope_init_zero;
      ch.which_body = iotw_v1_Envelope_challenge_tag;
      randombytes_buf(ch.body.challenge.nonce, 32);
      node.send(ch);
      if (!node.expect(iotw_v1_Envelope_prove_tag, m, 3000)) continue;
      uint8_t msg[IOTW_SIG_MSG_MAX];
      size_t n = iotw_sigmsg_register(ch.body.challenge.nonce, hellos.back().pubkey, msg);
      if (crypto_sign_verify_detached(m.body.prove.signature, msg, n, hellos.back().pubkey) != 0) continue;
      iotw_v1_Envelope w = iotw_v1_Envelope_init_zero;
      w.which_body = iotw_v1_Envelope_welcome_tag;
      w.body.welcome.heartbeat_interval_ms = 60000;
      node.send(w);
    }
  });
  {
    Emu emu({"dps", "--modbus-tcp", "127.0.0.1:0", "--link", name, "--nvs-dir", (dir / "nvs").string()}, 1, dir);
    ASSERT_EQ(emu.lines.size(), 1u);
    auto r = run_tool("/usr/bin/python3",
                      {std::string(IOTW_INTEROP_DIR) + "/dps_pymodbus_client.py", "tcp", emu.lines[0], "--brownout"}, dir);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
  }
  done = true;
  tn.join();
  ::close(master);
  ::close(slave);
  ASSERT_GE(hellos.size(), 2u);
  const auto& first = hellos.front();
  const auto& again = hellos.back();
  EXPECT_EQ(first.reset_reason, 1u);
  EXPECT_EQ(again.reset_reason, 9u);
  EXPECT_EQ(again.boot_count, first.boot_count + 1);
  EXPECT_EQ(0, memcmp(first.pubkey, again.pubkey, 32));
  const std::string events = slurp(dir / "emu.events");
  EXPECT_NE(events.find("\"event\":\"brownout\""), std::string::npos);
  EXPECT_NE(events.find("\"reset_reason\":9"), std::string::npos);
}

TEST(BulbInterop, YeelightClientDiscoversSetsAndReadsBack) {
  fs::path dir = scratch();
  {
    Emu emu({"bulb", "--yeelight", "127.0.0.1:0", "--discovery", "127.0.0.1:0"}, 2, dir);
    ASSERT_EQ(emu.lines.size(), 2u);
    auto r = run_tool("/usr/bin/python3", {std::string(IOTW_INTEROP_DIR) + "/yeelight_client.py", emu.lines[1]}, dir);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    auto e = slurp(dir / "emu.events");
    EXPECT_NE(e.find("\"bulb_state\""), std::string::npos);
  }
  fs::remove_all(dir);
}
