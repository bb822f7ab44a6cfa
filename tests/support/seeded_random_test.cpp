// The rig's one randomness source (support/seeded_random.hpp) against fixed vectors. The expected hex was computed
// once outside this code base, with Python's hashlib (BLAKE2b) and the `cryptography` package (ChaCha20):
//   seed = blake2b(b"iotw-rig-device-seed" + (42).to_bytes(8, "little") + b"esp-01", digest_size=32)
//   stream = ChaCha20(key=seed, nonce=(0).to_bytes(4, "little") + b"LibsodiumDRG").encrypt(zeros)
//   sub = blake2b(b"lwip", key=seed, digest_size=32)
#include "iotw/support/seeded_random.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <random>
#include <vector>

#include "iotw/support/hex.hpp"

namespace iotw {
namespace {

constexpr char kSeed42Esp01[] = "aff5cb3a8f9abea0ed005d8c043b4cb395e5ef8f92be600c3daa5896fa87e93f";

TEST(SeededRandom, ComponentSeedIsBlake2bOfDomainRigSeedAndName) {
  EXPECT_EQ(to_hex(component_seed(42, "esp-01")), kSeed42Esp01);
  // the QEMU device's seed of the same rig seed (the value emu.toml carried before this derivation moved here)
  EXPECT_EQ(to_hex(component_seed(42, "qemu-m3-01")), "36fb76c69f3da5348b9365715023acce9e1c760cc05eb39dfb4c6bcf66325cb6");
  EXPECT_NE(component_seed(43, "esp-01"), component_seed(42, "esp-01"));
  EXPECT_NE(component_seed(42, "esp-02"), component_seed(42, "esp-01"));
}

TEST(SeededRandom, StreamStartsWithRandombytesBufDeterministicAndContinues) {
  const Seed seed = component_seed(42, "esp-01");
  SeededStream s(seed);
  std::vector<std::uint8_t> first(32);
  s.fill(first);
  EXPECT_EQ(to_hex(first), "3cfe5688fcd492c2b9292a7c0aba95977cc309fef5e6279074a58367f73be4d6");
  std::vector<std::uint8_t> libsodium(32);
  randombytes_buf_deterministic(libsodium.data(), libsodium.size(), seed.data());
  EXPECT_EQ(first, libsodium);
  // Successive draws continue the stream across the 64-byte block boundary (no repeat of the first bytes).
  std::vector<std::uint8_t> skip(28), next(40);
  s.fill(skip);
  s.fill(next);
  EXPECT_EQ(to_hex(next), "30c122cbc6c9dc941abfce493c96fac29a62344941eea1a4e28900a3c7a5b37c421ed62e80d7289b");
}

TEST(SeededRandom, SixtyFourBitDrawsAreLittleEndianAndFeedDistributions) {
  SeededStream s(component_seed(42, "esp-01"));
  EXPECT_EQ(s(), 14020502771042025020ull);
  SeededStream a(component_seed(7, "link:esp-01")), b(component_seed(7, "link:esp-01"));
  std::uniform_int_distribution<int> dist(0, 1'000'000);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(dist(a), dist(b));
}

TEST(SeededRandom, SubSeedIsKeyedBlake2b) {
  EXPECT_EQ(to_hex(sub_seed(component_seed(42, "esp-01"), "lwip")),
            "57ca52224d3fc862236eb90673c6bb9a55684e9dd09355230e6d2b397cf42ac8");
}

}  // namespace
}  // namespace iotw
