#include "fault_policy.hpp"

namespace iotw::harness {

bool SerialFaults::any() const {
  return corrupt_rate > 0 || corrupt_frame_rate > 0 || bit_flip_rate > 0 || drop_byte_rate > 0 || drop_frame_rate > 0 || garbage_rate > 0 ||
         stall || baud_mismatch || delay_ms > 0 || jitter_ms > 0;
}

void FaultPolicy::set(const SerialFaults& faults) {
  std::lock_guard lock(mutex_);
  if (!active_) active_ = std::make_unique<Active>();
  active_->faults = faults;
}

SerialFaults FaultPolicy::faults() const {
  std::lock_guard lock(mutex_);
  return active_ ? active_->faults : SerialFaults{};
}

FaultCounts FaultPolicy::counts() const {
  std::lock_guard lock(mutex_);
  return active_ ? active_->counts : FaultCounts{};
}

std::uint64_t FaultPolicy::frames_delivered(Direction dir) const { return frames_[static_cast<int>(dir)].load(); }

void FaultPolicy::count_passed(int d, std::span<const std::uint8_t> chunk) {
  std::uint64_t frames = 0;
  for (std::uint8_t b : chunk) frames += b == 0 ? 1 : 0;
  frames_[d] += frames;
  frame_start_[d] = chunk.empty() ? frame_start_[d] : chunk.back() == 0;
  dropping_frame_[d] = false;
}

bool FaultPolicy::pass(Direction dir, std::span<const std::uint8_t> chunk) {
  std::lock_guard lock(mutex_);
  if (active_ && active_->faults.any()) return false;
  count_passed(static_cast<int>(dir), chunk);
  return true;
}

std::vector<Delivery> FaultPolicy::on_chunk(Direction dir, std::vector<std::uint8_t> chunk) {
  const int d = static_cast<int>(dir);
  std::lock_guard lock(mutex_);
  static const SerialFaults kNone;
  const SerialFaults& f = active_ ? active_->faults : kNone;
  std::vector<Delivery> out;
  if (!f.any()) {  // pass-through: the common case, no copy
    count_passed(d, chunk);
    out.push_back({std::move(chunk), std::chrono::milliseconds(0)});
    return out;
  }
  std::vector<std::uint8_t> bytes;
  bytes.reserve(chunk.size() + static_cast<std::size_t>(f.garbage_bytes));
  if (!f.stall && roll(f.garbage_rate)) {
    for (int i = 0; i < f.garbage_bytes; ++i) bytes.push_back(random_byte());
    active_->counts.garbage_bytes += static_cast<std::uint64_t>(f.garbage_bytes);
  }
  for (std::uint8_t b : chunk) {
    if (f.stall) {
      ++active_->counts.stalled_bytes;
      continue;
    }
    if (frame_start_[d]) {  // the frame decision is taken on its first byte, so nothing is buffered
      frame_start_[d] = false;
      dropping_frame_[d] = roll(f.drop_frame_rate);
      active_->counts.dropped_frames += dropping_frame_[d] ? 1 : 0;
      corrupt_in_[d] = roll(f.corrupt_frame_rate) ? static_cast<int>(rng()() % 16) : -1;
    }
    const bool delimiter = b == 0;
    if (delimiter) frame_start_[d] = true;
    if (dropping_frame_[d]) {
      ++active_->counts.dropped_bytes;
      continue;
    }
    if (roll(f.drop_byte_rate)) {
      ++active_->counts.dropped_bytes;
      continue;
    }
    if (f.baud_mismatch) {
      b = random_byte();
      ++active_->counts.baud_garbled_bytes;
    } else if ((!delimiter && corrupt_in_[d]-- == 0) || roll(f.corrupt_rate)) {
      b = static_cast<std::uint8_t>(b ^ (1 + (rng()() % 255)));  // never the same byte
      ++active_->counts.corrupted_bytes;
    } else if (roll(f.bit_flip_rate)) {
      b = static_cast<std::uint8_t>(b ^ (1u << (rng()() % 8)));
      ++active_->counts.bit_flips;
    }
    bytes.push_back(b);
  }
  for (std::uint8_t b : bytes) frames_[d] += b == 0 ? 1 : 0;
  if (bytes.empty()) return out;
  std::chrono::milliseconds delay(f.delay_ms);
  if (f.jitter_ms > 0) delay += std::chrono::milliseconds(rng()() % static_cast<std::uint64_t>(f.jitter_ms + 1));
  active_->counts.delayed_chunks += delay.count() > 0 ? 1 : 0;
  out.push_back({std::move(bytes), delay});
  return out;
}

}  // namespace iotw::harness
