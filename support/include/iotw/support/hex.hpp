// Hex text <-> bytes: the one codec of the C++ code (libsodium's sodium_bin2hex / sodium_hex2bin underneath).
// docs/protocol.md: "Hex is lower-case" — every encoder writes lower-case; decoders say which letters they take.
// (The firmware core, C11 behind port.h, keeps its own few lines: it must not depend on libsodium directly.)
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace iotw {

/// Which hex letters a decoder accepts.
enum class HexCase {
  lower,  ///< a-f only (the ledger verifier: docs/protocol.md §8 lines are lower-case; upper case is an error)
  any,    ///< a-f and A-F (operator input: HTTP paths and bodies, config files, CLI options)
};

/// Lower-case hex of `n` bytes: 2n characters [0-9a-f], no prefix or separator.
std::string to_hex(const std::uint8_t* p, std::size_t n);
/// Lower-case hex of a byte sequence (std::array<uint8_t, N>, std::vector<uint8_t>, ...).
std::string to_hex(std::span<const std::uint8_t> bytes);
/// Appends the lower-case hex of `bytes` to `out` (2 * bytes.size() characters; no other allocation). Not
/// constant-time (a table lookup per nibble); to_hex is the same.
void append_hex(std::string& out, std::span<const std::uint8_t> bytes);

/// Decodes hex: an even number of digits, each 0-9 or a-f (or A-F when `letters` is HexCase::any), nothing
/// else (no "0x", separators or whitespace). "" decodes to no bytes. nullopt on an odd length or any other
/// character.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex, HexCase letters = HexCase::any);

/// Decodes exactly 2 * N hex digits (rules as above) into N bytes; nullopt on any other length.
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> from_hex(std::string_view hex, HexCase letters = HexCase::any) {
  if (hex.size() != 2 * N) return std::nullopt;
  const auto bytes = from_hex(hex, letters);
  if (!bytes) return std::nullopt;
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = (*bytes)[i];
  return out;
}

}  // namespace iotw
