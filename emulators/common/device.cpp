#include "device.hpp"

#include <algorithm>

extern "C" {
#include "iotw/firmware.h"
}

namespace iotw::emu {

const char* kind_name(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::soc_module: return "soc";
    case DeviceKind::at_appliance: return "at";
    case DeviceKind::tap_module: return "tap";
    case DeviceKind::dps: return "dps";
    case DeviceKind::bulb: return "bulb";
    case DeviceKind::qemu: return "qemu";
  }
  return "?";
}

bool Device::takes(const std::string& cmd) const {
  const auto cmds = control_commands();
  return std::find(cmds.begin(), cmds.end(), cmd) != cmds.end();
}

nlohmann::json Device::status() const {
  return {{"name", name()}, {"model", model()}, {"kind", kind_name(kind())}, {"takes", control_commands()}};
}

void Device::refuse(const std::string& cmd) const {
  std::string takes;
  for (const auto& c : control_commands()) takes += (takes.empty() ? "" : ", ") + c;
  std::string msg = "'" + cmd + "' is not supported by " + model() + " (device '" + name() + "'); it takes: " +
                    (takes.empty() ? "no device command" : takes);
  if (const std::string hint = refusal_hint(cmd); !hint.empty()) msg += "; " + hint;
  throw ControlError(msg);
}

std::string Device::refusal_hint(const std::string& cmd) const {
  if (cmd == "ap" || cmd == "uart") return "'" + cmd + "' needs an AT-mode device (mode = \"at\")";
  return "";
}

nlohmann::json Device::reboot() { refuse("reboot"); }
nlohmann::json Device::hang() { refuse("hang"); }
nlohmann::json Device::clock_skew(int64_t, double) { refuse("clock_skew"); }
nlohmann::json Device::clock() { refuse("clock"); }
nlohmann::json Device::power(Supply) { refuse("power"); }
nlohmann::json Device::ap(std::optional<int>, std::optional<bool>) { refuse("ap"); }

void Device::type_uart(std::string, std::function<void(const UartTyped&)> done) {
  try {
    refuse("uart");
  } catch (const ControlError& e) {
    UartTyped refused;
    refused.error = e.what();
    done(refused);
  }
}

void BenchSupply::apply(Supply state, bool powered, const std::function<void()>& cut,
                        const std::function<void(uint32_t)>& restore) {
  if (state == Supply::on) {
    if (powered) return;
    const uint32_t why = cut_reason_.value_or(IOTW_RESET_POWERON);
    cut_reason_.reset();
    restore(why);
    return;
  }
  if (powered) {
    cut();
    cut_reason_ = state == Supply::brownout ? IOTW_RESET_BROWNOUT : IOTW_RESET_POWERON;
  } else if (state == Supply::off) {
    cut_reason_ = IOTW_RESET_POWERON;
  }
}

std::optional<Supply> parse_supply(const std::string& text) {
  if (text == "off") return Supply::off;
  if (text == "brownout") return Supply::brownout;
  if (text == "on") return Supply::on;
  return std::nullopt;
}

}  // namespace iotw::emu
