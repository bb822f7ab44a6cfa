#include "dps_chip.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace iotw::emu {

namespace {
constexpr double kEfficiency = 0.92, kQuiescentW = 0.5, kAmbientC = 25, kThermalCPerW = 2, kTauS = 60;
double clamp(double v, double hi) { return std::clamp(v, 0.0, hi); }
}  // namespace

DpsChip::DpsChip(const Clock& clock, PowerRailParams rail, DpsLimits limits)
    : clock_(clock), rail_(clock, rail), lim_(limits), t_(clock.now_ms()) {}

void DpsChip::set_voltage(double v) { sync(); vset_ = clamp(v, lim_.v_max); solve(); }
void DpsChip::set_current(double a) { sync(); iset_ = clamp(a, lim_.i_max); solve(); }
void DpsChip::set_ovp(double v) { sync(); ovp_ = std::max(0.0, v); solve(); }
void DpsChip::set_ocp(double a) { sync(); ocp_ = std::max(0.0, a); solve(); }
void DpsChip::set_opp(double w) { sync(); opp_ = std::max(0.0, w); solve(); }
void DpsChip::set_load_ohm(double ohm) { sync(); load_ = ohm; solve(); }
void DpsChip::set_input(double volts, double ramp_v_per_s) {
  sync();
  rail_.set_input(volts, ramp_v_per_s);
  sync();  // a step applies now (the rail may boot at once)
}
void DpsChip::set_output(bool on) {
  sync();
  out_on_ = on;
  if (on) protect_ = DpsProtect::kNone;
  solve();
}

void DpsChip::solve() {
  r_.uin = rail_.input_v();
  r_.uout = r_.iout = r_.pout = 0;
  r_.cc = false;
  if (rail_.running() && out_on_ && protect_ == DpsProtect::kNone && load_ > 0) {
    const double v = std::min(vset_, r_.uin / 1.1);
    if (v / load_ <= iset_) {
      r_.uout = v;
      r_.iout = v / load_;
    } else {
      r_.cc = true;
      r_.iout = iset_;
      r_.uout = iset_ * load_;
    }
    r_.pout = r_.uout * r_.iout;
    DpsProtect trip = r_.uout > ovp_   ? DpsProtect::kOvp
                      : r_.iout > ocp_ ? DpsProtect::kOcp
                      : r_.pout > opp_ ? DpsProtect::kOpp
                                       : DpsProtect::kNone;
    if (trip != DpsProtect::kNone) {
      protect_ = trip;
      out_on_ = false;
      r_.uout = r_.iout = r_.pout = 0;
      r_.cc = false;
    }
  }
  r_.pin = rail_.running() ? r_.pout / kEfficiency + kQuiescentW : 0;
  const double x = std::min(1.0, r_.pin / (lim_.p_rated / kEfficiency));
  r_.pf = rail_.running() ? 0.50 + 0.48 * x : 0;
  r_.thd_pct = rail_.running() ? 80 - 70 * x : 0;
}

void DpsChip::integrate(uint64_t from, uint64_t to) {
  if (to <= from) return;
  const double dt_s = static_cast<double>(to - from) / 1000.0;
  energy_mwh_ += r_.pout * dt_s / 3.6;  // W * s = 1/3.6 mWh
  if (r_.iout > 0) on_ms_ += to - from;
  const double target = kAmbientC + kThermalCPerW * (r_.pin - r_.pout);
  r_.temp_c += (target - r_.temp_c) * (1 - std::exp(-dt_s / kTauS));
}

std::vector<RailEvent> DpsChip::advance() {
  sync();
  return std::exchange(pending_, {});
}

void DpsChip::sync() {
  const uint64_t now = clock_.now_ms();
  auto events = rail_.advance();
  for (const auto& e : events) {  // integrate each stretch with the state it had
    integrate(t_, e.at_ms);
    t_ = std::max(t_, e.at_ms);
    if (e.kind == RailEvent::kBoot) {
      out_on_ = power_on_output_;  // the controller rebooted too: output as S-INI says
      protect_ = DpsProtect::kNone;
      solve();
    } else {
      if (e.kind == RailEvent::kBrownout) brownouts_++;
      r_.uout = r_.iout = r_.pout = r_.pin = 0;
    }
  }
  integrate(t_, now);
  t_ = now;
  solve();
  pending_.insert(pending_.end(), events.begin(), events.end());
}

}  // namespace iotw::emu
