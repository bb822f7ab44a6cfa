// A set of 32-byte transaction hashes for duplicate refusal in front of the SQLite store (bench/RESULTS.md).
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "iotw/trust_node/ledger.hpp"

namespace iotw::tn {

/** Open-addressing set of 32-byte tx hashes (linear probing, backward-shift erase, no per-entry allocation):
 *  ~46 to 92 bytes per stored tx. The all-zero hash is kept in a flag (it marks empty slots). */
class TxHashSet {
 public:
  size_t size() const { return size_ + has_zero_; }
  /** false if h was already present. */
  bool insert(const Hash &h) {
    if (h == Hash{}) return !std::exchange(has_zero_, true);
    if ((size_ + 1) * 10 > slots_.size() * 7) grow();
    size_t i = home(h);
    for (; slots_[i] != Hash{}; i = (i + 1) & mask())
      if (slots_[i] == h) return false;
    slots_[i] = h;
    ++size_;
    return true;
  }
  bool contains(const Hash &h) const {
    if (h == Hash{}) return has_zero_;
    if (slots_.empty()) return false;
    for (size_t i = home(h); slots_[i] != Hash{}; i = (i + 1) & mask())
      if (slots_[i] == h) return true;
    return false;
  }
  void erase(const Hash &h) {
    if (h == Hash{}) return void(has_zero_ = false);
    if (slots_.empty()) return;
    size_t i = home(h);
    for (; slots_[i] != h; i = (i + 1) & mask())
      if (slots_[i] == Hash{}) return;
    // Backward-shift deletion: move later entries of the cluster into the hole when their home allows it.
    for (size_t j = (i + 1) & mask(); slots_[j] != Hash{}; j = (j + 1) & mask()) {
      const size_t k = home(slots_[j]);
      if (((j - k) & mask()) >= ((j - i) & mask())) slots_[i] = slots_[j], i = j;
    }
    slots_[i] = Hash{};
    --size_;
  }

 private:
  size_t mask() const { return slots_.size() - 1; }
  size_t home(const Hash &h) const {
    uint64_t w[4];
    std::memcpy(w, h.data(), sizeof w);  // SHA-256 output is uniform, but tests use hand-made hashes: mix all words
    return static_cast<size_t>(((w[0] ^ w[1] ^ w[2] ^ w[3]) * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
  }
  void grow() {
    std::vector<Hash> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Hash{});
    shift_ = 64 - std::countr_zero(slots_.size());  // the top log2(size) bits of the product
    size_ = 0;
    for (const Hash &h : old)
      if (h != Hash{}) insert(h);
  }
  std::vector<Hash> slots_;  ///< power-of-two size, Hash{} = empty
  size_t size_ = 0;
  int shift_ = 64;
  bool has_zero_ = false;
};

}  // namespace iotw::tn
