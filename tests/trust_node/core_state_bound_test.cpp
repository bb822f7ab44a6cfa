// The core's in-memory state stays bounded however long the node runs (docs/trust-node.md "Memory"): its
// tables grow with links and devices, never with rounds or blocks. Counts through TrustNodeCore::state_sizes(),
// not RSS.
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

TEST(TrustNodeCoreMemory, StateDoesNotGrowWithRoundsBlocksOrLinkChurn) {
  Rig rig;
  for (int i = 0; i < 5; ++i) rig.add();
  rig.add(Behaviour::silent_witness);       // replaced after its deadline; rests, is asked again
  rig.add(Behaviour::replay_attestation);   // replays: dropped without blame (dropped_ entries)
  rig.add(Behaviour::forge_attestation);    // bad signatures: dropped without blame
  const size_t devices = rig.devices.size();
  const size_t start = rig.mem.chain.size();
  const size_t blocks = 300;
  uint32_t stranger = 10'000;
  size_t checks = 0;
  for (int i = 0; i < 6000 && rig.mem.chain.size() < start + blocks; ++i) {
    rig.submit("tx-" + std::to_string(i));
    rig.advance(rig.cfg.block_interval_ms);
    if (i % 7 == 0) {
      // Link churn: a stranger's link opens, sends a Hello (a registration in progress), and goes away.
      const uint32_t id = ++stranger;
      SimDevice s(id, "stranger-" + std::to_string(id), Behaviour::honest);
      rig.core.link_opened(s.link, "udp:127.0.0.1:" + std::to_string(s.link));
      rig.core.on_message(s.link, s.hello());
      std::erase_if(rig.sink.out, [&](const auto &o) { return o.first == s.link; });  // its Challenge
      rig.core.link_closed(s.link);
    }
    if (i % 25 == 0) {
      const TrustNodeCore::StateSizes z = rig.core.state_sizes();
      EXPECT_EQ(z.sessions, devices) << "one session per open link";
      EXPECT_EQ(z.devices, devices) << "strangers never proved a key";
      EXPECT_LE(z.recent_attestations, TrustNodeCore::recent_per_witness * devices);
      EXPECT_LE(z.dropped, 2 * devices) << "(device, reason) pairs, flushed at least every round";
      EXPECT_LE(z.per_key, devices);
      EXPECT_EQ(rig.core.registrations_in_progress(), 0u);
      ++checks;
    }
  }
  ASSERT_GE(rig.mem.chain.size(), start + blocks) << "the rounds went on";
  ASSERT_GT(checks, 10u);
  // The run was long enough that a table growing per round would have passed its bound several times over:
  // every device attested in far more than recent_per_witness rounds.
  EXPECT_GT(blocks * rig.cfg.witnesses, 4 * TrustNodeCore::recent_per_witness * devices);
  EXPECT_FALSE(rig.sink.of("attestations_dropped").empty()) << "the replaying and forging devices were exercised";
  EXPECT_TRUE(rig.mem.black.empty());
}

}  // namespace
}  // namespace iotw::tn::test
