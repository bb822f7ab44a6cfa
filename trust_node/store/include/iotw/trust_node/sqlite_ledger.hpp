// SQLite implementation of Ledger (WAL journal, synchronous=FULL: a call returns after the commit is durable).
#pragma once
#include <memory>
#include <string>
#include <unordered_map>

#include "iotw/trust_node/ledger.hpp"

struct sqlite3;

namespace iotw::tn {

class SqliteLedger final : public Ledger {
 public:
  /** Opens (creating if absent) the database at path and its schema. Throws LedgerError naming the path. */
  explicit SqliteLedger(const std::string &path);
  ~SqliteLedger() override;
  SqliteLedger(const SqliteLedger &) = delete;
  SqliteLedger &operator=(const SqliteLedger &) = delete;

  uint64_t block_count() override;
  std::vector<Block> blocks(uint64_t from, uint64_t limit) override;
  using Ledger::append_block;
  void append_block(const Block &b, const BlockEffects &fx) override;
  std::vector<bool> add_pending_txs(const std::vector<Tx> &txs) override;
  bool add_usage_tx(const Tx &tx, const Key &device, uint64_t seq) override;
  std::map<Key, uint64_t> usage_seqs() override;
  std::map<Key, uint64_t> balances() override;
  std::map<Key, Reputation> reputations() override;
  void add_bad(const Key &device) override;
  std::vector<Tx> pending_txs() override;
  void upsert_device(const DeviceRecord &d) override;
  std::vector<DeviceRecord> devices() override;
  void add_blacklist(const BlacklistEntry &e) override;
  std::vector<BlacklistEntry> blacklist() override;
  bool lift_blacklist(const Key &device, uint64_t time_ms) override;
  uint64_t max_round_id() override;
  uint64_t max_assignment_id() override;

 private:
  class Stmt;
  void exec(const char *sql);
  bool has_column(const char *table, const char *column);
  /** Runs f inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK and rethrow on failure). */
  template <class F>
  auto transaction(F f) -> decltype(f());
  void insert_tx(const Tx &tx);
  /** The prepared statement for sql (a string literal), compiled once and reused; returned reset and
   *  unbound. Only for statements that run to completion (writes, single-row reads), so none stays busy. */
  Stmt &cached(const char *sql);
  sqlite3 *db_ = nullptr;
  std::unordered_map<const char *, std::unique_ptr<Stmt>> stmts_;  ///< finalized before db_ is closed
};

}  // namespace iotw::tn
