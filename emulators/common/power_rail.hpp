// The supply rail a device's logic runs from (sans-IO, time through Clock): input voltage with an
// optional linear ramp, a brown-out detector with hysteresis and a hold-up time, and power loss.
//
//   OFF --vin >= brownout_v + hysteresis--> RUNNING (boot, IOTW_RESET_POWERON)
//   RUNNING --vin < brownout_v for holdup_ms--> BROWNOUT (held in reset) or OFF if vin < dead_v then
//   BROWNOUT --vin >= brownout_v + hysteresis--> RUNNING (boot, IOTW_RESET_BROWNOUT)
//   BROWNOUT --vin < dead_v--> OFF (the brown-out latch is lost: the next boot is a power-on)
//
// A dip shorter than holdup_ms is ridden through (the bulk capacitor holds the logic up). NVS survives
// every transition; RAM does not survive leaving RUNNING.
#pragma once
#include <cstdint>
#include <vector>

#include "clock.hpp"

namespace iotw::emu {

struct PowerRailParams {
  double brownout_v = 6.0;      ///< V; DPS5005 minimum input voltage (RDTech spec: 6-55 V)
  double hysteresis_v = 0.5;    ///< V; the chip leaves reset at brownout_v + hysteresis_v
  double dead_v = 2.0;          ///< V; below this the logic has no supply at all
  uint32_t holdup_ms = 20;      ///< ms; bulk-capacitor hold-up time
};

enum class RailState { kOff, kRunning, kBrownout };

struct RailEvent {
  enum Kind { kBoot, kBrownout, kPowerLost } kind;
  uint64_t at_ms;         ///< clock time of the transition
  uint32_t reset_reason;  ///< kBoot only: IOTW_RESET_POWERON or IOTW_RESET_BROWNOUT (firmware.h)
};

class PowerRail {
 public:
  /// Starts OFF at 0 V. clock must outlive the rail.
  PowerRail(const Clock& clock, PowerRailParams params = {});

  /// Drive the input towards volts (>= 0) at ramp_v_per_s (0 = a step, applied now). Advances first.
  void set_input(double volts, double ramp_v_per_s = 0);
  /// Simulate up to clock.now_ms() (1 ms steps while ramping, one step when steady); returns the
  /// transitions since the last call, oldest first.
  std::vector<RailEvent> advance();

  double input_v() const { return vin_; }
  double target_v() const { return target_; }
  RailState state() const { return state_; }
  bool running() const { return state_ == RailState::kRunning; }
  const PowerRailParams& params() const { return p_; }
  void set_holdup_ms(uint32_t ms) { p_.holdup_ms = ms; }

 private:
  void step_to(uint64_t now);
  void evaluate(uint64_t t);

  const Clock& clock_;
  PowerRailParams p_;
  RailState state_ = RailState::kOff;
  double vin_ = 0, target_ = 0, ramp_ = 0, ramp_from_v_ = 0;
  uint64_t ramp_from_ms_ = 0;
  uint64_t t_;
  bool below_ = false;
  uint64_t below_since_ = 0;
  std::vector<RailEvent> events_;
};

}  // namespace iotw::emu
