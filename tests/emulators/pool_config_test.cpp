// iotw-emu pool files: valid files load; every mistake names file:line and what is allowed.
#include <gtest/gtest.h>

#include <fstream>

#include "pool_config.hpp"

namespace {

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  auto p = std::filesystem::temp_directory_path() / ("iotw_pool_" + name + ".toml");
  std::ofstream(p) << text;
  return p;
}

std::string error_of(const std::string& name, const std::string& text) {
  try {
    iotw::emu::load_pool_config(write_temp(name, text));
  } catch (const iotw::emu::PoolConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(PoolConfig, LoadsDevicesWithDefaults) {
  auto cfg = iotw::emu::load_pool_config(write_temp("ok", R"(events = "e.jsonl"
[[device]]
name = "esp-01"
model = "esp8266"
link = "/dev/pts/9"
nvs_dir = "nvs/esp-01"
[[device]]
name = "esp-02"
model = "esp32"
link = "/dev/pts/10"
nvs_dir = "nvs/esp-02"
behaviour = "invert_verdict"
)"));
  ASSERT_EQ(cfg.devices.size(), 2u);
  EXPECT_EQ(cfg.events, "e.jsonl");
  EXPECT_EQ(cfg.devices[0].behaviour, "honest");
  EXPECT_EQ(cfg.devices[0].baud, 115200);
  EXPECT_EQ(cfg.devices[1].behaviour, "invert_verdict");
}

TEST(PoolConfig, ErrorsNameFileLineAndAllowedValues) {
  const std::string dev = "[[device]]\nname = \"a\"\nlink = \"/dev/null\"\nnvs_dir = \"n\"\n";
  auto e = error_of("model", dev + "model = \"esp33\"\n");
  EXPECT_NE(e.find("iotw_pool_model.toml:5:"), std::string::npos) << e;
  EXPECT_NE(e.find("allowed: esp8266, esp32"), std::string::npos) << e;

  e = error_of("key", dev + "model = \"esp32\"\nbaudrate = 9600\n");
  EXPECT_NE(e.find(":6:"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'baudrate'"), std::string::npos) << e;

  e = error_of("behaviour", dev + "model = \"esp32\"\nbehaviour = \"evil\"\n");
  EXPECT_NE(e.find("allowed: honest, invert_verdict, wrong_hash"), std::string::npos) << e;
  // A mutant of a layer the device does not have (device_behaviour.hpp) names its line and why.
  e = error_of("layer", dev + "model = \"esp32\"\nbehaviour = \"modbus_off_by_one\"\n");
  EXPECT_NE(e.find(":6:"), std::string::npos) << e;
  EXPECT_NE(e.find("Modbus map; model 'esp32' has none"), std::string::npos) << e;

  e = error_of("dup", dev + "model = \"esp32\"\n" + dev + "model = \"esp32\"\n");
  EXPECT_NE(e.find("duplicate device name 'a'"), std::string::npos) << e;

  e = error_of("syntax", "[[device]\n");
  EXPECT_NE(e.find("iotw_pool_syntax.toml:1:"), std::string::npos) << e;

  EXPECT_NE(error_of("empty", "events = \"x\"\n").find("no [[device]]"), std::string::npos);
}

TEST(PoolConfig, LoadsDpsAndBulbKeysAndThePowerScript) {
  auto cfg = iotw::emu::load_pool_config(write_temp("powered", R"([[device]]
name = "dps-01"
model = "dps"
link = "/dev/pts/9"
nvs_dir = "nvs/dps-01"
usage_period_ms = 2000
load_ohm = 4.5
modbus_tcp = "127.0.0.1:0"
power = [ { at_ms = 100, vin = 4.0 }, { at_ms = 600, vin = 24, ramp_v_per_s = 2.5 } ]
[[device]]
name = "bulb-01"
model = "bulb"
link = "/dev/pts/10"
nvs_dir = "nvs/bulb-01"
yeelight = "127.0.0.1:55443"
)"));
  ASSERT_EQ(cfg.devices.size(), 2u);
  const auto& d = cfg.devices[0];
  EXPECT_EQ(d.usage_period_ms, 2000);
  EXPECT_DOUBLE_EQ(d.load_ohm, 4.5);
  EXPECT_EQ(d.modbus_tcp, "127.0.0.1:0");
  ASSERT_EQ(d.power.size(), 2u);
  EXPECT_EQ(d.power[1].at_ms, 600u);
  EXPECT_DOUBLE_EQ(d.power[1].vin, 24.0);
  EXPECT_DOUBLE_EQ(d.power[1].ramp_v_per_s, 2.5);
  EXPECT_EQ(cfg.devices[1].yeelight, "127.0.0.1:55443");
  EXPECT_EQ(cfg.devices[1].usage_period_ms, 10000);
}

TEST(PoolConfig, PoweredModelKeysAreCheckedWithFileAndLine) {
  const std::string head = "[[device]]\nname = \"d\"\nlink = \"/dev/pts/1\"\nnvs_dir = \"n\"\n";
  EXPECT_NE(error_of("m1", head + "model = \"bulb\"\nload_ohm = 5.0\n")
                .find(":6:12: 'load_ohm' does not apply to model 'bulb'"),
            std::string::npos);
  EXPECT_NE(error_of("m2", head + "model = \"esp32\"\npower = []\n").find(":6:9: 'power' does not apply"),
            std::string::npos);
  EXPECT_NE(error_of("m3", head + "model = \"dps\"\nmodbus_tcp = \"localhost:1\"\n").find("not A.B.C.D:PORT"),
            std::string::npos);
  EXPECT_NE(error_of("m4", head + "model = \"dps\"\nusage_period_ms = 5\n").find("allowed range 100.."),
            std::string::npos);
  EXPECT_NE(error_of("m5", head + "model = \"dps\"\npower = [ { at_ms = 5, vin = 99 } ]\n").find("'vin' is"),
            std::string::npos);
  EXPECT_NE(error_of("m6", head + "model = \"dps\"\npower = [ { at_ms = 5, volts = 1 } ]\n")
                .find("unknown key 'volts' in a 'power' step"),
            std::string::npos);
  EXPECT_NE(error_of("m7", head + "model = \"dps\"\npower = [ { at_ms = 9, vin = 1 }, { at_ms = 5, vin = 2 } ]\n")
                .find("at_ms order"),
            std::string::npos);
  EXPECT_NE(error_of("m8", head + "model = \"dps9\"\n").find("allowed: esp8266, esp32, dps, bulb"), std::string::npos);
}

TEST(PoolConfig, AtModeDevicesTakeTheTrustNodesUdpEndpointAndTheAccessPoint) {
  auto cfg = iotw::emu::load_pool_config(write_temp("at", R"([access_point]
ssid = "rig-ap"
password = "rig-pass-123"
channel = 11
[[device]]
name = "app-01"
model = "rtl8710"
mode = "at"
trust_node_udp = "127.0.0.1:4000"
nvs_dir = "nvs/app-01"
[[device]]
name = "app-02"
model = "esp8266"
mode = "at"
trust_node_udp = "127.0.0.1:4000"
nvs_dir = "nvs/app-02"
baud = 921600
behaviour = "wrong_hash"
)"));
  ASSERT_EQ(cfg.devices.size(), 2u);
  EXPECT_EQ(cfg.access_point.ssid, "rig-ap");
  EXPECT_EQ(cfg.access_point.password, "rig-pass-123");
  EXPECT_EQ(cfg.access_point.channel, 11);
  EXPECT_EQ(cfg.devices[0].mode, "at");
  EXPECT_EQ(cfg.devices[0].trust_node_udp, "127.0.0.1:4000");
  EXPECT_EQ(cfg.devices[0].baud, 0) << "the module's default (38400 Realtek)";
  EXPECT_TRUE(cfg.devices[0].link.empty());
  EXPECT_EQ(cfg.devices[1].baud, 921600);
  EXPECT_EQ(cfg.devices[1].behaviour, "wrong_hash");
}

TEST(PoolConfig, AtModeMistakesNameTheLine) {
  const std::string head = "[[device]]\nname = \"d\"\nnvs_dir = \"n\"\n";
  const std::string at = head + "mode = \"at\"\n";
  EXPECT_NE(error_of("a1", at + "model = \"rtl8710\"\n").find("missing key 'trust_node_udp'"), std::string::npos);
  EXPECT_NE(error_of("a2", at + "model = \"rtl8710\"\ntrust_node_udp = \"10.0.0.1:5\"\n")
                .find(":6:18: 'trust_node_udp': must be a loopback IPv4 address"),
            std::string::npos);
  EXPECT_NE(error_of("a3", at + "model = \"esp32\"\ntrust_node_udp = \"127.0.0.1:5\"\nlink = \"/dev/pts/1\"\n")
                .find(":7:8: 'link' does not apply to mode 'at'"),
            std::string::npos);
  EXPECT_NE(error_of("a4", at + "model = \"dps\"\ntrust_node_udp = \"127.0.0.1:5\"\n")
                .find("allowed: esp8266, esp32, rtl8710, rtl8195"),
            std::string::npos);
  EXPECT_NE(error_of("a5", head + "model = \"rtl8195\"\nlink = \"/dev/pts/1\"\n").find("runs only in AT mode"),
            std::string::npos);
  EXPECT_NE(error_of("a6", head + "mode = \"tap\"\nmodel = \"esp32\"\n").find("allowed: soc, at"), std::string::npos);
  // a SoC module reaches its trust node over its serial link or over UDP (soc_udp_test.cpp), not both
  EXPECT_NE(error_of("a7", head + "model = \"esp32\"\nlink = \"/dev/pts/1\"\ntrust_node_udp = \"127.0.0.1:5\"\n")
                .find("'link' and 'trust_node_udp' exclude each other"),
            std::string::npos);
  EXPECT_NE(error_of("a8", "[access_point]\nssid = \"x\"\npassword = \"short\"\n" + at +
                               "model = \"esp32\"\ntrust_node_udp = \"127.0.0.1:5\"\n")
                .find(":3:12: password must be empty (open) or 8..64 characters"),
            std::string::npos);
}

TEST(PoolConfig, NodePubkeyIsCopiedIntoEveryDeviceAndMalformedOnesNameTheLine) {
  const std::string devs = R"(
[[device]]
name = "esp-01"
model = "esp8266"
link = "/dev/pts/9"
nvs_dir = "n1"
[[device]]
name = "rtl-01"
model = "rtl8710"
mode = "at"
trust_node_udp = "127.0.0.1:4000"
nvs_dir = "n2"
)";
  const std::string hex = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
  auto cfg = iotw::emu::load_pool_config(write_temp("pk_ok", "node_pubkey = \"" + hex + "\"\n" + devs));
  ASSERT_TRUE(cfg.node_pubkey);
  EXPECT_EQ((*cfg.node_pubkey)[0], 0x00);
  EXPECT_EQ((*cfg.node_pubkey)[10], 0xaa);
  EXPECT_EQ((*cfg.node_pubkey)[31], 0xff);
  ASSERT_EQ(cfg.devices.size(), 2u);
  for (const auto& d : cfg.devices) EXPECT_EQ(d.node_pubkey, cfg.node_pubkey) << d.name;

  auto none = iotw::emu::load_pool_config(write_temp("pk_none", devs));
  EXPECT_FALSE(none.node_pubkey);
  EXPECT_FALSE(none.devices[0].node_pubkey) << "no key: light verification off";

  for (const std::string& bad : std::vector<std::string>{"\"" + hex.substr(2) + "\"", "\"" + hex.substr(1) + "g\"", "\"" + hex + "00\"", "42"}) {
    const auto e = error_of("pk_bad", "events = \"e\"\nnode_pubkey = " + bad + "\n" + devs);
    EXPECT_NE(e.find("iotw_pool_pk_bad.toml:2:"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find("node_pubkey"), std::string::npos) << e;
  }
}

TEST(PoolConfig, CollusionTableReachesEveryDevice) {
  auto cfg = iotw::emu::load_pool_config(write_temp("coll", R"([collusion]
witnesses = 2
[[device]]
name = "c-01"
model = "esp32"
link = "/dev/pts/9"
nvs_dir = "nvs/c-01"
behaviour = "collude_all_slots"
[[device]]
name = "w-01"
model = "esp32"
link = "/dev/pts/10"
nvs_dir = "nvs/w-01"
behaviour = "wrong_key"
)"));
  ASSERT_EQ(cfg.devices.size(), 2u);
  EXPECT_EQ(cfg.devices[0].behaviour, "collude_all_slots");
  EXPECT_EQ(cfg.devices[0].collusion_witnesses, 2u);
  EXPECT_EQ(cfg.devices[0].collusion_window_ms, 50u);
  EXPECT_EQ(cfg.devices[1].behaviour, "wrong_key");
  const std::string dev = "[[device]]\nname = \"a\"\nmodel = \"esp32\"\nlink = \"/dev/pts/9\"\nnvs_dir = \"n\"\n";
  EXPECT_NE(error_of("coll2", "[collusion]\nwitnesses = 0\n" + dev).find(":2:13: 'witnesses' is 0; allowed range 1..64"),
            std::string::npos)
      << error_of("coll2", "[collusion]\nwitnesses = 0\n" + dev);
  EXPECT_NE(error_of("coll3", "[collusion]\nn = 2\n" + dev).find("unknown key 'n'"), std::string::npos);
  for (const char* b : {"verdict_other_hash", "replay_attestation", "wrong_key", "collude_all_slots"})
    EXPECT_EQ(error_of(std::string("b-") + b, dev + "behaviour = \"" + b + "\"\n"), "") << b;
}

TEST(PoolConfig, AtModeTakesTrustNodeTcpInsteadOfUdp) {
  const std::string head = "[[device]]\nname = \"d\"\nnvs_dir = \"n\"\n";
  const std::string at = head + "mode = \"at\"\n";
  const auto cfg = iotw::emu::load_pool_config(write_temp("t0", at + "model = \"rtl8710\"\ntrust_node_tcp = \"127.0.0.1:4001\"\n"));
  ASSERT_EQ(cfg.devices.size(), 1u);
  EXPECT_EQ(cfg.devices[0].trust_node_tcp, "127.0.0.1:4001");
  EXPECT_EQ(cfg.devices[0].trust_node_udp, "");
  EXPECT_NE(error_of("t1", at + "model = \"esp32\"\ntrust_node_tcp = \"10.0.0.1:5\"\n")
                .find(":6:18: 'trust_node_tcp': must be a loopback IPv4 address"),
            std::string::npos);
  EXPECT_NE(error_of("t2", at + "model = \"esp32\"\ntrust_node_udp = \"127.0.0.1:5\"\ntrust_node_tcp = \"127.0.0.1:6\"\n")
                .find(":7:18: 'trust_node_tcp' and 'trust_node_udp' exclude each other"),
            std::string::npos);
  EXPECT_NE(error_of("t3", head + "model = \"esp32\"\nlink = \"/dev/pts/1\"\ntrust_node_tcp = \"127.0.0.1:5\"\n")
                .find(":6:18: 'trust_node_tcp' applies only to mode = \"at\""),
            std::string::npos);
}

TEST(PoolConfig, AnyModelTakesAnOptionalSeedOf64HexCharacters) {
  const std::string dev = "[[device]]\nname = \"esp-01\"\nmodel = \"esp32\"\nlink = \"/dev/pts/9\"\nnvs_dir = \"n\"\n";
  const std::string seed(64, 'a');
  auto cfg = iotw::emu::load_pool_config(write_temp("seeded", dev + "seed = \"" + seed + "\"\n"));
  EXPECT_EQ(cfg.devices[0].seed, seed);
  cfg = iotw::emu::load_pool_config(write_temp("unseeded", dev));
  EXPECT_EQ(cfg.devices[0].seed, "") << "no seed: the OS's randomness";
  EXPECT_NE(error_of("badseed", dev + "seed = \"abc\"\n").find("'seed' must be 64 hex characters"), std::string::npos);
}

TEST(PoolConfig, LinksListsOneSerialLinkPerTrustNodeInFailoverOrder) {
  auto cfg = iotw::emu::load_pool_config(write_temp("links", R"([[device]]
name = "esp-01"
model = "esp8266"
links = ["/dev/pts/9", "/dev/pts/10", "/dev/pts/11"]
nvs_dir = "n1"
[[device]]
name = "dps-01"
model = "dps"
links = ["/dev/pts/12", "/dev/pts/13"]
nvs_dir = "n2"
[[device]]
name = "esp-02"
model = "esp32"
link = "/dev/pts/14"
nvs_dir = "n3"
)"));
  ASSERT_EQ(cfg.devices.size(), 3u);
  EXPECT_EQ(cfg.devices[0].links, (std::vector<std::string>{"/dev/pts/9", "/dev/pts/10", "/dev/pts/11"}));
  EXPECT_EQ(cfg.devices[0].link, "/dev/pts/9");  // the first trust node's
  EXPECT_EQ(cfg.devices[1].links.size(), 2u);
  EXPECT_TRUE(cfg.devices[2].links.empty());  // one trust node
  EXPECT_EQ(cfg.devices[2].link, "/dev/pts/14");
}

TEST(PoolConfig, LinkAndLinksMistakesNameTheLine) {
  const std::string dev = "[[device]]\nname = \"a\"\nmodel = \"esp32\"\nnvs_dir = \"n\"\n";
  auto e = error_of("both", dev + "link = \"/dev/pts/1\"\nlinks = [\"/dev/pts/1\", \"/dev/pts/2\"]\n");
  EXPECT_NE(e.find("iotw_pool_both.toml:5:"), std::string::npos) << e;
  EXPECT_NE(e.find("'link' and 'links' exclude each other"), std::string::npos) << e;

  e = error_of("neither", dev);
  EXPECT_NE(e.find("iotw_pool_neither.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("missing key 'link'"), std::string::npos) << e;

  e = error_of("empty_links", dev + "links = []\n");
  EXPECT_NE(e.find(":5:"), std::string::npos) << e;
  EXPECT_NE(e.find("array of 1..255 serial paths"), std::string::npos) << e;

  e = error_of("not_string", dev + "links = [\n  \"/dev/pts/1\",\n  7,\n]\n");
  EXPECT_NE(e.find(":7:"), std::string::npos) << e;
  EXPECT_NE(e.find("non-empty strings"), std::string::npos) << e;

  e = error_of("twice", dev + "links = [\"/dev/pts/1\", \"/dev/pts/1\"]\n");
  EXPECT_NE(e.find("names '/dev/pts/1' twice"), std::string::npos) << e;

  e = error_of("at_links", "[[device]]\nname = \"a\"\nmodel = \"esp32\"\nnvs_dir = \"n\"\nmode = \"at\"\n"
                           "trust_node_udp = \"127.0.0.1:5000\"\nlinks = [\"/dev/pts/1\"]\n");
  EXPECT_NE(e.find(":7:"), std::string::npos) << e;
  EXPECT_NE(e.find("'links' does not apply to mode 'at'"), std::string::npos) << e;

  e = error_of("qemu_links", "[[device]]\nname = \"q\"\nmodel = \"qemu-cortex-m3\"\nnvs_dir = \"n\"\nimage = \"x.elf\"\n"
                             "seed = \"" + std::string(64, 'a') + "\"\nlinks = [\"/dev/pts/1\", \"/dev/pts/2\"]\n");
  EXPECT_NE(e.find(":7:"), std::string::npos) << e;
  EXPECT_NE(e.find("'links' does not apply to model 'qemu-cortex-m3'"), std::string::npos) << e;
}
