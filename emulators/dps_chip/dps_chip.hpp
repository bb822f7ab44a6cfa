// The DPS (Digital Power System) chip: a buck converter after RDTech's DPS5005 (0-50 V, 0-5 A, 250 W;
// ../shared/reference/modbus_power.md) driving a resistive load, with the micro-mining firmware's logic
// powered from the same input rail. Sans-IO: every change first advances the model to clock.now_ms().
//
// Output: CV when vset / R <= iset (vout = vset, capped at vin / 1.1 for dropout), else CC (iout = iset).
// Protections latch and switch the output off: OVP (vout > ovp), OCP (iout > ocp), OPP (pout > opp);
// switching the output on again clears the latch. Input side (model, not a datasheet): efficiency 0.92,
// 0.5 W quiescent; power factor 0.50 at no load rising linearly to 0.98 at rated input power; THD 80 %
// falling to 10 %; temperature first-order (25 °C ambient, 2 °C per W of loss, tau 60 s).
#pragma once
#include <cstdint>
#include <vector>

#include "common/clock.hpp"
#include "common/power_rail.hpp"

namespace iotw::emu {

struct DpsLimits {              // DPS5005
  double v_max = 50.0;          ///< V, U-SET ceiling
  double i_max = 5.0;           ///< A, I-SET ceiling
  double p_rated = 250.0;       ///< W, rated output power
};

/// Protection latch, numbered as the DPS PROTECT register.
enum class DpsProtect : uint16_t { kNone = 0, kOvp = 1, kOcp = 2, kOpp = 3 };

/// Measurements at the last advance().
struct DpsReading {
  double uout = 0, iout = 0, pout = 0;  ///< V, A, W
  double uin = 0, pin = 0;              ///< V, W
  double pf = 0, thd_pct = 0;           ///< 0..1, %
  double temp_c = 25;                   ///< °C
  bool cc = false;                      ///< constant-current mode
};

class DpsChip {
 public:
  /// Starts with the rail at 0 V (call set_input to power it); clock must outlive the chip.
  explicit DpsChip(const Clock& clock, PowerRailParams rail = {}, DpsLimits limits = {});

  // Set-points (clamped to 0..limits). Each advances the model first.
  void set_voltage(double v);
  void set_current(double a);
  void set_output(bool on);  ///< on also clears a protection latch
  void set_ovp(double v);
  void set_ocp(double a);
  void set_opp(double w);
  void set_load_ohm(double ohm);  ///< <= 0: open circuit
  /// S-INI: output state after every boot of the chip (power-on or brown-out reset).
  void set_power_on_output(bool on) { power_on_output_ = on; }
  bool power_on_output() const { return power_on_output_; }
  /// Drive the input supply (PowerRail::set_input).
  void set_input(double volts, double ramp_v_per_s = 0);

  /// Integrate energy, on-time and temperature up to now, apply protections; returns the rail's
  /// transitions (boot / brownout / power lost) since the last call.
  std::vector<RailEvent> advance();

  const DpsReading& reading() const { return r_; }
  double vset() const { return vset_; }
  double iset() const { return iset_; }
  double ovp() const { return ovp_; }
  double ocp() const { return ocp_; }
  double opp() const { return opp_; }
  double load_ohm() const { return load_; }
  bool output() const { return out_on_; }
  DpsProtect protect() const { return protect_; }
  double energy_mwh() const { return energy_mwh_; }  ///< output energy since construction, mWh
  uint64_t on_ms() const { return on_ms_; }          ///< ms the output delivered current
  uint32_t brownouts() const { return brownouts_; }  ///< brown-out resets since construction
  const DpsLimits& limits() const { return lim_; }
  PowerRail& rail() { return rail_; }
  const PowerRail& rail() const { return rail_; }

 private:
  void sync();  ///< advance to now, queueing rail events for advance()
  void integrate(uint64_t from, uint64_t to);
  void solve();

  const Clock& clock_;
  PowerRail rail_;
  DpsLimits lim_;
  double vset_ = 5.0, iset_ = 1.0, ovp_ = 52.0, ocp_ = 5.1, opp_ = 255.0, load_ = 10.0;
  bool out_on_ = false, power_on_output_ = false;
  DpsProtect protect_ = DpsProtect::kNone;
  DpsReading r_;
  double energy_mwh_ = 0;
  uint64_t on_ms_ = 0;
  uint32_t brownouts_ = 0;
  uint64_t t_;
  std::vector<RailEvent> pending_;
};

}  // namespace iotw::emu
