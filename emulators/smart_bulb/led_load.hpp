// The smart bulb's LED driver as its DPS chip's load, sans-IO (docs/emulators.md "Smart bulb"): the chip's output
// feeds the LED bus at kLedBusV; the LED driver on -> output on into the resistance that draws
// YeelightBulb::power_w(), off -> output off. So energy, on-time and the usage reports follow what the bulb's
// Yeelight clients do. SmartBulb (real time) and sim::SimPoweredDevice (sim mode) both drive a bulb's chip with it.
#pragma once
#include "dps_chip/dps_chip.hpp"
#include "yeelight_bulb.hpp"

namespace iotw::emu {

class LedLoad {
 public:
  static constexpr double kLedBusV = 12.0;      ///< DPS output voltage feeding the LED driver, V
  static constexpr double kLedCurrentA = 1.5;   ///< the chip's current limit on the LED bus, A

  /// Sets the chip to the LED bus (kLedBusV, kLedCurrentA) and applies the LED's load. chip and led must outlive this.
  LedLoad(DpsChip& chip, YeelightBulb& led);
  /// After a change of the LED state (a Yeelight command): the chip's load and output follow it.
  void apply();
  /// The rail booted (brown-out or power restored): the LED driver restarts in its set_default state, then apply().
  void power_cycle();

 private:
  DpsChip& chip_;
  YeelightBulb& led_;
};

}  // namespace iotw::emu
