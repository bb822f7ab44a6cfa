#include "host_link_queue.hpp"

namespace iotw::harness {
namespace {

Seed direction_seed(std::uint64_t rig_seed, const char* purpose) {
  return sub_seed(component_seed(rig_seed, "host_link"), purpose);
}

}  // namespace

HostLinkQueue::HostLinkQueue(const HostLinkShape& shape, std::uint64_t rig_seed)
    : shape_(shape),
      sides_{Side(direction_seed(rig_seed, "trust_node->far")), Side(direction_seed(rig_seed, "far->trust_node"))} {}

HostLinkQueue::Taken HostLinkQueue::push(Direction dir, std::vector<std::uint8_t> frame, Clock::time_point now) {
  Side& s = side(dir);
  ++s.counts.frames;
  s.counts.bytes += frame.size();
  if (partitioned_) {
    ++s.counts.partitioned_frames;
    return Taken::Partitioned;
  }
  if (s.queue.size() + 1 > shape_.max_frames || s.bytes + frame.size() > shape_.max_bytes) {
    ++s.counts.overflow_frames;
    return Taken::Overflow;
  }
  std::chrono::microseconds delay(static_cast<std::int64_t>(shape_.latency_ms) * 1000);
  if (shape_.jitter_ms > 0) {
    const std::uint64_t span = static_cast<std::uint64_t>(shape_.jitter_ms) * 1000 + 1;
    delay += std::chrono::microseconds(static_cast<std::int64_t>(s.stream() % span));
  }
  s.bytes += frame.size();
  s.queue.emplace(now + delay, std::move(frame));
  return Taken::Queued;
}

std::optional<HostLinkQueue::Clock::time_point> HostLinkQueue::next_due() const {
  std::optional<Clock::time_point> due;
  for (const Side& s : sides_)
    if (!s.queue.empty() && (!due || s.queue.begin()->first < *due)) due = s.queue.begin()->first;
  return due;
}

std::vector<HostLinkQueue::Due> HostLinkQueue::pop_due(Clock::time_point now) {
  std::vector<Due> out;
  for (;;) {  // merge both directions by due time
    Side* next = nullptr;
    Direction dir = Direction::NodeToDevice;
    for (Direction d : {Direction::NodeToDevice, Direction::DeviceToNode}) {
      Side& s = side(d);
      if (s.queue.empty() || s.queue.begin()->first > now) continue;
      if (!next || s.queue.begin()->first < next->queue.begin()->first) {
        next = &s;
        dir = d;
      }
    }
    if (!next) return out;
    auto it = next->queue.begin();
    next->bytes -= it->second.size();
    ++next->counts.delivered_frames;
    out.push_back({dir, std::move(it->second)});
    next->queue.erase(it);
  }
}

void HostLinkQueue::count_failed(Direction dir) {
  Side& s = side(dir);
  if (s.counts.delivered_frames > 0) --s.counts.delivered_frames;
  ++s.counts.failed_frames;
}

void HostLinkQueue::set_partitioned(bool partitioned) {
  partitioned_ = partitioned;
  if (!partitioned) return;
  for (Side& s : sides_) {
    s.counts.partitioned_frames += s.queue.size();
    s.queue.clear();
    s.bytes = 0;
  }
}

}  // namespace iotw::harness
