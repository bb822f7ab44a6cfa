// Hex in tests: the project's one codec (iotw/support/hex.hpp), plus unhex() for literal test vectors.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "iotw/support/hex.hpp"

using iotw::to_hex;

/// The bytes of a test vector's hex (either case, nothing else); throws std::invalid_argument naming the text when
/// it is not hex (odd length, other characters).
inline std::vector<std::uint8_t> unhex(const std::string& hex) {
  auto bytes = iotw::from_hex(hex);
  if (!bytes) throw std::invalid_argument("not hex: \"" + hex + "\"");
  return *bytes;
}
