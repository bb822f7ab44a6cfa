// The one time interface (docs/architecture.md "Determinism"): every part that reads the time or waits for it -
// the trust-node core, the device models and their firmware ports, the AT engines and the UART pacer - takes a
// Clock&, never the system clock, so tests and the simulator drive the same code with a ManualClock.
#pragma once
#include <chrono>
#include <cstdint>
#include <thread>

namespace iotw {

/// Time in nanoseconds since the clock's origin, and waiting for it. The origin depends on the implementation:
/// SteadyClock counts from an arbitrary point (monotonic; device models, pacing), SystemClock from the Unix epoch
/// (the trust node: block timestamps are Unix epoch ms). Not thread-safe unless the implementation says so.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Nanoseconds since the origin. Never decreases for SteadyClock and ManualClock.
  virtual std::uint64_t now_ns() const = 0;
  /// Blocks the calling thread until now_ns() >= t_ns (returns at once when it already is). A ManualClock jumps
  /// to t_ns instead of waiting. const: waiting is reading the clock until it shows t_ns, so a device model that
  /// holds a const Clock& can wait on it.
  virtual void sleep_until_ns(std::uint64_t t_ns) const = 0;
  /// Whole milliseconds since the origin (now_ns() / 1,000,000, rounded down).
  std::uint64_t now_ms() const { return now_ns() / 1'000'000; }
};

/// Real time from a std::chrono clock C: SteadyClock (steady_clock: monotonic, arbitrary origin) or SystemClock
/// (system_clock: since the Unix epoch; it may step when the host's clock is set). Thread-safe.
template <class C>
class ChronoClock final : public Clock {
 public:
  std::uint64_t now_ns() const override {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(C::now().time_since_epoch()).count());
  }
  void sleep_until_ns(std::uint64_t t_ns) const override {
    std::this_thread::sleep_until(
        typename C::time_point(std::chrono::duration_cast<typename C::duration>(std::chrono::nanoseconds(t_ns))));
  }
};
using SteadyClock = ChronoClock<std::chrono::steady_clock>;
using SystemClock = ChronoClock<std::chrono::system_clock>;

/// A clock its owner moves by hand (tests, the simulator): it stands still until advanced, and a sleep_until_ns
/// moves it forward to the time asked for (never back). Not thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::uint64_t start_ms = 0) : now_ns_(start_ms * 1'000'000) {}
  std::uint64_t now_ns() const override { return now_ns_; }
  void sleep_until_ns(std::uint64_t t_ns) const override {  // the jump is the time passing: now_ns_ is mutable
    if (t_ns > now_ns_) now_ns_ = t_ns;
  }
  void advance(std::uint64_t ms) { now_ns_ += ms * 1'000'000; }
  void advance_ns(std::uint64_t ns) { now_ns_ += ns; }

 private:
  mutable std::uint64_t now_ns_;
};

}  // namespace iotw
