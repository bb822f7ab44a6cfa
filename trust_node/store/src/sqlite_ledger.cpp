#include "iotw/trust_node/sqlite_ledger.hpp"

#include <cstring>

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
    )sql");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

SqliteLedger::~SqliteLedger() { sqlite3_close(db_); }

void SqliteLedger::exec(const char *sql) {
  char *err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw LedgerError("ledger: " + msg);
  }
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
  Stmt txs(db_, "SELECT hash, payload FROM transactions WHERE block_height = ? ORDER BY position");
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
    while (txs.step()) b.txs.push_back(Tx{txs.fixed<32>(0), txs.blob(1)});
    atts.reset().bind(1, static_cast<int64_t>(b.height));
    while (atts.step())
      b.attestations.push_back(Attestation{atts.fixed<32>(0), static_cast<uint64_t>(atts.i64(1)),
                                           static_cast<uint8_t>(atts.i64(2)), atts.fixed<64>(3)});
    out.push_back(std::move(b));
  }
  return out;
}

void SqliteLedger::append_block(const Block &b) {
  exec("BEGIN IMMEDIATE");
  try {
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
    for (size_t i = 0; i < b.txs.size(); ++i) {
      Stmt(db_, "INSERT OR IGNORE INTO transactions(hash, payload) VALUES(?, ?)")
          .bind(1, b.txs[i].hash)
          .bind(2, b.txs[i].payload.data(), b.txs[i].payload.size())
          .step();
      Stmt(db_, "UPDATE transactions SET block_height = ?, position = ? WHERE hash = ?")
          .bind(1, static_cast<int64_t>(b.height))
          .bind(2, static_cast<int64_t>(i))
          .bind(3, b.txs[i].hash)
          .step();
    }
    for (size_t i = 0; i < b.attestations.size(); ++i) {
      const Attestation &a = b.attestations[i];
      Stmt(db_,
           "INSERT INTO attestations(block_height, position, witness, round_id, verdict, signature) "
           "VALUES(?, ?, ?, ?, ?, ?)")
          .bind(1, static_cast<int64_t>(b.height))
          .bind(2, static_cast<int64_t>(i))
          .bind(3, a.witness)
          .bind(4, static_cast<int64_t>(a.round_id))
          .bind(5, a.verdict)
          .bind(6, a.signature)
          .step();
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

bool SqliteLedger::add_pending_tx(const Tx &tx) {
  Stmt s(db_, "INSERT OR IGNORE INTO transactions(hash, payload) VALUES(?, ?)");
  s.bind(1, tx.hash).bind(2, tx.payload.data(), tx.payload.size()).step();
  return sqlite3_changes(db_) == 1;
}

std::vector<Tx> SqliteLedger::pending_txs() {
  std::vector<Tx> out;
  Stmt s(db_, "SELECT hash, payload FROM transactions WHERE block_height IS NULL ORDER BY seq");
  while (s.step()) out.push_back(Tx{s.fixed<32>(0), s.blob(1)});
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
  Stmt(db_, "INSERT OR IGNORE INTO blacklist(pubkey, round_id, reason, time_ms) VALUES(?, ?, ?, ?)")
      .bind(1, e.pubkey)
      .bind(2, static_cast<int64_t>(e.round_id))
      .bind(3, e.reason)
      .bind(4, static_cast<int64_t>(e.time_ms))
      .step();
}

std::vector<BlacklistEntry> SqliteLedger::blacklist() {
  std::vector<BlacklistEntry> out;
  Stmt s(db_, "SELECT pubkey, round_id, reason, time_ms FROM blacklist ORDER BY pubkey");
  while (s.step())
    out.push_back(BlacklistEntry{s.fixed<32>(0), static_cast<uint64_t>(s.i64(1)), s.text(2),
                                 static_cast<uint64_t>(s.i64(3))});
  return out;
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
