// A device's own clock (its crystal): the time the firmware core reads through the port's now_ms, on top of
// the pool's Clock. The harness's `clock_skew` fault (docs/faults.md) steps it by an offset and/or runs it at
// a rate off by `ppm`; everything else on the device that counts time (its watchdog) runs on it too.
// Time reaches the device only through this object; the system clock is never touched.
#pragma once
#include <cstdint>

#include "clock.hpp"

namespace iotw::emu {

class SkewedClock final : public Clock {
 public:
  /// base must outlive this clock. Starts with no skew: reads exactly base.now_ns().
  explicit SkewedClock(const Clock& base) : base_(base), anchor_base_(base.now_ns()), anchor_dev_(anchor_base_) {}

  /// device ns = the value at the last skew() + (base ns since then) * (1 + ppm / 1e6); never below 0.
  uint64_t now_ns() const override {
    if (ppm_ == 0 && anchor_dev_ == anchor_base_) return base_.now_ns();  // never skewed: the same value, no arithmetic
    const long double real = static_cast<long double>(base_.now_ns()) - static_cast<long double>(anchor_base_);
    const long double dev = static_cast<long double>(anchor_dev_) + real * rate();
    return dev <= 0 ? 0 : static_cast<uint64_t>(dev);
  }
  /// Waits on the base clock until this clock shows t_ns (its rate taken into account).
  void sleep_until_ns(uint64_t t_ns) const override {
    const uint64_t now = now_ns();
    if (t_ns <= now) return;
    const uint64_t base_now = base_.now_ns(), room = UINT64_MAX - base_now;  // saturate, never wrap
    const long double wait = static_cast<long double>(t_ns - now) / rate() + 1;
    base_.sleep_until_ns(wait >= static_cast<long double>(room) ? UINT64_MAX : base_now + static_cast<uint64_t>(wait));
  }

  /// From now on: the clock jumps by offset_ms (negative = backwards, clamped at 0) and then runs at
  /// (1 + ppm / 1e6) times the base rate. skew(0, 0) returns to the nominal rate and keeps the time the clock
  /// shows (a crystal's accumulated error does not vanish when its rate recovers). ppm must be > -1e6.
  void skew(int64_t offset_ms, double ppm) {
    const int64_t now = static_cast<int64_t>(now_ns()), offset = offset_ms * 1'000'000;
    anchor_base_ = base_.now_ns();
    anchor_dev_ = now + offset < 0 ? 0 : static_cast<uint64_t>(now + offset);
    ppm_ = ppm;
  }

  /// Removes every skew: reads base.now_ns() again (a step back or forward by -drift_ms()).
  void reset() {
    anchor_base_ = base_.now_ns();
    anchor_dev_ = anchor_base_;
    ppm_ = 0;
  }

  /// Device time minus base time, ms (positive: the device's clock is ahead).
  int64_t drift_ms() const { return static_cast<int64_t>(now_ms()) - static_cast<int64_t>(base_.now_ms()); }
  double ppm() const { return ppm_; }
  const Clock& base() const { return base_; }

 private:
  long double rate() const { return 1.0L + static_cast<long double>(ppm_) * 1e-6L; }

  const Clock& base_;
  uint64_t anchor_base_;  ///< base ns at the last skew() / reset()
  uint64_t anchor_dev_;   ///< device ns at that moment
  double ppm_ = 0;
};

}  // namespace iotw::emu
