#include "iotw/support/hex.hpp"

#include <sodium.h>

namespace iotw {

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  // Table-driven, not libsodium's constant-time sodium_bin2hex (6.6 % of the trust node's io thread at 1M tx/s:
  // 64 digits per accepted tx, bench/RESULTS.md). Its table reads depend on the bytes: the only secrets this
  // project hex-encodes are seeds written once into files (emulated devices' seeds, a certifier key), never in
  // a loop an attacker on the host could time.
  static constexpr char kDigits[] = "0123456789abcdef";
  const std::size_t at = out.size();
  out.resize(at + 2 * bytes.size());
  char* o = out.data() + at;
  for (const std::uint8_t b : bytes) {
    *o++ = kDigits[b >> 4];
    *o++ = kDigits[b & 15];
  }
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
