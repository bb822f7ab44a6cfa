// A Wi-Fi module in SoC mode on a serial link (esp8266, esp32): the micro-mining firmware runs on the module's own
// chip (a DeviceRuntime with the model's chip profile), its UART is the device's link (a PTY or tty). As a Device it
// takes every chip fault of the control channel: reboot, hang, clock_skew, clock and power (a bench supply).
#pragma once
#include <boost/asio.hpp>

#include "common/clock.hpp"
#include "common/device.hpp"
#include "common/device_runtime.hpp"
#include "common/event_log.hpp"

namespace iotw::emu {

class SocModule : public Device {
 public:
  /// spec.model one of serial_soc_models() (chip_profile.hpp), spec.link the serial path (or spec.link_fd).
  /// clock: the pool's time (default: a steady clock). Throws std::invalid_argument on an unknown model or behaviour.
  SocModule(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, const Clock* clock = nullptr);

  const std::string& name() const override { return runtime_.name(); }
  const std::string& model() const override { return model_; }
  DeviceKind kind() const override { return DeviceKind::soc_module; }
  /// Opens the link and boots the firmware (DeviceRuntime::start; throws std::runtime_error).
  void start() override { runtime_.start(); }
  void stop() override { runtime_.stop(); }
  std::vector<std::string> control_commands() const override;
  /// Device::status() plus powered, boot_count, reset_reason, hung, node_index (the trust node of spec.links).
  nlohmann::json status() const override;

  nlohmann::json reboot() override;
  nlohmann::json hang() override;
  nlohmann::json clock_skew(int64_t offset_ms, double ppm) override;
  nlohmann::json clock() override;
  nlohmann::json power(Supply state) override;

  DeviceRuntime& runtime() { return runtime_; }

 private:
  std::string model_;
  DeviceRuntime runtime_;
  BenchSupply supply_;
};

}  // namespace iotw::emu
