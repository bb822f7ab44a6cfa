// A device's serial link in simulation mode (docs/simulation.md "Links"): the byte stream between the device's UART and
// the trust node's, in memory, at the line's baud rate (none for a PTY), through the same seeded serial fault proxy (FaultPolicy,
// docs/faults.md) a real-time rig puts between two PTYs, with every delivered byte captured to links.pcapng at its
// virtual time. It is the sim kind of the harness's links: its statistics have the shape of report.json
// harness.links entries.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fault_policy.hpp"
#include "iotw/harness/link_kind.hpp"
#include "iotw/support/scheduler.hpp"
#include "link_capture.hpp"

namespace iotw::sim {

using harness::Direction;

class SimLink {
 public:
  /// Bytes arriving at one end.
  using Receiver = std::function<void(const std::uint8_t*, std::size_t)>;
  /// `seed`: the fault proxy's seed (the real-time rig's, from component_seed(rig seed, "link:<device>")). `baud`:
  /// bits per second of the line (10 bits per byte: 8N1); 0 = no line time (a PTY, which carries bytes at once). `capture` (may be null) gets every delivered chunk as
  /// interface `capture_link`. sched and capture must outlive the link.
  /// `kind`: the link kind it stands for (a PTY, or an AT module's TCP connection), as report.json names it.
  SimLink(Scheduler& sched, std::string device, std::uint64_t seed, int baud, harness::LinkCapture* capture,
          std::size_t capture_link, harness::LinkKind kind = harness::LinkKind::Pty);
  SimLink(const SimLink&) = delete;
  SimLink& operator=(const SimLink&) = delete;

  /// Where delivered bytes go: to the trust node (DeviceToNode) and to the device (NodeToDevice).
  void set_receiver(Direction dir, Receiver r) { receiver_[static_cast<int>(dir)] = std::move(r); }
  /// One end writes `bytes` to its UART: they leave after what this direction is still sending, take len x 10 / baud
  /// s on the line, pass the fault policy (which may drop, damage, delay or add bytes) and arrive in order.
  void send(Direction dir, std::vector<std::uint8_t> bytes);

  harness::FaultPolicy& policy() { return policy_; }
  const std::string& device() const { return device_; }
  /// serial_link_json (rig_link.hpp) with node_side and device_side "sim": a real-time rig's report.json harness.links
  /// entry.
  nlohmann::ordered_json stats_json() const;

 private:
  struct Side {
    std::uint64_t line_free_ns = 0;  ///< when the line of this direction is free again
    std::uint64_t last_arrival_ns = 0;  ///< deliveries keep their order (the fabric's order)
    harness::DirectionCounts counts;
    /// Chunks on their way: `next` (empty: none; a chunk is never empty), then `more` from `head`. Each has one
    /// scheduled delivery, and deliveries of one direction run in this order (their times never decrease; the
    /// scheduler keeps FIFO order at equal times). Most links have at most one chunk on the way, so `more` holds no
    /// memory between bursts.
    std::vector<std::uint8_t> next;
    std::vector<std::vector<std::uint8_t>> more;
    std::size_t head = 0;
  };
  void enqueue(Direction dir, std::vector<std::uint8_t> bytes, std::uint64_t at_ns);
  void deliver(Direction dir);
  Scheduler& sched_;
  std::string device_;
  std::string_view kind_;
  harness::FaultPolicy policy_;
  int baud_;
  harness::LinkCapture* capture_;
  std::size_t capture_link_;
  Receiver receiver_[2];
  Side side_[2];
};

}  // namespace iotw::sim
