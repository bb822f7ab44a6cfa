#include "iotw/trust_node/sqlite_ledger.hpp"

#include <cstring>
#include <type_traits>

#include <sqlite3.h>

namespace iotw::tn {

/** A prepared statement with positional binding (1-based) and column readers (0-based). */
class SqliteLedger::Stmt {
 public:
  Stmt(sqlite3 *db, const char *sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK) fail("prepare");
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt &bind(int i, int64_t v) { return check(sqlite3_bind_int64(st_, i, v)); }
  Stmt &bind(int i, const uint8_t *p, size_t n) {
    return check(sqlite3_bind_blob(st_, i, n ? p : reinterpret_cast<const uint8_t *>(""), static_cast<int>(n),
                                   SQLITE_TRANSIENT));
  }
  template <size_t N>
  Stmt &bind(int i, const std::array<uint8_t, N> &a) { return bind(i, a.data(), N); }
  Stmt &bind(int i, const std::string &s) {
    return check(sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT));
  }
  /** Returns true while a row is available. */
  bool step() {
    const int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail("step");
    return false;
  }
  /** Rewind for another execution with new bindings. */
  Stmt &reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
    return *this;
  }
  int64_t i64(int c) { return sqlite3_column_int64(st_, c); }
  Bytes blob(int c) {
    const auto *p = static_cast<const uint8_t *>(sqlite3_column_blob(st_, c));
    return Bytes(p, p + sqlite3_column_bytes(st_, c));
  }
  template <size_t N>
  std::array<uint8_t, N> fixed(int c) {
    std::array<uint8_t, N> a{};
    const Bytes b = blob(c);
    if (b.size() != N) throw LedgerError("ledger: corrupt row (blob size " + std::to_string(b.size()) + ")");
    std::memcpy(a.data(), b.data(), N);
    return a;
  }
  bool null(int c) { return sqlite3_column_type(st_, c) == SQLITE_NULL; }
  /** A Tx from columns c.. (hash, payload, signer, signature, usage_device). */
  Tx tx(int c) {
    Tx t{fixed<32>(c), blob(c + 1), std::nullopt, std::nullopt};
    if (!null(c + 2)) t.signature = TxSignature{fixed<32>(c + 2), fixed<64>(c + 3)};
    if (!null(c + 4)) t.usage_device = fixed<32>(c + 4);
    return t;
  }
  Stmt &bind_null(int i) { return check(sqlite3_bind_null(st_, i)); }
  std::string text(int c) {
    const auto *p = reinterpret_cast<const char *>(sqlite3_column_text(st_, c));
    return p ? std::string(p, sqlite3_column_bytes(st_, c)) : std::string();
  }

 private:
  Stmt &check(int rc) {
    if (rc != SQLITE_OK) fail("bind");
    return *this;
  }
  [[noreturn]] void fail(const char *what) {
    throw LedgerError(std::string("ledger: sqlite ") + what + ": " + sqlite3_errmsg(db_));
  }
  sqlite3 *db_;
  sqlite3_stmt *st_ = nullptr;
};

SqliteLedger::SqliteLedger(const std::string &path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw LedgerError("ledger: cannot open " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    // Throughput (bench/RESULTS.md): a 64 MiB page cache keeps the tx-hash index in memory instead of
    // re-reading its pages with pread per insert. Durability is unchanged (WAL, synchronous=FULL).
    exec("PRAGMA cache_size=-65536");
    exec("PRAGMA foreign_keys=ON");
    exec(R"sql(
      CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');
      CREATE TABLE IF NOT EXISTS blocks(
        height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header BLOB NOT NULL, miner BLOB NOT NULL,
        assignment_id INTEGER NOT NULL, miner_signature BLOB NOT NULL, round_id INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS transactions(
        seq INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL UNIQUE, payload BLOB NOT NULL,
        block_height INTEGER REFERENCES blocks(height), position INTEGER);
      CREATE INDEX IF NOT EXISTS transactions_block ON transactions(block_height, position);
      CREATE TABLE IF NOT EXISTS attestations(
        block_height INTEGER NOT NULL REFERENCES blocks(height), position INTEGER NOT NULL,
        witness BLOB NOT NULL, round_id INTEGER NOT NULL, verdict INTEGER NOT NULL, signature BLOB NOT NULL,
        PRIMARY KEY(block_height, position));
      CREATE TABLE IF NOT EXISTS devices(
        pubkey BLOB PRIMARY KEY, name TEXT NOT NULL, model TEXT NOT NULL, boot_count INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS blacklist(
        pubkey BLOB PRIMARY KEY, round_id INTEGER NOT NULL, reason TEXT NOT NULL, time_ms INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS usage_seq(pubkey BLOB PRIMARY KEY, seq INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS balances(pubkey BLOB PRIMARY KEY, amount INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS reputation(pubkey BLOB PRIMARY KEY, good INTEGER NOT NULL, bad INTEGER NOT NULL);
    )sql");
    // Schema 2 (issue 3): signed txs, usage txs, blacklist evidence and lifting. Older files are upgraded.
    if (!has_column("transactions", "signer"))
      exec("ALTER TABLE transactions ADD COLUMN signer BLOB; ALTER TABLE transactions ADD COLUMN signature BLOB;"
           "ALTER TABLE transactions ADD COLUMN usage_device BLOB;");
    if (!has_column("blacklist", "evidence"))
      exec("ALTER TABLE blacklist ADD COLUMN evidence TEXT NOT NULL DEFAULT '[]';"
           "ALTER TABLE blacklist ADD COLUMN lifted_ms INTEGER;");
    exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

SqliteLedger::~SqliteLedger() {
  stmts_.clear();  // sqlite3_close refuses (SQLITE_BUSY) while statements are unfinalized
  sqlite3_close(db_);
}

SqliteLedger::Stmt &SqliteLedger::cached(const char *sql) {
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) it = stmts_.emplace(sql, std::make_unique<Stmt>(db_, sql)).first;
  return it->second->reset();
}

void SqliteLedger::exec(const char *sql) {
  char *err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw LedgerError("ledger: " + msg);
  }
}

bool SqliteLedger::has_column(const char *table, const char *column) {
  Stmt s(db_, (std::string("SELECT COUNT(*) FROM pragma_table_info('") + table + "') WHERE name = ?").c_str());
  s.bind(1, std::string(column)).step();
  return s.i64(0) > 0;
}

template <class F>
auto SqliteLedger::transaction(F f) -> decltype(f()) {
  exec("BEGIN IMMEDIATE");
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      exec("COMMIT");
    } else {
      auto r = f();
      exec("COMMIT");
      return r;
    }
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void SqliteLedger::insert_tx(const Tx &tx) {
  Stmt &s = cached(
      "INSERT OR IGNORE INTO transactions(hash, payload, signer, signature, usage_device) VALUES(?, ?, ?, ?, ?)");
  s.bind(1, tx.hash).bind(2, tx.payload.data(), tx.payload.size());
  if (tx.signature) s.bind(3, tx.signature->pubkey).bind(4, tx.signature->signature);
  else s.bind_null(3).bind_null(4);
  if (tx.usage_device) s.bind(5, *tx.usage_device);
  else s.bind_null(5);
  s.step();
}

uint64_t SqliteLedger::block_count() {
  Stmt s(db_, "SELECT COUNT(*) FROM blocks");
  s.step();
  return static_cast<uint64_t>(s.i64(0));
}

std::vector<Block> SqliteLedger::blocks(uint64_t from, uint64_t limit) {
  std::vector<Block> out;
  Stmt s(db_,
         "SELECT height, hash, header, miner, assignment_id, miner_signature, round_id FROM blocks "
         "WHERE height >= ? ORDER BY height LIMIT ?");
  s.bind(1, static_cast<int64_t>(from)).bind(2, static_cast<int64_t>(limit));
  Stmt txs(db_,
           "SELECT hash, payload, signer, signature, usage_device FROM transactions WHERE block_height = ? "
           "ORDER BY position");
  Stmt atts(db_,
            "SELECT witness, round_id, verdict, signature FROM attestations WHERE block_height = ? ORDER BY position");
  while (s.step()) {
    Block b;
    b.height = static_cast<uint64_t>(s.i64(0));
    b.hash = s.fixed<32>(1);
    b.header = s.fixed<120>(2);
    b.miner = s.fixed<32>(3);
    b.assignment_id = static_cast<uint64_t>(s.i64(4));
    b.miner_signature = s.blob(5);
    b.round_id = static_cast<uint64_t>(s.i64(6));
    txs.reset().bind(1, static_cast<int64_t>(b.height));
    while (txs.step()) b.txs.push_back(txs.tx(0));
    atts.reset().bind(1, static_cast<int64_t>(b.height));
    while (atts.step())
      b.attestations.push_back(Attestation{atts.fixed<32>(0), static_cast<uint64_t>(atts.i64(1)),
                                           static_cast<uint8_t>(atts.i64(2)), atts.fixed<64>(3)});
    out.push_back(std::move(b));
  }
  return out;
}

void SqliteLedger::append_block(const Block &b, const BlockEffects &fx) {
  transaction([&] {
    Stmt(db_,
         "INSERT INTO blocks(height, hash, header, miner, assignment_id, miner_signature, round_id) "
         "VALUES(?, ?, ?, ?, ?, ?, ?)")
        .bind(1, static_cast<int64_t>(b.height))
        .bind(2, b.hash)
        .bind(3, b.header)
        .bind(4, b.miner)
        .bind(5, static_cast<int64_t>(b.assignment_id))
        .bind(6, b.miner_signature.data(), b.miner_signature.size())
        .bind(7, static_cast<int64_t>(b.round_id))
        .step();
    // Place every tx; one not stored yet (not normally: every pending tx was stored at intake) is inserted
    // first. UPDATE-then-insert costs one hash-index lookup per stored tx instead of two.
    Stmt &place = cached("UPDATE transactions SET block_height = ?, position = ? WHERE hash = ?");
    for (size_t i = 0; i < b.txs.size(); ++i) {
      place.reset().bind(1, static_cast<int64_t>(b.height)).bind(2, static_cast<int64_t>(i)).bind(3, b.txs[i].hash).step();
      if (sqlite3_changes(db_) == 0) {
        insert_tx(b.txs[i]);
        place.reset().bind(1, static_cast<int64_t>(b.height)).bind(2, static_cast<int64_t>(i)).bind(3, b.txs[i].hash).step();
      }
    }
    Stmt &att = cached(
        "INSERT INTO attestations(block_height, position, witness, round_id, verdict, signature) "
        "VALUES(?, ?, ?, ?, ?, ?)");
    for (size_t i = 0; i < b.attestations.size(); ++i) {
      const Attestation &a = b.attestations[i];
      att.reset()
          .bind(1, static_cast<int64_t>(b.height))
          .bind(2, static_cast<int64_t>(i))
          .bind(3, a.witness)
          .bind(4, static_cast<int64_t>(a.round_id))
          .bind(5, a.verdict)
          .bind(6, a.signature)
          .step();
    }
    Stmt &credit = cached(
        "INSERT INTO balances(pubkey, amount) VALUES(?, ?) "
        "ON CONFLICT(pubkey) DO UPDATE SET amount = amount + excluded.amount");
    for (const Credit &c : fx.credits) credit.reset().bind(1, c.device).bind(2, static_cast<int64_t>(c.amount)).step();
    Stmt &good = cached(
        "INSERT INTO reputation(pubkey, good, bad) VALUES(?, 1, 0) "
        "ON CONFLICT(pubkey) DO UPDATE SET good = good + 1");
    for (const Key &k : fx.good) good.reset().bind(1, k).step();
  });
}

std::vector<bool> SqliteLedger::add_pending_txs(const std::vector<Tx> &txs) {
  return transaction([&] {
    std::vector<bool> stored;
    stored.reserve(txs.size());
    for (const Tx &tx : txs) {
      insert_tx(tx);
      stored.push_back(sqlite3_changes(db_) == 1);
    }
    return stored;
  });
}

bool SqliteLedger::add_usage_tx(const Tx &tx, const Key &device, uint64_t seq) {
  return transaction([&] {
    Stmt last(db_, "SELECT seq FROM usage_seq WHERE pubkey = ?");
    last.bind(1, device);
    if (last.step() && static_cast<uint64_t>(last.i64(0)) >= seq) return false;
    insert_tx(tx);
    if (sqlite3_changes(db_) != 1) return false;
    Stmt(db_, "INSERT INTO usage_seq(pubkey, seq) VALUES(?, ?) ON CONFLICT(pubkey) DO UPDATE SET seq = excluded.seq")
        .bind(1, device)
        .bind(2, static_cast<int64_t>(seq))
        .step();
    return true;
  });
}

std::map<Key, uint64_t> SqliteLedger::usage_seqs() {
  std::map<Key, uint64_t> out;
  Stmt s(db_, "SELECT pubkey, seq FROM usage_seq");
  while (s.step()) out[s.fixed<32>(0)] = static_cast<uint64_t>(s.i64(1));
  return out;
}

std::map<Key, uint64_t> SqliteLedger::balances() {
  std::map<Key, uint64_t> out;
  Stmt s(db_, "SELECT pubkey, amount FROM balances");
  while (s.step()) out[s.fixed<32>(0)] = static_cast<uint64_t>(s.i64(1));
  return out;
}

std::map<Key, Reputation> SqliteLedger::reputations() {
  std::map<Key, Reputation> out;
  Stmt s(db_, "SELECT pubkey, good, bad FROM reputation");
  while (s.step()) out[s.fixed<32>(0)] = Reputation{static_cast<uint64_t>(s.i64(1)), static_cast<uint64_t>(s.i64(2))};
  return out;
}

void SqliteLedger::add_bad(const Key &device) {
  Stmt(db_, "INSERT INTO reputation(pubkey, good, bad) VALUES(?, 0, 1) ON CONFLICT(pubkey) DO UPDATE SET bad = bad + 1")
      .bind(1, device)
      .step();
}

std::vector<Tx> SqliteLedger::pending_txs() {
  std::vector<Tx> out;
  Stmt s(db_,
         "SELECT hash, payload, signer, signature, usage_device FROM transactions WHERE block_height IS NULL "
         "ORDER BY seq");
  while (s.step()) out.push_back(s.tx(0));
  return out;
}

void SqliteLedger::upsert_device(const DeviceRecord &d) {
  Stmt(db_,
       "INSERT INTO devices(pubkey, name, model, boot_count, first_seen_ms) VALUES(?, ?, ?, ?, ?) "
       "ON CONFLICT(pubkey) DO UPDATE SET name = excluded.name, model = excluded.model, "
       "boot_count = excluded.boot_count")
      .bind(1, d.pubkey)
      .bind(2, d.name)
      .bind(3, d.model)
      .bind(4, static_cast<int64_t>(d.boot_count))
      .bind(5, static_cast<int64_t>(d.first_seen_ms))
      .step();
}

std::vector<DeviceRecord> SqliteLedger::devices() {
  std::vector<DeviceRecord> out;
  Stmt s(db_, "SELECT pubkey, name, model, boot_count, first_seen_ms FROM devices ORDER BY pubkey");
  while (s.step())
    out.push_back(DeviceRecord{s.fixed<32>(0), s.text(1), s.text(2), static_cast<uint32_t>(s.i64(3)),
                               static_cast<uint64_t>(s.i64(4))});
  return out;
}

void SqliteLedger::add_blacklist(const BlacklistEntry &e) {
  Stmt(db_,
       "INSERT OR REPLACE INTO blacklist(pubkey, round_id, reason, time_ms, evidence, lifted_ms) "
       "VALUES(?, ?, ?, ?, ?, NULL)")
      .bind(1, e.pubkey)
      .bind(2, static_cast<int64_t>(e.round_id))
      .bind(3, e.reason)
      .bind(4, static_cast<int64_t>(e.time_ms))
      .bind(5, e.evidence)
      .step();
}

std::vector<BlacklistEntry> SqliteLedger::blacklist() {
  std::vector<BlacklistEntry> out;
  Stmt s(db_, "SELECT pubkey, round_id, reason, time_ms, evidence FROM blacklist WHERE lifted_ms IS NULL ORDER BY pubkey");
  while (s.step())
    out.push_back(BlacklistEntry{s.fixed<32>(0), static_cast<uint64_t>(s.i64(1)), s.text(2),
                                 static_cast<uint64_t>(s.i64(3)), s.text(4)});
  return out;
}

bool SqliteLedger::lift_blacklist(const Key &device, uint64_t time_ms) {
  Stmt(db_, "UPDATE blacklist SET lifted_ms = ? WHERE pubkey = ? AND lifted_ms IS NULL")
      .bind(1, static_cast<int64_t>(time_ms))
      .bind(2, device)
      .step();
  return sqlite3_changes(db_) == 1;
}

uint64_t SqliteLedger::max_round_id() {
  Stmt s(db_,
         "SELECT MAX(COALESCE((SELECT MAX(round_id) FROM blocks), 0), COALESCE((SELECT MAX(round_id) FROM "
         "blacklist), 0))");
  s.step();
  return static_cast<uint64_t>(s.i64(0));
}

uint64_t SqliteLedger::max_assignment_id() {
  Stmt s(db_, "SELECT COALESCE(MAX(assignment_id), 0) FROM blocks");
  s.step();
  return static_cast<uint64_t>(s.i64(0));
}

}  // namespace iotw::tn
