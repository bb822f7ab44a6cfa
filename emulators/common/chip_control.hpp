// The control requests of a chip that runs the firmware itself (a DeviceRuntime), for the device kinds that carry
// one: SoC modules, DPS chips and bulbs (docs/emulators.md "Control channel"). Each returns the reply's fields;
// every reply carries `clock` (DeviceRuntime::clock_json). A runtime's std::runtime_error (a chip powered off, NVS
// not writable) passes through: the control channel answers it as an error.
#pragma once
#include <cstdint>

#include <nlohmann/json.hpp>

#include "device.hpp"
#include "device_runtime.hpp"

namespace iotw::emu {

/// Software reset: {reset_reason, boot_count, clock}.
nlohmann::json chip_reboot(DeviceRuntime& chip);
/// The firmware hangs until the chip's watchdog bites: {clock}.
nlohmann::json chip_hang(DeviceRuntime& chip);
/// {clock} after the skew.
nlohmann::json chip_clock_skew(DeviceRuntime& chip, int64_t offset_ms, double ppm);
/// {clock}.
nlohmann::json chip_clock(const DeviceRuntime& chip);
/// The chip's bench supply: the same power_off / power_on a DPS rail's transitions drive. {powered, clock}; after
/// `on` also {reset_reason, boot_count}.
nlohmann::json chip_power(DeviceRuntime& chip, BenchSupply& supply, Supply state);

}  // namespace iotw::emu
