// The host link of a [hosts] rig (docs/rig-format.md "Hosts"): the user-space stand-in for a veth pair with netem on
// it. Each host's namespace has a TAP interface (`hl-<other host>`); the relay reads every Ethernet frame the kernel
// of one host sends out of its TAP interface and writes it, unchanged, to the other host's TAP interface once the
// HostLinkQueue says it is due (latency + seeded jitter, bounded queues, partition). ICMP, ARP, TCP and UDP between
// the hosts all take that path. One thread of its own (poll on both TAP descriptors, a timerfd for the next due
// frame and an eventfd to stop).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "host_link_queue.hpp"

namespace iotw::harness {

class HostLinkRelay {
 public:
  /// Attaches to the existing TAP interface `ifname` of the calling thread's network namespace (/dev/net/tun,
  /// IFF_TAP | IFF_NO_PI: frames without a packet-information header), non-blocking, close-on-exec. Returns the
  /// descriptor. Throws std::runtime_error naming the interface and the errno text.
  static int open_tap(const std::string& ifname);

  /// Takes ownership of the two TAP descriptors (`trust_node_tap`: the trust node's host's, `far_tap`: the far
  /// host's; Direction::NodeToDevice = trust node's host -> far host) and starts the thread. Throws
  /// std::runtime_error when the timerfd or eventfd cannot be made (the descriptors are closed).
  HostLinkRelay(int trust_node_tap, int far_tap, const HostLinkShape& shape, std::uint64_t rig_seed);
  /// stop().
  ~HostLinkRelay();
  HostLinkRelay(const HostLinkRelay&) = delete;
  HostLinkRelay& operator=(const HostLinkRelay&) = delete;

  /// Sees every frame as it is written to the receiving host: direction, the Ethernet frame. Relay thread; the call
  /// returns once no call of the previous tap is running. nullptr: none.
  using Tap = std::function<void(Direction, const std::vector<std::uint8_t>&)>;
  void set_tap(Tap tap);

  /// host_partition: true drops every frame both ways (the queued ones too), false carries them again.
  void set_partitioned(bool partitioned);
  HostLinkCounts counts(Direction dir) const;

  /// Stops the thread (queued frames are dropped, not counted) and closes the descriptors; idempotent.
  void stop();

 private:
  void run();
  bool read_from(Direction dir);  // false: the descriptor failed for good
  void deliver();

  int taps_[2] = {-1, -1};  // [0] trust node's host, [1] far host
  int timer_ = -1, wake_ = -1;
  mutable std::mutex mutex_;  // queue_
  HostLinkQueue queue_;
  std::mutex tap_mutex_;  // tap_: held while it is called
  Tap tap_;
  std::vector<std::uint8_t> buffer_;
  std::thread thread_;
};

}  // namespace iotw::harness
