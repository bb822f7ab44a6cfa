#include "iotw/support/seeded_random.hpp"

#include <sodium.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace iotw {
namespace {

void init_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium init failed");
}

// randombytes_buf_deterministic's nonce (libsodium randombytes.c), so the stream's first bytes equal it.
constexpr unsigned char kNonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {'L', 'i', 'b', 's', 'o', 'd', 'i',
                                                                          'u', 'm', 'D', 'R', 'G'};
static_assert(sizeof kNonce == 12);

}  // namespace

Seed component_seed(std::uint64_t rig_seed, std::string_view name) {
  init_sodium();
  static constexpr char kDomain[] = "iotw-rig-device-seed";
  std::string in(kDomain, sizeof kDomain - 1);
  for (int i = 0; i < 8; ++i) in.push_back(static_cast<char>(rig_seed >> (8 * i)));
  in.append(name);
  Seed out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()), in.size(), nullptr, 0);
  return out;
}

Seed sub_seed(const Seed& parent, std::string_view purpose) {
  init_sodium();
  Seed out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size(),
                     parent.data(), parent.size());
  return out;
}

SeededStream::SeededStream(const Seed& seed) : key_(seed) { init_sodium(); }

void SeededStream::fill(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    if (used_ == block_.size()) {
      if (next_block_ > 0xffffffffu) throw std::length_error("SeededStream: 2^32 blocks drawn from one stream");
      block_.fill(0);
      crypto_stream_chacha20_ietf_xor_ic(block_.data(), block_.data(), block_.size(), kNonce,
                                         static_cast<std::uint32_t>(next_block_), key_.data());
      ++next_block_;
      used_ = 0;
    }
    const std::size_t n = std::min(out.size() - done, block_.size() - used_);
    std::copy_n(block_.begin() + static_cast<std::ptrdiff_t>(used_), n, out.begin() + static_cast<std::ptrdiff_t>(done));
    used_ += n;
    done += n;
  }
}

SeededStream::result_type SeededStream::operator()() {
  std::array<std::uint8_t, 8> b{};
  fill(b);
  result_type v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | b[static_cast<std::size_t>(i)];
  return v;
}

}  // namespace iotw
