#include "iotw/trust_node/sqlite_ledger.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include <sqlite3.h>

#include "iotw/trust_node/tx_hash_set.hpp"

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

namespace {

void put_u32(Bytes &out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t get_u32(const uint8_t *p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// blocks.finalization: policy u8 || n u32le || t u32le || selection u8 || signature[64] (74 bytes).
Bytes encode_finalization(const Finalization &f) {
  Bytes out{f.policy};
  put_u32(out, f.n);
  put_u32(out, f.t);
  out.push_back(f.selection);
  out.insert(out.end(), f.signature.begin(), f.signature.end());
  return out;
}
Finalization decode_finalization(const Bytes &v) {
  if (v.size() != 74) throw LedgerError("ledger: corrupt row (finalization size " + std::to_string(v.size()) + ")");
  Finalization f;
  f.policy = v[0];
  f.n = get_u32(v.data() + 1);
  f.t = get_u32(v.data() + 5);
  f.selection = v[9];
  std::memcpy(f.signature.data(), v.data() + 10, 64);
  return f;
}

// blocks.vrf_round: suite u8 || rank u32le || claims as device[32] || pi[80] || beta[64] each.
constexpr size_t kClaimBytes = 32 + 80 + 64;
Bytes encode_vrf_round(const VrfRound &r) {
  Bytes out{static_cast<uint8_t>(r.suite)};
  put_u32(out, r.rank);
  for (const VrfClaim &c : r.claims) {
    out.insert(out.end(), c.device.begin(), c.device.end());
    out.insert(out.end(), c.pi.begin(), c.pi.end());
    out.insert(out.end(), c.beta.begin(), c.beta.end());
  }
  return out;
}
VrfRound decode_vrf_round(const Bytes &v) {
  if (v.size() < 5 || (v.size() - 5) % kClaimBytes != 0)
    throw LedgerError("ledger: corrupt row (vrf_round size " + std::to_string(v.size()) + ")");
  VrfRound r;
  r.suite = v[0];
  r.rank = get_u32(v.data() + 1);
  for (size_t off = 5; off < v.size(); off += kClaimBytes) {
    VrfClaim c;
    std::memcpy(c.device.data(), v.data() + off, 32);
    std::memcpy(c.pi.data(), v.data() + off + 32, 80);
    std::memcpy(c.beta.data(), v.data() + off + 112, 64);
    r.claims.push_back(c);
  }
  return r;
}

}  // namespace

SqliteLedger::SqliteLedger(const std::string &path) {
  // Throughput: no allocation statistics (a global mutex per malloc) and no per-connection mutex (NOMUTEX):
  // a SqliteLedger is only ever used by one thread at a time (the daemon's io thread). The first call wins;
  // later ones return SQLITE_MISUSE once SQLite is initialized, which is harmless.
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)configured;
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw LedgerError("ledger: cannot open " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    // A small page cache: schema 3 has no random-order tx index to keep in memory (txs are appended in seq
    // order), so the 64 MiB of schema 2 only cost RSS (bench/RESULTS.md). The cache fills as the file grows and
    // then stays at this bound (docs/trust-node.md "Memory"). Durability: WAL, synchronous=FULL.
    exec(("PRAGMA cache_size=-" + std::to_string(page_cache_kib)).c_str());
    exec("PRAGMA foreign_keys=ON");
    exec(R"sql(
      CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');
      CREATE TABLE IF NOT EXISTS blocks(
        height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header BLOB NOT NULL, miner BLOB NOT NULL,
        assignment_id INTEGER NOT NULL, miner_signature BLOB NOT NULL, round_id INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS transactions(
        seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, payload BLOB NOT NULL,
        block_height INTEGER REFERENCES blocks(height), position INTEGER,
        signer BLOB, signature BLOB, usage_device BLOB);
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
    // Schema 3 (throughput): no UNIQUE hash index and no AUTOINCREMENT (the append-only table never reuses a
    // seq; duplicates are refused by the in-memory hash set), only placed rows in the block index, and blocks
    // whose txs are a seq range. A schema 1/2 table is rebuilt once (same rows, same seqs).
    if (!has_column("blocks", "tx_first"))
      exec("ALTER TABLE blocks ADD COLUMN tx_first INTEGER; ALTER TABLE blocks ADD COLUMN tx_last INTEGER;");
    // The winning VRF claim (selection = "vrf"): suite byte || pi[80] || beta[64]; NULL for other blocks.
    if (!has_column("blocks", "vrf")) exec("ALTER TABLE blocks ADD COLUMN vrf BLOB");
    // Schema 4 (ledger binding, docs/protocol.md §8): the node-signed finalization record and every VRF claim of
    // the round. Added as NULL columns: blocks written before keep none and export as unbound.
    if (!has_column("blocks", "finalization"))
      exec("ALTER TABLE blocks ADD COLUMN finalization BLOB; ALTER TABLE blocks ADD COLUMN vrf_round BLOB;");
    bool schema2_table = false;
    {
      Stmt old(db_, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_autoindex_transactions_1'");
      old.step();
      schema2_table = old.i64(0) > 0;
    }  // finalized before the DROP TABLE below (an active statement would lock the table)
    if (schema2_table)
      exec(R"sql(
        BEGIN IMMEDIATE;
        DROP INDEX IF EXISTS transactions_block;
        CREATE TABLE transactions_v3(
          seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, payload BLOB NOT NULL,
          block_height INTEGER REFERENCES blocks(height), position INTEGER,
          signer BLOB, signature BLOB, usage_device BLOB);
        INSERT INTO transactions_v3(seq, hash, payload, block_height, position, signer, signature, usage_device)
          SELECT seq, hash, payload, block_height, position, signer, signature, usage_device FROM transactions;
        DROP TABLE transactions;
        ALTER TABLE transactions_v3 RENAME TO transactions;
        COMMIT;
      )sql");
    exec("CREATE INDEX IF NOT EXISTS transactions_placed ON transactions(block_height, position) "
         "WHERE block_height IS NOT NULL");
    exec("UPDATE meta SET value = '4' WHERE key = 'schema_version'");
    Stmt front(db_, "SELECT COALESCE(MAX(tx_last), 0) FROM blocks");
    front.step();
    frontier_ = front.i64(0);
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

int64_t SqliteLedger::insert_tx(const Tx &tx, int64_t height, int64_t position) {
  Stmt &s = cached(
      "INSERT INTO transactions(hash, payload, signer, signature, usage_device, block_height, position) "
      "VALUES(?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, tx.hash).bind(2, tx.payload.data(), tx.payload.size());
  if (tx.signature) s.bind(3, tx.signature->pubkey).bind(4, tx.signature->signature);
  else s.bind_null(3).bind_null(4);
  if (tx.usage_device) s.bind(5, *tx.usage_device);
  else s.bind_null(5);
  if (height >= 0) s.bind(6, height).bind(7, position);
  else s.bind_null(6).bind_null(7);
  s.step();
  return sqlite3_last_insert_rowid(db_);
}

void SqliteLedger::load_tx_state() {
  if (tx_state_loaded_) return;
  auto known = std::make_unique<TxHashSet>();
  Stmt all(db_, "SELECT hash FROM transactions");
  while (all.step()) known->insert(all.fixed<32>(0));
  Stmt pend(db_, "SELECT seq, hash FROM transactions WHERE block_height IS NULL AND seq > ? ORDER BY seq");
  pend.bind(1, frontier_);
  pending_.clear();
  while (pend.step()) pending_.emplace_back(pend.i64(0), pend.fixed<32>(1));
  known_ = std::move(known);
  tx_state_loaded_ = true;
}

void SqliteLedger::read_txs(Block &b, bool range, int64_t first, int64_t last) {
  Stmt &s = range ? cached("SELECT hash, payload, signer, signature, usage_device FROM transactions "
                           "WHERE seq BETWEEN ? AND ? AND block_height IS NULL ORDER BY seq")
                  : cached("SELECT hash, payload, signer, signature, usage_device FROM transactions "
                           "WHERE block_height = ? ORDER BY position");
  if (range) s.bind(1, first).bind(2, last);
  else s.bind(1, static_cast<int64_t>(b.height));
  while (s.step()) b.txs.push_back(s.tx(0));
  s.reset();
}

size_t SqliteLedger::page_cache_bytes() const {
  int current = 0, highwater = 0;
  if (sqlite3_db_status(db_, SQLITE_DBSTATUS_CACHE_USED, &current, &highwater, 0) != SQLITE_OK) return 0;
  return static_cast<size_t>(current);
}

uint64_t SqliteLedger::block_count() {
  Stmt s(db_, "SELECT COUNT(*) FROM blocks");
  s.step();
  return static_cast<uint64_t>(s.i64(0));
}

std::vector<Block> SqliteLedger::blocks(uint64_t from, uint64_t limit) {
  std::vector<Block> out;
  Stmt s(db_,
         "SELECT height, hash, header, miner, assignment_id, miner_signature, round_id, tx_first, tx_last, vrf, "
         "finalization, vrf_round "
         "FROM blocks "
         "WHERE height >= ? ORDER BY height LIMIT ?");
  s.bind(1, static_cast<int64_t>(from)).bind(2, static_cast<int64_t>(limit));
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
    read_txs(b, !s.null(7), s.i64(7), s.i64(8));
    if (!s.null(9)) {
      const Bytes v = s.blob(9);
      if (v.size() != 1 + 80 + 64) throw LedgerError("ledger: corrupt row (vrf size " + std::to_string(v.size()) + ")");
      VrfProof p;
      p.suite = v[0];
      std::memcpy(p.pi.data(), v.data() + 1, 80);
      std::memcpy(p.beta.data(), v.data() + 81, 64);
      b.vrf = p;
    }
    if (!s.null(10)) b.finalization = decode_finalization(s.blob(10));
    if (!s.null(11)) b.vrf_round = decode_vrf_round(s.blob(11));
    atts.reset().bind(1, static_cast<int64_t>(b.height));
    while (atts.step())
      b.attestations.push_back(Attestation{atts.fixed<32>(0), static_cast<uint64_t>(atts.i64(1)),
                                           static_cast<uint8_t>(atts.i64(2)), atts.fixed<64>(3)});
    out.push_back(std::move(b));
  }
  return out;
}

void SqliteLedger::append_block(const Block &b, const BlockEffects &fx) {
  load_tx_state();
  const size_t n = b.txs.size();
  // The core always finalizes its oldest pending txs, in order: then the block records their seq range and
  // no tx row is touched. Any other block (tests, tools) places its txs row by row.
  bool range = n > 0 && n <= pending_.size();
  for (size_t i = 0; range && i < n; ++i) range = b.txs[i].hash == pending_[i].second;
  std::vector<Hash> inserted;  // placed txs that were not stored before: into known_ after the commit
  transaction([&] {
    Stmt &blk = cached(
        "INSERT INTO blocks(height, hash, header, miner, assignment_id, miner_signature, round_id, tx_first, tx_last, "
        "vrf, finalization, vrf_round) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    blk.bind(1, static_cast<int64_t>(b.height))
        .bind(2, b.hash)
        .bind(3, b.header)
        .bind(4, b.miner)
        .bind(5, static_cast<int64_t>(b.assignment_id))
        .bind(6, b.miner_signature.data(), b.miner_signature.size())
        .bind(7, static_cast<int64_t>(b.round_id));
    if (range) blk.bind(8, pending_.front().first).bind(9, pending_[n - 1].first);
    else blk.bind_null(8).bind_null(9);
    if (b.vrf) {
      Bytes v{static_cast<uint8_t>(b.vrf->suite)};
      v.insert(v.end(), b.vrf->pi.begin(), b.vrf->pi.end());
      v.insert(v.end(), b.vrf->beta.begin(), b.vrf->beta.end());
      blk.bind(10, v.data(), v.size());
    } else {
      blk.bind_null(10);
    }
    if (b.finalization) {
      const Bytes f = encode_finalization(*b.finalization);
      blk.bind(11, f.data(), f.size());
    } else {
      blk.bind_null(11);
    }
    if (b.vrf_round) {
      const Bytes r = encode_vrf_round(*b.vrf_round);
      blk.bind(12, r.data(), r.size());
    } else {
      blk.bind_null(12);
    }
    blk.step();
    if (range) return place_effects(b, fx);
    Stmt &by_seq = cached("UPDATE transactions SET block_height = ?, position = ? WHERE seq = ?");
    Stmt &by_hash = cached("UPDATE transactions SET block_height = ?, position = ? WHERE hash = ?");
    const int64_t height = static_cast<int64_t>(b.height);
    for (size_t i = 0; i < n; ++i) {
      const Hash &h = b.txs[i].hash;
      const auto p = std::find_if(pending_.begin(), pending_.end(), [&](const auto &e) { return e.second == h; });
      if (p != pending_.end()) {
        by_seq.reset().bind(1, height).bind(2, static_cast<int64_t>(i)).bind(3, p->first).step();
      } else if (known_->contains(h) || std::find(inserted.begin(), inserted.end(), h) != inserted.end()) {
        by_hash.reset().bind(1, height).bind(2, static_cast<int64_t>(i)).bind(3, h).step();  // re-placed (rare)
      } else {
        insert_tx(b.txs[i], height, static_cast<int64_t>(i));
        inserted.push_back(h);
      }
    }
    place_effects(b, fx);
  });
  if (range) {
    frontier_ = pending_[n - 1].first;
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    return;
  }
  for (const Tx &t : b.txs)
    std::erase_if(pending_, [&](const auto &e) { return e.second == t.hash; });
  for (const Hash &h : inserted) known_->insert(h);
}

void SqliteLedger::place_effects(const Block &b, const BlockEffects &fx) {
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
}

std::vector<bool> SqliteLedger::add_pending_txs(const std::vector<Tx> &txs) {
  load_tx_state();
  std::vector<bool> stored(txs.size(), false);
  std::vector<std::pair<int64_t, Hash>> added;  // (seq, hash): into the pending queue after the commit
  added.reserve(txs.size());
  try {
    transaction([&] {
      for (size_t i = 0; i < txs.size(); ++i) {
        if (!known_->insert(txs[i].hash)) continue;  // duplicate (stored before, or earlier in this batch)
        added.emplace_back(0, txs[i].hash);  // before the insert: a failed insert is undone below
        added.back().first = insert_tx(txs[i]);
        stored[i] = true;
      }
    });
  } catch (...) {
    for (const auto &a : added) known_->erase(a.second);  // nothing was stored
    throw;
  }
  pending_.insert(pending_.end(), added.begin(), added.end());
  return stored;
}

bool SqliteLedger::add_usage_tx(const Tx &tx, const Key &device, uint64_t seq) {
  load_tx_state();
  if (known_->contains(tx.hash)) return false;
  const int64_t row = transaction([&]() -> int64_t {
    Stmt last(db_, "SELECT seq FROM usage_seq WHERE pubkey = ?");
    last.bind(1, device);
    if (last.step() && static_cast<uint64_t>(last.i64(0)) >= seq) return 0;
    const int64_t r = insert_tx(tx);
    Stmt(db_, "INSERT INTO usage_seq(pubkey, seq) VALUES(?, ?) ON CONFLICT(pubkey) DO UPDATE SET seq = excluded.seq")
        .bind(1, device)
        .bind(2, static_cast<int64_t>(seq))
        .step();
    return r;
  });
  if (row == 0) return false;
  known_->insert(tx.hash);
  pending_.emplace_back(row, tx.hash);
  return true;
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
  load_tx_state();  // the core asks at start: build the duplicate set then, not on the first HTTP request
  std::vector<Tx> out;
  Stmt s(db_,
         "SELECT hash, payload, signer, signature, usage_device FROM transactions WHERE block_height IS NULL "
         "AND seq > ? ORDER BY seq");
  s.bind(1, frontier_);
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

void SqliteLedger::upsert_devices(const std::vector<DeviceRecord> &ds) {
  transaction([&] {
    for (const DeviceRecord &d : ds) upsert_device(d);
  });
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
