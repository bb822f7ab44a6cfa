// SqliteLedger: durable chain, pending txs, device registry and blacklist across a reopen.
#include <cstring>
#include <filesystem>

#include "iotw/trust_node/sqlite_ledger.hpp"
#include "sim.hpp"

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

bool same(const Block &a, const Block &b) {
  return block_to_json(a) == block_to_json(b);
}

TEST(SqliteLedger, ChainPendingDevicesAndBlacklistSurviveReopen) {
  TempDir dir;
  const std::string db = dir.file("ledger.sqlite");
  std::vector<Block> chain;
  std::vector<DeviceRecord> devices;
  std::vector<BlacklistEntry> black;
  std::string liar_hex;
  {
    SqliteLedger store(db);
    Rig rig({}, &store);
    for (int i = 0; i < 7; ++i) rig.add();
    liar_hex = rig.add(Behaviour::invert_verdict).hex();
    for (int i = 0; i < 30 && rig.core.blacklisted_count() == 0; ++i)
      rig.submit("tx" + std::to_string(i)), rig.advance(rig.cfg.block_interval_ms);
    ASSERT_EQ(rig.core.blacklisted_count(), 3u);
    for (auto &[l, d] : rig.devices) rig.core.link_closed(l);  // no device left: the next tx stays pending
    ASSERT_EQ(rig.submit("pending one").status, SubmitResult::accepted);
    ASSERT_EQ(rig.core.pending_count(), 1u);
    chain = store.blocks(0, 1000);
    devices = store.devices();
    black = store.blacklist();
  }
  SqliteLedger store(db);
  ASSERT_GE(chain.size(), 2u);
  const auto again = store.blocks(0, 1000);
  ASSERT_EQ(again.size(), chain.size());
  for (size_t i = 0; i < chain.size(); ++i) EXPECT_TRUE(same(again[i], chain[i])) << "height " << i;
  EXPECT_EQ(store.devices().size(), 8u);
  EXPECT_EQ(store.blacklist().size(), 3u);
  bool liar_listed = false;
  for (const auto &e : store.blacklist()) liar_listed |= to_hex(e.pubkey) == liar_hex;
  EXPECT_TRUE(liar_listed);
  ASSERT_EQ(store.pending_txs().size(), 1u);
  EXPECT_EQ(store.max_round_id(), std::max(chain.back().round_id, black[0].round_id));

  // A core started on the reopened store continues the chain: same tip, ids move forward, devices known.
  Rig rig({}, &store);
  EXPECT_EQ(rig.core.height(), chain.back().height);
  EXPECT_EQ(rig.core.pending_count(), 1u);
  EXPECT_EQ(rig.core.blacklisted_count(), 3u);
  for (int i = 0; i < 8; ++i) rig.add();  // same names -> same keys as before
  for (const Event &e : rig.sink.of("device_registered")) EXPECT_EQ(e.fields["new"], false);
  rig.advance(rig.cfg.block_interval_ms);
  const auto last = store.blocks(chain.size(), 1);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_GT(last[0].round_id, chain.back().round_id);
  EXPECT_GT(last[0].assignment_id, chain.back().assignment_id);
  EXPECT_EQ(last[0].txs.at(0).payload, Bytes({'p', 'e', 'n', 'd', 'i', 'n', 'g', ' ', 'o', 'n', 'e'}));
  EXPECT_TRUE(store.pending_txs().empty());
}

TEST(SqliteLedger, DuplicateTxRefusedEvenAfterInclusion) {
  TempDir dir;
  SqliteLedger store(dir.file("l.sqlite"));
  const Bytes p{'x'};
  const Tx tx{sha256(p.data(), p.size()), p, std::nullopt, std::nullopt};
  EXPECT_TRUE(store.add_pending_tx(tx));
  EXPECT_FALSE(store.add_pending_tx(tx));
  Block b = genesis_block();
  store.append_block(b);
  b.height = 1;
  b.hash[0] ^= 1;
  b.txs = {tx};
  store.append_block(b);
  EXPECT_TRUE(store.pending_txs().empty());
  EXPECT_FALSE(store.add_pending_tx(tx));
  EXPECT_EQ(store.blocks(1, 1).at(0).txs.size(), 1u);
}

TEST(SqliteLedger, FailedAppendLeavesNothingBehind) {
  TempDir dir;
  SqliteLedger store(dir.file("l.sqlite"));
  store.append_block(genesis_block());
  Block dup = genesis_block();  // same height: the insert fails, the transaction rolls back
  const Bytes p{'y'};
  dup.txs = {Tx{sha256(p.data(), p.size()), p, std::nullopt, std::nullopt}};
  EXPECT_THROW(store.append_block(dup), LedgerError);
  EXPECT_EQ(store.block_count(), 1u);
  EXPECT_TRUE(store.pending_txs().empty());
  EXPECT_TRUE(store.add_pending_tx(dup.txs[0]));
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
