// External devices in rig files (docs/rig-format.md "External devices"): what loads, and every refusal with its
// file:line and the rule it broke.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "iotw/harness/rig_loader.hpp"
#include "rig_error_of.hpp"

namespace iotw::harness {
namespace {

using ::testing::HasSubstr;

// Lines 1..5: [rig] and 4 emulated devices; the external table starts at line 7, its keys at line 8; after them a
// blank line, [pass] and its key, then the steps.
const std::string kHead = R"([rig]
name = "t"
[[devices]]
name_prefix = "esp"
count = 4
# the external device:
[[devices]]
)";
const std::string kTail = "\n[pass]\nledger_valid = true\n";

std::string rig(const std::string& external_keys, const std::string& steps = "") {
  return kHead + external_keys + kTail + steps;
}

TEST(RigExternal, SerialUdpAndTcpLoadWithTheirSettings) {
  const RigSpec spec = parse_rig(rig("name = \"partner-01\"\nexternal = \"serial:/dev/ttyUSB0,baud=921600,reset=esp\"\n"
                                     "[[devices]]\nname = \"indep-udp\"\nexternal = \"udp\"\nlisten = \"127.0.0.1:47000\"\n"
                                     "attach_timeout_s = 5\nbehaviour = \"wrong_hash\"\n"
                                     "[[devices]]\nname = \"indep-tcp\"\nexternal = \"tcp\"\nmodel = \"esp32\"\n"),
                                 "x.toml");
  const auto devices = spec.instances();
  ASSERT_EQ(devices.size(), 7u);
  const DeviceInstance& serial = devices[4];
  EXPECT_EQ(serial.name, "partner-01") << "an external device is named exactly, without -01";
  EXPECT_EQ(serial.link, "external");
  EXPECT_EQ(serial.model, "external");
  ASSERT_TRUE(serial.is_external());
  EXPECT_TRUE(serial.serial_linked());
  EXPECT_EQ(serial.external->port.kind, DeviceSpec::Kind::Serial);
  EXPECT_EQ(serial.external->port.path, "/dev/ttyUSB0");
  EXPECT_EQ(serial.external->port.baud, 921600);
  EXPECT_EQ(serial.external->port.reset, DeviceSpec::Reset::Esp);
  EXPECT_EQ(serial.external->attach_timeout_s, 30);
  const DeviceInstance& udp = devices[5];
  EXPECT_EQ(udp.external->port.kind, DeviceSpec::Kind::Udp);
  EXPECT_FALSE(udp.serial_linked());
  EXPECT_EQ(udp.external->port.host, "127.0.0.1");
  EXPECT_EQ(udp.external->port.port, 47000);
  EXPECT_EQ(udp.external->attach_timeout_s, 5);
  EXPECT_TRUE(udp.byzantine()) << "behaviour is what the scores assume of it";
  const DeviceInstance& tcp = devices[6];
  EXPECT_EQ(tcp.external->port.kind, DeviceSpec::Kind::Tcp);
  EXPECT_TRUE(tcp.serial_linked()) << "a TCP device is relayed through the serial fault proxy";
  EXPECT_EQ(tcp.external->port.port, 0) << "default listen 127.0.0.1:0";
  EXPECT_EQ(tcp.model, "esp32");
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(devices[i].is_external());
}

TEST(RigExternal, BadSpecsAreRefusedAtTheirLine) {
  EXPECT_EQ(error_of(rig("name = \"p\"\nexternal = \"usb:/dev/x\"\n")),
            "x.toml:9:12: 'external' in [[devices]] is 'usb:/dev/x'; allowed: \"serial:PATH[,baud=N][,parity=..]"
            "[,flow=..][,reset=..]\", \"udp\", \"tcp\"");
  EXPECT_EQ(error_of(rig("name = \"p\"\nexternal = \"serial:/dev/ttyUSB0,bauds=9600\"\n")),
            "x.toml:9:12: 'external' in [[devices]]: unknown serial option 'bauds'; allowed: baud, parity, flow, reset");
  EXPECT_EQ(error_of(rig("name = \"p\"\nexternal = \"serial:/dev/pts/3,reset=esp\"\n")),
            "x.toml:9:12: 'external' in [[devices]]: a PTY (/dev/pts/3) has no DTR/RTS lines: reset=esp and "
            "flow=rtscts need a real serial port");
  EXPECT_EQ(error_of(rig("name = \"p\"\nexternal = \"udp\"\nlisten = \"localhost:9\"\n")),
            "x.toml:10:10: 'listen' in [[devices]]: HOST must be an IPv4 address (dotted quad), got 'localhost'");
  EXPECT_EQ(error_of(rig("name = \"p\"\nexternal = \"serial:/dev/pts/3\"\nlisten = \"127.0.0.1:9\"\n")),
            "x.toml:10:10: 'listen' in [[devices]] applies only to external = \"udp\" or \"tcp\" (a serial device is on "
            "its port)");
  EXPECT_EQ(error_of(rig("external = \"udp\"\n")),
            "x.toml:7:1: an external device in [[devices]] needs 'name': the name it announces in its Hello");
  EXPECT_EQ(error_of(rig("name = \"p q\"\nexternal = \"udp\"\n")),
            "x.toml:8:8: name 'p q' must be 1..32 characters of A-Z a-z 0-9 _ -");
  EXPECT_EQ(error_of(rig("name = \"p\"\nexternal = \"udp\"\nattach_timeout_s = 0\n")),
            "x.toml:10:20: 'attach_timeout_s' in [[devices]] is 0; allowed range 1..86400");
}

TEST(RigExternal, EmulatorKeysAreRefusedOnAnExternalDeviceAndExternalKeysOnAnEmulatedOne) {
  for (const char* key : {"count = 2", "name_prefix = \"x\"", "link = \"pty\"", "ram_budget_kib = 64"})
    EXPECT_THAT(error_of(rig(std::string("name = \"p\"\nexternal = \"udp\"\n") + key + "\n")),
                HasSubstr("x.toml:10:")) << key;
  EXPECT_THAT(error_of(rig("name = \"p\"\nexternal = \"udp\"\ncount = 2\n")),
              HasSubstr("'count' in [[devices]] does not apply to an external device"));
  EXPECT_EQ(error_of(rig("name_prefix = \"x\"\nlisten = \"127.0.0.1:9\"\n")),
            "x.toml:9:10: 'listen' in [[devices]] applies only to an external device (external = \"serial:PATH\", "
            "\"udp\" or \"tcp\")");
  EXPECT_EQ(error_of(rig("name = \"esp-02\"\nexternal = \"udp\"\n")),
            "x.toml:7:1: device name 'esp-02' is used by the [[devices]] groups at lines 3 and 7; device names must "
            "be unique");
}

TEST(RigExternal, FaultsThatNeedTheEmulatorAreRefusedForAnExternalDevice) {
  // steps start at line 13: [[steps]] 13, fault 14, devices 15
  const std::string ext = "name = \"partner\"\nexternal = \"serial:/dev/pts/3\"\n";
  EXPECT_EQ(error_of(rig(ext, "[[steps]]\nfault = \"reboot\"\ndevices = [\"partner\"]\n")),
            "x.toml:15:12: fault 'reboot' in [[steps]] #1: 'partner' is an external device (the harness relays its "
            "link but does not run it: no control channel, no supply, no process); only link faults apply to it");
  EXPECT_THAT(error_of(rig(ext, "[[steps]]\nfault = \"clock_skew\"\noffset_ms = 5\ndevices = [\"esp-01\", \"partner\"]\n")),
              HasSubstr("x.toml:16:22: fault 'clock_skew' in [[steps]] #1: 'partner' is an external device"));
  // Link faults apply: serial faults on a serial (or tcp) device, UDP faults on a udp device.
  EXPECT_EQ(error_of(rig(ext, "[[steps]]\nfault = \"corrupt\"\nrate = 0.01\nduration_s = 2\ndevices = [\"partner\"]\n")), "");
  EXPECT_EQ(error_of(rig(ext, "[[steps]]\nfault = \"partition\"\nduration_s = 2\ndevices = [\"partner\"]\n")), "");
  EXPECT_THAT(error_of(rig(ext, "[[steps]]\nfault = \"udp_loss\"\nrate = 0.5\nduration_s = 2\ndevices = [\"partner\"]\n")),
              HasSubstr("UDP link fault 'udp_loss' in [[steps]] #1: 'partner' has a serial link"));
  const std::string udp = "name = \"indep\"\nexternal = \"udp\"\n";
  EXPECT_EQ(error_of(rig(udp, "[[steps]]\nfault = \"udp_loss\"\nrate = 0.5\nduration_s = 2\ndevices = [\"indep\"]\n")), "");
  EXPECT_EQ(error_of(rig(udp, "[[steps]]\nfault = \"udp_loss\"\nrate = 0.5\nduration_s = 2\n")), "")
      << "a UDP fault without devices has the external udp device to act on";
  EXPECT_THAT(error_of(rig(udp, "[[steps]]\nfault = \"corrupt\"\nrate = 0.01\nduration_s = 2\ndevices = [\"indep\"]\n")),
              HasSubstr("serial link fault 'corrupt' in [[steps]] #1: 'indep' has external = \"udp\""));
  // A reboot without devices leaves the external device out (the emulated ones are rebooted).
  const RigSpec spec = parse_rig(rig(ext, "[[steps]]\nfault = \"reboot\"\n"), "x.toml");
  ASSERT_EQ(spec.steps.size(), 1u);
  EXPECT_THAT(spec.steps[0].fault.devices, ::testing::ElementsAre("esp-01", "esp-02", "esp-03", "esp-04"));
  EXPECT_EQ(error_of(rig(ext, "[[steps]]\nwhen_device = \"partner\"\nreaches = \"attached\"\nexpect = \"rounds >= 0\"\n")),
            "x.toml:14:15: 'when_device' in [[steps]] #1: 'partner' is an external device; its states are events of "
            "the emulator pool, which does not run it");
}

}  // namespace
}  // namespace iotw::harness
