#include "smart_bulb.hpp"

#include <functional>

namespace iotw::emu {

SmartBulb::SmartBulb(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, const Clock& clock)
    : spec_(spec),
      log_(log),
      dps_(io, spec, log, clock),
      bulb_(std::hash<std::string>{}(spec.name)),
      load_(dps_.chip(), bulb_),
      server_(io, bulb_, log, "emu:" + spec.name, [this] { load_.apply(); }) {
  dps_.set_on_boot([this] { load_.power_cycle(); });
}

void SmartBulb::start() {
  dps_.start();
  if (!spec_.yeelight.empty()) yeelight_ = server_.listen(spec_.yeelight);
  if (!spec_.yeelight_discovery.empty()) discovery_ = server_.serve_discovery(spec_.yeelight_discovery);
  if (!yeelight_.empty()) log_.emit("emu:" + spec_.name, "yeelight_listening", {{"tcp", yeelight_}, {"udp", discovery_}});
}

nlohmann::json SmartBulb::status() const {
  nlohmann::json s = dps_.status();
  s["kind"] = kind_name(kind());
  s["yeelight"] = yeelight_;
  s["discovery"] = discovery_;
  s["power_w"] = bulb_.power_w();
  return s;
}

std::string SmartBulb::refusal_hint(const std::string& cmd) const {
  if (cmd == "power")
    return "its supply is its DPS chip's rail: write its VIN register (docs/faults.md brownout, power_loss)";
  if (dps_.control_commands().empty()) return "it runs no firmware (no 'link')";
  return Device::refusal_hint(cmd);
}

void SmartBulb::stop() {
  server_.stop();
  dps_.stop();
}

}  // namespace iotw::emu
