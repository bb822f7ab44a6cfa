// A chip's watchdog timer: the firmware feeds it every time it runs (each poll of the core); when nobody has
// fed it for timeout_ms of the chip's own clock, it bites and the runtime resets the chip with the
// watchdog's reset reason (ChipProfile::wdt_*, docs/faults.md "Device faults"). Sans-IO: it reads time only
// from the Clock it is given, so tests drive it with ManualClock.
#pragma once
#include <cstdint>

#include "clock.hpp"

namespace iotw::emu {

class Watchdog {
 public:
  /// clock must outlive the watchdog. timeout_ms 0 = disabled (never bites).
  Watchdog(const Clock& clock, uint64_t timeout_ms) : clock_(clock), timeout_ms_(timeout_ms), fed_ms_(clock.now_ms()) {}

  void feed() { fed_ms_ = clock_.now_ms(); }
  /// As if last fed `starved_ms` ago on the clock as it reads now (keeps the count across a clock step: a
  /// step of the time base is not time that passed for the watchdog's counter).
  void set_starved(uint64_t starved_ms) {
    const uint64_t now = clock_.now_ms();
    fed_ms_ = now >= starved_ms ? now - starved_ms : 0;
  }
  /// ms since the last feed (0 if the clock went backwards).
  uint64_t starved_ms() const {
    const uint64_t now = clock_.now_ms();
    return now >= fed_ms_ ? now - fed_ms_ : 0;
  }
  /// Nobody fed it for timeout_ms or longer.
  bool expired() const { return timeout_ms_ > 0 && starved_ms() >= timeout_ms_; }
  uint64_t timeout_ms() const { return timeout_ms_; }

 private:
  const Clock& clock_;
  uint64_t timeout_ms_;
  uint64_t fed_ms_;
};

}  // namespace iotw::emu
