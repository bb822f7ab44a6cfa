// The firmware's static RAM against the chip's budget (issue 4, "Chip profiles"): when iotw-emu starts a device
// whose firmware runs on the emulated chip (SoC mode: a serial link or TAP; dps = ESP8266, bulb = ESP32), the RAM the
// firmware allocates statically must fit the data RAM the chip's SDK leaves to the application
// (EspChipProfile::app_ram_bytes), else the device is refused before anything is served. AT mode is not checked:
// there the firmware runs on the appliance's own MCU, and the module's RAM belongs to the AT firmware.
// Header-only on the chip side: no Boost, so the harness (`iotw rig check`) links it too.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace iotw::emu {

/// The firmware's static RAM, bytes: what a chip build allocates before the first instruction runs.
struct FirmwareStaticRam {
  size_t core_state;     ///< sizeof(iotw_fw): the core's whole state (firmware.h: "sizeof(iotw_fw) is its static
                         ///< RAM"; measured on this host, an upper bound for a 32-bit chip's pointers)
  size_t port;           ///< sizeof(iotw_port) + the port's receive buffer (kPortRxBufferBytes)
  size_t stack_reserve;  ///< the firmware task's stack (kStackReserveBytes)
  size_t total() const { return core_state + port + stack_reserve; }
};

/// The port's receive buffer: one read of the UART (DeviceRuntime's 512-byte buffer) or one datagram.
inline constexpr size_t kPortRxBufferBytes = 512;
/// The firmware task's stack: firmware.h "about 12 KB for iotw_fw_on_rx while a seed is handled" (libsodium's scalar
/// multiplication under the ECVRF prove; docs/vrf.md), rounded to 12 KiB.
inline constexpr size_t kStackReserveBytes = 12 * 1024;

FirmwareStaticRam firmware_static_ram();

struct RamCheck {
  bool applies = false;    ///< false: AT mode (the firmware is not on the module); fits is then true
  bool fits = true;
  std::string chip_model;  ///< the profile checked: esp8266 | esp32 | rtl8710 | rtl8195 (dps -> esp8266, bulb -> esp32)
  size_t needed = 0;       ///< firmware_static_ram().total()
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
