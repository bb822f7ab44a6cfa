// The one base64 codec (iotw/support/base64.hpp): RFC 4648 §10's test vectors, binary bytes, and refused input.
#include <gtest/gtest.h>

#include "iotw/support/base64.hpp"

namespace iotw {
namespace {

TEST(Base64, Rfc4648TestVectorsBothWays) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(to_base64(plain), coded);
    EXPECT_EQ(from_base64(coded), std::optional<std::string>(plain)) << coded;
  }
}

TEST(Base64, AnyBytesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(from_base64(to_base64(all)), all);
  EXPECT_EQ(to_base64(std::string("\0\xff", 2)), "AP8=");
}

TEST(Base64, MalformedTextIsRefused) {
  EXPECT_EQ(from_base64("Zg="), std::nullopt);     // truncated padding
  EXPECT_EQ(from_base64("Zm9v!"), std::nullopt);   // not in the alphabet
  EXPECT_EQ(from_base64("Zm9v YmFy"), std::nullopt);  // no whitespace
  EXPECT_EQ(from_base64("Zm8=Zm8="), std::nullopt);   // data after the padding
}

}  // namespace
}  // namespace iotw
