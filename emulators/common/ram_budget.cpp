#include "ram_budget.hpp"

#include <stdexcept>

#include "common/chip_profile.hpp"
#include "firmware_footprint.hpp"

namespace iotw::emu {

FirmwareRam firmware_ram(const std::string& chip_model) {
  const std::string target = chip_model == "esp8266" || chip_model == "esp32" ? "lx106"
                             : chip_model == "rtl8710"                        ? "cortex-m4"
                             : chip_model == "rtl8195"                        ? "cortex-m3"
                                                                              : "";
  for (const FirmwareFootprint& f : kFirmwareFootprints)
    if (target == f.target) return {target, f.static_ram_bytes, f.stack_bytes};
  throw std::invalid_argument("no measured firmware footprint for chip '" + chip_model + "'");
}

RamCheck check_ram_budget(const std::string& device, const std::string& model, const std::string& mode,
                          uint32_t ram_budget_kib) {
  RamCheck c;
  c.chip_model = model == "dps" ? "esp8266" : model == "bulb" ? "esp32" : model;
  const ChipProfile& p = chip_profile(c.chip_model);  // throws for an unknown model
  if (mode == "at") return c;                                 // the firmware is on the appliance MCU
  c.applies = true;
  c.needed = firmware_ram(c.chip_model).total();
  c.budget_overridden = ram_budget_kib != 0;
  c.available = c.budget_overridden ? static_cast<size_t>(ram_budget_kib) * 1024 : p.app_ram_bytes;
  c.fits = c.needed <= c.available;
  if (!c.fits)
    c.message = device + ": the firmware needs " + std::to_string(c.needed) + " bytes of static RAM but the " + p.chip +
                " (" + c.chip_model + ") leaves " + std::to_string(c.available) + " bytes to the application" +
                (c.budget_overridden ? " (ram_budget_kib = " + std::to_string(ram_budget_kib) + ")" : "") +
                "; refused";
  return c;
}

}  // namespace iotw::emu
