#include "power_rail.hpp"

#include <algorithm>
#include <utility>

extern "C" {
#include "iotw/firmware.h"
}

namespace iotw::emu {

PowerRail::PowerRail(const Clock& clock, PowerRailParams params) : clock_(clock), p_(params), t_(clock.now_ms()) {}

void PowerRail::set_input(double volts, double ramp_v_per_s) {
  step_to(clock_.now_ms());
  target_ = std::max(0.0, volts);
  ramp_ = std::max(0.0, ramp_v_per_s);
  if (ramp_ == 0) vin_ = target_;
  ramp_from_v_ = vin_;
  ramp_from_ms_ = t_;
  evaluate(t_);
}

std::vector<RailEvent> PowerRail::advance() {
  step_to(clock_.now_ms());
  return std::exchange(events_, {});
}

void PowerRail::step_to(uint64_t now) {
  while (t_ < now) {
    if (vin_ != target_) {  // 1 ms steps, vin computed from the ramp's start (no accumulated error)
      t_ += 1;
      const double moved = ramp_ * static_cast<double>(t_ - ramp_from_ms_) / 1000.0;
      vin_ = ramp_from_v_ < target_ ? std::min(target_, ramp_from_v_ + moved) : std::max(target_, ramp_from_v_ - moved);
    } else {  // steady: jump to now, or to the moment the hold-up runs out if that comes first
      const uint64_t due = below_since_ + p_.holdup_ms;
      t_ = state_ == RailState::kRunning && below_ && due > t_ && due < now ? due : now;
    }
    evaluate(t_);
  }
}

void PowerRail::evaluate(uint64_t t) {
  const bool below = vin_ < p_.brownout_v;
  if (below && !below_) below_since_ = t;
  below_ = below;
  switch (state_) {
    case RailState::kRunning:
      if (below && t - below_since_ >= p_.holdup_ms) {
        const bool dead = vin_ < p_.dead_v;
        state_ = dead ? RailState::kOff : RailState::kBrownout;
        events_.push_back({dead ? RailEvent::kPowerLost : RailEvent::kBrownout, t, 0});
      }
      break;
    case RailState::kBrownout:
      if (vin_ < p_.dead_v) {
        state_ = RailState::kOff;
      } else if (vin_ >= p_.brownout_v + p_.hysteresis_v) {
        state_ = RailState::kRunning;
        events_.push_back({RailEvent::kBoot, t, IOTW_RESET_BROWNOUT});
      }
      break;
    case RailState::kOff:
      if (vin_ >= p_.brownout_v + p_.hysteresis_v) {
        state_ = RailState::kRunning;
        events_.push_back({RailEvent::kBoot, t, IOTW_RESET_POWERON});
      }
      break;
  }
}

}  // namespace iotw::emu
