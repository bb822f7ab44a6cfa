// The one way device models read time (ARCHITECTURE.md principle 1): models take a Clock&, never the
// system clock, so tests and the simulator drive them with ManualClock, deterministically.
#pragma once
#include <chrono>
#include <cstdint>

namespace iotw::emu {

/// Monotonic milliseconds since an arbitrary origin.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t now_ms() const = 0;
};

/// std::chrono::steady_clock, for real-time runs.
class SteadyClock final : public Clock {
 public:
  uint64_t now_ms() const override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }
};

/// A clock the owner advances by hand (tests, --mode sim).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t start_ms = 0) : now_(start_ms) {}
  uint64_t now_ms() const override { return now_; }
  void advance(uint64_t ms) { now_ += ms; }

 private:
  uint64_t now_;
};

}  // namespace iotw::emu
