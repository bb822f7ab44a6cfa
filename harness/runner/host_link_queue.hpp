// The scheduling of a [hosts] rig's host link (docs/rig-format.md "Hosts"), without any I/O: what netem's delay,
// jitter and limit would do to each Ethernet frame, in user space (this project's kernels have no sch_netem).
// HostLinkRelay feeds it the frames it reads from the two hosts' TAP interfaces and writes out what comes due.
//
// Per direction: a frame taken in at time t is due at t + latency_ms + a uniform 0..jitter_ms (in µs: the next 8
// bytes of the direction's seeded stream, little-endian, modulo jitter_ms × 1000 + 1; no draw when jitter_ms is 0).
// Frames leave in order of their due time, frames due at the same µs in arrival order: with jitter a frame may
// overtake an earlier one, as with netem without a rate. The queue of each direction holds at most max_frames frames
// and max_bytes bytes; a frame that does not fit is dropped (tail drop, as netem's limit). While partitioned every
// frame is dropped, both ways, and cutting drops the frames already queued (those on the wire are lost).
#pragma once
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "iotw/support/seeded_random.hpp"
#include "link_fabric.hpp"

namespace iotw::harness {

/// The host link's delay and queue limits. Direction::NodeToDevice = the trust node's host -> the far host,
/// Direction::DeviceToNode = the far host -> the trust node's host.
struct HostLinkShape {
  int latency_ms = 0;                  ///< each way, 0..10000 ([hosts] latency_ms)
  int jitter_ms = 0;                   ///< plus uniform 0..jitter_ms per frame, 0..10000 ([hosts] jitter_ms)
  std::size_t max_frames = 1000;       ///< frames queued per direction at most (netem's default limit)
  std::size_t max_bytes = 4u << 20;    ///< bytes queued per direction at most (4 MiB)
};

/// What the host link did in one direction. Counts are exact.
struct HostLinkCounts {
  std::uint64_t frames = 0;              ///< taken in from the sending host (every frame, dropped ones too)
  std::uint64_t bytes = 0;               ///< their bytes (Ethernet header and payload, no FCS)
  std::uint64_t delivered_frames = 0;    ///< came due and were handed on to the receiving host
  std::uint64_t overflow_frames = 0;     ///< dropped: the direction's queue was full (max_frames or max_bytes)
  std::uint64_t partitioned_frames = 0;  ///< dropped by host_partition (arriving while cut, or queued at the cut)
  std::uint64_t failed_frames = 0;       ///< came due but the write to the receiving host failed
};

/// The host link's queues and delay. Not thread-safe (HostLinkRelay guards it).
class HostLinkQueue {
 public:
  using Clock = std::chrono::steady_clock;
  /// A frame that came due.
  struct Due {
    Direction dir;
    std::vector<std::uint8_t> frame;
  };

  /// The streams: sub_seed(component_seed(rig_seed, "host_link"), "trust_node->far") for NodeToDevice and
  /// "far->trust_node" for DeviceToNode (support/seeded_random.hpp), so each direction's delays depend only on the
  /// seed and how many frames that direction carried.
  HostLinkQueue(const HostLinkShape& shape, std::uint64_t rig_seed);

  /// What became of a frame offered to the link.
  enum class Taken { Queued, Overflow, Partitioned };
  /// Takes in `frame` travelling `dir` at `now`; counts it.
  Taken push(Direction dir, std::vector<std::uint8_t> frame, Clock::time_point now);
  /// The earliest due time of a queued frame, either direction; nothing when both queues are empty.
  std::optional<Clock::time_point> next_due() const;
  /// Removes and returns every frame due at or before `now`, in due order (ties: arrival order); counted delivered.
  std::vector<Due> pop_due(Clock::time_point now);
  /// Counts a due frame the relay could not write (it was counted delivered by pop_due; this moves it over).
  void count_failed(Direction dir);

  /// true: drops the queued frames and every frame from now on, both ways (counted partitioned_frames); false: carries
  /// frames again.
  void set_partitioned(bool partitioned);
  bool partitioned() const { return partitioned_; }

  const HostLinkCounts& counts(Direction dir) const { return side(dir).counts; }
  std::size_t queued_frames(Direction dir) const { return side(dir).queue.size(); }
  std::size_t queued_bytes(Direction dir) const { return side(dir).bytes; }

 private:
  struct Side {
    explicit Side(const Seed& seed) : stream(seed) {}
    SeededStream stream;
    std::multimap<Clock::time_point, std::vector<std::uint8_t>> queue;  // equal keys keep insertion order
    std::size_t bytes = 0;
    HostLinkCounts counts;
  };
  Side& side(Direction dir) { return sides_[dir == Direction::NodeToDevice ? 0 : 1]; }
  const Side& side(Direction dir) const { return sides_[dir == Direction::NodeToDevice ? 0 : 1]; }

  HostLinkShape shape_;
  std::array<Side, 2> sides_;
  bool partitioned_ = false;
};

}  // namespace iotw::harness
