// A smart bulb = a Wi-Fi module (ESP32 profile, running the micro-mining firmware) + a DPS chip + an
// LED driver (YeelightBulb). The LED driver is the DPS output's load (LedLoad, led_load.hpp): on -> output on at
// 12 V with a resistance drawing YeelightBulb::power_w(); off -> output off. So energy and on-time, and the usage
// reports, follow what Yeelight clients do. A rail boot (brown-out or power restored) restarts the LED
// driver in its set_default state. As a Device it takes what its DPS chip takes (the firmware's chip faults).
#pragma once
#include <boost/asio.hpp>

#include "dps_chip/dps_device.hpp"
#include "led_load.hpp"
#include "yeelight_bulb.hpp"
#include "yeelight_server.hpp"

namespace iotw::emu {

class SmartBulb : public Device {
 public:
  static constexpr double kLedBusV = LedLoad::kLedBusV;  ///< DPS output voltage feeding the LED driver, V

  SmartBulb(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, const Clock& clock);
  /// Starts the DPS device (and its Modbus TCP if spec.modbus_tcp is set) and, if spec.yeelight /
  /// spec.yeelight_discovery are set, the LAN servers (a `yeelight_listening` {tcp, udp} event when the control
  /// server is on). Throws std::runtime_error.
  void start() override;
  void stop() override;
  /// The bound Modbus TCP endpoint of the bulb's DPS chip (spec.modbus_tcp), "" when not served. After start().
  const std::string& modbus_endpoint() const { return dps_.modbus_endpoint(); }
  /// The bound Yeelight control (TCP) and discovery (UDP) endpoints, "" when off. After start().
  const std::string& yeelight_endpoint() const { return yeelight_; }
  const std::string& discovery_endpoint() const { return discovery_; }

  const std::string& name() const override { return spec_.name; }
  const std::string& model() const override { return spec_.model; }
  DeviceKind kind() const override { return DeviceKind::bulb; }
  std::vector<std::string> control_commands() const override { return dps_.control_commands(); }
  /// The DPS chip's status plus yeelight, discovery, power_w.
  nlohmann::json status() const override;
  nlohmann::json reboot() override { return dps_.reboot(); }
  nlohmann::json hang() override { return dps_.hang(); }
  nlohmann::json clock_skew(int64_t offset_ms, double ppm) override { return dps_.clock_skew(offset_ms, ppm); }
  nlohmann::json clock() override { return dps_.clock(); }

  YeelightBulb& bulb() { return bulb_; }
  DpsDevice& dps() { return dps_; }

 protected:
  std::string refusal_hint(const std::string& cmd) const override;

 private:
  DeviceSpec spec_;
  EventLog& log_;
  DpsDevice dps_;
  YeelightBulb bulb_;
  LedLoad load_;
  YeelightServer server_;
  std::string yeelight_, discovery_;
};

}  // namespace iotw::emu
