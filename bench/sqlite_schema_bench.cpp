// Tx intake cost of the two SQLite layouts (bench/RESULTS.md "Where the time went before"): 1,000-row batches
// of hash-only txs, one BEGIN IMMEDIATE ... COMMIT each, WAL + synchronous=FULL as in the trust node.
// schema 2: UNIQUE index on the random 32-byte hash + (block_height, position) index, AUTOINCREMENT.
// schema 3: rowid append only (duplicates refused in memory, not measured here).
// Usage: iotw_sqlite_schema_bench [DIR] [BATCHES]   (DIR default /tmp, BATCHES default 300)
#include <sodium.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char **argv) {
  if (sodium_init() < 0) return 1;
  const std::string dir = argc > 1 ? argv[1] : "/tmp";
  const int batches = argc > 2 ? std::atoi(argv[2]) : 300, per = 1000;
  using C = std::chrono::steady_clock;
  const char *schemas[2] = {
      "CREATE TABLE t(seq INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL UNIQUE, payload BLOB NOT NULL,"
      " block_height INTEGER, position INTEGER, signer BLOB, signature BLOB, usage_device BLOB);"
      "CREATE INDEX tb ON t(block_height, position);",
      "CREATE TABLE t(seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, payload BLOB NOT NULL, block_height INTEGER,"
      " position INTEGER, signer BLOB, signature BLOB, usage_device BLOB);"};
  for (int mode = 0; mode < 2; ++mode) {
    const std::string path = dir + "/iotw-schema-bench.sqlite";
    for (const char *sfx : {"", "-wal", "-shm"}) ::unlink((path + sfx).c_str());
    sqlite3 *db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 1;
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;", nullptr, nullptr, nullptr);
    sqlite3_exec(db, schemas[mode], nullptr, nullptr, nullptr);
    sqlite3_stmt *st = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO t(hash, payload, signer, signature, usage_device) VALUES(?, ?, ?, ?, ?)", -1, &st, nullptr);
    double commit_us = 0;
    const auto t0 = C::now();
    for (int b = 0; b < batches; ++b) {
      sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      for (int i = 0; i < per; ++i) {
        const uint64_t k = static_cast<uint64_t>(b) * per + static_cast<uint64_t>(i);
        uint8_t hash[32];
        char payload[65];
        crypto_hash_sha256(hash, reinterpret_cast<const uint8_t *>(&k), sizeof k);
        sodium_bin2hex(payload, sizeof payload, hash, 32);  // a hash-only payload ...
        crypto_hash_sha256(hash, reinterpret_cast<const uint8_t *>(payload), 64);  // ... and its tx hash
        sqlite3_reset(st);
        sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, payload, 64, SQLITE_TRANSIENT);
        for (int c = 3; c <= 5; ++c) sqlite3_bind_null(st, c);
        if (sqlite3_step(st) != SQLITE_DONE) return 1;
      }
      const auto tc = C::now();
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
      commit_us += std::chrono::duration<double, std::micro>(C::now() - tc).count();
    }
    const double total_us = std::chrono::duration<double, std::micro>(C::now() - t0).count();
    std::printf("%s: %.2f us per tx (incl. 2 SHA-256), %.0f us per commit of %d rows\n",
                mode == 0 ? "schema 2 (UNIQUE hash index)" : "schema 3 (append only)   ", total_us / (batches * per),
                commit_us / batches, per);
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (const char *sfx : {"", "-wal", "-shm"}) ::unlink((path + sfx).c_str());
  }
  return 0;
}
