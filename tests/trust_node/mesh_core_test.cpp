// The consensus core's mesh role (docs/trust-node.md "Mesh"): a node that does not assign jobs refuses devices
// with Error 6 and starts no block; the assigning node takes over transactions other nodes stored.
#include "iotw/ledger_signing.h"
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

size_t errors_with_code(const SimDevice &d, uint32_t code) {
  size_t n = 0;
  for (const iotw_v1_Envelope &e : d.received)
    n += e.which_body == iotw_v1_Envelope_error_tag && e.body.error.code == code;
  return n;
}

TEST(MeshCore, StandbyDetachesDevicesWithError6AndMinesNothing) {
  Rig rig;
  for (int i = 0; i < 5; ++i) rig.add();
  rig.submit("before");
  rig.advance(rig.cfg.block_interval_ms);
  for (int i = 0; i < 20 && rig.core.height() < 1; ++i) rig.advance(10);
  ASSERT_EQ(rig.core.height(), 1u);
  ASSERT_EQ(rig.core.attached_count(), 5u);

  rig.core.set_assigning(false);
  rig.pump();
  EXPECT_FALSE(rig.core.assigning());
  EXPECT_EQ(rig.core.attached_count(), 0u);
  for (auto &[link, d] : rig.devices) EXPECT_EQ(errors_with_code(d, 6), 1u) << d.name;

  // Transactions are still stored (durable, acknowledged) but no block starts.
  EXPECT_EQ(rig.submit("while standby").status, SubmitResult::accepted);
  EXPECT_EQ(rig.mem.pending.size(), 1u);
  EXPECT_EQ(rig.core.pending_count(), 0u);  // a standby keeps none in memory: the leader reads the store
  for (int i = 0; i < 50; ++i) rig.advance(10);
  EXPECT_EQ(rig.core.height(), 1u);

  // Any device message, a Hello included, gets Error 6 and changes nothing.
  SimDevice &first = rig.devices.begin()->second;
  rig.from(first, first.hello());
  EXPECT_EQ(errors_with_code(first, 6), 2u);
  EXPECT_EQ(rig.core.attached_count(), 0u);
  EXPECT_GE(rig.core.counters().not_assigning, 1u);
}

TEST(MeshCore, AssigningNodeMinesTransactionsAnotherNodeStored) {
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.add();
  // Another trust node of the mesh stored this tx in the shared ledger.
  const std::string text = "through another node";
  Tx tx{sha256(reinterpret_cast<const uint8_t *>(text.data()), text.size()), Bytes(text.begin(), text.end()), {}, {}};
  ASSERT_TRUE(rig.mem.add_pending_tx(tx));
  rig.mem.foreign.push_back(tx);
  for (int i = 0; i < 100 && rig.core.height() < 1; ++i) rig.advance(10);
  ASSERT_EQ(rig.core.height(), 1u);
  const Block b = rig.mem.blocks(1, 1).at(0);
  ASSERT_EQ(b.txs.size(), 1u);
  EXPECT_EQ(b.txs[0].hash, tx.hash);
  EXPECT_EQ(rig.core.counters().pending_absorbed, 1u);
  EXPECT_TRUE(rig.mem.pending.empty());
}

TEST(MeshCore, TakenOverTxAlreadyQueuedIsNotMinedTwice) {
  // A node taking over loads the pending txs from the store; a store that then also reports one of them as another
  // node's new tx (it cannot tell) must not make the core mine it twice.
  MemLedger store;
  const std::string text = "mine once";
  const Tx tx{sha256(reinterpret_cast<const uint8_t *>(text.data()), text.size()), Bytes(text.begin(), text.end()), {}, {}};
  ASSERT_TRUE(store.add_pending_tx(tx));
  store.foreign.push_back(tx);
  Rig rig({}, &store);
  ASSERT_EQ(rig.core.pending_count(), 1u);
  for (int i = 0; i < 4; ++i) rig.add();
  for (int i = 0; i < 100 && rig.core.height() < 1; ++i) rig.advance(10);
  ASSERT_EQ(rig.core.height(), 1u);
  EXPECT_EQ(store.blocks(1, 1).at(0).txs.size(), 1u);
  EXPECT_EQ(rig.core.counters().pending_absorbed, 0u);
  for (int i = 0; i < 50; ++i) rig.advance(10);
  EXPECT_EQ(rig.core.height(), 1u);
  EXPECT_TRUE(store.pending.empty());
}

TEST(MeshCore, ANodeTakingOverNeverReusesARoundIdItsPredecessorMayHaveUsed) {
  // Witnesses answer only a round id above every one they answered: the round the dead leader had in flight was
  // never finalized, so the new leader must start above every id the old one reserved, not at max_round_id + 1.
  MemLedger store;
  {
    Rig old_leader({}, &store);
    for (int i = 0; i < 4; ++i) old_leader.add();
    old_leader.submit("first");
    for (int i = 0; i < 100 && old_leader.core.height() < 1; ++i) old_leader.advance(10);
    ASSERT_EQ(old_leader.core.height(), 1u);
    EXPECT_EQ(store.chain.at(1).round_id, 1u);
    EXPECT_EQ(store.round_reserve, 1u + 1024u);  // recorded before round 1 was used
  }
  Rig new_leader({}, &store);
  for (int i = 0; i < 4; ++i) new_leader.add();
  new_leader.submit("second");
  for (int i = 0; i < 100 && new_leader.core.height() < 2; ++i) new_leader.advance(10);
  ASSERT_EQ(new_leader.core.height(), 2u);
  EXPECT_EQ(store.chain.at(2).round_id, 1025u);
  EXPECT_EQ(store.round_reserve, 1025u + 1024u);
}

// A standby's core does not follow the chain another node appends to the shared ledger; the tip it signs (GET /v1/tip,
// the end of an export) is the store's last block, not the height it had when it stopped assigning.
TEST(MeshCore, AStandbySignsTheStoresTipNotItsOwnStaleOne) {
  ConsensusConfig cfg;
  cfg.node_key_seed = std::array<uint8_t, 32>{7, 7, 7};
  Rig standby(cfg);
  for (int i = 0; i < 4; ++i) standby.add();
  standby.submit("one");
  standby.advance(cfg.block_interval_ms);
  for (int i = 0; i < 100 && standby.core.height() < 1; ++i) standby.advance(10);
  ASSERT_EQ(standby.core.height(), 1u);
  standby.core.set_assigning(false);
  standby.pump();

  Rig leader(cfg, &standby.mem);  // the node that took over, on the same store
  for (int i = 0; i < 4; ++i) leader.add();
  for (int b = 0; b < 2; ++b) {
    leader.submit("two" + std::to_string(b));
    leader.advance(cfg.block_interval_ms);
    for (int i = 0; i < 100 && leader.core.height() < 2u + b; ++i) leader.advance(10);
  }
  ASSERT_EQ(leader.core.height(), 3u);
  ASSERT_EQ(standby.core.height(), 1u);  // its core stayed where it stopped

  const auto tip = standby.core.signed_tip();
  ASSERT_TRUE(tip);
  EXPECT_EQ(tip->height, 3u);
  EXPECT_EQ(tip->hash, standby.mem.chain.back().hash);
  uint8_t msg[IOTW_TIP_SIZE];
  iotw_sigmsg_tip(tip->height, tip->hash.data(), tip->time_ms, msg);
  EXPECT_EQ(crypto_sign_verify_detached(tip->signature.data(), msg, sizeof msg, leader.core.node_pubkey()->data()), 0);
  EXPECT_EQ(tip->node_key, *leader.core.node_pubkey());
}

}  // namespace
}  // namespace iotw::tn::test
