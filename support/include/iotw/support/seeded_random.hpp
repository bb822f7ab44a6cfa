// The one randomness source of a rig (docs/architecture.md "Determinism"): every component that draws random
// values (a device's firmware, a TAP module's lwIP, a link's fault proxy) gets its own stream, derived from the
// rig seed and the component's name only, so adding or removing a component does not shift the others' streams.
//
//   component seed = BLAKE2b-256("iotw-rig-device-seed" || rig seed (u64 LE) || component name)   (32 bytes)
//   stream         = ChaCha20-IETF keyed by a 32-byte seed, nonce "LibsodiumDRG", block counter from 0: its first
//                    bytes equal libsodium's randombytes_buf_deterministic(seed); successive draws continue it.
//   sub-seed       = BLAKE2b-256(key = parent seed, message = purpose): a second independent stream of a component.
//
// The firmware's ports (C, no libsodium stream API on the cross builds) turn the same component seed into bytes
// with the hash DRBG of firmware_stub/ports/sodium/sodium_crypto.h instead; both are documented in
// docs/architecture.md "Determinism".
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>

namespace iotw {

/// A 32-byte seed: a component's, or a sub-seed of one.
using Seed = std::array<std::uint8_t, 32>;

/// The seed of the component `name` (a device name, "link:<device>", ...) of the rig whose seed is `rig_seed`:
/// BLAKE2b-256("iotw-rig-device-seed" || rig_seed as 8 bytes little-endian || name bytes). Deterministic, depends on
/// nothing else. Throws std::runtime_error if libsodium cannot be initialised.
Seed component_seed(std::uint64_t rig_seed, std::string_view name);

/// An independent seed for another use of one component (e.g. "lwip" for a TAP module's stack):
/// BLAKE2b-256 keyed by `parent`, of the bytes of `purpose`.
Seed sub_seed(const Seed& parent, std::string_view purpose);

/// A deterministic byte stream from a 32-byte seed (ChaCha20-IETF, nonce "LibsodiumDRG"; see above). Satisfies
/// std::uniform_random_bit_generator (64-bit draws), so it can feed <random> distributions. At most 2^32 blocks of
/// 64 bytes (256 GiB) per stream; fill() throws std::length_error beyond that.
class SeededStream {
 public:
  using result_type = std::uint64_t;
  /// Throws std::runtime_error if libsodium cannot be initialised.
  explicit SeededStream(const Seed& seed);
  /// The next `out.size()` bytes of the stream.
  void fill(std::span<std::uint8_t> out);
  /// The next 8 bytes of the stream, little-endian.
  result_type operator()();
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

 private:
  Seed key_;
  std::array<std::uint8_t, 64> block_{};
  std::size_t used_ = 64;     ///< bytes of block_ already handed out (64 = none left)
  std::uint64_t next_block_ = 0;  ///< ChaCha20 block counter of the next block
};

}  // namespace iotw
