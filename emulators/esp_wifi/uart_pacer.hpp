// UART pacing: a PTY delivers bytes as fast as they are written, a real UART one byte-time apart
// (8N1: 10 bit times per byte). UartPacer spaces the module's output accordingly, sleeping through a
// PacingClock, so tests drive it with ManualPacingClock and never wait.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>
#include <thread>

namespace iotw::emu {

class PacingClock {
 public:
  virtual ~PacingClock() = default;
  virtual uint64_t now_ns() const = 0;
  virtual void sleep_until_ns(uint64_t t) = 0;
};

class SteadyPacingClock final : public PacingClock {
 public:
  uint64_t now_ns() const override {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  }
  void sleep_until_ns(uint64_t t) override {
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(t)));
  }
};

/// A clock that jumps to the requested time when asked to sleep (tests).
class ManualPacingClock final : public PacingClock {
 public:
  uint64_t now_ns() const override { return now_; }
  void sleep_until_ns(uint64_t t) override {
    if (t > now_) now_ = t;
  }
  void advance_ns(uint64_t d) { now_ += d; }

 private:
  uint64_t now_ = 0;
};

class UartPacer {
 public:
  /// paced = false: bytes go out at once (the --unpaced option).
  UartPacer(PacingClock& clock, int baud, bool paced) : clock_(clock), baud_(baud), paced_(paced) {}

  /// Nanoseconds one byte occupies the line (10 bits at baud).
  uint64_t byte_ns() const { return 10'000'000'000ULL / static_cast<uint64_t>(baud_); }

  /// Hands bytes to sink, each one not before the previous one's end on the line. sink returns false to
  /// abandon the rest (shutdown).
  void write(std::string_view bytes, const std::function<bool(std::string_view)>& sink) {
    if (bytes.empty()) return;
    if (!paced_) {
      sink(bytes);
      return;
    }
    const uint64_t now = clock_.now_ns();
    if (line_free_ns_ < now) line_free_ns_ = now;  // the line was idle
    for (char c : bytes) {
      clock_.sleep_until_ns(line_free_ns_);
      line_free_ns_ += byte_ns();
      if (!sink(std::string_view(&c, 1))) return;
    }
  }

 private:
  PacingClock& clock_;
  int baud_;
  bool paced_;
  uint64_t line_free_ns_ = 0;
};

}  // namespace iotw::emu
