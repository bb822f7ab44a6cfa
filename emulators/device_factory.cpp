#include "device_factory.hpp"

#include "dps_chip/dps_device.hpp"
#include "esp_wifi/at_appliance.hpp"
#include "esp_wifi/soc_module.hpp"
#include "esp_wifi/tap_process.hpp"
#include "qemu/qemu_device.hpp"
#include "qemu/qemu_model.hpp"
#include "smart_bulb/smart_bulb.hpp"

namespace iotw::emu {

DeviceKind device_kind(const DeviceSpec& spec) {
  if (is_qemu_model(spec.model)) return DeviceKind::qemu;
  if (!spec.tap.empty()) return DeviceKind::tap_module;
  if (spec.mode == "at") return DeviceKind::at_appliance;
  if (spec.model == "dps") return DeviceKind::dps;
  if (spec.model == "bulb") return DeviceKind::bulb;
  return DeviceKind::soc_module;
}

std::unique_ptr<Device> make_device(const DeviceSpec& spec, const PoolContext& pool) {
  switch (device_kind(spec)) {
    case DeviceKind::qemu: return std::make_unique<QemuDevice>(pool.io, spec, pool.log);
    case DeviceKind::tap_module: return std::make_unique<TapModuleProcess>(spec, pool.exe, pool.config);
    case DeviceKind::at_appliance: return std::make_unique<AtAppliance>(pool.io, spec, pool.access_point, pool.log, pool.clock);
    case DeviceKind::dps: return std::make_unique<DpsDevice>(pool.io, spec, pool.log, pool.clock);
    case DeviceKind::bulb: return std::make_unique<SmartBulb>(pool.io, spec, pool.log, pool.clock);
    case DeviceKind::soc_module: return std::make_unique<SocModule>(pool.io, spec, pool.log, &pool.clock);
  }
  throw std::logic_error("unknown device kind");
}

std::vector<std::unique_ptr<Device>> make_devices(const PoolConfig& cfg, const PoolContext& pool) {
  std::vector<std::unique_ptr<Device>> out;
  out.reserve(cfg.devices.size());
  for (const auto& spec : cfg.devices) out.push_back(make_device(spec, pool));
  return out;
}

}  // namespace iotw::emu
