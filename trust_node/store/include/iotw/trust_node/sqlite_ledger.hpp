// SQLite implementation of Ledger (WAL journal, synchronous=FULL: a call returns after the commit is durable).
// Not thread-safe: one thread at a time uses an instance (the connection is opened NOMUTEX). A file-backed
// instance runs one thread of its own with a second connection that checkpoints the WAL (PASSIVE).
// Throughput layout (schema 5, bench/RESULTS.md "A million transactions a second"): transactions get seqs in
// arrival order and are stored as chunks, one tx_chunks row of records per intake commit (no row and no index
// entry per tx); duplicates are refused by an in-memory set of every stored tx hash (rebuilt from the chunks on
// first use); a block whose txs are the oldest pending ones records them as the seq range [tx_first, tx_last].
// Other blocks place their txs one tx_placed row each (seq, block_height, position).
#pragma once
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "iotw/trust_node/ledger.hpp"
#include "iotw/trust_node/tx_hash_set.hpp"

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
  void upsert_devices(const std::vector<DeviceRecord> &ds) override;
  std::vector<DeviceRecord> devices() override;
  void add_blacklist(const BlacklistEntry &e) override;
  std::vector<BlacklistEntry> blacklist() override;
  bool lift_blacklist(const Key &device, uint64_t time_ms) override;
  uint64_t max_round_id() override;
  uint64_t max_assignment_id() override;

  /** The bound of SQLite's page cache, KiB (PRAGMA cache_size = -page_cache_kib; page headers included).
   *  The cache fills as the ledger file grows and then stays at this size (docs/trust-node.md "Memory"). */
  static constexpr int page_cache_kib = 2048;
  /** Heap bytes the connection's page cache holds now (SQLITE_DBSTATUS_CACHE_USED): at most about
   *  page_cache_kib KiB. */
  size_t page_cache_bytes() const;

 private:
  class Stmt;
  class Checkpointer;
  void exec(const char *sql);
  /** Loads the tx-hash set and the pending queue on first use (not needed by readers such as --export-ledger). */
  void load_tx_state();
  /** Rows of a block stored as a seq range (tx_first NOT NULL) or placed row by row. */
  void read_txs(Block &b, bool range, int64_t first, int64_t last);
  /** The attestations, credits and reputation of b (inside append_block's transaction). */
  void place_effects(const Block &b, const BlockEffects &fx);
  bool has_column(const char *table, const char *column);
  /** Runs f inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK and rethrow on failure). */
  template <class F>
  auto transaction(F f) -> decltype(f());
  /** Stores tx as a one-record chunk (placed in block height at position when height >= 0) and returns its
   *  seq. No duplicate check. */
  int64_t insert_tx(const Tx &tx, int64_t height = -1, int64_t position = -1);
  /** Appends txs as tx_chunks rows (a new row every kChunkBytes of records) with the next seqs; returns the first
   *  seq and advances next_seq_ (the caller restores it when its transaction fails). */
  int64_t append_chunks(const std::vector<const Tx *> &txs);
  /** Calls f(seq, hash, Tx&&) for every stored tx with seq in [from, to], in seq order; the Tx is filled only when
   *  full (else empty). Throws LedgerError on a corrupt chunk. */
  template <class F>
  void scan_chunks(int64_t from, int64_t to, bool full, F f);
  /** seqs in (after, upto] that tx_placed puts in a block. */
  std::set<int64_t> placed_after(int64_t after, int64_t upto);
  bool has_table(const char *table);
  /** Converts a schema 1..4 transactions table into tx_chunks / tx_placed (same seqs) and drops it. */
  void convert_transactions_table();
  /** The prepared statement for sql (a string literal), compiled once and reused; returned reset and
   *  unbound. Only for statements that run to completion (writes, single-row reads), so none stays busy. */
  Stmt &cached(const char *sql);
  sqlite3 *db_ = nullptr;
  std::unordered_map<const char *, std::unique_ptr<Stmt>> stmts_;  ///< finalized before db_ is closed
  bool tx_state_loaded_ = false;
  std::unique_ptr<TxHashSet> known_;  ///< every stored tx hash (pending and in blocks)
  std::deque<std::pair<int64_t, Hash>> pending_;  ///< (seq, hash) of pending txs, arrival (= seq) order
  int64_t frontier_ = 0;  ///< highest tx_last of any range block: seqs at or below it are not pending
  int64_t next_seq_ = 1;  ///< seq of the next stored tx
  std::unique_ptr<Checkpointer> checkpointer_;  ///< WAL checkpoints off the writer's thread (absent for :memory:)
};

}  // namespace iotw::tn
