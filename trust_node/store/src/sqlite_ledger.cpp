#include "iotw/trust_node/sqlite_ledger.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstring>
#include <set>
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
  sqlite3_stmt *raw() { return st_; }
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

// tx_chunks.records (schema 5): the chunk's txs back to back, seq = first_seq + index, each
//   hash[32] || flags u8 (1 = signed, 2 = usage) || payload length u16le || [signer[32] || signature[64]] ||
//   [usage_device[32]] || payload.
constexpr uint8_t kSigned = 1, kUsage = 2;
void encode_tx(Bytes &out, const Tx &t) {
  out.insert(out.end(), t.hash.begin(), t.hash.end());
  out.push_back(static_cast<uint8_t>((t.signature ? kSigned : 0) | (t.usage_device ? kUsage : 0)));
  out.push_back(static_cast<uint8_t>(t.payload.size() & 0xff));
  out.push_back(static_cast<uint8_t>(t.payload.size() >> 8));
  if (t.signature) {
    out.insert(out.end(), t.signature->pubkey.begin(), t.signature->pubkey.end());
    out.insert(out.end(), t.signature->signature.begin(), t.signature->signature.end());
  }
  if (t.usage_device) out.insert(out.end(), t.usage_device->begin(), t.usage_device->end());
  out.insert(out.end(), t.payload.begin(), t.payload.end());
}

/** Reads the records of one chunk in order; throws LedgerError on a malformed blob. */
class TxRecords {
 public:
  TxRecords(const uint8_t *p, size_t n) : p_(p), end_(p + n) {}
  /** The next record's hash, and its whole Tx when full is non-null; false after the last record. */
  bool next(Hash &hash, Tx *full) {
    if (p_ == end_) return false;
    need(35);
    std::memcpy(hash.data(), p_, 32);
    const uint8_t flags = p_[32];
    const size_t len = p_[33] | static_cast<size_t>(p_[34]) << 8;
    if (flags > (kSigned | kUsage)) corrupt();
    const size_t size = 35 + (flags & kSigned ? 96 : 0) + (flags & kUsage ? 32 : 0) + len;
    need(size);
    if (full) {
      const uint8_t *q = p_ + 35;
      *full = Tx{hash, {}, std::nullopt, std::nullopt};
      if (flags & kSigned) {
        TxSignature sig;
        std::memcpy(sig.pubkey.data(), q, 32);
        std::memcpy(sig.signature.data(), q + 32, 64);
        full->signature = sig;
        q += 96;
      }
      if (flags & kUsage) {
        Key k;
        std::memcpy(k.data(), q, 32);
        full->usage_device = k;
        q += 32;
      }
      full->payload.assign(q, q + len);
    }
    p_ += size;
    return true;
  }

 private:
  void need(size_t n) const {
    if (static_cast<size_t>(end_ - p_) < n) corrupt();
  }
  [[noreturn]] static void corrupt() { throw LedgerError("ledger: corrupt row (tx_chunks record)"); }
  const uint8_t *p_, *end_;
};

/** Largest records blob of one chunk row, bytes: a larger intake is split over several rows. */
constexpr size_t kChunkBytes = 1 << 20;

}  // namespace

/** Copies the WAL back into the database file on a thread of its own, with its own connection, so the io
 *  thread that commits never does (bench/RESULTS.md "A million transactions a second": the automatic
 *  checkpoint inside COMMIT was 18 % of that thread). The writer's WAL hook wakes it once the WAL holds
 *  kWakeFrames pages; it runs SQLITE_CHECKPOINT_PASSIVE (never blocks the writer), also every second. The
 *  WAL is restarted from its start by the next commit after a complete checkpoint, so it stays bounded. */
class SqliteLedger::Checkpointer {
 public:
  static constexpr int kWakeFrames = 1000;  ///< SQLite's own autocheckpoint default
  explicit Checkpointer(const std::string &path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw LedgerError("ledger: cannot open " + path + " for checkpoints: " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
    sqlite3_exec(db_, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
    thread_ = std::thread([this] { run(); });
  }
  ~Checkpointer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
    sqlite3_close(db_);
  }
  /** From the writer's WAL hook (after each commit): frames = pages now in the WAL. */
  void committed(int frames) {
    if (frames < kWakeFrames) return;
    {
      std::lock_guard lock(mu_);
      due_ = true;
    }
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_ || due_; });
      due_ = false;
      lock.unlock();
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);  // busy: next time
      lock.lock();
    }
    lock.unlock();
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
  sqlite3 *db_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, due_ = false;
  std::thread thread_;
};

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
    exec("PRAGMA page_size=16384");  // takes effect only on a new, empty file (before WAL mode is set)
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
      CREATE TABLE IF NOT EXISTS tx_chunks(first_seq INTEGER PRIMARY KEY, count INTEGER NOT NULL, records BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS tx_placed(
        seq INTEGER PRIMARY KEY, block_height INTEGER NOT NULL REFERENCES blocks(height), position INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS tx_placed_block ON tx_placed(block_height, position);
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
    if (has_table("transactions") && !has_column("transactions", "signer"))
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
    // Schema 5 (throughput, bench/RESULTS.md "A million transactions a second"): txs are stored as chunks of
    // records, one row per intake commit, instead of one row each; placements of txs outside a seq-range block
    // are rows of tx_placed. The transactions table of schemas 1 to 4 is converted once (same seqs).
    if (has_table("transactions")) convert_transactions_table();
    exec("UPDATE meta SET value = '5' WHERE key = 'schema_version'");
    Stmt next(db_, "SELECT first_seq + count FROM tx_chunks ORDER BY first_seq DESC LIMIT 1");
    next_seq_ = next.step() ? next.i64(0) : 1;
    Stmt mode(db_, "PRAGMA journal_mode");
    if (mode.step() && mode.text(0) == "wal") {  // not for ":memory:" databases
      checkpointer_ = std::make_unique<Checkpointer>(path);
      sqlite3_wal_hook(
          db_,
          [](void *self, sqlite3 *, const char *, int frames) {
            static_cast<Checkpointer *>(self)->committed(frames);
            return SQLITE_OK;
          },
          checkpointer_.get());  // replaces the automatic checkpoint inside COMMIT
    }
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
  checkpointer_.reset();  // its last checkpoint, then the writer's close (which checkpoints what is left)
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

bool SqliteLedger::has_table(const char *table) {
  Stmt s(db_, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
  s.bind(1, std::string(table)).step();
  return s.i64(0) > 0;
}

void SqliteLedger::convert_transactions_table() {
  transaction([&] {  // all or nothing: a crash leaves the old table, converted again at the next open
    {
    Stmt rows(db_,
              "SELECT seq, hash, payload, signer, signature, usage_device, block_height, position FROM transactions "
              "ORDER BY seq");
    Stmt chunk(db_, "INSERT INTO tx_chunks(first_seq, count, records) VALUES(?, ?, ?)");
    Stmt place(db_, "INSERT INTO tx_placed(seq, block_height, position) VALUES(?, ?, ?)");
    Bytes records;
    int64_t first = 0, count = 0;
    auto flush = [&] {
      if (count) chunk.reset().bind(1, first).bind(2, count).bind(3, records.data(), records.size()).step();
      records.clear();
      count = 0;
    };
    while (rows.step()) {
      const int64_t seq = rows.i64(0);
      if (count && (seq != first + count || records.size() >= kChunkBytes)) flush();  // seqs stay as they were
      if (!count) first = seq;
      Tx t = rows.tx(1);
      encode_tx(records, t);
      ++count;
      if (!rows.null(6)) place.reset().bind(1, seq).bind(2, rows.i64(6)).bind(3, rows.i64(7)).step();
    }
    flush();
    }  // the statements are finalized before the DROP (an active statement would lock the table)
    exec("DROP TABLE transactions");
  });
}

int64_t SqliteLedger::append_chunks(const std::vector<const Tx *> &txs) {
  Stmt &ins = cached("INSERT INTO tx_chunks(first_seq, count, records) VALUES(?, ?, ?)");
  const int64_t first = next_seq_;
  int64_t seq = next_seq_;
  Bytes records;
  size_t from = 0;
  for (size_t i = 0; i <= txs.size(); ++i) {
    if (i == txs.size() || records.size() >= kChunkBytes) {
      if (i > from) {
        ins.reset().bind(1, seq).bind(2, static_cast<int64_t>(i - from)).bind(3, records.data(), records.size()).step();
        seq += static_cast<int64_t>(i - from);
      }
      records.clear();
      from = i;
    }
    if (i < txs.size()) {
      if (records.empty()) records.reserve(std::min(kChunkBytes + 4200, (txs.size() - i) * (35 + txs[i]->payload.size())));
      encode_tx(records, *txs[i]);
    }
  }
  next_seq_ = seq;  // the caller restores it when its transaction rolls back
  return first;
}

int64_t SqliteLedger::insert_tx(const Tx &tx, int64_t height, int64_t position) {
  const int64_t seq = append_chunks({&tx});
  if (height >= 0)
    cached("INSERT OR REPLACE INTO tx_placed(seq, block_height, position) VALUES(?, ?, ?)")
        .bind(1, seq).bind(2, height).bind(3, position).step();
  return seq;
}

std::set<int64_t> SqliteLedger::placed_after(int64_t after, int64_t upto) {
  std::set<int64_t> out;
  Stmt s(db_, "SELECT seq FROM tx_placed WHERE seq > ? AND seq <= ?");
  s.bind(1, after).bind(2, upto);
  while (s.step()) out.insert(s.i64(0));
  return out;
}

template <class F>
void SqliteLedger::scan_chunks(int64_t from, int64_t to, bool full, F f) {
  Stmt s(db_,
         "SELECT first_seq, records FROM tx_chunks WHERE first_seq BETWEEN "
         "(SELECT COALESCE(MAX(first_seq), 0) FROM tx_chunks WHERE first_seq <= ?) AND ? ORDER BY first_seq");
  s.bind(1, from).bind(2, to);
  Hash h;
  Tx t;
  while (s.step()) {
    int64_t seq = s.i64(0);
    const auto *p = static_cast<const uint8_t *>(sqlite3_column_blob(s.raw(), 1));
    TxRecords r(p, static_cast<size_t>(sqlite3_column_bytes(s.raw(), 1)));
    for (; r.next(h, full ? &t : nullptr); ++seq)
      if (seq >= from && seq <= to) f(seq, h, std::move(t));
  }
}

void SqliteLedger::load_tx_state() {
  if (tx_state_loaded_) return;
  auto known = std::make_unique<TxHashSet>();
  const std::set<int64_t> placed = placed_after(frontier_, INT64_MAX);
  pending_.clear();
  scan_chunks(0, INT64_MAX, false, [&](int64_t seq, const Hash &h, Tx &&) {
    known->insert(h);
    if (seq > frontier_ && !placed.count(seq)) pending_.emplace_back(seq, h);
  });
  known_ = std::move(known);
  tx_state_loaded_ = true;
}

void SqliteLedger::read_txs(Block &b, bool range, int64_t first, int64_t last) {
  if (range) {
    const std::set<int64_t> placed = placed_after(first - 1, last);
    scan_chunks(first, last, true, [&](int64_t seq, const Hash &, Tx &&t) {
      if (!placed.count(seq)) b.txs.push_back(std::move(t));
    });
    return;
  }
  Stmt &s = cached("SELECT seq FROM tx_placed WHERE block_height = ? ORDER BY position");
  s.bind(1, static_cast<int64_t>(b.height));
  std::vector<int64_t> seqs;
  while (s.step()) seqs.push_back(s.i64(0));
  s.reset();
  for (int64_t seq : seqs)
    scan_chunks(seq, seq, true, [&](int64_t, const Hash &, Tx &&t) { b.txs.push_back(std::move(t)); });
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
  const int64_t next_seq = next_seq_;
  try {
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
    Stmt &place = cached("INSERT OR REPLACE INTO tx_placed(seq, block_height, position) VALUES(?, ?, ?)");
    const int64_t height = static_cast<int64_t>(b.height);
    for (size_t i = 0; i < n; ++i) {
      const Hash &h = b.txs[i].hash;
      const auto p = std::find_if(pending_.begin(), pending_.end(), [&](const auto &e) { return e.second == h; });
      if (p != pending_.end()) {
        place.reset().bind(1, p->first).bind(2, height).bind(3, static_cast<int64_t>(i)).step();
      } else if (known_->contains(h) || std::find(inserted.begin(), inserted.end(), h) != inserted.end()) {
        int64_t at = 0;  // re-placed (rare: tests, tools): find its seq by a scan of every chunk
        scan_chunks(0, INT64_MAX, false, [&](int64_t seq, const Hash &x, Tx &&) {
          if (x == h) at = seq;
        });
        place.reset().bind(1, at).bind(2, height).bind(3, static_cast<int64_t>(i)).step();
      } else {
        insert_tx(b.txs[i], height, static_cast<int64_t>(i));
        inserted.push_back(h);
      }
    }
    place_effects(b, fx);
  });
  } catch (...) {
    next_seq_ = next_seq;
    throw;
  }
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
  const int64_t next_seq = next_seq_;
  try {
    transaction([&] {
      std::vector<const Tx *> take;
      take.reserve(txs.size());
      for (size_t i = 0; i < txs.size(); ++i) {
        if (i + 8 < txs.size()) known_->prefetch(txs[i + 8].hash);  // the probe 8 txs ahead: hides its cache miss
        if (!known_->insert(txs[i].hash)) continue;  // duplicate (stored before, or earlier in this batch)
        added.emplace_back(0, txs[i].hash);  // before the write: a failed write is undone below
        take.push_back(&txs[i]);
        stored[i] = true;
      }
      if (take.empty()) return;
      const int64_t first = append_chunks(take);  // one row per intake (split at kChunkBytes)
      for (size_t k = 0; k < added.size(); ++k) added[k].first = first + static_cast<int64_t>(k);
    });
  } catch (...) {
    for (const auto &a : added) known_->erase(a.second);  // nothing was stored
    next_seq_ = next_seq;
    throw;
  }
  pending_.insert(pending_.end(), added.begin(), added.end());
  return stored;
}

bool SqliteLedger::add_usage_tx(const Tx &tx, const Key &device, uint64_t seq) {
  load_tx_state();
  if (known_->contains(tx.hash)) return false;
  const int64_t next_seq = next_seq_;
  int64_t row = 0;
  try {
  row = transaction([&]() -> int64_t {
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
  } catch (...) {
    next_seq_ = next_seq;
    throw;
  }
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
  const std::set<int64_t> placed = placed_after(frontier_, INT64_MAX);
  scan_chunks(frontier_ + 1, INT64_MAX, true, [&](int64_t seq, const Hash &, Tx &&t) {
    if (!placed.count(seq)) out.push_back(std::move(t));
  });
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
