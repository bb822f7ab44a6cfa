// SQLite implementation of Ledger (WAL journal, synchronous=FULL: a call returns after the commit is durable).
#pragma once
#include <string>

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
  void append_block(const Block &b) override;
  bool add_pending_tx(const Tx &tx) override;
  std::vector<Tx> pending_txs() override;
  void upsert_device(const DeviceRecord &d) override;
  std::vector<DeviceRecord> devices() override;
  void add_blacklist(const BlacklistEntry &e) override;
  std::vector<BlacklistEntry> blacklist() override;
  uint64_t max_round_id() override;
  uint64_t max_assignment_id() override;

 private:
  class Stmt;
  void exec(const char *sql);
  sqlite3 *db_ = nullptr;
};

}  // namespace iotw::tn
