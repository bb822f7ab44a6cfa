// A powered device in simulation mode (docs/simulation.md "Devices"): a DPS chip (model "dps") or a smart bulb (model
// "bulb": the same chip with the LED driver as its load), stepped on the Scheduler with the models iotw-emu's DpsDevice
// and SmartBulb run in real time (emulators/dps_chip/powered_chip.hpp: DpsChip, PowerRail, the register map, the
// supply schedule, the usage meter; smart_bulb/led_load.hpp: YeelightBulb as the chip's load), its firmware a SimDevice
// powered from the chip's input rail: a brown-out or power loss stops it, the supply's return reboots it with the
// matching reset reason (IOTW_RESET_BROWNOUT, IOTW_RESET_POWERON), NVS kept.
//
// No sockets: no Modbus TCP/RTU server and no Yeelight LAN server. The harness's supply changes (the brownout and
// power_loss faults) are the two register writes dps_supply.cpp sends over Modbus TCP, written straight to the
// register map; a bulb's LED stays in its power-on state (on, 100 %) unless a power cycle restores its default.
// Nothing reads an OS clock, starts a thread or draws OS randomness.
//
// Events (source "emu:<name>", iotw-emu's shapes): "supply", "rail", "usage_report" (PoweredChip's) and the
// firmware's ("boot_banner", "reset", "state", "log", ...).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "collusion_board.hpp"
#include "dps_chip/powered_chip.hpp"
#include "iotw/harness/rig_spec.hpp"
#include "iotw/sim/event_stream.hpp"
#include "iotw/support/scheduler.hpp"
#include "iotw/sim/sim_device.hpp"

namespace iotw::sim {

struct SimPoweredConfig {
  /// The firmware, as for a SimDevice. Its behaviour may also be a Modbus-layer one (modbus_off_by_one, model dps):
  /// that is the register map's defect and the firmware runs honest.
  SimDeviceConfig device;
  std::string model = "dps";         ///< "dps" | "bulb"
  harness::PoweredSettings powered;  ///< the rig's usage_period_ms, load_ohm (dps), power; absent = iotw-emu's defaults
};

class SimPoweredDevice {
 public:
  static constexpr std::uint64_t kTickNs = 20'000'000;  ///< the chip's tick (DpsDevice's 20 ms), ns

  /// The firmware's profile is emu::powered_device_profile(model); `send` is its link, `board` the run's collusion
  /// board. Throws std::invalid_argument for an unknown model or a behaviour neither the firmware nor the chip has,
  /// std::runtime_error when libsodium cannot start. Every reference must outlive the device.
  SimPoweredDevice(Scheduler& sched, EventStream& events, SimPoweredConfig cfg, emu::CollusionBoard& board,
                   SimDevice::Send send);
  SimPoweredDevice(const SimPoweredDevice&) = delete;
  SimPoweredDevice& operator=(const SimPoweredDevice&) = delete;
  ~SimPoweredDevice();

  /// Powers the input (24 V): the firmware boots on the rail's first boot. From here on the device steps itself on
  /// the scheduler: every kTickNs the chip (the power schedule, whose at_ms count from now; rail transitions) and
  /// then the firmware's housekeeping (SimDevice::tick); every usage_period_ms a usage report of the metered output.
  void start();
  /// Bytes from the link, to the firmware (dropped while it is unpowered).
  void on_rx(const std::uint8_t* bytes, std::size_t len, std::size_t node = 0) { fw_.on_rx(bytes, len, node); }
  /// The harness's supply: VIN_RAMP then VIN written to the register map (the chip ticked before each, as before a
  /// Modbus request); vin in V (0..60), ramp_v_per_s in V/s (0..655.35, 0 = a step). The rail reacts from the next
  /// tick on. Throws harness::DpsSupplyError out of range.
  void set_supply(double vin, double ramp_v_per_s);

  /// The firmware: device faults (reboot, hang, skew_clock), clock_json, state.
  SimDevice& firmware() { return fw_; }
  const SimDevice& firmware() const { return fw_; }
  emu::PoweredChip& chip() { return chip_; }
  const std::string& name() const { return fw_.name(); }
  const std::string& model() const { return model_; }

 private:
  struct Firmware;  ///< the SimDevice as the rail's RailFirmware
  struct Bulb;      ///< a bulb's LED driver and load
  void tick();
  void report_usage();

  Scheduler& sched_;
  std::string model_;
  std::uint64_t usage_period_ns_;
  SimDevice fw_;
  emu::PoweredChip chip_;
  std::unique_ptr<Firmware> rail_fw_;
  std::unique_ptr<Bulb> bulb_;
};

}  // namespace iotw::sim
