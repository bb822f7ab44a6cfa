// A DPS chip as the supply of a device's firmware, sans-IO (time through the one Clock, nothing of its own runs):
// the chip model (DpsChip), its register map, the scripted supply schedule, the firmware powered from the chip's
// input rail (a brown-out or power loss stops it, the supply's return reboots it with the matching reset reason, NVS
// kept) and the usage meter (the output energy and on-time since the last accepted report, as a UsageReport).
// Its owner steps it: DpsDevice on Asio timers in real time (iotw-emu), sim::SimPoweredDevice on the Scheduler in
// simulation mode; the same steps give the same events.
//
// Events (docs/events.md), through the owner's Emit: "supply" {vin, ramp_v_per_s} (a schedule step), "rail" {event:
// "boot" | "brownout" | "power_lost", vin[, reset_reason]} (a rail transition), "usage_report" {seq, energy_mwh,
// on_seconds, period_s} (a report the firmware sent).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/chip_profile.hpp"
#include "common/clock.hpp"
#include "dps_chip.hpp"
#include "dps_register_map.hpp"

namespace iotw::emu {

/// A powered device's defaults (pool file and rig keys usage_period_ms, load_ohm; docs/emulators.md).
inline constexpr int kDefaultUsagePeriodMs = 10000;  ///< ms
inline constexpr double kDefaultLoadOhm = 10.0;      ///< ohm

/// One scripted change of the input supply (pool file / rig `power = [...]`): at_ms after the device started, Vin
/// moves to vin (V; a step, or at ramp_v_per_s V/s when > 0).
struct PowerStep {
  uint64_t at_ms;       ///< after the device started, ms
  double vin;           ///< input supply target, V
  double ramp_v_per_s;  ///< 0 = step
};

/// The Wi-Fi module a DPS chip / bulb carries (its firmware, boot banner and reset codes): an ESP8266
/// (model "dps") or an ESP32 (model "bulb") profile with the device's model name.
const ChipProfile& powered_device_profile(const std::string& model);

/// The firmware a PoweredChip's rail feeds: DeviceRuntime in real time, sim::SimDevice in sim mode.
class RailFirmware {
 public:
  /// The rail's first boot (a power-on).
  virtual void start() = 0;
  /// The rail left RUNNING (brown-out or power lost): the firmware stops, RAM is lost.
  virtual void power_off() = 0;
  /// The rail is back: boot with reset_reason (IOTW_RESET_POWERON or IOTW_RESET_BROWNOUT).
  virtual void power_on(uint32_t reset_reason) = 0;
  /// iotw_fw_report_usage: the seq used, 0 when off or not attached, < 0 on an error.
  virtual int64_t report_usage(uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s) = 0;
  /// What the register map's firmware block shows (all zero when off).
  virtual FirmwareStatus status() const = 0;

 protected:
  ~RailFirmware() = default;
};

class PoweredChip {
 public:
  static constexpr double kNominalInputV = 24.0;  ///< supply at start, V
  /// A device event: kind and fields (the owner adds source and time).
  using Emit = std::function<void(const char* kind, nlohmann::json fields)>;

  /// The chip at 12 V / 2 A into load_ohm (ohm), output on at every boot (S-INI = 1: an appliance's supply comes up
  /// on), its rail at 0 V until start(). `schedule`: in at_ms order. modbus_off_by_one: the register map's defect
  /// (device_behaviour.hpp). clock must outlive the chip.
  PoweredChip(const Clock& clock, Emit emit, std::vector<PowerStep> schedule, double load_ohm, bool modbus_off_by_one);
  PoweredChip(const PoweredChip&) = delete;
  PoweredChip& operator=(const PoweredChip&) = delete;

  /// The firmware the rail feeds (null, the default: a bare chip). Set before start(); must outlive the chip.
  void set_firmware(RailFirmware* fw) { fw_ = fw; }
  /// Called after every rail boot (after the firmware booted), e.g. the bulb's LED driver restart.
  void set_on_boot(std::function<void()> f) { on_boot_ = std::move(f); }

  /// Powers the input (kNominalInputV) and ticks: the firmware boots on the rail's first boot. The schedule's at_ms
  /// count from here.
  void start();
  /// Applies the schedule's due steps, brings the chip to now, stops / boots the firmware on rail transitions
  /// (events "supply", "rail"), refreshes the map's firmware block. Call every 20 ms and before a register access.
  void tick();
  /// The output energy (mWh) and on-time (s) metered since the last accepted report go to the firmware as one
  /// UsageReport (event "usage_report"); nothing when nothing was used, no firmware, or the firmware did not send it
  /// (not attached: the usage goes into the next report). Call tick() first.
  void report_usage();

  DpsChip& chip() { return chip_; }
  const DpsChip& chip() const { return chip_; }
  DpsRegisterMap& registers() { return map_; }
  RailFirmware* firmware() const { return fw_; }

 private:
  const Clock& clock_;
  Emit emit_;
  std::vector<PowerStep> schedule_;
  DpsChip chip_;
  DpsRegisterMap map_;
  RailFirmware* fw_ = nullptr;
  std::function<void()> on_boot_;
  uint64_t started_ms_ = 0;
  size_t next_step_ = 0;
  bool firmware_started_ = false;
  uint64_t reported_mwh_ = 0, reported_on_s_ = 0, last_report_ms_ = 0;
};

}  // namespace iotw::emu
