// The behaviour every Ledger store shows, as value-parameterised tests: store_test.cpp instantiates them on
// SqliteLedger, etcd_ledger_test.cpp on EtcdLedger (1- and 3-member etcd clusters). A backend opens fresh
// Ledger instances on one storage: a reopen of the SQLite file, another view (another node) of the etcd prefix.
#pragma once
#include <functional>
#include <ostream>
#include <memory>
#include <string>

#include "iotw/block_header.h"
#include "sim.hpp"

namespace iotw::tn::test {

/** One storage; open() returns a new Ledger instance on it (the previous ones may still be alive). */
struct LedgerBackend {
  virtual ~LedgerBackend() = default;
  virtual std::unique_ptr<Ledger> open() = 0;
};

/** A store under test: its name and how to make a fresh, empty storage for one test. */
struct LedgerStore {
  std::string name;  ///< letters and digits only (it ends the test names)
  std::function<std::unique_ptr<LedgerBackend>()> make;
  friend std::ostream &operator<<(std::ostream &os, const LedgerStore &s) { return os << s.name; }
};

inline bool same_block(const Block &a, const Block &b) { return block_to_json(a) == block_to_json(b); }

inline Tx text_tx(const std::string &text) {
  const Bytes p(text.begin(), text.end());
  return Tx{sha256(p.data(), p.size()), p, std::nullopt, std::nullopt};
}

/** A block on top of parent (height + 1, prev_hash = parent's hash, hash = SHA-256 of the header). */
inline Block child_block(const Block &parent, std::vector<Tx> txs = {}, uint64_t round_id = 0,
                         uint64_t assignment_id = 0) {
  iotw_block_header h{};
  iotw_block_header_unpack(parent.header.data(), &h);
  h.height = parent.height + 1;
  std::copy(parent.hash.begin(), parent.hash.end(), h.prev_hash);
  h.tx_count = static_cast<uint32_t>(txs.size());
  h.timestamp_ms = 1000 * h.height;
  Block b;
  b.height = h.height;
  iotw_block_header_pack(&h, b.header.data());
  b.hash = sha256(b.header.data(), b.header.size());
  b.txs = std::move(txs);
  b.round_id = round_id;
  b.assignment_id = assignment_id;
  b.miner_signature = Bytes(64, 7);
  return b;
}

inline Key key_of(uint8_t n) {
  Key k{};
  k.fill(n);
  return k;
}

/** The test-name suffix of an instantiation (its prefix names the store). */
inline std::string contract_name(const ::testing::TestParamInfo<LedgerStore> &info) { return info.param.name; }

class LedgerContract : public ::testing::TestWithParam<LedgerStore> {
 protected:
  void SetUp() override { backend = GetParam().make(); }
  std::unique_ptr<LedgerBackend> backend;
};

TEST_P(LedgerContract, ChainPendingDevicesAndBlacklistSurviveReopen) {
  std::vector<Block> chain;
  std::vector<DeviceRecord> devices;
  std::vector<BlacklistEntry> black;
  std::string liar_hex;
  {
    auto store = backend->open();
    Rig rig({}, store.get());
    for (int i = 0; i < 7; ++i) rig.add();
    liar_hex = rig.add(Behaviour::invert_verdict).hex();
    for (int i = 0; i < 30 && rig.core.blacklisted_count() == 0; ++i)
      rig.submit("tx" + std::to_string(i)), rig.advance(rig.cfg.block_interval_ms);
    ASSERT_EQ(rig.core.blacklisted_count(), 3u);
    for (auto &[l, d] : rig.devices) rig.core.link_closed(l);  // no device left: the next tx stays pending
    ASSERT_EQ(rig.submit("pending one").status, SubmitResult::accepted);
    ASSERT_EQ(rig.core.pending_count(), 1u);
    chain = store->blocks(0, 1000);
    devices = store->devices();
    black = store->blacklist();
  }
  auto store = backend->open();
  ASSERT_GE(chain.size(), 2u);
  const auto again = store->blocks(0, 1000);
  ASSERT_EQ(again.size(), chain.size());
  for (size_t i = 0; i < chain.size(); ++i) EXPECT_TRUE(same_block(again[i], chain[i])) << "height " << i;
  EXPECT_EQ(store->devices().size(), 8u);
  EXPECT_EQ(store->blacklist().size(), 3u);
  bool liar_listed = false;
  for (const auto &e : store->blacklist()) liar_listed |= to_hex(e.pubkey) == liar_hex;
  EXPECT_TRUE(liar_listed);
  ASSERT_EQ(store->pending_txs().size(), 1u);
  EXPECT_EQ(store->max_round_id(), std::max(chain.back().round_id, black[0].round_id));

  // A core started on the reopened store continues the chain: same tip, ids move forward, devices known.
  Rig rig({}, store.get());
  EXPECT_EQ(rig.core.height(), chain.back().height);
  EXPECT_EQ(rig.core.pending_count(), 1u);
  EXPECT_EQ(rig.core.blacklisted_count(), 3u);
  for (int i = 0; i < 8; ++i) rig.add();  // same names -> same keys as before
  for (const Event &e : rig.sink.of("device_registered")) EXPECT_EQ(e.fields["new"], false);
  rig.advance(rig.cfg.block_interval_ms);
  const auto last = store->blocks(chain.size(), 1);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_GT(last[0].round_id, chain.back().round_id);
  EXPECT_GT(last[0].assignment_id, chain.back().assignment_id);
  EXPECT_EQ(last[0].txs.at(0).payload, Bytes({'p', 'e', 'n', 'd', 'i', 'n', 'g', ' ', 'o', 'n', 'e'}));
  EXPECT_TRUE(store->pending_txs().empty());
}

TEST_P(LedgerContract, DuplicateTxRefusedEvenAfterInclusion) {
  auto store = backend->open();
  const Tx tx = text_tx("x");
  EXPECT_TRUE(store->add_pending_tx(tx));
  EXPECT_FALSE(store->add_pending_tx(tx));
  const Block g = genesis_block();
  store->append_block(g);
  store->append_block(child_block(g, {tx}));
  EXPECT_TRUE(store->pending_txs().empty());
  EXPECT_FALSE(store->add_pending_tx(tx));
  EXPECT_FALSE(backend->open()->add_pending_tx(tx));  // another instance (a reopen, another node) knows it too
  EXPECT_EQ(store->blocks(1, 1).at(0).txs.size(), 1u);
}

TEST_P(LedgerContract, FailedAppendLeavesNothingBehind) {
  auto store = backend->open();
  store->append_block(genesis_block());
  Block dup = genesis_block();  // same height again: refused, nothing of it stays
  dup.txs = {text_tx("y")};
  EXPECT_THROW(store->append_block(dup), LedgerError);
  EXPECT_EQ(store->block_count(), 1u);
  EXPECT_TRUE(store->pending_txs().empty());
  EXPECT_TRUE(store->add_pending_tx(dup.txs[0]));
}

TEST_P(LedgerContract, PendingTxsKeepArrivalOrderAndRefuseDuplicatesInABatch) {
  auto store = backend->open();
  EXPECT_EQ(store->add_pending_txs({text_tx("a"), text_tx("b"), text_tx("a")}), std::vector<bool>({true, true, false}));
  EXPECT_EQ(store->add_pending_txs({text_tx("c"), text_tx("b")}), std::vector<bool>({true, false}));
  std::vector<Tx> big;
  for (int i = 0; i < 300; ++i) big.push_back(text_tx("batch " + std::to_string(i)));
  EXPECT_EQ(store->add_pending_txs(big), std::vector<bool>(300, true));
  const auto pending = backend->open()->pending_txs();
  ASSERT_EQ(pending.size(), 303u);
  EXPECT_EQ(pending[0].hash, text_tx("a").hash);
  EXPECT_EQ(pending[1].hash, text_tx("b").hash);
  EXPECT_EQ(pending[2].hash, text_tx("c").hash);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(pending[3 + i].hash, big[i].hash) << i;
  EXPECT_TRUE(store->new_pending_txs().empty());  // nothing from other writers since pending_txs()/ever
}

TEST_P(LedgerContract, SignedAndUsageTxsKeepEveryField) {
  auto store = backend->open();
  Tx signed_tx = text_tx("signed");
  signed_tx.signature = TxSignature{key_of(1), {}};
  signed_tx.signature->signature.fill(9);
  Tx usage = text_tx("usage 5");
  usage.usage_device = key_of(2);
  EXPECT_TRUE(store->add_pending_tx(signed_tx));
  EXPECT_TRUE(store->add_usage_tx(usage, key_of(2), 5));
  EXPECT_FALSE(store->add_usage_tx(text_tx("usage 5 again"), key_of(2), 5));  // seq not above the stored one
  EXPECT_FALSE(store->add_usage_tx(usage, key_of(2), 6));                     // the hash exists
  EXPECT_TRUE(store->add_usage_tx(text_tx("usage 7"), key_of(2), 7));
  EXPECT_EQ(store->usage_seqs(), (std::map<Key, uint64_t>{{key_of(2), 7}}));
  const auto pending = backend->open()->pending_txs();
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].signature->pubkey, key_of(1));
  EXPECT_EQ(pending[0].signature->signature, signed_tx.signature->signature);
  EXPECT_EQ(pending[1].usage_device, key_of(2));
  EXPECT_EQ(pending[2].hash, text_tx("usage 7").hash);
  const Block g = genesis_block();
  store->append_block(g);
  store->append_block(child_block(g, {pending[0], pending[1]}));
  const Block b = backend->open()->blocks(1, 1).at(0);
  ASSERT_EQ(b.txs.size(), 2u);
  EXPECT_EQ(b.txs[0].signature->signature, signed_tx.signature->signature);
  EXPECT_EQ(b.txs[1].usage_device, key_of(2));
  EXPECT_EQ(store->pending_txs().size(), 1u);
}

TEST_P(LedgerContract, EffectsAccumulateWithTheirBlocks) {
  auto store = backend->open();
  const Block g = genesis_block();
  store->append_block(g, {{{key_of(1), 5}, {key_of(1), 3}, {key_of(2), 1}}, {key_of(1), key_of(1)}});
  store->add_bad(key_of(2));
  store->add_bad(key_of(2));
  const Block b1 = child_block(g, {}, 4, 9);
  store->append_block(b1, {{{key_of(2), 10}}, {key_of(2)}});
  auto other = backend->open();
  EXPECT_EQ(other->balances(), (std::map<Key, uint64_t>{{key_of(1), 8}, {key_of(2), 11}}));
  const auto rep = other->reputations();
  ASSERT_EQ(rep.size(), 2u);
  EXPECT_EQ(rep.at(key_of(1)).good, 2u);
  EXPECT_EQ(rep.at(key_of(1)).bad, 0u);
  EXPECT_EQ(rep.at(key_of(2)).good, 1u);
  EXPECT_EQ(rep.at(key_of(2)).bad, 2u);
  EXPECT_EQ(other->block_count(), 2u);
  EXPECT_EQ(other->max_round_id(), 4u);
  EXPECT_EQ(other->max_assignment_id(), 9u);
  const auto from1 = other->blocks(1, 5);
  ASSERT_EQ(from1.size(), 1u);
  EXPECT_TRUE(same_block(from1[0], b1));
  EXPECT_TRUE(other->blocks(2, 5).empty());
}

TEST_P(LedgerContract, DevicesAndBlacklist) {
  auto store = backend->open();
  store->upsert_device({key_of(3), "b", "esp32", 1, 100});
  store->upsert_device({key_of(1), "a", "esp8266", 1, 200});
  store->upsert_device({key_of(3), "b2", "esp32-c3", 2, 999});  // first_seen_ms stays 100
  auto other = backend->open();
  const auto devs = other->devices();
  ASSERT_EQ(devs.size(), 2u);
  EXPECT_EQ(devs[0].pubkey, key_of(1));
  EXPECT_EQ(devs[1].name, "b2");
  EXPECT_EQ(devs[1].model, "esp32-c3");
  EXPECT_EQ(devs[1].boot_count, 2u);
  EXPECT_EQ(devs[1].first_seen_ms, 100u);

  store->add_blacklist({key_of(4), 7, "dissent", 1000, "[1]"});
  store->add_blacklist({key_of(5), 12, "incoherent_round", 2000, "[]"});
  EXPECT_TRUE(other->lift_blacklist(key_of(5), 3000));
  EXPECT_FALSE(other->lift_blacklist(key_of(5), 3001));  // already lifted
  EXPECT_FALSE(other->lift_blacklist(key_of(6), 3001));  // never listed
  auto listed = store->blacklist();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].pubkey, key_of(4));
  EXPECT_EQ(listed[0].evidence, "[1]");
  EXPECT_EQ(store->max_round_id(), 12u);  // a lifted entry's round still counts
  store->add_blacklist({key_of(5), 13, "dissent", 4000, "[2]"});  // re-listed: active again, new round
  listed = other->blacklist();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].round_id, 13u);
  EXPECT_EQ(listed[1].reason, "dissent");
}

}  // namespace iotw::tn::test
