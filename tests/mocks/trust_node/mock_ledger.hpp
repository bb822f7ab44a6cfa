// GoogleMock of iotw::tn::Ledger (trust_node/core/include/iotw/trust_node/ledger.hpp), the trust node's durable
// store. delegate_to() makes every call default to another Ledger (e.g. the tests' in-memory one), so a test
// sets expectations on the calls it checks and the rest behave like a store.
#pragma once
#include <gmock/gmock.h>

#include <map>
#include <vector>

#include "iotw/trust_node/ledger.hpp"

namespace iotw::tn::mocks {

class MockLedger : public Ledger {
 public:
  MOCK_METHOD(uint64_t, block_count, (), (override));
  MOCK_METHOD(std::vector<Block>, blocks, (uint64_t from, uint64_t limit), (override));
  MOCK_METHOD(void, append_block, (const Block &b, const BlockEffects &fx), (override));
  using Ledger::append_block;
  MOCK_METHOD(std::vector<bool>, add_pending_txs, (const std::vector<Tx> &txs), (override));
  MOCK_METHOD(bool, add_usage_tx, (const Tx &tx, const Key &device, uint64_t seq), (override));
  MOCK_METHOD((std::map<Key, uint64_t>), usage_seqs, (), (override));
  MOCK_METHOD((std::map<Key, uint64_t>), balances, (), (override));
  MOCK_METHOD((std::map<Key, Reputation>), reputations, (), (override));
  MOCK_METHOD(void, add_bad, (const Key &device), (override));
  MOCK_METHOD(std::vector<Tx>, pending_txs, (), (override));
  MOCK_METHOD(std::vector<Tx>, new_pending_txs, (), (override));
  MOCK_METHOD(void, upsert_device, (const DeviceRecord &d), (override));
  MOCK_METHOD(std::vector<DeviceRecord>, devices, (), (override));
  MOCK_METHOD(void, add_blacklist, (const BlacklistEntry &e), (override));
  MOCK_METHOD(std::vector<BlacklistEntry>, blacklist, (), (override));
  MOCK_METHOD(bool, lift_blacklist, (const Key &device, uint64_t time_ms), (override));
  MOCK_METHOD(uint64_t, max_round_id, (), (override));
  MOCK_METHOD(uint64_t, max_assignment_id, (), (override));

  /// Every call defaults to the same call on `fake` (which must outlive this mock).
  void delegate_to(Ledger &fake) {
    ON_CALL(*this, block_count).WillByDefault([&fake] { return fake.block_count(); });
    ON_CALL(*this, blocks).WillByDefault([&fake](uint64_t f, uint64_t l) { return fake.blocks(f, l); });
    ON_CALL(*this, append_block).WillByDefault([&fake](const Block &b, const BlockEffects &fx) { fake.append_block(b, fx); });
    ON_CALL(*this, add_pending_txs).WillByDefault([&fake](const std::vector<Tx> &t) { return fake.add_pending_txs(t); });
    ON_CALL(*this, add_usage_tx).WillByDefault([&fake](const Tx &t, const Key &k, uint64_t s) { return fake.add_usage_tx(t, k, s); });
    ON_CALL(*this, usage_seqs).WillByDefault([&fake] { return fake.usage_seqs(); });
    ON_CALL(*this, balances).WillByDefault([&fake] { return fake.balances(); });
    ON_CALL(*this, reputations).WillByDefault([&fake] { return fake.reputations(); });
    ON_CALL(*this, add_bad).WillByDefault([&fake](const Key &k) { fake.add_bad(k); });
    ON_CALL(*this, pending_txs).WillByDefault([&fake] { return fake.pending_txs(); });
    ON_CALL(*this, new_pending_txs).WillByDefault([&fake] { return fake.new_pending_txs(); });
    ON_CALL(*this, upsert_device).WillByDefault([&fake](const DeviceRecord &d) { fake.upsert_device(d); });
    ON_CALL(*this, devices).WillByDefault([&fake] { return fake.devices(); });
    ON_CALL(*this, add_blacklist).WillByDefault([&fake](const BlacklistEntry &e) { fake.add_blacklist(e); });
    ON_CALL(*this, blacklist).WillByDefault([&fake] { return fake.blacklist(); });
    ON_CALL(*this, lift_blacklist).WillByDefault([&fake](const Key &k, uint64_t t) { return fake.lift_blacklist(k, t); });
    ON_CALL(*this, max_round_id).WillByDefault([&fake] { return fake.max_round_id(); });
    ON_CALL(*this, max_assignment_id).WillByDefault([&fake] { return fake.max_assignment_id(); });
  }
};

}  // namespace iotw::tn::mocks
