// The DPS chip's Modbus register map (docs/dps-register-map.md): RDTech DPS5005 holding registers
// (0x0000-0x000C live, 0x0050-0x0057 data group M0), an emulator control block (0x0100-0x0103: input
// supply, ramp, load, hold-up) and an input-register energy-metering block (FC 04, 0x0000-0x0013).
// Sans-IO: it validates requests (Modbus exception codes) and maps registers to DpsChip; the transport
// (ModbusServer, libmodbus) lives elsewhere.
#pragma once
#include <array>
#include <cstdint>

#include "dps_chip.hpp"

namespace iotw::emu {

/// Modbus Application Protocol V1.1b3 exception codes this map returns (0 = accept).
enum class ModbusException : uint8_t { kNone = 0, kIllegalFunction = 1, kIllegalAddress = 2, kIllegalValue = 3 };

/// What the firmware reports, for the input block (set by the device after each boot / tick).
struct FirmwareStatus {
  uint16_t reset_reason = 0;       ///< IOTW_RESET_* of the last boot (0 = no firmware / off)
  uint16_t state = 0;              ///< iotw_fw_state
  uint16_t boot_count = 0;         ///< low 16 bits of NVS boot.count
  std::array<uint8_t, 8> id{};     ///< first 8 bytes of the device's Ed25519 public key
};

class DpsRegisterMap {
 public:
  static constexpr uint16_t kHoldingCount = 0x0104;  ///< holding addresses 0..0x0103 (with holes)
  static constexpr uint16_t kInputCount = 0x0014;    ///< input addresses 0..0x0013
  static constexpr uint16_t kModel = 5005, kVersion = 17;

  explicit DpsRegisterMap(DpsChip& chip) : chip_(chip) {}

  /// FC 03 / 04: kIllegalFunction for any other fc; kIllegalValue for count 0 or > 125; kIllegalAddress
  /// if any address in [addr, addr + count) is not in the map for that fc.
  ModbusException check_read(uint8_t fc, uint16_t addr, uint16_t count) const;
  /// FC 06 / 16: kIllegalAddress if any address is undefined or read-only; kIllegalValue if a value is
  /// out of its range (docs/dps-register-map.md). All-or-nothing: nothing is written on an exception.
  ModbusException check_write(uint16_t addr, const uint16_t* values, uint16_t count) const;
  /// Register value now (the chip is advanced by the caller). Undefined addresses read 0. With
  /// set_off_by_one(true) address a reads what a + 1 holds.
  uint16_t holding(uint16_t addr) const { return holding_at(static_cast<uint16_t>(addr + shift_)); }
  uint16_t input(uint16_t addr) const { return input_at(static_cast<uint16_t>(addr + shift_)); }
  /// Apply one checked write to the chip.
  void write(uint16_t addr, uint16_t value);
  /// Copy the whole map into libmodbus-style tables of kHoldingCount / kInputCount registers.
  void fill(uint16_t* holding_regs, uint16_t* input_regs) const;

  void set_firmware_status(const FirmwareStatus& s) { fw_ = s; }
  /// The mutant modbus_off_by_one (device_behaviour.hpp): every read (FC 03 / 04) is served from the next
  /// address, as firmware that indexes its register table from 1 does; the address checks and writes are not
  /// shifted, so no request that was legal gets an exception.
  void set_off_by_one(bool on) { shift_ = on ? 1 : 0; }

 private:
  uint16_t holding_at(uint16_t addr) const;
  uint16_t input_at(uint16_t addr) const;
  uint16_t shift_ = 0;
  DpsChip& chip_;
  FirmwareStatus fw_;
  uint16_t lock_ = 0, backlight_ = 4, preset_ = 0, ramp_ = 0;
};

}  // namespace iotw::emu
