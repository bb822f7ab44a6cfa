// The serial fault proxy: a seeded LinkPolicy that damages the byte stream of one PTY link the way field
// UARTs fail (docs/faults.md). Neither end is modified; the proxy sits in the LinkFabric relay.
// With no fault active it is a pass-through (the bench compares that with socat).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <span>

#include "link_fabric.hpp"

namespace iotw::harness {

/// The faults active on a link; all off by default. Rates are probabilities 0..1.
struct SerialFaults {
  double corrupt_rate = 0;     ///< per byte: replaced by a different random byte
  double corrupt_frame_rate = 0;  ///< per frame: one of its first 16 bytes replaced by a different random byte
  double bit_flip_rate = 0;    ///< per byte: one random bit inverted
  double drop_byte_rate = 0;   ///< per byte: removed
  double drop_frame_rate = 0;  ///< per frame (bytes up to and including a 0x00 delimiter): the whole frame removed
  double garbage_rate = 0;     ///< per chunk: `garbage_bytes` random bytes inserted before it
  int garbage_bytes = 8;       ///< 1..4096
  bool stall = false;          ///< the line is dead: every byte is dropped (both directions)
  bool baud_mismatch = false;  ///< every byte arrives as a random byte (a receiver at the wrong baud rate)
  int delay_ms = 0;            ///< added latency per chunk, ms (0..60000)
  int jitter_ms = 0;           ///< plus a uniform 0..jitter_ms per chunk (the fabric keeps delivery order)
  bool any() const;
};

/// What the faults did, per link (both directions summed). Counts are exact.
struct FaultCounts {
  std::uint64_t corrupted_bytes = 0, bit_flips = 0, dropped_bytes = 0, dropped_frames = 0, garbage_bytes = 0,
                stalled_bytes = 0, baud_garbled_bytes = 0, delayed_chunks = 0;
};

/// Seeded fault proxy for one link. set()/counts()/frames_delivered() are thread-safe; on_chunk runs on the
/// fabric's io thread. The same seed and the same chunk sequence give the same output.
class FaultPolicy final : public LinkPolicy {
 public:
  explicit FaultPolicy(std::uint64_t seed) : seed_(seed) {}

  /// Replaces the active faults (takes effect from the next chunk).
  void set(const SerialFaults& faults);
  SerialFaults faults() const;
  FaultCounts counts() const;
  /// Frame delimiters (0x00) passed on in direction `dir` since the link was made: a recovery check
  /// ("the link carried frames again") compares two readings.
  std::uint64_t frames_delivered(Direction dir) const;

  std::vector<Delivery> on_chunk(Direction dir, std::vector<std::uint8_t> chunk) override;
  /// The pass-through case of on_chunk without its allocations: when no fault is active, counts `chunk` as passed on
  /// unchanged in `dir` and returns true (the caller delivers it as is, with no delay); when a fault is active,
  /// changes nothing and returns false (the caller calls on_chunk). The same state afterwards as on_chunk.
  bool pass(Direction dir, std::span<const std::uint8_t> chunk);

 private:
  bool roll(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng()) < p; }
  std::uint8_t random_byte() { return static_cast<std::uint8_t>(rng()() & 0xFF); }
  /// The generator, made at its first draw (2.5 KiB of state that a link without a random fault never needs: a
  /// simulated million links); the same stream as one made at construction.
  std::mt19937_64& rng() {
    if (!rng_) rng_ = std::make_unique<std::mt19937_64>(seed_);
    return *rng_;
  }

  void count_passed(int dir, std::span<const std::uint8_t> chunk);
  mutable std::mutex mutex_;
  /// The faults and what they did, made at the first set() (128 bytes that a link no fault ever touches, such as most
  /// of a simulated million, never needs): none made = no faults, zero counts.
  struct Active {
    SerialFaults faults;
    FaultCounts counts;
  };
  std::unique_ptr<Active> active_;
  std::uint64_t seed_;
  std::unique_ptr<std::mt19937_64> rng_;
  bool dropping_frame_[2] = {false, false};  ///< per direction: inside a frame chosen for dropping
  bool frame_start_[2] = {true, true};       ///< per direction: the next byte starts a frame
  int corrupt_in_[2] = {-1, -1};             ///< per direction: bytes until the frame's chosen corruption
  std::atomic<std::uint64_t> frames_[2] = {0, 0};
};

}  // namespace iotw::harness
