#include "ram_budget.hpp"

#include "esp_wifi/esp_chip_profile.hpp"

extern "C" {
#include "iotw/firmware.h"
}

namespace iotw::emu {

FirmwareStaticRam firmware_static_ram() {
  return {sizeof(iotw_fw), sizeof(iotw_port) + kPortRxBufferBytes, kStackReserveBytes};
}

RamCheck check_ram_budget(const std::string& device, const std::string& model, const std::string& mode,
                          uint32_t ram_budget_kib) {
  RamCheck c;
  c.chip_model = model == "dps" ? "esp8266" : model == "bulb" ? "esp32" : model;
  const EspChipProfile& p = esp_chip_profile(c.chip_model);  // throws for an unknown model
  if (mode == "at") return c;                                 // the firmware is on the appliance MCU
  c.applies = true;
  c.needed = firmware_static_ram().total();
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
