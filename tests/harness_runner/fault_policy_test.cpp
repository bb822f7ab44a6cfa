// FaultPolicy: each serial fault does what docs/faults.md says, counts it exactly, and is seeded.
#include "fault_policy.hpp"

#include <gtest/gtest.h>

#include "rig_script.hpp"

namespace iotw::harness {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Ten frames of 20 bytes (1..20) each followed by the 0x00 delimiter.
Bytes frames(int n = 10) {
  Bytes b;
  for (int f = 0; f < n; ++f) {
    for (int i = 1; i <= 20; ++i) b.push_back(static_cast<std::uint8_t>(i));
    b.push_back(0);
  }
  return b;
}

Bytes through(FaultPolicy& p, const Bytes& in, Direction dir = Direction::NodeToDevice) {
  Bytes out;
  for (auto& d : p.on_chunk(dir, in)) out.insert(out.end(), d.bytes.begin(), d.bytes.end());
  return out;
}

TEST(FaultPolicy, NoFaultIsPassThroughAndCountsFrames) {
  FaultPolicy p(1);
  EXPECT_EQ(through(p, frames()), frames());
  EXPECT_EQ(p.frames_delivered(Direction::NodeToDevice), 10u);
  EXPECT_EQ(p.frames_delivered(Direction::DeviceToNode), 0u);
}

TEST(FaultPolicy, CorruptEveryByteChangesEveryByte) {
  FaultPolicy p(1);
  p.set({.corrupt_rate = 1.0});
  const Bytes in = frames(), out = through(p, in);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) EXPECT_NE(out[i], in[i]) << i;
  EXPECT_EQ(p.counts().corrupted_bytes, in.size());
}

TEST(FaultPolicy, BitFlipChangesExactlyOneBit) {
  FaultPolicy p(2);
  p.set({.bit_flip_rate = 1.0});
  const Bytes in = frames(1), out = through(p, in);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) EXPECT_EQ(__builtin_popcount(out[i] ^ in[i]), 1) << i;
  EXPECT_EQ(p.counts().bit_flips, in.size());
}

TEST(FaultPolicy, DropFramesRemovesWholeFramesOnly) {
  FaultPolicy p(3);
  p.set({.drop_frame_rate = 0.5});
  const Bytes out = through(p, frames(200));
  const auto dropped = p.counts().dropped_frames;
  EXPECT_GT(dropped, 50u);
  EXPECT_LT(dropped, 150u);
  ASSERT_EQ(out.size(), (200 - dropped) * 21);  // survivors are intact frames
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], (i % 21) == 20 ? 0 : (i % 21) + 1);
}

TEST(FaultPolicy, PerFrameCorruptionDamagesOneByteOfEachFrame) {
  FaultPolicy p(4);
  p.set({.corrupt_frame_rate = 1.0});
  const Bytes in = frames(), out = through(p, in);
  ASSERT_EQ(out.size(), in.size());
  for (int f = 0; f < 10; ++f) {
    int diffs = 0;
    for (int i = 0; i < 21; ++i) diffs += out[f * 21 + i] != in[f * 21 + i];
    EXPECT_EQ(diffs, 1) << "frame " << f;
    EXPECT_EQ(out[f * 21 + 20], 0) << "the delimiter is never the corrupted byte";
  }
}

TEST(FaultPolicy, DropBytesStallBaudGarbageAndDelay) {
  FaultPolicy p(5);
  p.set({.drop_byte_rate = 1.0});
  EXPECT_TRUE(through(p, frames()).empty());
  EXPECT_EQ(p.counts().dropped_bytes, 210u);

  p.set({.stall = true});
  EXPECT_TRUE(p.on_chunk(Direction::DeviceToNode, frames()).empty());
  EXPECT_EQ(p.counts().stalled_bytes, 210u);
  EXPECT_EQ(p.frames_delivered(Direction::DeviceToNode), 0u);

  p.set({.baud_mismatch = true});
  const Bytes garbled = through(p, frames());
  EXPECT_EQ(garbled.size(), 210u);
  EXPECT_NE(garbled, frames());
  EXPECT_EQ(p.counts().baud_garbled_bytes, 210u);

  p.set({.garbage_rate = 1.0, .garbage_bytes = 7});
  EXPECT_EQ(through(p, frames()).size(), 217u);
  EXPECT_EQ(p.counts().garbage_bytes, 7u);

  p.set({.delay_ms = 30, .jitter_ms = 10});
  const auto d = p.on_chunk(Direction::NodeToDevice, frames(1));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_GE(d[0].delay.count(), 30);
  EXPECT_LE(d[0].delay.count(), 40);
  EXPECT_EQ(d[0].bytes, frames(1));

  p.set({});  // healed: pass-through again
  EXPECT_EQ(through(p, frames()), frames());
}

TEST(FaultPolicy, SameSeedSameDamage) {
  FaultPolicy a(42), b(42), c(43);
  const SerialFaults f{.corrupt_rate = 0.1, .drop_frame_rate = 0.2, .garbage_rate = 0.3};
  a.set(f);
  b.set(f);
  c.set(f);
  EXPECT_EQ(through(a, frames(50)), through(b, frames(50)));
  EXPECT_NE(through(a, frames(50)), through(c, frames(50)));
}

TEST(CombineFaults, HighestRateStallAndLargestDelayWin) {
  FaultSpec corrupt{.kind = "corrupt", .rate = 0.01}, corrupt2{.kind = "corrupt", .rate = 0.05};
  FaultSpec frame{.kind = "corrupt", .rate = 0.2, .per_frame = true};
  FaultSpec part{.kind = "partition"}, delay{.kind = "delay", .delay_ms = 20, .jitter_ms = 5};
  const SerialFaults s = combine_faults({&corrupt, &corrupt2, &frame, &part, &delay});
  EXPECT_DOUBLE_EQ(s.corrupt_rate, 0.05);
  EXPECT_DOUBLE_EQ(s.corrupt_frame_rate, 0.2);
  EXPECT_TRUE(s.stall);
  EXPECT_EQ(s.delay_ms, 20);
  EXPECT_EQ(s.jitter_ms, 5);
  EXPECT_FALSE(combine_faults({}).any());
}

}  // namespace
}  // namespace iotw::harness
