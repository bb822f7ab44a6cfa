// Hex helpers for protocol tests.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

inline std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  std::string digits;
  for (char c : hex)
    if (!isspace(static_cast<unsigned char>(c))) digits += c;
  if (digits.size() % 2) throw std::invalid_argument("odd hex length");
  for (size_t i = 0; i < digits.size(); i += 2) out.push_back(std::stoi(digits.substr(i, 2), nullptr, 16));
  return out;
}

inline std::string to_hex(const std::uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}
inline std::string to_hex(const std::vector<std::uint8_t>& v) { return to_hex(v.data(), v.size()); }
