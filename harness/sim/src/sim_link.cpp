#include "iotw/sim/sim_link.hpp"

#include "rig_link.hpp"

#include <algorithm>

namespace iotw::sim {

SimLink::SimLink(Scheduler& sched, std::string device, std::uint64_t seed, int baud, harness::LinkCapture* capture,
                 std::size_t capture_link, harness::LinkKind kind)
    : sched_(sched), device_(std::move(device)), kind_(harness::link_kind_info(kind).name), policy_(seed), baud_(std::max(baud, 0)), capture_(capture),
      capture_link_(capture_link) {}

void SimLink::send(Direction dir, std::vector<std::uint8_t> bytes) {
  if (bytes.empty()) return;
  Side& s = side_[static_cast<int>(dir)];
  s.counts.bytes += bytes.size();
  s.counts.chunks += 1;
  const std::uint64_t now = sched_.now_ns();
  const std::uint64_t line_ns =
      baud_ > 0 ? bytes.size() * 10ULL * 1'000'000'000ULL / static_cast<std::uint64_t>(baud_) : 0;
  s.line_free_ns = std::max(s.line_free_ns, now) + line_ns;
  if (policy_.pass(dir, bytes)) {  // no fault active: the chunk as it is, no delay
    s.last_arrival_ns = std::max(s.last_arrival_ns, s.line_free_ns);
    return enqueue(dir, std::move(bytes), s.last_arrival_ns);
  }
  for (harness::Delivery& d : policy_.on_chunk(dir, std::move(bytes))) {
    const std::uint64_t delay = static_cast<std::uint64_t>(d.delay.count()) * 1'000'000ULL;
    s.last_arrival_ns = std::max(s.last_arrival_ns, s.line_free_ns + delay);
    enqueue(dir, std::move(d.bytes), s.last_arrival_ns);
  }
}

void SimLink::enqueue(Direction dir, std::vector<std::uint8_t> bytes, std::uint64_t at_ns) {
  Side& side = side_[static_cast<int>(dir)];
  if (side.next.empty()) side.next = std::move(bytes);
  else side.more.push_back(std::move(bytes));
  sched_.at(at_ns, [this, dir] { deliver(dir); });
}

void SimLink::deliver(Direction dir) {
  Side& side = side_[static_cast<int>(dir)];
  const std::vector<std::uint8_t> bytes = std::move(side.next);
  side.next.clear();
  if (side.head < side.more.size()) {
    side.next = std::move(side.more[side.head]);
    if (++side.head == side.more.size()) {  // the burst is over: its queue's memory goes
      side.more = {};
      side.head = 0;
    }
  }
  side.counts.delivered_bytes += bytes.size();
  if (capture_) capture_->on_bytes(capture_link_, dir, bytes);
  if (const Receiver& r = receiver_[static_cast<int>(dir)]) r(bytes.data(), bytes.size());
}

nlohmann::ordered_json SimLink::stats_json() const {
  return harness::serial_link_json(device_, kind_, policy_.counts(), "sim", "sim",
                                   side_[static_cast<int>(Direction::NodeToDevice)].counts,
                                   side_[static_cast<int>(Direction::DeviceToNode)].counts);
}

}  // namespace iotw::sim
