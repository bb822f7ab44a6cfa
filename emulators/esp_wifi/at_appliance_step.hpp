// The clock-free heart of an AT-mode appliance (docs/emulators.md "AT mode: pool mode"), shared by the pool's
// AtAppliance (on its Asio thread) and sim mode's SimAtAppliance (on the Scheduler): one step of the module's AT engine,
// the UART between it and the MCU, the MCU's AT driver (ports/at) and the firmware core; and when the next step is due.
// The host performs the engine's network actions and runs the steps on its own timer.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "esp_wifi/at_engine.hpp"
#include "esp_wifi/uart_wire.hpp"

extern "C" {
#include "at_link.h"
#include "iotw/firmware.h"
}

namespace iotw::emu {

/// The parts one step moves; the host owns them.
struct AtApplianceParts {
  AtEngine& engine;
  UartWire& to_module;  ///< MCU -> module
  UartWire& to_mcu;     ///< module -> MCU
  iotw_at_link& link;   ///< the MCU's AT driver
  iotw_fw& fw;          ///< the MCU's firmware core
};

inline constexpr uint64_t kAtStepNs = 2'000'000;       ///< the step while anything is in flight
inline constexpr uint64_t kAtIdleStepNs = 20'000'000;  ///< the longest gap between steps (the firmware's timers)

/// One step at t_ns (the host's clock, ns): the engine's timers, its actions (`perform`, with t in ms), its output onto
/// the UART towards the MCU (`printed` sees it first, when given), the bytes that have arrived each way, the driver's
/// and the firmware's timers.
void at_appliance_step(const AtApplianceParts& p, uint64_t t_ns,
                       const std::function<void(const AtAction&, uint64_t now_ms)>& perform,
                       const std::function<void(const std::string&)>& printed = {});

/// The engine's output since the last call onto the UART towards the MCU, at t_ns.
void at_appliance_print(const AtApplianceParts& p, uint64_t t_ns);

/// The MCU's side of the UART is idle: no byte in flight towards the module and its AT driver between commands (ready
/// or waiting), so a typed line (TypedLines) may go out.
bool at_appliance_line_idle(const AtApplianceParts& p);

/// When the next step is due: kAtStepNs from t_ns while anything is in flight (UART bytes, an AT command, or `busy`:
/// the host's own work, e.g. a typed line), else at the next deadline of the engine or the driver, at most
/// kAtIdleStepNs away (never sooner than kAtStepNs).
uint64_t at_appliance_next_step_ns(const AtApplianceParts& p, uint64_t t_ns, bool busy);

}  // namespace iotw::emu
