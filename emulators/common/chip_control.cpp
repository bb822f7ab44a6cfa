#include "chip_control.hpp"

namespace iotw::emu {

nlohmann::json chip_reboot(DeviceRuntime& chip) {
  chip.reboot();
  return {{"reset_reason", chip.reset_reason()}, {"boot_count", chip.boot_count()}, {"clock", chip.clock_json()}};
}

nlohmann::json chip_hang(DeviceRuntime& chip) {
  chip.hang();
  return {{"clock", chip.clock_json()}};
}

nlohmann::json chip_clock_skew(DeviceRuntime& chip, int64_t offset_ms, double ppm) {
  chip.skew_clock(offset_ms, ppm);
  return {{"clock", chip.clock_json()}};
}

nlohmann::json chip_clock(const DeviceRuntime& chip) { return {{"clock", chip.clock_json()}}; }

nlohmann::json chip_power(DeviceRuntime& chip, BenchSupply& supply, Supply state) {
  supply.apply(state, chip.powered(), [&] { chip.power_off(); }, [&](uint32_t why) { chip.power_on(why); });
  nlohmann::json out{{"powered", chip.powered()}, {"clock", chip.clock_json()}};
  if (state == Supply::on) {
    out["reset_reason"] = chip.reset_reason();
    out["boot_count"] = chip.boot_count();
  }
  return out;
}

}  // namespace iotw::emu
