// SqliteLedger: the Ledger contract (ledger_contract.hpp: durable chain, pending txs, effects, device registry and
// blacklist across a reopen), its own limits, and block_from_json.
#include <cstring>
#include <filesystem>

#include "iotw/ledger_signing.h"
#include "iotw/trust_node/sqlite_ledger.hpp"
#include "ledger_contract.hpp"

namespace iotw::tn::test {
namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/iotw-tn-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const char *name) const { return (std::filesystem::path(path) / name).string(); }
  std::string path;
};

/** A SQLite file in a temporary folder; open() opens (or reopens) it. */
struct SqliteBackend : LedgerBackend {
  std::unique_ptr<Ledger> open() override { return std::make_unique<SqliteLedger>(dir.file("ledger.sqlite")); }
  TempDir dir;
};

INSTANTIATE_TEST_SUITE_P(
    Sqlite, LedgerContract,
    ::testing::Values(LedgerStore{"File", [] { return std::unique_ptr<LedgerBackend>(new SqliteBackend); }}),
    contract_name);

TEST(LedgerJson, BlockFromJsonInvertsBlockToJson) {
  Block b = child_block(genesis_block(), {text_tx("plain"), text_tx("signed"), text_tx("usage")}, 17, 23);
  b.miner = key_of(8);
  b.txs[1].signature = TxSignature{key_of(1), {}};
  b.txs[1].signature->signature.fill(0xab);
  b.attestations = {{key_of(2), 17, 1, {}}, {key_of(3), 17, 2, {}}};
  b.attestations[1].signature.fill(0x5c);
  b.vrf = VrfProof{4, {}, {}};
  b.vrf->pi.fill(1);
  b.vrf->beta.fill(2);
  b.vrf_round = VrfRound{4, 1, {{key_of(5), {}, {}}, {key_of(6), {}, {}}}};
  b.vrf_round->claims[1].pi.fill(3);
  b.vrf_round->claims[1].beta.fill(4);
  b.finalization = Finalization{IOTW_POLICY_THRESHOLD, 5, 3, IOTW_SELECTION_VRF, {}};
  b.finalization->signature.fill(0xee);
  const Block back = block_from_json(block_to_json(b));
  EXPECT_EQ(block_to_json(back), block_to_json(b));
  EXPECT_EQ(back.height, b.height);
  EXPECT_EQ(back.header, b.header);
  EXPECT_EQ(back.miner_signature, b.miner_signature);
  EXPECT_EQ(back.txs[1].signature->signature, b.txs[1].signature->signature);
  EXPECT_FALSE(back.txs[0].signature.has_value());
  EXPECT_EQ(back.attestations[1].verdict, 2);
  EXPECT_EQ(back.attestations[1].signature, b.attestations[1].signature);
  ASSERT_TRUE(back.vrf && back.vrf_round && back.finalization);
  EXPECT_EQ(back.vrf->suite, 4u);
  EXPECT_EQ(back.vrf->beta, b.vrf->beta);
  EXPECT_EQ(back.vrf_round->rank, 1u);
  EXPECT_EQ(back.vrf_round->claims[1].pi, b.vrf_round->claims[1].pi);
  EXPECT_EQ(back.finalization->policy, IOTW_POLICY_THRESHOLD);
  EXPECT_EQ(back.finalization->selection, IOTW_SELECTION_VRF);
  EXPECT_EQ(back.finalization->t, 3u);
  EXPECT_EQ(back.finalization->signature, b.finalization->signature);

  // A bare round (uniform fallback: no winning claim), no finalization, and the stores' usage_device.
  b.vrf.reset();
  b.finalization.reset();
  nlohmann::json j = block_to_json(b);
  j["transactions"][2]["usage_device"] = to_hex(key_of(9));
  const Block bare = block_from_json(j);
  EXPECT_FALSE(bare.vrf.has_value());
  EXPECT_FALSE(bare.finalization.has_value());
  ASSERT_TRUE(bare.vrf_round.has_value());
  EXPECT_EQ(bare.vrf_round->claims.size(), 2u);
  EXPECT_EQ(bare.txs[2].usage_device, key_of(9));

  j.erase("header");
  EXPECT_THROW(block_from_json(j), LedgerError);
  j = block_to_json(b);
  j["hash"] = "abc";
  EXPECT_THROW(block_from_json(j), LedgerError);
}

/** A chain whose blocks hold `sizes[h]` txs each (hash = height and index). */
std::unique_ptr<SqliteLedger> chain_of(const TempDir &dir, const std::vector<size_t> &sizes) {
  auto ledger = std::make_unique<SqliteLedger>(dir.file("ledger.sqlite"));
  ledger->append_block(genesis_block());
  for (size_t h = 1; h < sizes.size(); ++h) {
    Block b;
    b.height = h;
    for (size_t i = 0; i < sizes[h]; ++i) {
      Tx t;
      std::memcpy(t.hash.data(), &h, sizeof h);
      std::memcpy(t.hash.data() + 8, &i, sizeof i);
      t.payload.assign(t.hash.begin(), t.hash.end());
      b.txs.push_back(std::move(t));
    }
    b.hash[0] = static_cast<uint8_t>(h);
    ledger->append_block(b);
  }
  return ledger;
}

TEST(BlockPage, APageStopsBeforeTheBlockThatWouldTakeItPastItsTransactionBound) {
  TempDir dir;
  // Heights 1..6 of 8,000 txs: two fit in 20,000, the third would not.
  auto ledger = chain_of(dir, {0, 8000, 8000, 8000, 8000, 8000, 8000, 3});
  const auto page = block_page(*ledger, 1, 1000);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].height, 1u);
  EXPECT_EQ(page[1].height, 2u);
  EXPECT_EQ(page[1].txs.size(), 8000u);
  // Paging on from the next height reaches the tip with every block once.
  uint64_t from = 0, blocks = 0;
  for (;;) {
    const auto p = block_page(*ledger, from, 1000);
    if (p.empty()) break;
    EXPECT_EQ(p.front().height, from);
    for (const Block &b : p) EXPECT_LE(b.txs.size(), kPageMaxTxs);
    from += p.size();
    blocks += p.size();
  }
  EXPECT_EQ(blocks, 8u);
  EXPECT_EQ(block_page(*ledger, 1, 1).size(), 1u);  // limit still applies
  EXPECT_EQ(block_page(*ledger, 8, 1000).size(), 0u);  // past the tip: empty
}

TEST(BlockPage, ABlockLargerThanTheBoundIsAPageOfItsOwn) {
  TempDir dir;
  auto ledger = chain_of(dir, {0, 25000, 1, 1});
  const auto first = block_page(*ledger, 1, 1000);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].txs.size(), 25000u);
  EXPECT_EQ(block_page(*ledger, 2, 1000).size(), 2u);
  EXPECT_EQ(block_page(*ledger, 0, 1000).size(), 1u);  // genesis, then the big block does not fit
}

TEST(SqliteLedger, UnopenablePathThrowsNamingIt) {
  try {
    SqliteLedger store("/nonexistent-dir/x/ledger.sqlite");
    FAIL() << "expected LedgerError";
  } catch (const LedgerError &e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x/ledger.sqlite"), std::string::npos);
  }
}

TEST(SqliteLedger, PageCacheStaysWithinItsBoundAsTheFileGrows) {
  // The page cache fills as the ledger file grows, then stays at its bound (docs/trust-node.md "Memory"):
  // write four times the bound, one commit per batch, and watch the cache after every commit.
  TempDir dir;
  SqliteLedger store(dir.file("ledger.sqlite"));
  const size_t bound = static_cast<size_t>(SqliteLedger::page_cache_kib) * 1024;
  size_t written = 0, peak = 0;
  for (uint32_t n = 0; written < 4 * bound;) {
    std::vector<Tx> batch;
    for (int i = 0; i < 64; ++i, ++n) {
      Tx t;
      t.payload = Bytes(4000, static_cast<uint8_t>(n));
      std::memcpy(t.payload.data(), &n, sizeof n);
      t.hash = sha256(t.payload.data(), t.payload.size());
      written += t.payload.size();
      batch.push_back(std::move(t));
    }
    store.add_pending_txs(batch);
    peak = std::max(peak, store.page_cache_bytes());
  }
  EXPECT_LE(peak, bound + bound / 16) << "page cache " << peak << " bytes for a bound of " << bound;
  EXPECT_GE(peak, bound / 2) << "the file outgrew the cache, so the cache was full at some point";
}

}  // namespace
}  // namespace iotw::tn::test
