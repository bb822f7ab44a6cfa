// The host link's scheduling (harness/runner/host_link_queue.hpp), without TAP interfaces: each frame is due
// latency + a seeded 0..jitter later, frames leave in due order (jitter may reorder, ties keep arrival order), the
// queues are bounded (tail drop, counted), a partition drops everything both ways including what is queued, and the
// same seed gives the same delays. The relay between real TAP interfaces: tests/integration/host_link_test.cpp.
#include <gtest/gtest.h>

#include <set>

#include "host_link_queue.hpp"

namespace iotw::harness {
namespace {

using Clock = HostLinkQueue::Clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

const Clock::time_point t0{};  // the queue never reads the clock itself

std::vector<std::uint8_t> frame(std::uint8_t id, std::size_t size = 60) { return std::vector<std::uint8_t>(size, id); }

/// Pops everything, one frame at a time, and returns (id, due offset from t0 in µs).
std::vector<std::pair<int, long>> drain(HostLinkQueue& q) {
  std::vector<std::pair<int, long>> out;
  while (auto due = q.next_due()) {
    const auto frames = q.pop_due(*due);
    for (const auto& d : frames)
      out.emplace_back(d.frame.at(0), std::chrono::duration_cast<microseconds>(*due - t0).count());
  }
  return out;
}

TEST(HostLinkQueue, EveryFrameWaitsTheLatencyPlusSeededJitterEachWay) {
  HostLinkQueue q({.latency_ms = 40, .jitter_ms = 5}, 17);
  std::set<long> delays;
  for (int i = 0; i < 200; ++i) {
    for (Direction dir : {Direction::NodeToDevice, Direction::DeviceToNode})
      ASSERT_EQ(q.push(dir, frame(1), t0 + milliseconds(i)), HostLinkQueue::Taken::Queued);
  }
  EXPECT_TRUE(q.pop_due(t0 + milliseconds(39)).empty()) << "nothing is due before the latency";
  long prev = 0;
  for (const auto& [id, at] : drain(q)) {
    EXPECT_GE(at, prev) << "frames leave in due order";
    prev = at;
  }
  // each frame's own delay: push one at a time into an empty queue
  for (int i = 0; i < 300; ++i) {
    const Direction dir = i % 2 ? Direction::DeviceToNode : Direction::NodeToDevice;
    q.push(dir, frame(2), t0);
    const long us = std::chrono::duration_cast<microseconds>(*q.next_due() - t0).count();
    EXPECT_GE(us, 40'000);
    EXPECT_LE(us, 45'000);
    delays.insert(us);
    ASSERT_EQ(q.pop_due(*q.next_due()).size(), 1u);
  }
  EXPECT_GT(delays.size(), 250u) << "the jitter is drawn in µs over 0..5 ms";
  EXPECT_EQ(q.counts(Direction::NodeToDevice).frames, 350u);
  EXPECT_EQ(q.counts(Direction::NodeToDevice).delivered_frames, 350u);
  EXPECT_EQ(q.counts(Direction::DeviceToNode).bytes, 350u * 60);
}

TEST(HostLinkQueue, WithoutJitterFramesKeepTheirOrderAndLeaveExactlyAfterTheLatency) {
  HostLinkQueue q({.latency_ms = 10}, 1);
  for (std::uint8_t i = 0; i < 5; ++i) q.push(Direction::DeviceToNode, frame(i), t0);  // all due at the same µs
  q.push(Direction::NodeToDevice, frame(9), t0 + microseconds(1));
  EXPECT_TRUE(q.pop_due(t0 + microseconds(9'999)).empty());
  const auto due = q.pop_due(t0 + milliseconds(10));
  ASSERT_EQ(due.size(), 5u);
  for (std::uint8_t i = 0; i < 5; ++i) {
    EXPECT_EQ(due[i].frame[0], i) << "equal due times keep arrival order";
    EXPECT_EQ(due[i].dir, Direction::DeviceToNode);
  }
  const auto last = q.pop_due(t0 + milliseconds(11));
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].dir, Direction::NodeToDevice);
  EXPECT_FALSE(q.next_due());
}

TEST(HostLinkQueue, JitterMayReorderFramesAsNetemDoes) {
  HostLinkQueue q({.latency_ms = 0, .jitter_ms = 10}, 5);
  for (int i = 0; i < 100; ++i)
    q.push(Direction::NodeToDevice, frame(static_cast<std::uint8_t>(i)), t0 + microseconds(i));
  int overtaken = 0, last = -1;
  for (const auto& [id, at] : drain(q)) {
    overtaken += id < last ? 1 : 0;
    last = id;
  }
  EXPECT_GT(overtaken, 0) << "a frame drawn a shorter delay leaves before an earlier one";
}

TEST(HostLinkQueue, FullQueuesDropTheArrivingFrameAndCountIt) {
  HostLinkQueue q({.latency_ms = 5, .max_frames = 3, .max_bytes = 1000}, 2);
  for (std::uint8_t i = 0; i < 3; ++i)
    EXPECT_EQ(q.push(Direction::NodeToDevice, frame(i), t0), HostLinkQueue::Taken::Queued);
  EXPECT_EQ(q.push(Direction::NodeToDevice, frame(3), t0), HostLinkQueue::Taken::Overflow) << "the frame cap";
  EXPECT_EQ(q.push(Direction::DeviceToNode, frame(4, 900), t0), HostLinkQueue::Taken::Queued) << "per direction";
  EXPECT_EQ(q.push(Direction::DeviceToNode, frame(5, 101), t0), HostLinkQueue::Taken::Overflow) << "the byte cap";
  EXPECT_EQ(q.push(Direction::DeviceToNode, frame(6, 100), t0), HostLinkQueue::Taken::Queued) << "exactly full fits";
  EXPECT_EQ(q.queued_bytes(Direction::DeviceToNode), 1000u);
  EXPECT_EQ(q.counts(Direction::NodeToDevice).overflow_frames, 1u);
  EXPECT_EQ(q.counts(Direction::DeviceToNode).overflow_frames, 1u);
  EXPECT_EQ(q.counts(Direction::DeviceToNode).frames, 3u) << "dropped frames are taken in too";
  EXPECT_EQ(q.pop_due(t0 + milliseconds(5)).size(), 5u);
  EXPECT_EQ(q.queued_bytes(Direction::DeviceToNode), 0u);
  EXPECT_EQ(q.push(Direction::NodeToDevice, frame(7), t0), HostLinkQueue::Taken::Queued) << "room again";
}

TEST(HostLinkQueue, APartitionDropsEverythingBothWaysThenTheLinkCarriesAgain) {
  HostLinkQueue q({.latency_ms = 40}, 3);
  q.push(Direction::NodeToDevice, frame(1), t0);
  q.push(Direction::DeviceToNode, frame(2), t0);
  q.set_partitioned(true);
  EXPECT_TRUE(q.partitioned());
  EXPECT_FALSE(q.next_due()) << "the frames on the wire are lost";
  EXPECT_EQ(q.push(Direction::NodeToDevice, frame(3), t0 + milliseconds(1)), HostLinkQueue::Taken::Partitioned);
  EXPECT_EQ(q.push(Direction::DeviceToNode, frame(4), t0 + milliseconds(1)), HostLinkQueue::Taken::Partitioned);
  EXPECT_TRUE(q.pop_due(t0 + milliseconds(100)).empty());
  EXPECT_EQ(q.counts(Direction::NodeToDevice).partitioned_frames, 2u);
  EXPECT_EQ(q.counts(Direction::DeviceToNode).partitioned_frames, 2u);
  q.set_partitioned(false);
  EXPECT_EQ(q.push(Direction::DeviceToNode, frame(5), t0 + milliseconds(200)), HostLinkQueue::Taken::Queued);
  const auto due = q.pop_due(t0 + milliseconds(240));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].frame[0], 5);
  EXPECT_EQ(q.counts(Direction::DeviceToNode).delivered_frames, 1u);
  q.count_failed(Direction::DeviceToNode);
  EXPECT_EQ(q.counts(Direction::DeviceToNode).delivered_frames, 0u);
  EXPECT_EQ(q.counts(Direction::DeviceToNode).failed_frames, 1u);
}

TEST(HostLinkQueue, SameSeedSameDelaysPerDirectionOtherSeedOther) {
  // The trust node's host -> far host delays, with or without frames the other way in between (its own stream).
  auto delays = [](std::uint64_t seed, bool other_way_too) {
    HostLinkQueue q({.latency_ms = 1, .jitter_ms = 50}, seed);
    std::vector<long> out;
    for (int i = 0; i < 50; ++i) {
      q.push(Direction::NodeToDevice, frame(1), t0);
      out.push_back(std::chrono::duration_cast<microseconds>(*q.next_due() - t0).count());
      q.pop_due(t0 + milliseconds(60));
      if (!other_way_too) continue;
      q.push(Direction::DeviceToNode, frame(0), t0);
      q.pop_due(t0 + milliseconds(60));
    }
    return out;
  };
  EXPECT_EQ(delays(7, false), delays(7, true));
  EXPECT_NE(delays(7, false), delays(8, false));
}

}  // namespace
}  // namespace iotw::harness
