// SoC mode over TAP (esp_wifi/tap_module.hpp): address and MAC parsing, pool-file keys of a TAP module and their
// errors. The module itself (lwIP on a real TAP interface) needs a network namespace: tests/integration
// (tap_netns_test.sh, rig_tap_test.cpp).
#include <gtest/gtest.h>

#include <fstream>

#include "esp_wifi/tap_module.hpp"
#include "pool_config.hpp"

namespace {

using namespace iotw::emu;

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  auto p = std::filesystem::temp_directory_path() / ("iotw_tap_pool_" + name + "_" + std::to_string(::getpid()) + ".toml");
  std::ofstream(p) << text;
  return p;
}

std::string error_of(const std::string& name, const std::string& text) {
  try {
    load_pool_config(write_temp(name, text));
  } catch (const PoolConfigError& e) {
    const std::string msg = e.what();
    return msg.substr(msg.find(".toml:") + 6);  // "LINE:COL: message"
  }
  return "";
}

std::string tap_device(const std::string& model, const std::string& extra = "") {
  return "[[device]]\nname = \"m-01\"\nmodel = \"" + model +
         "\"\ntap = \"tap0\"\nip = \"10.77.0.2/24\"\nmac = \"24:0a:c4:00:00:01\"\ntrust_node_udp = \"10.77.0.1:4000\"\n"
         "nvs_dir = \"nvs/m-01\"\n" + extra;
}

}  // namespace

TEST(TapModule, ParsesAddressesAndMacs) {
  const Ipv4Cidr c = parse_ipv4_cidr("10.77.0.2/24");
  EXPECT_EQ(c.addr, 0x0a4d0002u);
  EXPECT_EQ(c.prefix, 24);
  EXPECT_THROW(parse_ipv4_cidr("10.77.0.2"), std::invalid_argument);
  EXPECT_THROW(parse_ipv4_cidr("10.77.0.2/31"), std::invalid_argument);
  EXPECT_THROW(parse_ipv4_cidr("10.77.0/24"), std::invalid_argument);
  EXPECT_EQ(format_mac(parse_mac("24:0A:c4:00:ff:01")), "24:0a:c4:00:ff:01");
  EXPECT_THROW(parse_mac("01:00:5e:00:00:01"), std::invalid_argument);  // multicast
  EXPECT_THROW(parse_mac("24:0a:c4:00:ff"), std::invalid_argument);
}

TEST(TapModule, PoolFileTapEntries) {
  const PoolConfig cfg = load_pool_config(write_temp("ok", tap_device("esp32") + "\n" +
                                                           "[[device]]\nname = \"r-01\"\nmodel = \"rtl8710\"\ntap = \"tap1\"\n"
                                                           "ip = \"10.77.0.3/24\"\nmac = \"00:e0:4c:00:00:02\"\n"
                                                           "trust_node_udp = \"10.77.0.1:4000\"\nnvs_dir = \"nvs/r-01\"\n"));
  ASSERT_EQ(cfg.devices.size(), 2u);
  EXPECT_EQ(cfg.devices[0].tap, "tap0");
  EXPECT_EQ(cfg.devices[0].tap_ip, "10.77.0.2/24");
  EXPECT_EQ(cfg.devices[0].tap_mac, "24:0a:c4:00:00:01");
  EXPECT_EQ(cfg.devices[0].trust_node_udp, "10.77.0.1:4000");
  EXPECT_EQ(cfg.devices[0].mode, "soc");
  EXPECT_EQ(cfg.devices[1].model, "rtl8710");
  EXPECT_TRUE(cfg.devices[1].link.empty());
}

TEST(TapModule, PoolFileErrors) {
  EXPECT_EQ(error_of("dps", tap_device("dps")), "3:9: unknown model 'dps'; allowed: esp8266, esp32, rtl8710, rtl8195");
  EXPECT_EQ(error_of("link", tap_device("esp32", "link = \"/dev/pts/3\"\n")),
            "9:8: 'link' does not apply to a TAP module (its link is 'tap')");
  EXPECT_EQ(error_of("ip", tap_device("esp32").replace(tap_device("esp32").find("10.77.0.2/24"), 12, "10.77.0.2")),
            "5:6: 'ip': '10.77.0.2' must be A.B.C.D/P");
  EXPECT_EQ(error_of("mac", tap_device("esp32").replace(tap_device("esp32").find("24:0a"), 17, "ff:ff:ff:ff:ff:ff")),
            "6:7: 'mac': 'ff:ff:ff:ff:ff:ff' is a multicast MAC address");
  EXPECT_EQ(error_of("mac_on_pty", "[[device]]\nname = \"e\"\nmodel = \"esp32\"\nlink = \"/dev/pts/3\"\nmac = \"24:0a:c4:00:00:01\"\n"
                                   "nvs_dir = \"n\"\n"),
            "5:7: 'mac' applies only to a TAP module (tap = \"...\")");
  EXPECT_EQ(error_of("missing_ip", "[[device]]\nname = \"e\"\nmodel = \"esp32\"\ntap = \"tap0\"\nnvs_dir = \"n\"\n"),
            "1:1: missing key 'ip'");
}

TEST(TapModule, MissingInterfaceIsAClearError) {
  EventLog log("/dev/null");
  DeviceSpec spec;
  spec.name = "m-01";
  spec.model = "esp32";
  spec.tap = "iotw-no-such0";
  spec.tap_ip = "10.77.0.2/24";
  spec.tap_mac = "24:0a:c4:00:00:01";
  spec.trust_node_udp = "10.77.0.1:4000";
  spec.nvs_dir = (std::filesystem::temp_directory_path() / "iotw-tap-nvs").string();
  TapModule m(spec, log);
  EXPECT_THROW(TapModule(spec, log), std::logic_error);  // lwIP is process-global: one module per process
  try {
    m.start();
    FAIL() << "started on a missing interface";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("TAP interface 'iotw-no-such0' does not exist"), std::string::npos) << e.what();
  }
}
