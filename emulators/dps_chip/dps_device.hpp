// One DPS chip as a device: the PoweredChip (powered_chip.hpp: DpsChip, register map, supply schedule, usage meter)
// on a real-time clock and Asio timers, its register map served over Modbus (TCP and/or RTU on a PTY), and, when the
// spec names a link, the micro-mining firmware (DeviceRuntime) powered from the chip's input rail: a brown-out or
// power loss stops it, the supply's return reboots it with the matching reset reason (NVS kept). Metered output
// energy and on-time go to the trust node as UsageReports every spec.usage_period_ms. Events (docs/events.md):
// "supply", "rail", "usage_report" (PoweredChip's), "modbus_listening", plus the runtime's and the Modbus server's. As a Device it takes the firmware's chip faults (reboot, hang, clock_skew,
// clock) when it runs the firmware; its supply is the chip's rail (the VIN register), not a bench supply.
#pragma once
#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "common/clock.hpp"
#include "common/device.hpp"
#include "common/device_runtime.hpp"
#include "common/event_log.hpp"
#include "dps_chip.hpp"
#include "dps_register_map.hpp"
#include "modbus_server.hpp"
#include "powered_chip.hpp"

namespace iotw::emu {

class DpsDevice : public Device {
 public:
  static constexpr double kNominalInputV = PoweredChip::kNominalInputV;  ///< supply at start, V

  /// spec.link empty: no firmware (a bare chip for a Modbus tool). clock and log must outlive the device.
  DpsDevice(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, const Clock& clock);
  ~DpsDevice() override;
  DpsDevice(const DpsDevice&) = delete;
  DpsDevice& operator=(const DpsDevice&) = delete;

  /// Power the input (kNominalInputV), start Modbus TCP if spec.modbus_tcp is set (a `modbus_listening` {tcp}
  /// event; modbus_endpoint()), the tick and usage timers; the firmware boots on the rail's first boot.
  /// Throws std::runtime_error (link, NVS, listen).
  void start() override;
  /// The bound Modbus TCP address ("127.0.0.1:PORT"), "" when not served. After start().
  const std::string& modbus_endpoint() const { return modbus_tcp_; }
  /// Serve Modbus RTU on a fresh PTY; returns its slave path. Call after start().
  std::string open_rtu_pty() { return modbus_.open_rtu_pty(1); }
  void stop() override;

  const std::string& model() const override { return spec_.model; }
  DeviceKind kind() const override { return DeviceKind::dps; }
  /// reboot, hang, clock_skew, clock when it runs the firmware (a link); none for a bare chip.
  std::vector<std::string> control_commands() const override;
  /// Device::status() plus modbus_tcp, vin, output, firmware (powered, boot_count, reset_reason, node_index)
  /// when it has one.
  nlohmann::json status() const override;
  nlohmann::json reboot() override;
  nlohmann::json hang() override;
  nlohmann::json clock_skew(int64_t offset_ms, double ppm) override;
  nlohmann::json clock() override;

  DpsChip& chip() { return core_.chip(); }
  DpsRegisterMap& registers() { return core_.registers(); }
  ModbusServer& modbus() { return modbus_; }
  DeviceRuntime* firmware() { return runtime_ ? &*runtime_ : nullptr; }
  const std::string& name() const override { return spec_.name; }
  /// Called after every rail boot (after the firmware rebooted), e.g. the bulb's LED driver restart.
  void set_on_boot(std::function<void()> f) { core_.set_on_boot(std::move(f)); }

  /// Bring the model to now, reboot / stop the firmware on rail transitions, refresh the map's firmware
  /// status. Called by the tick timer and before every Modbus request.
  void tick();

 protected:
  /// `power`: the supply is the chip's rail, driven through its VIN register; a bare chip runs no firmware.
  std::string refusal_hint(const std::string& cmd) const override;

 private:
  void arm_tick();
  void arm_usage();
  struct RuntimeFirmware;  ///< the DeviceRuntime as the rail's RailFirmware

  boost::asio::io_context& io_;
  DeviceSpec spec_;
  EventLog& log_;
  const Clock& clock_;
  std::string source_;
  std::string modbus_tcp_;
  PoweredChip core_;
  ModbusServer modbus_;
  std::optional<DeviceRuntime> runtime_;
  std::unique_ptr<RuntimeFirmware> firmware_;
  boost::asio::steady_timer tick_timer_, usage_timer_;
  bool running_ = false;
};

}  // namespace iotw::emu
