// A set of transaction hashes for duplicate refusal in front of the SQLite store (bench/RESULTS.md).
#pragma once
#include <sys/mman.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <future>
#include <new>
#include <utility>

#include "iotw/trust_node/ledger.hpp"

namespace iotw::tn {

/** Open-addressing set of tx hashes (linear probing, backward-shift erase, no per-entry allocation) that keeps
 *  a 16-byte key per hash: its four 64-bit words folded into two (w0 ^ w2, w1 ^ w3). Two different SHA-256
 *  digests share a key with probability 2^-128, and making one that shares a given tx's key is a 128-bit
 *  preimage search, so a fresh tx is refused as a duplicate only with that probability (docs/trust-node.md
 *  "Duplicates"). 23 to 46 bytes per stored tx (load 0.35 to 0.7). The all-zero key is kept in a flag (it marks
 *  empty slots).
 *
 *  Memory: the table is anonymous mmap memory advised for transparent huge pages (random probes miss the TLB
 *  far less). The kernel zeroes fresh pages when they are first written, which was a fifth of the trust node's
 *  io thread at 1M tx/s, so the next, doubled table is allocated and faulted in (MADV_POPULATE_WRITE) on a
 *  helper thread once the table is 55 % full (it doubles at 70 %), and the old one is unmapped there after a doubling: the calling
 *  thread only rehashes (bench/RESULTS.md "A million transactions a second"). Throws std::bad_alloc when the
 *  kernel refuses the memory (also one the helper met, at the doubling). Not thread-safe: one caller. */
class TxHashSet {
 public:
  TxHashSet() = default;
  TxHashSet(const TxHashSet &) = delete;
  TxHashSet &operator=(const TxHashSet &) = delete;
  ~TxHashSet() {
    release(slots_, n_);
    if (next_.valid()) {
      try {
        release(next_.get(), n_ * 2);
      } catch (...) {  // the helper's allocation failed: nothing to release
      }
    }
    if (retired_.valid()) retired_.wait();
  }
  /** Starts loading h's home slot into the cache (call a few hashes ahead of insert/contains in a loop). */
  void prefetch(const Hash &h) const {
    if (n_) __builtin_prefetch(&slots_[home(key(h))]);
  }
  size_t size() const { return size_ + has_zero_; }
  /** false if h (its key) was already present. */
  bool insert(const Hash &h) { return insert_key(key(h)); }
  bool contains(const Hash &h) const {
    const Key k = key(h);
    if (empty(k)) return has_zero_;
    if (n_ == 0) return false;
    for (size_t i = home(k); !empty(slots_[i]); i = (i + 1) & mask())
      if (same(slots_[i], k)) return true;
    return false;
  }
  void erase(const Hash &h) {
    const Key k = key(h);
    if (empty(k)) return void(has_zero_ = false);
    if (n_ == 0) return;
    size_t i = home(k);
    for (; !same(slots_[i], k); i = (i + 1) & mask())
      if (empty(slots_[i])) return;
    // Backward-shift deletion: move later entries of the cluster into the hole when their home allows it.
    for (size_t j = (i + 1) & mask(); !empty(slots_[j]); j = (j + 1) & mask()) {
      const size_t m = home(slots_[j]);
      if (((j - m) & mask()) >= ((j - i) & mask())) slots_[i] = slots_[j], i = j;
    }
    slots_[i] = Key{};
    --size_;
  }

 private:
  struct Key {
    uint64_t a = 0, b = 0;
  };
  static Key key(const Hash &h) {
    uint64_t w[4];
    std::memcpy(w, h.data(), sizeof w);
    return {w[0] ^ w[2], w[1] ^ w[3]};
  }
  static bool same(const Key &x, const Key &y) { return ((x.a ^ y.a) | (x.b ^ y.b)) == 0; }
  static bool empty(const Key &x) { return (x.a | x.b) == 0; }
  size_t mask() const { return n_ - 1; }
  size_t home(const Key &k) const {  // SHA-256 output is uniform, but tests use hand-made hashes: mix both words
    return static_cast<size_t>(((k.a ^ k.b) * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
  }
  bool insert_key(const Key &k) {
    if (empty(k)) return !std::exchange(has_zero_, true);
    if ((size_ + 1) * 10 > n_ * 7) grow();
    else if (!next_.valid() && (size_ + 1) * 20 > n_ * 11) prepare_next();
    size_t i = home(k);
    for (; !empty(slots_[i]); i = (i + 1) & mask())
      if (same(slots_[i], k)) return false;
    slots_[i] = k;
    ++size_;
    return true;
  }
  static Key *allocate(size_t n) {
    void *p = mmap(nullptr, n * sizeof(Key), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, n * sizeof(Key), MADV_HUGEPAGE);  // advice only: without THP the table works the same
    return static_cast<Key *>(p);
  }
  /** allocate(n) with every page faulted in (zeroed by the kernel) now, on the calling thread. */
  static Key *allocate_populated(size_t n) {
    Key *p = allocate(n);
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif
    if (madvise(p, n * sizeof(Key), MADV_POPULATE_WRITE) != 0) {  // an older kernel: touch every page
      volatile char *bytes = reinterpret_cast<volatile char *>(p);
      for (size_t off = 0; off < n * sizeof(Key); off += 4096) bytes[off] = 0;
    }
    return p;
  }
  static void release(Key *p, size_t n) {
    if (p) munmap(p, n * sizeof(Key));
  }
  void prepare_next() {
    next_ = std::async(std::launch::async, allocate_populated, n_ * 2);
  }
  void grow() {
    Key *old = slots_;
    const size_t old_n = n_;
    const size_t n = old_n ? old_n * 2 : 1024;
    slots_ = next_.valid() ? next_.get() : allocate(n);  // get() rethrows the helper's bad_alloc
    n_ = n;
    shift_ = 64 - std::countr_zero(n_);  // the top log2(size) bits of the product
    size_ = 0;
    for (size_t i = 0; i < old_n; ++i) {
      if (i + 8 < old_n && !empty(old[i + 8])) __builtin_prefetch(&slots_[home(old[i + 8])]);  // 8 ahead
      if (!empty(old[i])) {
        size_t j = home(old[i]);
        while (!empty(slots_[j])) j = (j + 1) & mask();
        slots_[j] = old[i];
        ++size_;
      }
    }
    if (retired_.valid()) retired_.wait();
    if (old) retired_ = std::async(std::launch::async, release, old, old_n);  // unmapping 100s of MiB takes ms
  }
  Key *slots_ = nullptr;  ///< n_ slots (a power of two), Key{} = empty
  size_t n_ = 0;
  size_t size_ = 0;
  int shift_ = 64;
  bool has_zero_ = false;
  std::future<Key *> next_;   ///< the doubled table, being faulted in on a helper thread
  std::future<void> retired_;  ///< the table before the last doubling, being unmapped
};

}  // namespace iotw::tn
