#include "iotw/sim/sim_datagram_link.hpp"

#include <memory>

namespace iotw::sim {

using harness::Direction;

namespace {
constexpr std::uint64_t kHoldLimitNs = 250'000'000;  // UdpRelay's kHoldLimit: a held datagram goes alone after this
constexpr std::uint16_t port_of(std::uint16_t base, std::size_t index) {
  return static_cast<std::uint16_t>(base + index % 5000);
}
}  // namespace

SimDatagramLink::SimDatagramLink(Scheduler& sched, std::string device, std::uint64_t seed, std::size_t index,
                                 harness::LinkCapture* capture, std::size_t capture_link)
    : sched_(sched), device_(std::move(device)), policy_(seed), capture_(capture), capture_link_(capture_link),
      proxy_port_(port_of(20000, index)), upstream_port_(port_of(40000, index)), module_port_(port_of(60000, index)) {}

std::string SimDatagramLink::proxy_endpoint() const { return "127.0.0.1:" + std::to_string(proxy_port_); }

std::string SimDatagramLink::node_peer_name() const { return "udp:127.0.0.1:" + std::to_string(upstream_port_); }

void SimDatagramLink::send(Direction dir, std::vector<std::uint8_t> datagram) {
  const int d = static_cast<int>(dir);
  counts_[d].datagrams += 1;
  counts_[d].bytes += datagram.size();
  if (dir == Direction::DeviceToNode) module_heard_ = true;
  const std::uint64_t now = sched_.now_ns();
  for (harness::Delivery& del : policy_.on_datagram(dir, std::move(datagram))) {
    auto shared = std::make_shared<std::vector<std::uint8_t>>(std::move(del.bytes));
    const std::uint64_t delay = static_cast<std::uint64_t>(del.delay.count()) * 1'000'000ULL;
    sched_.at(now + delay, [this, dir, shared] { arrive(dir, *shared); });
  }
  if (policy_.holding(dir)) {  // released alone when no next datagram comes within the hold limit
    const std::uint64_t gen = ++flush_gen_[d];
    sched_.at(now + kHoldLimitNs, [this, dir, gen] {
      if (gen != flush_gen_[static_cast<int>(dir)]) return;  // a later datagram re-armed it
      if (auto held = policy_.take_held(dir)) arrive(dir, *held);
    });
  }
}

void SimDatagramLink::arrive(Direction dir, const std::vector<std::uint8_t>& datagram) {
  if (dir == Direction::NodeToDevice && !module_heard_) return;  // the proxy does not know the module yet
  const int d = static_cast<int>(dir);
  counts_[d].delivered_datagrams += 1;
  if (capture_) {
    harness::UdpFlow flow;  // the device's leg of the proxy: the module's socket <-> the proxy endpoint
    if (dir == Direction::DeviceToNode) {
      flow.src_port = module_port_;
      flow.dst_port = proxy_port_;
    } else {
      flow.src_port = proxy_port_;
      flow.dst_port = module_port_;
    }
    capture_->on_datagram(capture_link_, dir, flow, datagram);
  }
  if (const Receiver& r = receiver_[d]) r(datagram.data(), datagram.size());
}

harness::UdpLinkStats SimDatagramLink::stats() const {
  harness::UdpLinkStats s;
  s.device = device_;
  s.proxy_port = proxy_port_;
  s.proxy_ip = "127.0.0.1";
  s.node_to_device = counts_[static_cast<int>(Direction::NodeToDevice)];
  s.device_to_node = counts_[static_cast<int>(Direction::DeviceToNode)];
  s.faults = policy_.counts();
  return s;
}

}  // namespace iotw::sim
