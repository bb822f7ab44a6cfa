#include "iotw/support/hex.hpp"

#include <sodium.h>

namespace iotw {

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return;  // libsodium declares its pointers non-null; an empty span may carry nullptr
  const std::size_t at = out.size();
  out.resize(at + 2 * bytes.size() + 1);  // sodium_bin2hex writes a terminating NUL
  sodium_bin2hex(out.data() + at, 2 * bytes.size() + 1, bytes.data(), bytes.size());
  out.pop_back();
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string s;
  append_hex(s, bytes);
  return s;
}

std::string to_hex(const std::uint8_t* p, std::size_t n) { return to_hex(std::span<const std::uint8_t>(p, n)); }

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex, HexCase letters) {
  if (hex.size() % 2 != 0) return std::nullopt;
  if (hex.empty()) return std::vector<std::uint8_t>{};  // sodium_hex2bin's buffers are declared non-null
  if (letters == HexCase::lower && hex.find_first_of("ABCDEF") != std::string_view::npos) return std::nullopt;
  std::vector<std::uint8_t> out(hex.size() / 2);
  std::size_t len = 0;
  const char* end = nullptr;
  // No `ignore` characters: decoding stops at the first non-hex character, which `end` then points at.
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, &end) != 0 ||
      end != hex.data() + hex.size() || len != out.size())
    return std::nullopt;
  return out;
}

}  // namespace iotw
