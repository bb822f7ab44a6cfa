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
