// A device's UDP link in simulation mode (docs/simulation.md "Links"): the datagrams between an AT module's socket
// and the trust node's [udp] port, in memory, through the same seeded UDP fault proxy (UdpFaultPolicy,
// harness/runner/udp_proxy.hpp; docs/faults.md "UDP link faults") a real-time rig puts between them: loss,
// duplication, reordering (a held datagram goes after the next one of its direction, or alone when none comes
// within 250 ms, as UdpRelay does), delay + jitter, partition. Loopback has no line time: a datagram arrives at
// once, plus its delay. Every delivered datagram is captured to links.pcapng as IPv4/UDP at its virtual time, on a
// made-up, fixed loopback flow (the device's leg of the proxy, as the real capture): ports from the link's index,
// so the bytes depend on nothing outside the run. Its statistics are report.json's UDP link entries (udp_link_json).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/support/scheduler.hpp"
#include "link_capture.hpp"
#include "udp_proxy.hpp"

namespace iotw::sim {

class SimDatagramLink {
 public:
  /// One datagram arriving at one end (the module's socket, or the trust node's [udp] port).
  using Receiver = std::function<void(const std::uint8_t*, std::size_t)>;
  /// `seed`: the fault proxy's seed (the real-time rig's, SeededStream(component_seed(rig seed, "link:<device>"))()).
  /// `index`: the link's number among the rig's UDP links (0, 1, ...): it picks the made-up ports (index mod 5000):
  /// the proxy endpoint 127.0.0.1:(20000 + i) the module sends to, the proxy's upstream socket 127.0.0.1:(40000 + i)
  /// the trust node sees, the module's socket 127.0.0.1:(60000 + i). `capture` (may be null) gets every delivered
  /// datagram on UDP link `capture_link` (its add_udp_link order). sched and capture must outlive the link.
  SimDatagramLink(Scheduler& sched, std::string device, std::uint64_t seed, std::size_t index,
                  harness::LinkCapture* capture, std::size_t capture_link);
  SimDatagramLink(const SimDatagramLink&) = delete;
  SimDatagramLink& operator=(const SimDatagramLink&) = delete;

  /// Where delivered datagrams go: to the trust node (DeviceToNode) and to the module (NodeToDevice).
  void set_receiver(harness::Direction dir, Receiver r) { receiver_[static_cast<int>(dir)] = std::move(r); }
  /// One end sends one datagram: it passes the fault policy (which may drop, hold, duplicate or delay it) and
  /// arrives after its delay (datagrams with different delays may overtake each other, as on a real network). As in
  /// the real proxy, the node's datagrams are lost until the module has sent one (its address is not known yet).
  void send(harness::Direction dir, std::vector<std::uint8_t> datagram);

  harness::UdpFaultPolicy& policy() { return policy_; }
  const std::string& device() const { return device_; }
  std::uint16_t proxy_port() const { return proxy_port_; }
  std::uint16_t module_port() const { return module_port_; }
  /// "127.0.0.1:PORT": where the module sends (its trust_node_udp).
  std::string proxy_endpoint() const;
  /// "udp:127.0.0.1:PORT": the peer the trust node sees (the proxy's upstream socket), as the daemon names it.
  std::string node_peer_name() const;
  /// The real relay's statistics of this link (proxy_ip 127.0.0.1, proxy_port).
  harness::UdpLinkStats stats() const;
  /// udp_link_json(stats()): the shape of a real-time rig's report.json harness.links UDP entry.
  nlohmann::ordered_json stats_json() const { return harness::udp_link_json(stats()); }

 private:
  /// Hands one datagram to the receiver of `dir` now (counted, captured).
  void arrive(harness::Direction dir, const std::vector<std::uint8_t>& datagram);

  Scheduler& sched_;
  std::string device_;
  harness::UdpFaultPolicy policy_;
  harness::LinkCapture* capture_;
  std::size_t capture_link_;
  std::uint16_t proxy_port_, upstream_port_, module_port_;
  bool module_heard_ = false;
  Receiver receiver_[2];
  harness::UdpDirectionCounts counts_[2];  ///< [Direction]
  std::uint64_t flush_gen_[2] = {0, 0};    ///< a later datagram re-arms the release of a held one
};

}  // namespace iotw::sim
