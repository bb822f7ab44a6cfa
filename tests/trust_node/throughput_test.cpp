// The throughput paths (bench/RESULTS.md) keep the guarantees of the slow ones: the in-memory duplicate set,
// the batch parser's fast path (same language and results as the full JSON parser), the binary batch encoding,
// the schema-5 store (txs in chunks, placed as seq ranges, mixed with row-placed blocks, upgraded from schema 2), the hand-written batch answer
// (same bytes as nlohmann's dump) and group commit across concurrent HTTP requests.
#include <httplib.h>
#include <sqlite3.h>

#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "iotw/trust_node/sqlite_ledger.hpp"
#include "iotw/trust_node/tx_hash_set.hpp"
#include "iotw/trust_node/tx_request.hpp"
#include "node_process.hpp"

namespace iotw::tn::test {
namespace {

Hash hash_of(const std::string &s) { return sha256(reinterpret_cast<const uint8_t *>(s.data()), s.size()); }
Tx tx_of(const std::string &s) { return Tx{hash_of(s), Bytes(s.begin(), s.end()), std::nullopt, std::nullopt}; }

TEST(TxHashSet, AgreesWithStdSetUnderInsertAndErase) {
  TxHashSet set;
  std::set<Hash> ref;
  std::mt19937_64 rng(7);
  std::vector<Hash> pool;
  for (int i = 0; i < 4000; ++i) {
    Hash h{};
    // Half random digests, half hand-made keys that differ in one byte only (clustered probes).
    if (i % 2) {
      for (auto &b : h) b = static_cast<uint8_t>(rng());
    } else {
      h[31] = static_cast<uint8_t>(i / 2 % 256);
      h[30] = static_cast<uint8_t>(i / 512);
    }
    pool.push_back(h);
  }
  pool.push_back(Hash{});  // the all-zero hash is a valid member too
  for (int step = 0; step < 60000; ++step) {
    const Hash &h = pool[rng() % pool.size()];
    if (rng() % 3) {
      EXPECT_EQ(set.insert(h), ref.insert(h).second);
    } else {
      set.erase(h);
      ref.erase(h);
    }
    if (step % 997 == 0) {
      ASSERT_EQ(set.size(), ref.size());
      for (const Hash &p : pool) ASSERT_EQ(set.contains(p), ref.count(p) > 0);
    }
  }
}

TEST(TxHashSet, KeepsEveryHashAcrossDoublingsPreparedOnItsHelperThread) {
  // 300,000 digests: the table doubles nine times, each time into a table its helper thread faulted in.
  TxHashSet set;
  std::vector<Hash> all;
  for (int i = 0; i < 300000; ++i) all.push_back(hash_of("tx " + std::to_string(i)));
  for (const Hash &h : all) ASSERT_TRUE(set.insert(h));
  EXPECT_EQ(set.size(), all.size());
  for (const Hash &h : all) ASSERT_FALSE(set.insert(h));  // every one is a duplicate now
  for (size_t i = 0; i < all.size(); i += 3) set.erase(all[i]);
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(set.contains(all[i]), i % 3 != 0);
  EXPECT_FALSE(set.contains(hash_of("never inserted")));
}

TEST(TxHashSet, KeysFoldTheDigestSoAHashDifferingInAnyOneByteStaysApart) {
  // The set keeps (w0 ^ w2, w1 ^ w3) of a digest: a hash that differs from a stored one in any single byte is a
  // different key (two hand-made hashes that differ in the same bits of words 0 and 2 would not be: SHA-256 does
  // not make such pairs short of a 128-bit search).
  Hash base{};
  base[0] = 1;
  for (size_t byte = 0; byte < 32; ++byte) {
    TxHashSet set;
    ASSERT_TRUE(set.insert(base));
    Hash h = base;
    h[byte] ^= 0x80;
    EXPECT_TRUE(set.insert(h)) << "byte " << byte;
    EXPECT_TRUE(set.contains(base));
    EXPECT_EQ(set.size(), 2u);
  }
}

/** The batch parse result as comparable text: "error: ..." or one line per tx (payload hex, signer, hash ok). */
std::string outcome(std::string_view body) {
  auto r = parse_tx_batch(body);
  if (auto *e = std::get_if<TxParseError>(&r)) return "error: " + e->message;
  std::string out;
  for (const TxRequest &t : std::get<std::vector<TxRequest>>(r)) {
    out += to_hex(t.payload) + (t.signature ? " signed " + to_hex(t.signature->pubkey) + to_hex(t.signature->signature) : "");
    out += t.hash && *t.hash == sha256(t.payload.data(), t.payload.size()) ? " hash-ok\n" : " HASH-MISSING\n";
  }
  return out;
}

/** What the full parser yields for a body nlohmann accepts: payloads (and signatures) in order. */
std::string reference(std::string_view body) {
  const auto j = nlohmann::json::parse(body);
  std::string out;
  for (const auto &t : j["transactions"]) {
    const std::string p = t["payload"];
    out += to_hex(Bytes(p.begin(), p.end()));
    if (t.contains("pubkey"))
      out += " signed " + to_hex(*from_hex<32>(t["pubkey"].get<std::string>())) +
             to_hex(*from_hex<64>(t["signature"].get<std::string>()));
    out += " hash-ok\n";
  }
  return out;
}

TEST(TxIntake, BatchFastPathAgreesWithTheFullParser) {
  const std::string pk(64, 'A'), sig(128, 'b');
  const std::vector<std::string> valid = {
      R"({"transactions":[{"payload":"a"}]})",
      " \t\r\n{ \"transactions\" :\n[ { \"payload\" : \"a b\" } , {\"payload\":\"\"} ] } \n",
      R"({"transactions":[{"payload":"a\"b\\c\u00e9\n"}]})",                     // escapes: full parser
      "{\"transactions\":[{\"payload\":\"caf\xc3\xa9 \x7f\"}]}",                   // UTF-8, DEL: full parser
      R"({"transactions":[{"payload":"x","pubkey":")" + pk + R"(","signature":")" + sig + R"("}]})",
      R"({"transactions":[{"signature":")" + sig + R"(","payload":"y","pubkey":")" + pk + R"("}]})",
      R"({"transactions":[{"payload":"{\"nested\":[1,2]}"},{"payload":"]}"}]})",
  };
  for (const std::string &b : valid) EXPECT_EQ(outcome(b), reference(b)) << b;
  // A repeated key: the fast path declines it and the full parser refuses it (nlohmann alone kept the last).
  EXPECT_EQ(outcome(R"({"transactions":[{"payload":"first","payload":"second"}]})"), "error: duplicate key 'payload'");

  std::string max = "{\"transactions\":[", over;
  for (size_t i = 0; i < max_batch_txs; ++i) max += (i ? ",{\"payload\":\"" : "{\"payload\":\"") + std::to_string(i) + "\"}";
  over = max + ",{\"payload\":\"one more\"}]}";
  max += "]}";
  EXPECT_EQ(outcome(max), reference(max));
  EXPECT_EQ(outcome(over), "error: transactions must hold 1..10000 entries");

  const std::vector<std::pair<std::string, std::string>> invalid = {
      {R"({"transactions":[{"payload":"a"}]} x)", "body is not valid JSON (UTF-8)"},
      {R"({"transactions":[{"payload":"a"},]})", "body is not valid JSON (UTF-8)"},
      {"{\"transactions\":[{\"payload\":\"a\x01\"}]}", "body is not valid JSON (UTF-8)"},
      {"{\"transactions\":[{\"payload\":\"\xff\"}]}", "body is not valid JSON (UTF-8)"},
      {R"({"transactions":[{"payload":"a"}],"extra":1})", "body must be {\"transactions\": [...]}"},
      {R"({"transactions":[]})", "transactions must hold 1..10000 entries"},
      {R"({"transactions":[{"payload":"a"},{"payload":"b","fee":"1"}]})",
       "transactions[1]: unknown key 'fee'; allowed: payload, pubkey, signature"},
      {R"({"transactions":[{"payload":5}]})", "transactions[0]: payload must be a string (UTF-8 text, 1..4096 bytes)"},
      {R"({"transactions":[{"pubkey":")" + pk + R"("}]})",
       "transactions[0]: payload must be a string (UTF-8 text, 1..4096 bytes)"},
      {R"({"transactions":[{"payload":"a","pubkey":")" + pk + R"("}]})", "transactions[0]: pubkey and signature come together"},
      {R"({"transactions":[{"payload":"a","pubkey":"zz","signature":")" + sig + R"("}]})",
       "transactions[0]: pubkey must be 64 hex digits (Ed25519 public key)"},
      {R"({"transactions":[{"payload":"a","pubkey":")" + pk + R"(","signature":"00"}]})",
       "transactions[0]: signature must be 128 hex digits (Ed25519 signature)"},
      {R"({"transactions":[["payload","a"]]})", "transactions[0]: a transaction must be a JSON object"},
  };
  for (const auto &[body, error] : invalid) EXPECT_EQ(outcome(body), "error: " + error) << body;
}

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/iotw-tn-tput-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const char *name) const { return (std::filesystem::path(path) / name).string(); }
  std::string path;
};

Block block_at(uint64_t height, std::vector<Tx> txs) {
  Block b = genesis_block();
  b.height = height;
  b.hash[0] = static_cast<uint8_t>(height);
  b.hash[1] = 0xee;
  b.txs = std::move(txs);
  return b;
}

std::vector<std::string> payloads(const std::vector<Tx> &txs) {
  std::vector<std::string> out;
  for (const Tx &t : txs) out.emplace_back(t.payload.begin(), t.payload.end());
  return out;
}

using Names = std::vector<std::string>;

TEST(SqliteLedger, RangeAndRowPlacedBlocksMixAndSurviveReopen) {
  TempDir dir;
  const std::string db = dir.file("l.sqlite");
  {
    SqliteLedger store(db);
    store.append_block(genesis_block());
    EXPECT_EQ(store.add_pending_txs({tx_of("t1"), tx_of("t2"), tx_of("t3"), tx_of("t2"), tx_of("t4"), tx_of("t5")}),
              std::vector<bool>({true, true, true, false, true, true}));
    store.append_block(block_at(1, {tx_of("t1"), tx_of("t2")}));    // the oldest pending: a seq range
    store.append_block(block_at(2, {tx_of("t4")}));                 // not the oldest: placed row by row
    store.append_block(block_at(3, {tx_of("t3"), tx_of("t5")}));    // a range around t4's row
    store.append_block(block_at(4, {tx_of("never pending")}));      // not stored before: inserted, placed
    EXPECT_TRUE(store.pending_txs().empty());
    EXPECT_TRUE(store.add_pending_tx(tx_of("t6")));
    EXPECT_FALSE(store.add_pending_tx(tx_of("never pending")));
    EXPECT_FALSE(store.add_pending_tx(tx_of("t4")));
  }
  SqliteLedger store(db);
  const auto chain = store.blocks(0, 100);
  ASSERT_EQ(chain.size(), 5u);
  EXPECT_EQ(payloads(chain[1].txs), Names({"t1", "t2"}));
  EXPECT_EQ(payloads(chain[2].txs), Names({"t4"}));
  EXPECT_EQ(payloads(chain[3].txs), Names({"t3", "t5"}));
  EXPECT_EQ(payloads(chain[4].txs), Names({"never pending"}));
  EXPECT_EQ(payloads(store.pending_txs()), Names({"t6"}));
  for (const char *p : {"t1", "t3", "t6", "never pending"}) EXPECT_FALSE(store.add_pending_tx(tx_of(p))) << p;
  EXPECT_TRUE(store.add_usage_tx(tx_of("usage 1"), Key{9}, 1));
  EXPECT_FALSE(store.add_usage_tx(tx_of("usage 1"), Key{9}, 2));  // same tx hash
  store.append_block(block_at(5, {tx_of("t6"), tx_of("usage 1")}));
  EXPECT_EQ(payloads(store.blocks(5, 1).at(0).txs), Names({"t6", "usage 1"}));
  EXPECT_TRUE(store.pending_txs().empty());
}

int sql(sqlite3 *db, const std::string &q) { return sqlite3_exec(db, q.c_str(), nullptr, nullptr, nullptr); }

/** A binary batch body (docs/trust-node.md "Binary batch") of the given records. */
struct BinRecord {
  std::string payload;
  std::optional<TxSignature> sig;
};
std::string binary_batch(const std::vector<BinRecord> &rs) {
  std::string b("ITXB\x01\0\0\0", 8);
  for (int k = 0; k < 4; ++k) b += static_cast<char>((rs.size() >> (8 * k)) & 0xff);
  for (const BinRecord &r : rs) {
    b += static_cast<char>(r.sig ? 1 : 0);
    b += static_cast<char>(r.payload.size() & 0xff);
    b += static_cast<char>(r.payload.size() >> 8);
    if (r.sig) {
      b.append(reinterpret_cast<const char *>(r.sig->pubkey.data()), 32);
      b.append(reinterpret_cast<const char *>(r.sig->signature.data()), 64);
    }
    b += r.payload;
  }
  return b;
}

TEST(TxIntake, BinaryBatchCarriesAnyBytesAndSignatures) {
  TxSignature sig;
  sig.pubkey.fill(7);
  sig.signature.fill(9);
  const std::string zeros("a\0b\xff", 4);
  auto parsed = parse_tx_batch_binary(binary_batch({{"plain", {}}, {zeros, sig}, {std::string(4096, 'x'), {}}}));
  ASSERT_TRUE(std::holds_alternative<std::vector<TxRequest>>(parsed)) << std::get<TxParseError>(parsed).message;
  const auto &rs = std::get<std::vector<TxRequest>>(parsed);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(std::string(rs[0].payload.begin(), rs[0].payload.end()), "plain");
  EXPECT_EQ(*rs[0].hash, hash_of("plain"));
  EXPECT_FALSE(rs[0].signature);
  EXPECT_EQ(std::string(rs[1].payload.begin(), rs[1].payload.end()), zeros);
  EXPECT_EQ(*rs[1].hash, hash_of(zeros));
  ASSERT_TRUE(rs[1].signature);
  EXPECT_EQ(rs[1].signature->pubkey, sig.pubkey);
  EXPECT_EQ(rs[1].signature->signature, sig.signature);
  EXPECT_EQ(rs[2].payload.size(), 4096u);
}

TEST(TxIntake, BinaryBatchRefusesEachMalformedBodyNamingTheByte) {
  const std::string good = binary_batch({{"ab", {}}, {"cd", {}}});
  auto error_of = [](const std::string &body) {
    auto r = parse_tx_batch_binary(body);
    return std::holds_alternative<TxParseError>(r) ? std::get<TxParseError>(r).message : std::string("accepted");
  };
  ASSERT_EQ(error_of(good), "accepted");
  std::string bad_kind = good, zero_len = good, long_len = good, version = good, reserved = good, magic = good;
  bad_kind[12] = 2;
  zero_len[13] = 0;
  long_len[13] = 1, long_len[14] = 0x10;  // 4097
  version[4] = 2;
  reserved[6] = 1;
  magic[0] = 'J';
  std::string count0 = good, count_big = good;
  count0[8] = 0;
  count_big[8] = 0x11, count_big[9] = 0x27;  // 10001
  const std::vector<std::pair<std::string, std::string>> cases = {
      {good.substr(0, 7), "binary batch: header shorter than 12 bytes at byte 7"},
      {magic, "binary batch: magic is not \"ITXB\" at byte 0"},
      {version, "binary batch: version 2 is not 1 at byte 4"},
      {reserved, "binary batch: reserved bytes are not zero at byte 5"},
      {count0, "binary batch: count 0 is not 1..10000 at byte 8"},
      {count_big, "binary batch: count 10001 is not 1..10000 at byte 8"},
      {bad_kind, "binary batch: kind 2 is not 0 or 1 at byte 12 (record 0)"},
      {zero_len, "binary batch: payload length 0 is not 1..4096 at byte 13 (record 0)"},
      {long_len, "binary batch: payload length 4097 is not 1..4096 at byte 13 (record 0)"},
      {good.substr(0, good.size() - 1), "binary batch: truncated record at byte 20 (record 1)"},
      {good.substr(0, 18), "binary batch: truncated record header at byte 17 (record 1)"},
      {good + "z", "binary batch: 1 trailing bytes at byte 22"},
  };
  for (const auto &[body, want] : cases) EXPECT_EQ(error_of(body), want);
}

TEST(SqliteLedger, LargeIntakeSpansSeveralChunksAndReadsBackInOrder) {
  TempDir dir;
  const std::string db = dir.file("chunks.sqlite");
  std::vector<Tx> txs;
  for (int i = 0; i < 600; ++i) txs.push_back(tx_of(std::to_string(i) + std::string(4000, 'p')));  // ~2.4 MB: 3 chunks
  {
    SqliteLedger store(db);
    store.append_block(genesis_block());
    const auto stored = store.add_pending_txs(txs);
    EXPECT_EQ(std::count(stored.begin(), stored.end(), true), 600);
    store.append_block(block_at(1, std::vector<Tx>(txs.begin(), txs.begin() + 450)));  // a range across chunks
  }
  SqliteLedger store(db);
  EXPECT_EQ(store.blocks(1, 1).at(0).txs.size(), 450u);
  EXPECT_EQ(payloads(store.blocks(1, 1).at(0).txs), payloads(std::vector<Tx>(txs.begin(), txs.begin() + 450)));
  EXPECT_EQ(payloads(store.pending_txs()), payloads(std::vector<Tx>(txs.begin() + 450, txs.end())));
  EXPECT_FALSE(store.add_pending_tx(txs[10]));   // finalized: still refused after the reopen
  EXPECT_FALSE(store.add_pending_tx(txs[599]));  // pending: refused
  EXPECT_TRUE(store.add_pending_tx(tx_of("new")));
}

TEST(SqliteLedger, SchemaTwoFileIsUpgradedInPlace) {
  TempDir dir;
  const std::string db = dir.file("old.sqlite");
  const Block g = genesis_block();
  {
    sqlite3 *h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    // The schema-2 tables as the node wrote them before schema 3 (UNIQUE hash, AUTOINCREMENT, full index).
    ASSERT_EQ(sql(h, R"sql(
      CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta VALUES('schema_version', '2');
      CREATE TABLE blocks(
        height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header BLOB NOT NULL, miner BLOB NOT NULL,
        assignment_id INTEGER NOT NULL, miner_signature BLOB NOT NULL, round_id INTEGER NOT NULL);
      CREATE TABLE transactions(
        seq INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL UNIQUE, payload BLOB NOT NULL,
        block_height INTEGER REFERENCES blocks(height), position INTEGER, signer BLOB, signature BLOB,
        usage_device BLOB);
      CREATE INDEX transactions_block ON transactions(block_height, position);)sql"),
              SQLITE_OK);
    sqlite3_stmt *st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(h, "INSERT INTO blocks VALUES(?, ?, ?, ?, 0, x'', 0)", -1, &st, nullptr), SQLITE_OK);
    for (const Block &b : {g, block_at(1, {})}) {
      sqlite3_reset(st);
      sqlite3_bind_int64(st, 1, static_cast<int64_t>(b.height));
      sqlite3_bind_blob(st, 2, b.hash.data(), 32, SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 3, b.header.data(), 120, SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 4, b.miner.data(), 32, SQLITE_TRANSIENT);
      ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    }
    sqlite3_finalize(st);
    ASSERT_EQ(sqlite3_prepare_v2(h, "INSERT INTO transactions(hash, payload, block_height, position) VALUES(?, ?, ?, ?)",
                                 -1, &st, nullptr),
              SQLITE_OK);
    const std::vector<std::pair<std::string, int>> rows = {{"in block 1, pos 1", 1}, {"old pending", -1}, {"in block 1, pos 0", 0}};
    for (const auto &[p, pos] : rows) {
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      const Hash hh = hash_of(p);
      sqlite3_bind_blob(st, 1, hh.data(), 32, SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 2, p.data(), static_cast<int>(p.size()), SQLITE_TRANSIENT);
      if (pos >= 0) sqlite3_bind_int64(st, 3, 1), sqlite3_bind_int64(st, 4, pos);
      ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
  }
  {
    SqliteLedger store(db);
    EXPECT_EQ(payloads(store.blocks(1, 1).at(0).txs), Names({"in block 1, pos 0", "in block 1, pos 1"}));
    EXPECT_EQ(payloads(store.pending_txs()), Names({"old pending"}));
    EXPECT_FALSE(store.add_pending_tx(tx_of("in block 1, pos 0")));
    EXPECT_TRUE(store.add_pending_tx(tx_of("new pending")));
    store.append_block(block_at(2, {tx_of("old pending"), tx_of("new pending")}));
  }
  SqliteLedger store(db);
  EXPECT_EQ(payloads(store.blocks(1, 1).at(0).txs), Names({"in block 1, pos 0", "in block 1, pos 1"}));
  EXPECT_EQ(payloads(store.blocks(2, 1).at(0).txs), Names({"old pending", "new pending"}));
  EXPECT_TRUE(store.pending_txs().empty());
  EXPECT_FALSE(store.blocks(1, 1).at(0).finalization.has_value());  // written before schema 4: exported unbound
  sqlite3 *h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  sqlite3_stmt *st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(h,
                               "SELECT (SELECT value FROM meta WHERE key = 'schema_version'), "
                               "(SELECT COUNT(*) FROM sqlite_master WHERE name = 'transactions'), "
                               "(SELECT MAX(first_seq + count - 1) FROM tx_chunks)",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(sqlite3_column_text(st, 0))), "5");  // schema 4 columns added
  EXPECT_EQ(sqlite3_column_int64(st, 1), 0);  // the per-row table (and its UNIQUE hash index) became tx_chunks
  EXPECT_EQ(sqlite3_column_int64(st, 2), 4);  // seqs kept; the new tx appended after them
  sqlite3_finalize(st);
  sqlite3_close(h);
}

constexpr const char *kNodeConfig = R"(
[node]
db = "ledger.sqlite"
seed = 11
events = "events.jsonl"
[http]
listen = "127.0.0.1:0"
port_file = "http.port"
[consensus]
witnesses = 2
)";

TEST(TrustNodeHttp, BatchAnswerIsCanonicalJsonAndGroupCommitAnswersEachRequest) {
  Node node(kNodeConfig);
  const int port = node.port("http.port");
  ASSERT_GT(port, 0);
  httplib::Client http("127.0.0.1", port);
  // Answer bytes: accepted, duplicate and invalid entries, an error text with non-ASCII, all exactly as
  // nlohmann would dump them (sorted keys, no spaces).
  const std::string body = R"({"transactions":[{"payload":"c1"},{"payload":"c1"},{"payload":""},)"
                           R"({"payload":"c2","pubkey":")" + std::string(64, '1') + R"(","signature":")" +
                           std::string(128, '2') + R"("}]})";
  auto res = http.Post("/v1/transactions/batch", body, "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202);
  EXPECT_EQ(res->body, nlohmann::json::parse(res->body).dump());
  const auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["accepted"], 1);
  EXPECT_EQ(j["rejected"], 3);
  EXPECT_EQ(j["results"][0], nlohmann::json({{"hash", to_hex(hash_of("c1"))}, {"status", "pending"}}));
  EXPECT_EQ(j["results"][1],
            nlohmann::json({{"error", "duplicate transaction"}, {"hash", to_hex(hash_of("c1"))}, {"status", "duplicate"}}));
  EXPECT_EQ(j["results"][2]["status"], "invalid");
  EXPECT_EQ(j["results"][3]["status"], "invalid");
  EXPECT_NE(j["results"][3]["error"].get<std::string>().find("§5"), std::string::npos);

  // Concurrent requests with overlapping payloads: each request gets its own results, in its order, and every
  // distinct payload is accepted exactly once over all of them.
  constexpr int kThreads = 6, kRequests = 15, kPerRequest = 40, kDistinct = 300;
  std::mutex mu;
  std::map<std::string, int> accepted;
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      httplib::Client cl("127.0.0.1", port);
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int r = 0; r < kRequests; ++r) {
        std::vector<std::string> ps;
        nlohmann::json batch{{"transactions", nlohmann::json::array()}};
        for (int i = 0; i < kPerRequest; ++i) {
          ps.push_back("g" + std::to_string(rng() % kDistinct));
          batch["transactions"].push_back({{"payload", ps.back()}});
        }
        auto rr = cl.Post("/v1/transactions/batch", batch.dump(), "application/json");
        if (!rr || rr->status != 202) {
          ++failures;
          continue;
        }
        const auto a = nlohmann::json::parse(rr->body);
        if (a["results"].size() != ps.size()) ++mismatches;
        std::lock_guard lock(mu);
        for (size_t i = 0; i < ps.size() && i < a["results"].size(); ++i) {
          if (a["results"][i]["hash"] != to_hex(hash_of(ps[i]))) ++mismatches;
          if (a["results"][i]["status"] == "pending") ++accepted[ps[i]];
        }
      }
    });
  for (auto &t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  for (const auto &[p, n] : accepted) EXPECT_EQ(n, 1) << p;
  const auto h = nlohmann::json::parse(http.Get("/v1/health")->body);
  EXPECT_EQ(h["pending_txs"].get<size_t>(), accepted.size() + 1);  // + c1; no device: nothing finalized

  // The events hold the same acceptances: txs_accepted lines with a count and the hashes.
  size_t in_events = 0;
  std::istringstream lines(node.read("events.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto e = nlohmann::json::parse(line);
    if (e["kind"] != "txs_accepted") continue;
    EXPECT_EQ(e["fields"]["count"], e["fields"]["hashes"].size());
    in_events += e["fields"]["hashes"].size();
  }
  EXPECT_EQ(in_events, accepted.size() + 1);
}

TEST(TrustNodeHttp, BinaryBatchAnswersOneStatusBytePerRecordAndSharesTheStore) {
  Node node(kNodeConfig);
  const int port = node.port("http.port");
  ASSERT_GT(port, 0);
  httplib::Client http("127.0.0.1", port);
  TxSignature forged;
  forged.pubkey.fill(1);
  forged.signature.fill(2);
  auto res = http.Post("/v1/transactions/batch", binary_batch({{"b1", {}}, {"b1", {}}, {"b2", forged}}),
                       "application/vnd.iotw.tx-batch");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/vnd.iotw.tx-batch");
  // "ITXR", version 1, 3 zero bytes, accepted 1, rejected 2, count 3, then pending / duplicate / bad signature.
  const std::string want("ITXR\x01\0\0\0\x01\0\0\0\x02\0\0\0\x03\0\0\0\x00\x01\x02", 23);
  EXPECT_EQ(res->body, want);
  // One store behind both encodings: the JSON form of b1 is a duplicate.
  auto dup = http.Post("/v1/transactions", R"({"payload":"b1"})", "application/json");
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->status, 409);
  // A malformed binary body: 400 with the byte named, nothing stored.
  auto bad = http.Post("/v1/transactions/batch", std::string("ITXB\x01\0\0\0\x01\0\0\0\x00\x05\0ab", 17),
                       "application/vnd.iotw.tx-batch");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad->body)["error"], "binary batch: truncated record at byte 15 (record 0)");
  const auto h = nlohmann::json::parse(http.Get("/v1/health")->body);
  EXPECT_EQ(h["pending_txs"], 1);
}

}  // namespace
}  // namespace iotw::tn::test
