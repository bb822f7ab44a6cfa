#include "iotw/sim/verify_memo.hpp"

#include <sodium.h>

#include <cstring>

namespace iotw::sim {

std::size_t VerifyMemo::KeyHash::operator()(const Key& k) const noexcept {
  std::size_t h;
  std::memcpy(&h, k.data(), sizeof h);  // already a uniform hash
  return h;
}

int VerifyMemo::verify(Verify verify, void* ctx, const std::uint8_t pk[32], const std::uint8_t* msg, std::size_t len,
                       const std::uint8_t sig[64]) {
  Key key{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, key.size());
  crypto_generichash_update(&st, pk, 32);
  crypto_generichash_update(&st, sig, 64);
  const std::uint64_t n = len;
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(&n), sizeof n);
  crypto_generichash_update(&st, msg, len);
  crypto_generichash_final(&st, key.data(), key.size());
  if (const auto it = results_.find(key); it != results_.end()) {
    ++hits_;
    return it->second;
  }
  ++misses_;
  const int rc = verify(ctx, pk, msg, len, sig);
  if (results_.size() >= kMaxEntries) results_.clear();
  results_.emplace(key, rc);
  return rc;
}

}  // namespace iotw::sim
