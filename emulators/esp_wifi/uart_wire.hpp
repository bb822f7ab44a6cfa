// The in-memory UART of an AT-mode appliance (MCU <-> Wi-Fi module): one direction of the line, paced at the
// module's baud rate on whatever clock the caller reads (the pool's in AtAppliance, the Scheduler's in sim mode's
// SimAtAppliance). No I/O, no Boost: the AT engines' library (iotw_at_engines) holds it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace iotw::emu {

/// One direction of a UART line in memory: bytes leave the sender at once and reach the receiver one
/// byte-time (10 bits, 8N1) apart, in order. Bytes written while the line is still busy follow the ones before
/// them back to back, so the wire keeps runs ("bursts") of bytes with the arrival time of each run's first byte
/// rather than a time per byte: an idle wire holds no heap memory (10,000 devices in one pool, issue 17).
class UartWire {
 public:
  explicit UartWire(int baud) : byte_ns_(10'000'000'000ULL / static_cast<uint64_t>(baud)) {}
  void write(const uint8_t* bytes, size_t n, uint64_t now_ns);
  /// Bytes whose stop bit has passed by now_ns.
  std::string take(uint64_t now_ns);
  bool empty() const { return bursts_.empty(); }
  /// When the next byte arrives (only when !empty()).
  uint64_t next_ns() const { return bursts_.front().first_ns + head_ * byte_ns_; }

 private:
  struct Burst {
    uint64_t first_ns;  ///< arrival of bytes[0]; bytes[i] arrives i byte-times later
    std::string bytes;
  };
  uint64_t byte_ns_;
  uint64_t line_free_ns_ = 0;  ///< when the last byte written so far has arrived
  std::vector<Burst> bursts_;  ///< in order; released (capacity too) when the wire drains
  size_t head_ = 0;            ///< bytes of bursts_.front() already taken
};

}  // namespace iotw::emu
