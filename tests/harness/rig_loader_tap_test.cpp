// link = "tap" and [tap] (docs/rig-format.md "TAP links"): accepted keys, defaults and file:line errors.
#include <gtest/gtest.h>

#include <string>

#include "iotw/harness/rig_loader.hpp"
#include "rig_error_of.hpp"

using iotw::harness::load_rig;
using iotw::harness::parse_rig;
using iotw::harness::RigError;

namespace {

/// A rig of `count` TAP devices of `model`, with `extra` appended (TOML).
std::string tap_rig(const std::string& model = "esp32", int count = 5, const std::string& extra = "") {
  return "[rig]\nname = \"t\"\n[[devices]]\nname_prefix = \"m\"\nmodel = \"" + model + "\"\nlink = \"tap\"\ncount = " +
         std::to_string(count) + "\n[pass]\nledger_valid = true\n" + extra;
}

}  // namespace

TEST(RigLoaderTap, EspTapRig) {
  const auto rig = load_rig(std::string(IOTW_RIGS_DIR) + "/esp_tap.toml");
  EXPECT_EQ(rig.name, "esp_tap");
  EXPECT_EQ(rig.tap.subnet, "10.77.0.0/24");
  EXPECT_GT(rig.tap.line, 0);
  ASSERT_EQ(rig.instances().size(), 6u);
  for (const auto& d : rig.instances()) EXPECT_EQ(d.link, "tap") << d.name;
  EXPECT_EQ(rig.instances()[0].model, "esp32");
  EXPECT_EQ(rig.instances()[3].model, "rtl8710");
}

TEST(RigLoaderTap, DefaultsAndRealtekModels) {
  const auto rig = parse_rig(tap_rig("rtl8195"), "x.toml");
  EXPECT_EQ(rig.tap.subnet, "10.77.0.0/24");
  EXPECT_EQ(rig.tap.line, 0);
  EXPECT_NO_THROW(parse_rig(tap_rig("esp8266", 5, "[tap]\nsubnet = \"192.168.40.0/29\"\n"), "x.toml"));
}

TEST(RigLoaderTap, Errors) {
  EXPECT_EQ(error_of(tap_rig("dps")),
            "x.toml:6:8: link 'tap' in [[devices]] needs a Wi-Fi module model (esp8266, esp32, rtl8710, rtl8195), not 'dps'");
  EXPECT_EQ(error_of(tap_rig("esp32", 5, "[tap]\nsubnet = \"10.77.0.0\"\n")),
            "x.toml:11:10: subnet '10.77.0.0' in [tap] must be an IPv4 network \"A.B.C.D/P\"");
  EXPECT_EQ(error_of(tap_rig("esp32", 5, "[tap]\nsubnet = \"10.77.0.0/30\"\n")),
            "x.toml:11:10: subnet '10.77.0.0/30' in [tap]: prefix /30; allowed 8..29");
  EXPECT_EQ(error_of(tap_rig("esp32", 5, "[tap]\nsubnet = \"10.77.0.9/24\"\n")),
            "x.toml:11:10: subnet '10.77.0.9/24' in [tap] has host bits set; the network is 10.77.0.0/24");
  EXPECT_EQ(error_of(tap_rig("esp32", 6, "[tap]\nsubnet = \"10.77.0.0/29\"\n")),
            "x.toml:11:10: subnet '10.77.0.0/29' in [tap] has 6 host addresses; the bridge and 6 link = \"tap\" devices need 7");
  EXPECT_EQ(error_of(tap_rig("esp32", 5, "[tap]\nsubnet = \"10.77.0.0/24\"\nmtu = 9000\n")),
            "x.toml:12:1: unknown key 'mtu' in [tap]; allowed: subnet");
  EXPECT_EQ(error_of("[rig]\nname = \"t\"\n[[devices]]\ncount = 5\n[pass]\nledger_valid = true\n[tap]\nsubnet = \"10.1.0.0/24\"\n"),
            "x.toml:7:1: [tap] applies only to a rig with a link = \"tap\" [[devices]] group");
  // A TAP module's UDP crosses the fault proxy: UDP link faults, partition and stall name it; no other device
  // fault does (no control channel to its lwIP process, no serial link, no supply).
  EXPECT_EQ(error_of(tap_rig("esp32", 5, "[[steps]]\nfault = \"partition\"\ndevices = [\"m-01\"]\nduration_s = 1\n")), "");
  EXPECT_EQ(error_of(tap_rig("esp32", 5, "[[steps]]\nfault = \"udp_loss\"\nrate = 0.2\nduration_s = 1\n")), "");
  EXPECT_EQ(error_of(tap_rig("esp32", 5, "[[steps]]\nfault = \"reboot\"\ndevices = [\"m-01\"]\n")),
            "x.toml:12:11: fault 'reboot' in [[steps]] #1: 'm-01' has link = \"tap\"; a TAP module takes only UDP link "
            "faults (udp_loss, udp_duplicate, udp_reorder, udp_delay, partition, stall)");
  EXPECT_EQ(error_of(tap_rig("esp32", 5, "[[steps]]\nfault = \"corrupt\"\nrate = 0.01\ndevices = [\"m-01\"]\n")),
            "x.toml:13:11: fault 'corrupt' in [[steps]] #1: 'm-01' has link = \"tap\"; a TAP module takes only UDP link "
            "faults (udp_loss, udp_duplicate, udp_reorder, udp_delay, partition, stall)");
}
