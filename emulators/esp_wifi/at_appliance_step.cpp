#include "esp_wifi/at_appliance_step.hpp"

#include <algorithm>

namespace iotw::emu {

void at_appliance_print(const AtApplianceParts& p, uint64_t t_ns) {
  const std::string out = p.engine.take_output();
  p.to_mcu.write(reinterpret_cast<const uint8_t*>(out.data()), out.size(), t_ns);
}

void at_appliance_step(const AtApplianceParts& p, uint64_t t_ns,
                       const std::function<void(const AtAction&, uint64_t now_ms)>& perform,
                       const std::function<void(const std::string&)>& printed) {
  const uint64_t ms = t_ns / 1'000'000;
  const auto drain = [&] {
    for (auto actions = p.engine.take_actions(); !actions.empty(); actions = p.engine.take_actions())
      for (const auto& a : actions) perform(a, ms);
    const std::string out = p.engine.take_output();
    if (printed) printed(out);
    p.to_mcu.write(reinterpret_cast<const uint8_t*>(out.data()), out.size(), t_ns);
  };
  p.engine.tick(ms);
  drain();
  const std::string in = p.to_mcu.take(t_ns);  // module -> MCU
  if (!in.empty()) iotw_at_link_rx(&p.link, reinterpret_cast<const uint8_t*>(in.data()), in.size(), ms);
  iotw_at_link_poll(&p.link, ms);
  iotw_fw_poll(&p.fw);
  const std::string cmd = p.to_module.take(t_ns);  // MCU -> module
  if (!cmd.empty()) {
    p.engine.feed(cmd, ms);
    drain();
  }
}

uint64_t at_appliance_next_step_ns(const AtApplianceParts& p, uint64_t t_ns, bool busy) {
  const bool driver_idle = (p.link.step == IOTW_AT_READY || p.link.step == IOTW_AT_WAIT) && p.link.tx_count == 0;
  if (!driver_idle || !p.to_module.empty() || !p.to_mcu.empty() || busy) return t_ns + kAtStepNs;
  uint64_t due = t_ns + kAtIdleStepNs;
  const auto at_ms = [&](uint64_t ms) { due = std::min(due, std::max(t_ns + kAtStepNs, ms * 1'000'000)); };
  if (const auto d = p.engine.next_deadline_ms()) at_ms(*d);
  if (p.link.step == IOTW_AT_WAIT) at_ms(p.link.deadline_ms);
  return due;
}

bool at_appliance_line_idle(const AtApplianceParts& p) {
  return p.to_module.empty() && (p.link.step == IOTW_AT_READY || p.link.step == IOTW_AT_WAIT) && p.link.tx_count == 0;
}

}  // namespace iotw::emu
