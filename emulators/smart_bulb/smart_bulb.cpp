#include "smart_bulb.hpp"

#include <functional>

namespace iotw::emu {

SmartBulb::SmartBulb(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, const Clock& clock)
    : spec_(spec),
      dps_(io, spec, log, clock),
      bulb_(std::hash<std::string>{}(spec.name)),
      server_(io, bulb_, log, "emu:" + spec.name, [this] { apply_load(); }) {
  dps_.chip().set_voltage(kLedBusV);
  dps_.chip().set_current(1.5);
  dps_.set_on_boot([this] {
    bulb_.power_cycle();
    apply_load();
  });
  apply_load();
}

void SmartBulb::apply_load() {
  const double w = bulb_.power_w();
  if (w > 0) dps_.chip().set_load_ohm(kLedBusV * kLedBusV / w);
  dps_.chip().set_output(w > 0);
}

std::pair<std::string, std::string> SmartBulb::start() {
  modbus_ = dps_.start();
  std::pair<std::string, std::string> out;
  if (!spec_.yeelight.empty()) out.first = server_.listen(spec_.yeelight);
  if (!spec_.yeelight_discovery.empty()) out.second = server_.serve_discovery(spec_.yeelight_discovery);
  return out;
}

void SmartBulb::stop() {
  server_.stop();
  dps_.stop();
}

}  // namespace iotw::emu
