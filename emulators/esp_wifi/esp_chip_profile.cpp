#include "esp_chip_profile.hpp"

#include <stdexcept>

namespace iotw::emu {

namespace {
// Boot ROM output of a power-on reset as printed by the chips' mask ROMs (ESP8266: "ets Jan  8 2013";
// ESP32: "ets Jun  8 2016"), followed by the second-stage bootloader's first lines.
const std::vector<EspChipProfile> kProfiles = {
    {"esp8266", 80, 80, "iotw-fw-0.1", 1,
     {" ets Jan  8 2013,rst cause:1, boot mode:(3,6)", "", "load 0x40100000, len 2592, room 16 ",
      "tail 0", "chksum 0xf3", "load 0x3ffe8000, len 764, room 8 ", "tail 4", "chksum 0x92",
      "csum 0x92"}},
    {"esp32", 240, 520, "iotw-fw-0.1", 1,
     {"ets Jun  8 2016 00:22:57", "", "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
      "configsip: 0, SPIWP:0xee", "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00",
      "mode:DIO, clock div:2", "load:0x3fff0030,len:1184", "entry 0x400805f0"}},
};
}  // namespace

const EspChipProfile& esp_chip_profile(const std::string& model) {
  for (const auto& p : kProfiles)
    if (p.model == model) return p;
  throw std::invalid_argument("unknown model '" + model + "'");
}

const std::vector<std::string>& esp_models() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& p : kProfiles) v.push_back(p.model);
    return v;
  }();
  return names;
}

}  // namespace iotw::emu
