// Chip profiles of the Wi-Fi modules the micro-mining firmware was ported to (whitepaper 000: "installed our beta
// software into Espressif wireless LAN chipsets"; issue 4: Espressif ESP8266 / ESP32 and Realtek Ameba RTL8710 /
// RTL8195). It lives in common/ (no Boost, no esp_wifi/ dependency): the device runtime, the DPS / bulb devices,
// the AT engines, the RAM check and the harness's certifier all read it.
// Every figure says its unit and its source; "estimate" marks a figure with no public source and says how it was
// derived (docs/emulators.md "Chip profiles" has the table).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace iotw::emu {

struct ChipProfile {
  std::string model;          ///< "esp8266" | "esp32" | "rtl8710" | "rtl8195"
  std::string chip;           ///< the part modelled: "ESP8266EX", "ESP32-D0WD", "RTL8710BN", "RTL8195AM"
  std::string cpu_core;       ///< "Tensilica L106", "Xtensa LX6", "ARM Cortex-M4F", "ARM Cortex-M3"
  int cpu_mhz;                ///< CPU clock the SDK runs it at, MHz (ESP8266EX datasheet: 80 default; ESP-IDF
                              ///< CONFIG_ESP32_DEFAULT_CPU_FREQ_MHZ 240 as built here; RTL8710BN datasheet: 125;
                              ///< RTL8195AM datasheet: 166)
  int ram_kib;                ///< on-chip data SRAM, KiB (ESP8266EX: 80 KiB DRAM; ESP32: 520; RTL8710BN: 256;
                              ///< RTL8195AM: 512, plus 2 MiB SDRAM in the package)
  uint32_t app_ram_bytes;     ///< data RAM left to the application after the SDK, RTOS and Wi-Fi stack, bytes:
                              ///< the budget the firmware's static RAM is checked against (see ram_budget.hpp)
  uint32_t flash_bytes;       ///< SPI flash of the module, bytes
  uint32_t app_flash_bytes;   ///< the application image's region in that flash, bytes
  uint32_t boot_ms;           ///< reset to the firmware's first instruction (ROM + bootloader + SDK start), ms of
                              ///< the device's clock: the first Hello after a (re)boot leaves no earlier
  // Crypto costs in CPU cycles; times are cycles / cpu_mhz (µs). SHA-256 per 64-byte compression block;
  // Ed25519 (RFC 8032) as the firmware's port does it (libsodium's ref10-derived C on every chip).
  uint32_t sha256_block_cycles;
  uint32_t ed25519_sign_cycles;
  uint32_t ed25519_verify_cycles;
  uint32_t ed25519_keypair_cycles;  ///< seed -> key pair (one fixed-base scalar multiplication), at boot
  bool sha256_hardware;       ///< SHA-256 runs on a hardware accelerator (ESP32), else in software
  std::string fw_version;     ///< reported in Hello
  uint32_t power_on_reset;    ///< reset-reason code for a power-on boot (ESP_RST_POWERON = 1 on every chip)
  /// The ROM/bootloader lines the real chip prints on its log UART at power-on (ESP8266 at 74880 baud; Ameba's
  /// LOG UART at 38400).
  std::vector<std::string> boot_banner;
  // Resets other than power-on (docs/faults.md "Device faults"). Codes reported in Hello are in the ESP-IDF
  // esp_reset_reason_t space (esp_system.h; ESP8266_RTOS_SDK uses the same numbers; the Realtek chips are mapped
  // into it): the banner lines are what the chip itself prints.
  uint32_t sw_reset;          ///< software reset (esp_restart / system_restart / sys_reset): ESP_RST_SW = 3
  std::vector<std::string> sw_reset_banner;
  uint32_t wdt_reset;         ///< the watchdog that catches a hung firmware task: ESP32 ESP_RST_TASK_WDT = 6,
                              ///< ESP8266 ESP_RST_WDT = 7 (its soft WDT), Realtek ESP_RST_WDT = 7 (hardware WDT)
  uint32_t wdt_timeout_ms;    ///< that watchdog's timeout on the chip's clock
  std::string wdt_name;       ///< "task_wdt" | "soft_wdt" | "hw_wdt"
  std::vector<std::string> wdt_reset_banner;

  /// CPU time of SHA-256 over `bytes` bytes (padding included: ceil((bytes + 9) / 64) blocks), µs.
  double sha256_us(size_t bytes) const;
  /// CPU time of one Ed25519 signature / verification / seed key-pair derivation, µs.
  double ed25519_sign_us() const { return static_cast<double>(ed25519_sign_cycles) / cpu_mhz; }
  double ed25519_verify_us() const { return static_cast<double>(ed25519_verify_cycles) / cpu_mhz; }
  double ed25519_keypair_us() const { return static_cast<double>(ed25519_keypair_cycles) / cpu_mhz; }
};

/// Returns the profile for "esp8266", "esp32", "rtl8710" or "rtl8195". Throws std::invalid_argument for any other
/// model.
const ChipProfile& chip_profile(const std::string& model);

/// The models chip_profile() accepts (all four), for error messages.
const std::vector<std::string>& chip_models();

/// The chips whose firmware may run on a serial link in pool mode (esp8266, esp32): the Realtek modules run the
/// firmware only over TAP (SoC) or drive it in AT mode.
const std::vector<std::string>& serial_soc_models();

}  // namespace iotw::emu
