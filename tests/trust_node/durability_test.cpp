// SIGKILL durability (issue 3): the daemon is killed at seeded random moments while a loader thread
// submits batches and UDP devices mine; after every kill the chain re-verifies, no acknowledged (202)
// transaction is missing, and after every restart the devices re-attach as known devices (new:false).
#include <httplib.h>

#include <atomic>
#include <mutex>

#include "iotw/trust_node/sqlite_ledger.hpp"
#include "node_process.hpp"

namespace iotw::tn::test {
namespace {

TEST(TrustNodeDurability, FiftySigkillsUnderLoadLoseNothingAcknowledged) {
  const uint64_t seed = 20240611;
  std::cout << "durability seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  Node node(R"(
[node]
db = "ledger.sqlite"
seed = 9
events = "events.jsonl"
[http]
listen = "127.0.0.1:0"
port_file = "http.port"
[udp]
listen = "127.0.0.1:0"
port_file = "udp.port"
[consensus]
witnesses = 2
block_interval_ms = 0
max_txs_per_block = 32
)");
  std::vector<std::unique_ptr<UdpDevice>> devs;
  std::set<Hash> acked;
  uint64_t next_tx = 0;
  for (int round = 0; round < 50; ++round) {
    if (round > 0) node.start();
    const int http_port = node.port("http.port"), udp_port = node.port("udp.port");
    ASSERT_GT(http_port, 0) << node.read("stderr.txt");
    ASSERT_GT(udp_port, 0);
    if (devs.empty())
      for (uint32_t i = 1; i <= 3; ++i) devs.push_back(std::make_unique<UdpDevice>(i, udp_port));
    for (auto &d : devs) {
      d->connect_to(udp_port);
      d->send(d->dev.hello());
    }
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::thread loader([&, first = next_tx] {
      httplib::Client http("127.0.0.1", http_port);
      http.set_connection_timeout(0, 200'000);
      for (uint64_t n = first; !stop; n += 16) {
        nlohmann::json batch{{"transactions", nlohmann::json::array()}};
        std::vector<Hash> hashes;
        for (uint64_t j = n; j < n + 16; ++j) {
          const std::string p = "kill-test " + std::to_string(j);
          batch["transactions"].push_back({{"payload", p}});
          hashes.push_back(sha256(reinterpret_cast<const uint8_t *>(p.data()), p.size()));
        }
        auto res = http.Post("/v1/transactions/batch", batch.dump(), "application/json");
        if (!res || res->status != 202) continue;  // killed mid-request: nothing was acknowledged
        const auto body = nlohmann::json::parse(res->body);
        std::lock_guard lock(mu);
        for (size_t j = 0; j < hashes.size(); ++j)
          if (body["results"][j]["status"] != "invalid") acked.insert(hashes[j]);
      }
    });
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20 + rng() % 100);
    while (std::chrono::steady_clock::now() < until) serve(devs, 2);
    node.kill9();
    stop = true;
    loader.join();
    next_tx += 100000;

    SqliteLedger store((node.dir / "ledger.sqlite").string());
    const std::vector<Block> chain = store.blocks(0, 1'000'000);
    ASSERT_FALSE(chain.empty());
    EXPECT_EQ(chain[0].hash, genesis_block().hash);
    std::set<Hash> stored;
    for (size_t h = 1; h < chain.size(); ++h) expect_verifies(chain[h], chain[h - 1]);
    for (const Block &b : chain)
      for (const Tx &t : b.txs) stored.insert(t.hash);
    for (const Tx &t : store.pending_txs()) stored.insert(t.hash);
    size_t lost = 0;
    for (const Hash &h : acked) lost += !stored.count(h);
    ASSERT_EQ(lost, 0u) << "round " << round;
    EXPECT_EQ(store.devices().size(), 3u);
    if (::testing::Test::HasFailure()) return;
  }
  std::cout << "acknowledged txs " << acked.size() << "\n";
  EXPECT_GT(acked.size(), 0u);
  size_t fresh = 0, known = 0, finalized = 0;
  std::istringstream lines(node.read("events.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_discarded()) continue;  // the last line of a killed run may be cut
    if (e["kind"] == "device_registered") ++(e["fields"]["new"] ? fresh : known);
    finalized += e["kind"] == "block_finalized";
  }
  EXPECT_EQ(fresh, 3u);      // registered once, ever
  EXPECT_GE(known, 3u * 40);  // re-attached as known devices after (nearly) every restart
  EXPECT_GT(finalized, 0u);
}

}  // namespace
}  // namespace iotw::tn::test
