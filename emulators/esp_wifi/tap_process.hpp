// A TAP module as its pool sees it (docs/emulators.md "TAP mode"): lwIP keeps process-global state, so each TAP
// module (tap_module.hpp) runs in a child process of its own, `iotw-emu --config POOL --device NAME`
// (iotw/support/process.hpp), sharing the pool's stdout, stderr and process group and getting SIGTERM when the pool
// dies (PR_SET_PDEATHSIG, also set by iotw-emu's main). The control channel does not reach into that process: every
// device command is refused ("not supported").
#pragma once
#include <string>

#include "common/device.hpp"
#include "common/device_runtime.hpp"
#include "iotw/support/process.hpp"

namespace iotw::emu {

class TapModuleProcess : public Device {
 public:
  /// exe: iotw-emu itself (/proc/self/exe); config: the pool file the child reads its [[device]] from.
  TapModuleProcess(DeviceSpec spec, std::string exe, std::string config);
  ~TapModuleProcess() override;

  const std::string& name() const override { return spec_.name; }
  const std::string& model() const override { return spec_.model; }
  DeviceKind kind() const override { return DeviceKind::tap_module; }
  /// Spawns the child. Throws std::runtime_error naming the device when it cannot be spawned.
  void start() override;
  /// SIGTERM, up to 3 s for the child to exit, then SIGKILL. Nothing when it is not running.
  void stop() override;
  /// The child's exit code once it has exited by itself (then forgotten: reported once).
  std::optional<int> exited() override;
  /// Device::status() plus tap, ip, mac, running.
  nlohmann::json status() const override;

 protected:
  std::string refusal_hint(const std::string& cmd) const override;

 private:
  DeviceSpec spec_;
  std::string exe_, config_;
  ProcessSupervisor child_;
};

}  // namespace iotw::emu
