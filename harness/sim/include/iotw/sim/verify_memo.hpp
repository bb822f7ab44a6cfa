// Ed25519 verification results shared by the devices of one simulated run (docs/simulation.md "Speed"). Verification is
// a pure function of (public key, message, signature), and in a rig many devices verify the very same signed bytes
// (the node's Checkpoint of a height, a round's WitnessRequest): the memo computes each distinct triple once and
// answers the same result for the rest. The device model still charges its chip the verification's CPU time every
// time, so virtual time and every output are the same with or without the memo; only the host's work shrinks.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace iotw::sim {

class VerifyMemo {
 public:
  /// At most this many results are kept (about 3 MiB); when full, the memo starts empty again (a deterministic bound).
  static constexpr std::size_t kMaxEntries = 1u << 16;

  using Verify = int (*)(void* ctx, const std::uint8_t pk[32], const std::uint8_t* msg, std::size_t len,
                         const std::uint8_t sig[64]);
  /// verify(ctx, pk, msg, len, sig)'s result (0 = valid), computed once per distinct (pk, msg, sig).
  int verify(Verify verify, void* ctx, const std::uint8_t pk[32], const std::uint8_t* msg, std::size_t len,
             const std::uint8_t sig[64]);

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }

 private:
  using Key = std::array<std::uint8_t, 16>;  ///< BLAKE2b-128 of pk || sig || len || msg
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  std::unordered_map<Key, int, KeyHash> results_;
  std::uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace iotw::sim
