// The firmware's static RAM against the chip's budget (issue 4, "Chip profiles"; issue 18: measured figures): when
// iotw-emu starts a device whose firmware runs on the emulated chip (SoC mode: a serial link or TAP; dps = ESP8266,
// bulb = ESP32), the RAM the firmware allocates statically plus its worst-case stack, both measured on the cross
// build (common/firmware_footprint.hpp), must fit the data RAM the chip's SDK leaves to the application
// (ChipProfile::app_ram_bytes), else the device is refused before anything is served. AT mode is not checked:
// there the firmware runs on the appliance's own MCU, and the module's RAM belongs to the AT firmware.
// Header-only on the chip side: no Boost, so the harness (`iotw rig check`) links it too.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace iotw::emu {

/// The firmware's RAM on a chip, bytes, as measured on the cross build of the core that stands for the chip
/// (tools/firmware_size_report.py writes common/firmware_footprint.hpp; docs/firmware.md "Size report and budgets"):
/// esp8266 <- lx106, esp32 <- lx106 as its proxy (Debian has no Xtensa LX6 toolchain), rtl8710 <- cortex-m4,
/// rtl8195 <- cortex-m3.
struct FirmwareRam {
  std::string target;  ///< the cross target measured: lx106 | cortex-m4 | cortex-m3
  size_t static_ram;   ///< data + bss of the image: the core's state, the port's buffers, libc's statics
  size_t stack;        ///< the worst-case stack along the call graph (indirect calls and interrupts included)
  size_t total() const { return static_ram + stack; }
};

/// chip_model: esp8266 | esp32 | rtl8710 | rtl8195. Throws std::invalid_argument for any other model.
FirmwareRam firmware_ram(const std::string& chip_model);

struct RamCheck {
  bool applies = false;    ///< false: AT mode (the firmware is not on the module); fits is then true
  bool fits = true;
  std::string chip_model;  ///< the profile checked: esp8266 | esp32 | rtl8710 | rtl8195 (dps -> esp8266, bulb -> esp32)
  size_t needed = 0;       ///< firmware_ram(chip_model).total()
  size_t available = 0;    ///< the profile's app_ram_bytes, or ram_budget_kib * 1024 when that is set
  bool budget_overridden = false;
  /// Empty when it fits; else "DEVICE: the firmware needs N bytes of static RAM but the CHIP (MODEL) leaves M bytes
  /// to the application[ (ram_budget_kib = K)]; refused".
  std::string message;
};

/// device: its name; model: the pool model (esp8266 | esp32 | rtl8710 | rtl8195 | dps | bulb); mode: "soc" | "at";
/// ram_budget_kib: 0 = the profile's budget, else the what-if budget in KiB. Throws std::invalid_argument for an
/// unknown model.
RamCheck check_ram_budget(const std::string& device, const std::string& model, const std::string& mode,
                          uint32_t ram_budget_kib);

}  // namespace iotw::emu
