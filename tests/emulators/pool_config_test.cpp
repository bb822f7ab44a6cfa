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
  EXPECT_NE(error_of("m1", head + "model = \"bulb\"\nmodbus_tcp = \"127.0.0.1:1\"\n")
                .find(":6:14: 'modbus_tcp' does not apply to model 'bulb'"),
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
