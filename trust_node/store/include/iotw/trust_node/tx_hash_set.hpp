// A set of 32-byte transaction hashes for duplicate refusal in front of the SQLite store (bench/RESULTS.md).
#pragma once
#include <sys/mman.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "iotw/trust_node/ledger.hpp"

namespace iotw::tn {

/** Open-addressing set of 32-byte tx hashes (linear probing, backward-shift erase, no per-entry allocation):
 *  ~46 to 92 bytes per stored tx. The all-zero hash is kept in a flag (it marks empty slots). The table is
 *  anonymous mmap memory (zero-filled by the kernel, so a new table is not written before use) advised for
 *  transparent huge pages: random probes then miss the TLB far less (bench/RESULTS.md "A million transactions
 *  a second"). Throws std::bad_alloc when the kernel refuses the memory. Not thread-safe. */
class TxHashSet {
 public:
  TxHashSet() = default;
  TxHashSet(const TxHashSet &) = delete;
  TxHashSet &operator=(const TxHashSet &) = delete;
  ~TxHashSet() { release(slots_, n_); }
  /** Starts loading h's home slot into the cache (call a few hashes ahead of insert/contains in a loop). */
  void prefetch(const Hash &h) const {
    if (n_) __builtin_prefetch(&slots_[home(h)]);
  }
  size_t size() const { return size_ + has_zero_; }
  /** false if h was already present. */
  bool insert(const Hash &h) {
    if (empty(h)) return !std::exchange(has_zero_, true);
    if ((size_ + 1) * 10 > n_ * 7) grow();
    size_t i = home(h);
    for (; !empty(slots_[i]); i = (i + 1) & mask())
      if (same(slots_[i], h)) return false;
    slots_[i] = h;
    ++size_;
    return true;
  }
  bool contains(const Hash &h) const {
    if (empty(h)) return has_zero_;
    if (n_ == 0) return false;
    for (size_t i = home(h); !empty(slots_[i]); i = (i + 1) & mask())
      if (same(slots_[i], h)) return true;
    return false;
  }
  void erase(const Hash &h) {
    if (empty(h)) return void(has_zero_ = false);
    if (n_ == 0) return;
    size_t i = home(h);
    for (; !same(slots_[i], h); i = (i + 1) & mask())
      if (empty(slots_[i])) return;
    // Backward-shift deletion: move later entries of the cluster into the hole when their home allows it.
    for (size_t j = (i + 1) & mask(); !empty(slots_[j]); j = (j + 1) & mask()) {
      const size_t k = home(slots_[j]);
      if (((j - k) & mask()) >= ((j - i) & mask())) slots_[i] = slots_[j], i = j;
    }
    slots_[i] = Hash{};
    --size_;
  }

 private:
  // 32-byte compares as four 64-bit words: std::array's operator== called memcmp, 14 % of the node's CPU at
  // 200,000 tx/s (bench/RESULTS.md "A million transactions a second").
  static bool same(const Hash &a, const Hash &b) {
    uint64_t x[4], y[4];
    std::memcpy(x, a.data(), sizeof x);
    std::memcpy(y, b.data(), sizeof y);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
  }
  static bool empty(const Hash &a) {
    uint64_t x[4];
    std::memcpy(x, a.data(), sizeof x);
    return (x[0] | x[1] | x[2] | x[3]) == 0;
  }
  size_t mask() const { return n_ - 1; }
  size_t home(const Hash &h) const {
    uint64_t w[4];
    std::memcpy(w, h.data(), sizeof w);  // SHA-256 output is uniform, but tests use hand-made hashes: mix all words
    return static_cast<size_t>(((w[0] ^ w[1] ^ w[2] ^ w[3]) * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
  }
  static Hash *allocate(size_t n) {
    void *p = mmap(nullptr, n * sizeof(Hash), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, n * sizeof(Hash), MADV_HUGEPAGE);  // advice only: without THP the table works the same
    return static_cast<Hash *>(p);
  }
  static void release(Hash *p, size_t n) {
    if (p) munmap(p, n * sizeof(Hash));
  }
  void grow() {
    Hash *old = slots_;
    const size_t old_n = n_;
    slots_ = allocate(old_n ? old_n * 2 : 1024);
    n_ = old_n ? old_n * 2 : 1024;
    shift_ = 64 - std::countr_zero(n_);  // the top log2(size) bits of the product
    size_ = 0;
    for (size_t i = 0; i < old_n; ++i) {
      if (i + 8 < old_n && !empty(old[i + 8])) prefetch(old[i + 8]);  // rehash: random writes, 8 ahead
      if (!empty(old[i])) insert(old[i]);
    }
    release(old, old_n);
  }
  Hash *slots_ = nullptr;  ///< n_ slots (a power of two), Hash{} = empty
  size_t n_ = 0;
  size_t size_ = 0;
  int shift_ = 64;
  bool has_zero_ = false;
};

}  // namespace iotw::tn
