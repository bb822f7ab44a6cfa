#include "tap_process.hpp"

#include <csignal>
#include <stdexcept>

namespace iotw::emu {

namespace {
constexpr auto kStopGrace = std::chrono::milliseconds(3000);
}

TapModuleProcess::TapModuleProcess(DeviceSpec spec, std::string exe, std::string config)
    : spec_(std::move(spec)), exe_(std::move(exe)), config_(std::move(config)) {}

TapModuleProcess::~TapModuleProcess() { stop(); }

void TapModuleProcess::start() {
  try {
    // The pool's stdout and stderr, the pool's process group; SIGTERM when the pool dies (as its main sets).
    child_.start(spec_.name, exe_, {"--config", config_, "--device", spec_.name},
                 {.own_process_group = false, .parent_death_signal = SIGTERM});
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot start the TAP module process for " + spec_.name + ": " + e.what());
  }
}

void TapModuleProcess::stop() { child_.stop_all(kStopGrace); }

std::optional<int> TapModuleProcess::exited() {
  if (auto e = child_.reap_exited()) return e->code;
  return std::nullopt;
}

nlohmann::json TapModuleProcess::status() const {
  nlohmann::json s = Device::status();
  s["tap"] = spec_.tap;
  s["ip"] = spec_.tap_ip;
  s["mac"] = spec_.tap_mac;
  s["running"] = !child_.empty();
  return s;
}

std::string TapModuleProcess::refusal_hint(const std::string& cmd) const {
  if (cmd == "ap" || cmd == "uart") return Device::refusal_hint(cmd);
  return "a TAP module runs in its own process (iotw-emu --device " + spec_.name + "), which the control channel does "
         "not reach";
}

}  // namespace iotw::emu
