// The trust-node mesh's Ledger on etcd (docs/trust-node.md "Mesh", "The etcd store"): several trust nodes share one
// replicated ledger; every write is one etcd txn, durable on a quorum of members when it returns. Same
// semantics as SqliteLedger, plus: append_block extends only the stored tip and only under the fence (throws
// LedgerConflict otherwise), duplicate txs are refused across all nodes, and new_pending_txs() reports the txs
// other nodes stored. Not thread-safe: one thread at a time uses an instance (and its EtcdKv).
//
// Keys, under the prefix P (e.g. "/iotw/ledger/"); hex is lower-case, JSON is UTF-8 text:
//   P tip                       {"height", "hash", "max_round_id", "max_assignment_id"} of the last block
//   P block/<height, 20 digits> the block's ledger.jsonl object (block_to_json) plus "usage_device" on usage
//                               txs and "writer": {"id", "call"} (which instance's which call wrote it)
//   P tx/<tx hash>              "pending" or "block:<height>": a tx ever stored (duplicate refusal)
//   P pending/<tx hash>         {"payload_hex", "signer"?, "signature"?, "usage_device"?, "i", "writer"};
//                               arrival order = (create revision, i = position in its txn)
//   P usage/<device key>        last accepted UsageReport seq (decimal)
//   P balance/<device key>      IOTW base units (decimal)
//   P rep/<device key>          {"good", "bad"}
//   P device/<device key>       {"name", "model", "boot_count", "first_seen_ms"}
//   P blacklist/<device key>    {"round_id", "reason", "time_ms", "evidence", "lifted_ms"?}
//   P round_reserve             round ids below it may have been used (decimal; raised in steps by the leader)
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "iotw/trust_node/etcd_kv.hpp"
#include "iotw/trust_node/ledger.hpp"
#include "iotw/trust_node/tx_hash_set.hpp"

namespace iotw::tn {

class EtcdLedger final : public Ledger {
 public:
  /** A view of the ledger under key prefix (non-empty, e.g. "/iotw/ledger/") through etcd. instance_id: the
   *  writer id recorded with what it stores; empty = 16 random bytes in hex (a simulation passes a seeded one).
   *  Makes no request; every method throws EtcdError (a LedgerError) when etcd does not answer. Throws
   *  std::invalid_argument for an empty prefix. */
  EtcdLedger(EtcdKv &etcd, std::string prefix, std::string instance_id = {});

  /** Compares every append_block txn must also pass (EtcdLeadership::fence()); empty = none. */
  void set_fence(std::vector<EtcdCompare> fence) { fence_ = std::move(fence); }
  /** This instance's id (random hex unless given), recorded as the writer of what it stores. */
  const std::string &instance_id() const { return id_; }

  uint64_t block_count() override;
  std::vector<Block> blocks(uint64_t from, uint64_t limit) override;
  using Ledger::append_block;
  /** One txn: the block, the new tip, the effects (each balance and reputation guarded by its mod revision,
   *  re-read and retried when another node changed one), its txs finalized and out of the pending set. Throws
   *  LedgerConflict "tip moved" when the stored tip is not (b.height - 1, b's prev hash) (for genesis: when a
   *  tip exists), "not the leader" when the fence fails; nothing is written then. */
  void append_block(const Block &b, const BlockEffects &fx) override;
  /** One txn per 4,000 txs; a tx hash stored before by any node (pending or in a block) is refused. */
  std::vector<bool> add_pending_txs(const std::vector<Tx> &txs) override;
  bool add_usage_tx(const Tx &tx, const Key &device, uint64_t seq) override;
  std::map<Key, uint64_t> usage_seqs() override;
  std::map<Key, uint64_t> balances() override;
  std::map<Key, Reputation> reputations() override;
  void add_bad(const Key &device) override;
  /** Every pending tx in arrival order; also moves new_pending_txs()'s watermark to the revision read. */
  std::vector<Tx> pending_txs() override;
  /** Pending txs other instances stored after the last call (or the last pending_txs()), arrival order. */
  std::vector<Tx> new_pending_txs() override;
  void upsert_device(const DeviceRecord &d) override;
  std::vector<DeviceRecord> devices() override;
  void add_blacklist(const BlacklistEntry &e) override;
  std::vector<BlacklistEntry> blacklist() override;
  bool lift_blacklist(const Key &device, uint64_t time_ms) override;
  uint64_t max_round_id() override;
  uint64_t max_assignment_id() override;
  /** P round_reserve (decimal): round ids below it may have been used by some node. */
  uint64_t reserved_round_ids() override;
  /** One fenced txn putting P round_reserve = limit (only ever raised). Throws LedgerConflict "not the leader". */
  void reserve_round_ids(uint64_t limit) override;

 private:
  struct Tip;
  std::string key(std::string_view kind, std::string_view id = {}) const;
  std::string block_key(uint64_t height) const;
  /** The current values of keys (absent = nullopt), read in one txn. */
  std::vector<std::optional<EtcdKeyValue>> read(const std::vector<std::string> &keys);
  /** Runs read-modify-write f(current) -> new value under a mod-revision compare until no other writer
   *  intervened; f returns nullopt to write nothing. Returns whether it wrote. */
  template <class F>
  bool update(const std::string &k, F f);
  /** Pending txs of range r in arrival order, skipping those this instance wrote when others_only. */
  std::vector<Tx> pending_of(const EtcdRange &r, bool others_only) const;

  EtcdKv &etcd_;
  std::string prefix_;
  std::string id_;
  uint64_t calls_ = 0;                ///< numbers this instance's write calls (the "writer" record)
  std::vector<EtcdCompare> fence_;
  TxHashSet known_;                   ///< tx hashes known to be stored (they never go away)
  int64_t watermark_ = 0;             ///< new_pending_txs(): revision read last
};

}  // namespace iotw::tn
