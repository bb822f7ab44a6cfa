// UART pacing: a PTY delivers bytes as fast as they are written, a real UART one byte-time apart
// (8N1: 10 bit times per byte). UartPacer spaces the module's output accordingly, sleeping through the one
// Clock (iotw/support/clock.hpp), so tests drive it with a ManualClock and never wait.
#pragma once
#include <cstdint>
#include <functional>
#include <string_view>

#include "iotw/support/clock.hpp"

namespace iotw::emu {

class UartPacer {
 public:
  /// paced = false: bytes go out at once (the --unpaced option).
  UartPacer(const Clock& clock, int baud, bool paced) : clock_(clock), baud_(baud), paced_(paced) {}

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
  const Clock& clock_;
  int baud_;
  bool paced_;
  uint64_t line_free_ns_ = 0;
};

}  // namespace iotw::emu
