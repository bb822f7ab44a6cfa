// TAP links (harness/runner/tap_network.hpp): the plan of a rig's TAP network is deterministic (addresses in file
// order, vendor OUIs, MACs from the seed); emu.toml and trust_node.toml carry it. Creating the namespace itself
// needs root: tests/integration (rig_tap_test.cpp, tap_netns_test.sh).
#include <gtest/gtest.h>

#include <toml++/toml.h>

#include <set>

#include "child_configs.hpp"
#include "iotw/harness/rig_loader.hpp"
#include "tap_network.hpp"

namespace iotw::harness {
namespace {

RigSpec tap_rig(const std::string& subnet) {
  return parse_rig("[rig]\nname = \"t\"\n[tap]\nsubnet = \"" + subnet +
                       "\"\n[[devices]]\nname_prefix = \"e\"\nmodel = \"esp8266\"\nlink = \"tap\"\ncount = 2\n"
                       "[[devices]]\nname_prefix = \"p\"\nmodel = \"esp32\"\ncount = 2\n"
                       "[[devices]]\nname_prefix = \"r\"\nmodel = \"rtl8710\"\nlink = \"tap\"\ncount = 2\n"
                       "[pass]\nledger_valid = true\n",
                   "x.toml");
}

TEST(TapNetwork, PlanIsDeterministicFromTheRigAndTheSeed) {
  const TapPlan a = plan_tap_network(tap_rig("192.168.8.0/28"), 42);
  EXPECT_EQ(a.bridge, "iotwbr0");
  EXPECT_EQ(a.bridge_ip, "192.168.8.1");
  EXPECT_EQ(a.prefix, 28);
  ASSERT_EQ(a.devices.size(), 4u);  // the PTY group is not on the TAP network
  const char* names[] = {"e-01", "e-02", "r-01", "r-02"};
  std::set<std::string> macs;
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(a.devices[k].device, names[k]);
    EXPECT_EQ(a.devices[k].ifname, "tap" + std::to_string(k));
    EXPECT_EQ(a.devices[k].ip, "192.168.8." + std::to_string(2 + k));
    EXPECT_EQ(a.devices[k].mac.rfind(k < 2 ? "5c:cf:7f:" : "00:e0:4c:", 0), 0u) << a.devices[k].mac;
    macs.insert(a.devices[k].mac.substr(9));
  }
  EXPECT_EQ(macs.size(), 4u) << "the low 24 bits differ per device";
  const TapPlan same = plan_tap_network(tap_rig("192.168.8.0/28"), 42);
  const TapPlan other = plan_tap_network(tap_rig("192.168.8.0/28"), 43);
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(same.devices[k].mac, a.devices[k].mac);
    EXPECT_NE(other.devices[k].mac, a.devices[k].mac);
  }
  EXPECT_TRUE(plan_tap_network(parse_rig("[rig]\nname = \"t\"\n[[devices]]\ncount = 5\n[pass]\nledger_valid = true\n",
                                         "x.toml"),
                               1)
                  .devices.empty());
}

TEST(TapNetwork, ConfigsCarryTheTapWiring) {
  const auto dir = std::filesystem::temp_directory_path() / ("iotw-tap-configs-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const RunLayout layout{dir};
  const RigSpec spec = tap_rig("10.77.0.0/24");
  const TapPlan plan = plan_tap_network(spec, 7);
  std::vector<WiredDevice> devices;
  for (const DeviceInstance& d : spec.instances()) {
    devices.push_back({d, {LinkInfo{d.name, "/dev/pts/90", "/dev/pts/91"}}, {}});
    for (const TapAddress& t : plan.devices)
      if (t.device == d.name) {
        devices.back().tap = t.ifname;
        devices.back().tap_ip = t.ip + "/24";
        devices.back().tap_mac = t.mac;
        devices.back().tap_trust_node_udp = plan.bridge_ip + ":4000";
      }
  }
  write_trust_node_config(spec, 7, devices, layout, 4000);
  write_emu_config(devices, layout, 4000);
  const toml::table node = toml::parse_file(layout.trust_node_config().string());
  EXPECT_EQ(node["udp"]["listen"].value_or(std::string()), "0.0.0.0:4000");
  EXPECT_EQ(node["serial"].as_array()->size(), 2u) << "only the PTY group has serial links";
  const toml::table emu = toml::parse_file(layout.emu_config().string());
  const toml::array& list = *emu["device"].as_array();
  ASSERT_EQ(list.size(), 6u);
  const toml::table& e1 = *list[0].as_table();
  EXPECT_EQ(e1["tap"].value_or(std::string()), "tap0");
  EXPECT_EQ(e1["ip"].value_or(std::string()), "10.77.0.2/24");
  EXPECT_EQ(e1["mac"].value_or(std::string()), plan.devices[0].mac);
  EXPECT_EQ(e1["trust_node_udp"].value_or(std::string()), "10.77.0.1:4000");
  EXPECT_FALSE(e1.contains("link"));
  EXPECT_FALSE(e1.contains("mode"));
  const toml::table& p1 = *list[2].as_table();
  EXPECT_TRUE(p1.contains("link"));
  EXPECT_FALSE(p1.contains("tap"));
  std::filesystem::remove_all(dir);
}

TEST(TapNetwork, CapabilityCheckNamesWhatIsMissing) {
  const auto why = tap_network_unavailable();
  if (::geteuid() == 0) {
    EXPECT_FALSE(why.has_value()) << *why;  // CI runs as root with /dev/net/tun and iproute2 installed
  } else {
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find("CAP_NET_ADMIN"), std::string::npos) << *why;
  }
}

}  // namespace
}  // namespace iotw::harness
