// The hex codec (iotw/support/hex.hpp) on libsodium: lower-case output, strict input.
#include "iotw/support/hex.hpp"

#include <gtest/gtest.h>

namespace iotw {
namespace {

using Bytes = std::vector<std::uint8_t>;

TEST(Hex, EncodesLowerCaseWithoutSeparators) {
  const std::array<std::uint8_t, 4> a{0x00, 0x9f, 0xab, 0xff};
  EXPECT_EQ(to_hex(a), "009fabff");
  EXPECT_EQ(to_hex(Bytes{0x01, 0x23}), "0123");
  EXPECT_EQ(to_hex(a.data(), 2), "009f");
  EXPECT_EQ(to_hex(Bytes{}), "");
  std::string s = "x=";
  append_hex(s, a);
  EXPECT_EQ(s, "x=009fabff");
}

TEST(Hex, DecodesEitherCaseByDefault) {
  EXPECT_EQ(from_hex("009fABff"), (Bytes{0x00, 0x9f, 0xab, 0xff}));
  EXPECT_EQ(from_hex(""), Bytes{});
  EXPECT_EQ(from_hex<2>("aBcD"), (std::array<std::uint8_t, 2>{0xab, 0xcd}));
}

TEST(Hex, LowerCaseRuleRefusesUpperCase) {
  EXPECT_EQ(from_hex("abcd", HexCase::lower), (Bytes{0xab, 0xcd}));
  EXPECT_FALSE(from_hex("abCd", HexCase::lower));
  EXPECT_FALSE(from_hex<2>("ABCD", HexCase::lower));
}

TEST(Hex, RefusesOddLengthAndNonHexCharacters) {
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("0x12"));
  EXPECT_FALSE(from_hex("12 34"));
  EXPECT_FALSE(from_hex("12:34"));
  EXPECT_FALSE(from_hex("123g"));
  EXPECT_FALSE(from_hex("g123"));
  EXPECT_FALSE(from_hex(std::string_view("12\0" "4", 4)));
  EXPECT_FALSE(from_hex<2>("abcdef"));  // wrong length
  EXPECT_FALSE(from_hex<2>("abc"));
}

TEST(Hex, RoundTripsEveryByte) {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(from_hex(to_hex(all), HexCase::lower), all);
}

}  // namespace
}  // namespace iotw
