// Sets a DPS chip's input supply from the harness, the way a bench operator would: over Modbus TCP, the
// emulator's VIN_RAMP (0x0101, 0.01 V/s) and VIN (0x0100, 0.01 V) holding registers (docs/dps-register-map.md).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace iotw::harness {

/// Thrown when the chip cannot be reached or refuses a write; what() names the endpoint and the cause.
struct DpsSupplyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The register writes of one supply change, in order: VIN_RAMP (kRampRegister, 0.01 V/s) then VIN (kVinRegister,
/// 0.01 V). set_dps_supply sends them over Modbus TCP; sim mode writes them to the chip's register map.
struct DpsSupplyWrite {
  static constexpr uint16_t kVinRegister = 0x0100, kRampRegister = 0x0101;
  uint16_t ramp;  ///< VIN_RAMP, 0.01 V/s
  uint16_t vin;   ///< VIN, 0.01 V
};
/// vin 0..60 V, ramp 0..655.35 V/s (0 = a step), rounded to the registers' 0.01 units. Throws DpsSupplyError out of range.
DpsSupplyWrite dps_supply_registers(double vin, double ramp_v_per_s);

/// Writes VIN_RAMP = ramp_v_per_s then VIN = vin (FC 06, unit id 1) to the chip at `endpoint`
/// ("127.0.0.1:PORT"). vin 0..60 V, ramp 0..655.35 V/s (0 = a step). Connect and response timeout 2 s each.
/// Throws DpsSupplyError.
void set_dps_supply(const std::string& endpoint, double vin, double ramp_v_per_s);

}  // namespace iotw::harness
