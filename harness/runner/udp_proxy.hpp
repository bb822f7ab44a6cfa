// The UDP fault proxy: AT-mode devices reach the trust node's [udp] port through the harness, one proxy
// endpoint per device (docs/faults.md, "UDP link faults"). Neither end is modified: the module sends to its
// proxy port on 127.0.0.1; the relay forwards each datagram from its own upstream socket (one per device, so
// the trust node still sees one peer per device) and relays the node's answers back to the module's address.
// Every datagram passes a seeded UdpFaultPolicy: loss, duplication, reordering, delay + jitter, partition.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "link_fabric.hpp"

namespace iotw::harness {

/// The faults active on a UDP link; all off by default. Rates are probabilities 0..1 per datagram.
struct UdpFaults {
  double loss_rate = 0;       ///< the datagram is dropped
  double duplicate_rate = 0;  ///< the datagram is delivered twice
  double reorder_rate = 0;    ///< the datagram is held and delivered after the next one of its direction
  int delay_ms = 0;           ///< added latency per datagram, ms (0..60000)
  int jitter_ms = 0;          ///< plus a uniform 0..jitter_ms per datagram (datagrams may overtake each other)
  bool partition = false;     ///< every datagram is dropped, both directions (partition, stall)
  bool any() const;
};

/// What the faults did, per link (both directions summed). Counts are exact.
struct UdpFaultCounts {
  std::uint64_t lost = 0, duplicated = 0, reordered = 0, delayed = 0, partitioned = 0;
};

/// Seeded per-datagram fault policy of one UDP link. set()/faults()/counts()/datagrams_delivered() are
/// thread-safe; on_datagram/take_held run on the relay thread. Same seed + same datagrams = same output.
class UdpFaultPolicy {
 public:
  explicit UdpFaultPolicy(std::uint64_t seed) : rng_(seed) {}

  void set(const UdpFaults& faults);
  UdpFaults faults() const;
  UdpFaultCounts counts() const;
  /// Datagrams passed on in direction `dir` (duplicates included): the recovery check compares two readings.
  std::uint64_t datagrams_delivered(Direction dir) const;

  /// The deliveries for one datagram, in order (empty = dropped or held for reordering). A datagram held
  /// earlier in this direction is delivered right after this one's deliveries, with the same delay.
  std::vector<Delivery> on_datagram(Direction dir, std::vector<std::uint8_t> datagram);
  /// Releases the datagram held for reordering in `dir`, if any (no next datagram came in time, or the fault
  /// ended). Counted as delivered.
  std::optional<std::vector<std::uint8_t>> take_held(Direction dir);
  bool holding(Direction dir) const;

 private:
  bool roll(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  mutable std::mutex mutex_;
  UdpFaults faults_;
  UdpFaultCounts counts_;
  std::mt19937_64 rng_;
  std::array<std::optional<std::vector<std::uint8_t>>, 2> held_;
  std::atomic<std::uint64_t> delivered_[2] = {0, 0};
};

/// Datagram counters of one direction of a UDP link.
struct UdpDirectionCounts {
  std::uint64_t datagrams = 0;            ///< received from the sender
  std::uint64_t bytes = 0;
  std::uint64_t delivered_datagrams = 0;  ///< sent on to the receiver
};

struct UdpLinkStats {
  std::string device;
  std::uint16_t proxy_port = 0;  ///< the module sends here, on proxy_ip
  std::string proxy_ip = "127.0.0.1";  ///< 127.0.0.1 (AT modules) or the TAP bridge's address
  UdpDirectionCounts node_to_device, device_to_node;
  UdpFaultCounts faults;
};

/// One UDP link's entry of report.json harness.links: {"device", "link": "udp", "kind" (LinkKindInfo::name: "at-udp",
/// "tap", "external-udp"), "faults": {"lost_datagrams",
/// "duplicated_datagrams", "reordered_datagrams", "delayed_datagrams", "partitioned_datagrams"}, "udp_proxy":
/// "IP:PORT", "node_to_device", "device_to_node": {"datagrams", "bytes", "delivered_datagrams"}} (the real-time
/// runner's UdpRelay links and sim mode's SimDatagramLink).
nlohmann::ordered_json udp_link_json(const UdpLinkStats& s, std::string_view kind = "at-udp");

/// The relay: one proxied UDP link per AT device, on its own Boost.Asio io_context thread.
class UdpRelay {
 public:
  /// `node_port`: the trust node's [udp] port on 127.0.0.1. Starts the relay thread.
  explicit UdpRelay(std::uint16_t node_port);
  ~UdpRelay();
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  /// The device's leg of the proxy, where the faults are seen: device -> node = the module's socket -> its proxy
  /// endpoint; node -> device = the proxy endpoint -> the module's socket.
  using Flow = UdpFlow;
  /// Sees every datagram as it is sent on: link index (add_link order), direction, flow, bytes. Relay thread.
  using Tap = std::function<void(std::size_t, Direction, const Flow&, const std::vector<std::uint8_t>&)>;
  void set_tap(Tap tap);

  /// Binds the device's proxy endpoint on `bind_ip`:`bind_port` (an IPv4 address: 127.0.0.1 for AT modules, the
  /// TAP bridge's address for TAP modules, an external device's `listen` address; port 0 = kernel-picked) and its
  /// upstream socket (a kernel-picked port; on 127.0.0.1, or on any address when `node_ip` is not a loopback
  /// address), which sends to the trust node at `node_ip`:node_port (a [hosts] rig's far host: the node's address on
  /// the host link), and starts relaying through `policy` (owned by the relay; the pointer stays valid until the
  /// relay is destroyed). Both sockets are made in the calling thread's network namespace (a [hosts] rig's far host:
  /// the harness visits it for the call). Answers go back to the address the device last sent from. Returns the
  /// proxy port. Throws FabricError when a socket cannot be bound (the message names the address).
  std::uint16_t add_link(const std::string& device, std::unique_ptr<UdpFaultPolicy> policy,
                         const std::string& bind_ip = "127.0.0.1", std::uint16_t bind_port = 0,
                         const std::string& node_ip = "127.0.0.1");

  std::vector<UdpLinkStats> stats() const;
  /// Stops relaying (pending deliveries are dropped) and joins the thread; idempotent.
  void stop();

 private:
  class Link;
  std::uint16_t node_port_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Link>> links_;
  Tap tap_;
  std::thread thread_;
};

}  // namespace iotw::harness
