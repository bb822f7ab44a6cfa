// Device faults as rig steps (docs/faults.md "Device faults"): the loader's rules for reboot, hang,
// clock_skew, ap_rssi and ap_down, and RigScript sending them over the emulator control channel (a fake host
// records the commands), applying the weak-signal loss to the UDP link and checking recovery by deadline.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "emu_control.hpp"
#include "iotw/harness/rig_loader.hpp"
#include "rig_error_of.hpp"
#include "rig_script.hpp"
#include "scripted_host.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::json;

const std::string kHead = R"([rig]
name = "t"
[pass]
ledger_valid = true
[[devices]]
name_prefix = "e"
count = 3
[[devices]]
name_prefix = "a"
model = "esp8266"
link = "at"
count = 2
)";

TEST(DeviceFaultSteps, LoaderDefaultsTargetsAndRefusesWrongDevicesAndParameters) {
  RigSpec r = parse_rig(kHead + "[[steps]]\nfault = \"hang\"\n[[steps]]\nfault = \"ap_down\"\nduration_s = 2\n"
                                "[[steps]]\nfault = \"clock_skew\"\ndevices = [\"e-02\"]\nppm = -200\noffset_ms = -1500\n"
                                "duration_s = 3\n[[steps]]\nfault = \"ap_rssi\"\nrssi = -80\n",
                        "x.toml");
  EXPECT_EQ(r.steps[0].fault.devices, (std::vector<std::string>{"e-01", "e-02", "e-03"}));
  EXPECT_TRUE(r.steps[0].fault.reset_fault());
  EXPECT_FALSE(r.steps[0].fault.link_fault());
  EXPECT_TRUE(r.steps[0].fault.device_fault());
  EXPECT_EQ(r.steps[1].fault.devices, (std::vector<std::string>{"a-01", "a-02"}));
  EXPECT_EQ(r.steps[2].fault.offset_ms, -1500);
  EXPECT_DOUBLE_EQ(r.steps[2].fault.ppm, -200);
  EXPECT_EQ(r.steps[3].fault.rssi, -80);
  EXPECT_FALSE(r.steps[3].fault.duration_s);  // open-ended: to the end of the run

  EXPECT_EQ(error_of(kHead + "[[steps]]\nfault = \"reboot\"\ndevices = [\"a-01\"]\n"),
            "x.toml:15:11: fault 'reboot' in [[steps]] #1: 'a-01' has link = \"at\" (the firmware runs on the appliance "
            "MCU, not on an emulated chip); reboot, hang and clock_skew need a PTY device");
  EXPECT_EQ(error_of(kHead + "[[steps]]\nfault = \"ap_down\"\nduration_s = 1\ndevices = [\"e-01\"]\n"),
            "x.toml:16:11: fault 'ap_down' in [[steps]] #1: 'e-01' has a PTY link; access-point faults need link = \"at\" "
            "(a module that joins the rig's access point)");
  EXPECT_NE(error_of(kHead + "[[steps]]\nfault = \"hang\"\nduration_s = 4\n").find("x.toml:15:14: 'duration_s' in [[steps]] #1: fault 'hang' has no duration"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "[[steps]]\nfault = \"ap_down\"\n").find("fault 'ap_down' in [[steps]] #1 needs 'duration_s'"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "[[steps]]\nfault = \"clock_skew\"\n").find("needs a non-zero 'offset_ms' (ms) and/or 'ppm'"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "[[steps]]\nfault = \"ap_rssi\"\n").find("needs 'rssi' (dBm, -120..0)"), std::string::npos);
  EXPECT_NE(error_of(kHead + "[[steps]]\nfault = \"ap_rssi\"\nrssi = 5\n").find("allowed range -120..0"), std::string::npos);
  EXPECT_NE(error_of(kHead + "[[steps]]\nfault = \"reboot\"\nppm = 5\n").find("'ppm' in [[steps]] #1 applies only to clock_skew faults"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "[[steps]]\nfault = \"stall\"\nrssi = -60\n").find("applies only to ap_rssi faults"),
            std::string::npos);
  EXPECT_NE(error_of("[rig]\nname = \"t\"\n[pass]\nledger_valid = true\n[[devices]]\ncount = 3\n[[steps]]\nfault = \"ap_rssi\"\nrssi = -80\n")
                .find("the rig has no link = \"at\" device"),
            std::string::npos);
}

TEST(DeviceFaultSteps, RssiLossModel) {
  EXPECT_DOUBLE_EQ(rssi_loss_rate(-45), 0.0);
  EXPECT_DOUBLE_EQ(rssi_loss_rate(-70), 0.0);
  EXPECT_DOUBLE_EQ(rssi_loss_rate(-80), 0.25);
  EXPECT_DOUBLE_EQ(rssi_loss_rate(-90), 0.5);
  EXPECT_DOUBLE_EQ(rssi_loss_rate(-110), 0.5);
}

using test::Check;
using test::CheckSaying;
using ::testing::_;
using ::testing::Return;

const json kOk = {{"ok", true}};
MATCHER_P2(Command, cmd, device, "a control-channel command for the device") {
  return arg.value("cmd", "") == std::string(cmd) && arg.value("device", "") == std::string(device);
}

/// The rig: e-01..e-03 (serial) and a-01, a-02 (AT over UDP) attached (scripted_host.hpp).
struct ControlHost : test::ScriptedHost {
  ControlHost() : ScriptedHost({"e-01", "e-02", "e-03", "a-01", "a-02"}) {}
};

struct Links {
  FaultPolicy p1{1}, p2{2}, p3{3};
  UdpFaultPolicy u1{4}, u2{5};
  std::map<std::string, std::vector<FaultPolicy*>> serial() { return {{"e-01", {&p1}}, {"e-02", {&p2}}, {"e-03", {&p3}}}; }
  std::map<std::string, UdpFaultPolicy*> udp() { return {{"a-01", &u1}, {"a-02", &u2}}; }
};

TEST(DeviceFaultSteps, HangRecoversOnlyOnceTheDeviceRegistersAgainWithinTheDeadline) {
  const RigSpec spec = parse_rig(kHead + "[[steps]]\nname = \"wedge\"\nfault = \"hang\"\ndevices = [\"e-01\"]\nrecover_within_s = 8\n"
                                         "[[steps]]\nname = \"wedge2\"\nat_s = 1\nfault = \"reboot\"\ndevices = [\"e-02\"]\nrecover_within_s = 2\n",
                                 "x.toml");
  Links l;
  ControlHost host;
  RigScript script(spec, l.serial(), host, l.udp());
  EXPECT_CALL(host, emu_command(json{{"cmd", "hang"}, {"device", "e-01"}})).WillOnce(Return(kOk));
  script.tick(0);
  host.expect_checks({});
  EXPECT_CALL(host, emu_command(Command("reboot", "e-02"))).WillOnce(Return(kOk));  // the reboot step starts at 1 s
  script.tick(1);
  // e-01's watchdog has not bitten yet; e-02 missed its 2 s deadline
  host.expect_checks({::testing::AllOf(Check("wedge2 (line 18): reboot recovered", false),
                                       CheckSaying(false, "e-02 (has not registered again since its reboot)"))});
  script.tick(5);
  host.expect_checks({Check("wedge (line 13): hang recovered", true)});
  host.pending.push_back({{"source", "trust-node"}, {"kind", "device_registered"}, {"fields", {{"name", "e-01"}}}});
  script.tick(5.5);
  EXPECT_TRUE(script.done());
}

TEST(DeviceFaultSteps, ClockSkewAndWeakSignalAreUndoneAtTheEndAndNeedTrafficAgain) {
  const RigSpec spec =
      parse_rig(kHead + "[[steps]]\nname = \"skew\"\nfault = \"clock_skew\"\ndevices = [\"e-03\"]\noffset_ms = 2000\n"
                        "ppm = 100\nduration_s = 2\n[[steps]]\nname = \"weak\"\nfault = \"ap_rssi\"\ndevices = [\"a-01\"]\n"
                        "rssi = -80\nduration_s = 2\n",
                "x.toml");
  Links l;
  ControlHost host;
  RigScript script(spec, l.serial(), host, l.udp());
  {
    ::testing::InSequence in_step_order;
    EXPECT_CALL(host, emu_command(json{{"cmd", "clock_skew"}, {"device", "e-03"}, {"offset_ms", 2000}, {"ppm", 100.0}}))
        .WillOnce(Return(kOk));
    EXPECT_CALL(host, emu_command(json{{"cmd", "ap"}, {"device", "a-01"}, {"rssi", -80}})).WillOnce(Return(kOk));
  }
  script.tick(0);
  EXPECT_DOUBLE_EQ(l.u1.faults().loss_rate, 0.25);  // the weak signal's loss on a-01's UDP link
  EXPECT_DOUBLE_EQ(l.u2.faults().loss_rate, 0.0);
  host.expect_checks({});
  {
    ::testing::InSequence in_step_order;  // both undone when their duration ends
    EXPECT_CALL(host, emu_command(json{{"cmd", "clock_skew"}, {"device", "e-03"}, {"offset_ms", 0}, {"ppm", 0}}))
        .WillOnce(Return(kOk));
    EXPECT_CALL(host, emu_command(json{{"cmd", "ap"}, {"device", "a-01"}, {"rssi", kNominalRssi}})).WillOnce(Return(kOk));
  }
  script.tick(2.5);
  EXPECT_DOUBLE_EQ(l.u1.faults().loss_rate, 0.0);
  // Nothing flowed on the links since: both recoveries fail, naming what is missing.
  host.expect_checks({CheckSaying(false, "e-03 (no frame to the device)"), CheckSaying(false, "a-01 (no datagram to the device)")});
  script.finish(3, "deadline");
}

TEST(DeviceFaultSteps, AControlChannelErrorFailsTheStepInsteadOfThrowing) {
  const RigSpec spec = parse_rig(kHead + "[[steps]]\nname = \"wedge\"\nfault = \"hang\"\ndevices = [\"e-01\"]\n", "x.toml");
  Links l;
  ControlHost host;
  RigScript script(spec, l.serial(), host, l.udp());
  host.expect_checks({::testing::AllOf(Check("wedge (line 13): hang injected", false),
                                       CheckSaying(false, "hang e-01: unknown device 'e-01'"))});
  EXPECT_CALL(host, emu_command(Command("hang", "e-01")))
      .WillOnce(::testing::Throw(std::runtime_error("hang e-01: unknown device 'e-01'")));
  script.tick(0);
  EXPECT_TRUE(script.done());
}

/// A one-connection line server: answers each request line with reply(request).
struct LineServer {
  std::string path;
  int listener = -1;
  std::thread thread;
  LineServer(const std::string& p, std::function<std::string(const json&)> reply) : path(p) {
    ::unlink(path.c_str());
    listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    thread = std::thread([this, reply] {
      const int c = ::accept(listener, nullptr, nullptr);
      std::string buf;
      char tmp[512];
      for (ssize_t n; (n = ::read(c, tmp, sizeof tmp)) > 0;) {
        buf.append(tmp, static_cast<size_t>(n));
        for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
          const std::string out = reply(json::parse(buf.substr(0, nl)));
          buf.erase(0, nl + 1);
          if (!out.empty()) (void)!::write(c, out.data(), out.size());
        }
      }
      ::close(c);
    });
  }
  ~LineServer() {
    ::shutdown(listener, SHUT_RDWR);
    thread.join();
    ::close(listener);
    ::unlink(path.c_str());
  }
};

TEST(EmuControlClient, RepliesErrorsAndTimeouts) {
  const std::string path = (std::filesystem::temp_directory_path() / ("iotw-ctl-" + std::to_string(::getpid()) + ".sock")).string();
  {
    LineServer server(path, [](const json& req) -> std::string {
      if (req["cmd"] == "hang") return json{{"id", req["id"]}, {"ok", false}, {"error", "unknown device 'x'"}}.dump() + "\n";
      if (req["cmd"] == "mute") return "";
      return json{{"id", 999}, {"ok", true}}.dump() + "\n" + json{{"id", req["id"]}, {"ok", true}, {"devices", {"e-01"}}}.dump() + "\n";
    });
    EmuControlClient client(path, std::chrono::milliseconds(300));
    const json r = client.command({{"cmd", "ping"}});
    EXPECT_EQ(r["devices"], json::array({"e-01"}));  // the stale reply (another id) was skipped
    try {
      client.command({{"cmd", "hang"}, {"device", "x"}});
      FAIL() << "no throw";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "hang x: unknown device 'x'");
    }
    EXPECT_THROW(client.command({{"cmd", "mute"}}), std::runtime_error);  // no reply within 300 ms
  }
  EmuControlClient nobody(path, std::chrono::milliseconds(100));
  try {
    nobody.command({{"cmd", "ping"}});
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect to the emulator's control socket"), std::string::npos);
  }
}

}  // namespace
}  // namespace iotw::harness
