// A smart bulb = a Wi-Fi module (ESP32 profile, running the micro-mining firmware) + a DPS chip + an
// LED driver (YeelightBulb). The LED driver is the DPS output's load: on -> output on at 12 V with a
// resistance drawing YeelightBulb::power_w(); off -> output off. So energy and on-time, and the usage
// reports, follow what Yeelight clients do. A rail boot (brown-out or power restored) restarts the LED
// driver in its set_default state.
#pragma once
#include <boost/asio.hpp>

#include "dps_chip/dps_device.hpp"
#include "yeelight_bulb.hpp"
#include "yeelight_server.hpp"

namespace iotw::emu {

class SmartBulb {
 public:
  static constexpr double kLedBusV = 12.0;  ///< DPS output voltage feeding the LED driver, V

  SmartBulb(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, const Clock& clock);
  /// Starts the DPS device (and its Modbus TCP if spec.modbus_tcp is set) and, if spec.yeelight / spec.yeelight_discovery are set, the LAN servers.
  /// Returns {control endpoint, discovery endpoint} ("" when off). Throws std::runtime_error.
  std::pair<std::string, std::string> start();
  void stop();
  /// The bound Modbus TCP endpoint of the bulb's DPS chip (spec.modbus_tcp), "" when not served. After start().
  const std::string& modbus_endpoint() const { return modbus_; }

  YeelightBulb& bulb() { return bulb_; }
  DpsDevice& dps() { return dps_; }

 private:
  void apply_load();

  DeviceSpec spec_;
  DpsDevice dps_;
  YeelightBulb bulb_;
  YeelightServer server_;
  std::string modbus_;
};

}  // namespace iotw::emu
