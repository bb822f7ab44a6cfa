// Chip profiles of the Espressif modules the micro-mining firmware was ported to (whitepaper 000:
// "installed our beta software into Espressif wireless LAN chipsets").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace iotw::emu {

struct EspChipProfile {
  std::string model;          ///< "esp8266" | "esp32"
  int cpu_mhz;                ///< default CPU clock, MHz (ESP8266EX datasheet: 80; ESP32 datasheet: 160/240)
  int ram_kib;                ///< on-chip data RAM, KiB (ESP8266EX: ~80 user data RAM; ESP32: 520 SRAM)
  std::string fw_version;     ///< reported in Hello
  uint32_t power_on_reset;    ///< reset-reason code for a power-on boot (ESP8266 rst cause 1, ESP32 0x1)
  /// The ROM/bootloader lines the real chip prints on UART0 at power-on (ESP8266 at 74880 baud).
  std::vector<std::string> boot_banner;
};

/// Returns the profile for "esp8266" or "esp32". Throws std::invalid_argument for any other model.
const EspChipProfile& esp_chip_profile(const std::string& model);

/// The models esp_chip_profile() accepts, for error messages.
const std::vector<std::string>& esp_models();

}  // namespace iotw::emu
