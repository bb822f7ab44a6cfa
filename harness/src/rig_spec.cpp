#include "iotw/harness/rig_spec.hpp"

#include <fmt/format.h>

namespace iotw::harness {

std::vector<DeviceInstance> RigSpec::instances() const {
  std::vector<DeviceInstance> out;
  for (const DeviceGroup& g : devices)
    for (int i = 1; i <= g.count; ++i)  // an external device is named `name` exactly (held in name_prefix)
      out.push_back({g.external ? g.name_prefix : fmt::format("{}-{:02}", g.name_prefix, i), g.model, g.link, g.behaviour,
                     g.powered, g.ram_budget_kib, g.at_transport, g.external, g.seed_from_os,
                     hosts ? (g.host.empty() ? hosts->trust_node : g.host) : std::string()});
  return out;
}

}  // namespace iotw::harness
