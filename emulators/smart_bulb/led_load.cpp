#include "led_load.hpp"

namespace iotw::emu {

LedLoad::LedLoad(DpsChip& chip, YeelightBulb& led) : chip_(chip), led_(led) {
  chip_.set_voltage(kLedBusV);
  chip_.set_current(kLedCurrentA);
  apply();
}

void LedLoad::apply() {
  const double w = led_.power_w();
  if (w > 0) chip_.set_load_ohm(kLedBusV * kLedBusV / w);
  chip_.set_output(w > 0);
}

void LedLoad::power_cycle() {
  led_.power_cycle();
  apply();
}

}  // namespace iotw::emu
