#include "soc_module.hpp"

#include "common/chip_control.hpp"
#include "common/chip_profile.hpp"

namespace iotw::emu {

SocModule::SocModule(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, const Clock* clock)
    : model_(spec.model), runtime_(io, std::move(spec), chip_profile(model_), log, clock) {}

std::vector<std::string> SocModule::control_commands() const { return {"reboot", "hang", "clock_skew", "clock", "power"}; }

nlohmann::json SocModule::status() const {
  nlohmann::json s = Device::status();
  s["powered"] = runtime_.powered();
  s["boot_count"] = runtime_.boot_count();
  s["reset_reason"] = runtime_.reset_reason();
  s["hung"] = runtime_.hung();
  s["node_index"] = runtime_.node_index();  // the trust node it talks to (docs/emulators.md `links`)
  return s;
}

nlohmann::json SocModule::reboot() { return chip_reboot(runtime_); }
nlohmann::json SocModule::hang() { return chip_hang(runtime_); }
nlohmann::json SocModule::clock_skew(int64_t offset_ms, double ppm) { return chip_clock_skew(runtime_, offset_ms, ppm); }
nlohmann::json SocModule::clock() { return chip_clock(runtime_); }
nlohmann::json SocModule::power(Supply state) { return chip_power(runtime_, supply_, state); }

}  // namespace iotw::emu
