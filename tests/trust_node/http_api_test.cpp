// The HTTP API added by issue 3 against the real daemon: batch intake, balances, blacklist listing and
// operator lifting, /metrics checked by promtool, HTTP garbage and hostile UDP frames (never a crash).
#include <httplib.h>

#include <cstdlib>

#include "iotw/crc32.h"
#include "iotw/trust_node/tx_request.hpp"
#include "node_process.hpp"

namespace iotw::tn::test {
namespace {

constexpr const char *kConfig = R"(
[node]
db = "ledger.sqlite"
seed = 5
events = "events.jsonl"
[http]
listen = "127.0.0.1:0"
port_file = "http.port"
operator_token = "s3cret"
[udp]
listen = "127.0.0.1:0"
port_file = "udp.port"
[consensus]
witnesses = 2
block_interval_ms = 0
[rewards]
miner = 50
witness = 5
usage = 3
)";

struct Running {
  Running() : node(kConfig), http_port(node.port("http.port")), udp_port(node.port("udp.port")), http("127.0.0.1", http_port) {
    EXPECT_GT(http_port, 0);
    EXPECT_GT(udp_port, 0);
  }
  void attach(int n) {
    for (int i = 1; i <= n; ++i) {
      devs.push_back(std::make_unique<UdpDevice>(static_cast<uint32_t>(i), udp_port));
      devs.back()->send(devs.back()->dev.hello());
    }
  }
  nlohmann::json health() { return nlohmann::json::parse(http.Get("/v1/health")->body); }
  /** Serve devices until pred(health) holds; bounded. */
  template <class P>
  nlohmann::json serve_until(P pred) {
    nlohmann::json h;
    for (int i = 0; i < 500; ++i) {
      serve(devs, 5);
      h = health();
      if (pred(h)) break;
    }
    return h;
  }
  Node node;
  int http_port, udp_port;
  httplib::Client http;
  std::vector<std::unique_ptr<UdpDevice>> devs;
};

TEST(TrustNodeHttp, BatchIsAcknowledgedPerItemAndFinalized) {
  Running r;
  r.attach(3);
  nlohmann::json batch{{"transactions", nlohmann::json::array()}};
  for (int i = 0; i < 200; ++i) batch["transactions"].push_back({{"payload", "b" + std::to_string(i)}});
  batch["transactions"].push_back({{"payload", "b7"}});
  batch["transactions"].push_back({{"payload", ""}});
  auto res = r.http.Post("/v1/transactions/batch", batch.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  const auto body = nlohmann::json::parse(res->body);
  EXPECT_EQ(body["accepted"], 200);
  EXPECT_EQ(body["rejected"], 2);
  EXPECT_EQ(body["results"][0]["status"], "pending");
  EXPECT_EQ(body["results"][200]["status"], "duplicate");
  EXPECT_EQ(body["results"][201]["status"], "invalid");
  const auto h = r.serve_until([](const nlohmann::json &h) { return h["pending_txs"] == 0 && h["height"] > 0; });
  EXPECT_EQ(h["pending_txs"], 0);
  EXPECT_GE(h["height"], 4);  // max_txs_per_block = 64 by default

  // Balances: miner 50 + witnesses 2 x 5 per block.
  const auto bal = nlohmann::json::parse(r.http.Get("/v1/balances")->body)["balances"];
  uint64_t total = 0;
  for (const auto &[k, v] : bal.items()) total += v.get<uint64_t>();
  EXPECT_EQ(total, 60u * h["height"].get<uint64_t>());
  const std::string dev0 = r.devs[0]->dev.hex();
  const auto one = nlohmann::json::parse(r.http.Get(("/v1/balances/" + dev0).c_str())->body);
  EXPECT_EQ(one["balance"], bal.value(dev0, 0));
  EXPECT_EQ(r.http.Get("/v1/balances/xyz")->status, 400);
}

TEST(TrustNodeHttp, SignedSubmissionAndSchemaErrors) {
  Running r;
  SimDevice wallet(9, "wallet", Behaviour::honest);
  const std::string text = "pay 5 to esp-03";
  uint8_t msg[tx_sigmsg_len], sig[64];
  tx_sigmsg(sha256(reinterpret_cast<const uint8_t *>(text.data()), text.size()), msg);
  crypto_sign_detached(sig, nullptr, msg, sizeof msg, wallet.sk.data());
  nlohmann::json tx{{"payload", text}, {"pubkey", wallet.hex()}, {"signature", to_hex(sig, 64)}};
  auto ok = r.http.Post("/v1/transactions", tx.dump(), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 202);
  sig[0] ^= 1;
  tx["payload"] = "pay 6 to esp-03";
  tx["signature"] = to_hex(sig, 64);
  auto bad = r.http.Post("/v1/transactions", tx.dump(), "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("bad signature"), std::string::npos);
  EXPECT_EQ(r.http.Post("/v1/transactions", R"({"payload":"x","extra":1})", "application/json")->status, 400);
  EXPECT_EQ(r.http.Post("/v1/transactions", std::string(40000, 'x'), "application/json")->status, 413);
  EXPECT_EQ(r.http.Post("/v1/transactions/batch", R"({"transactions":[{"payload":5}]})", "application/json")->status, 400);
  EXPECT_EQ(r.http.Get("/v1/blocks?from=abc")->status, 400);
  EXPECT_EQ(r.http.Get("/nope")->status, 404);
  EXPECT_EQ(r.health()["status"], "ok");
}

TEST(TrustNodeHttp, RawHttpGarbageGetsErrorsNotACrash) {
  Running r;
  const char *garbage[] = {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
                           "GET\r\n\r\n",
                           "POST /v1/transactions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                           "POST /v1/transactions HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{",
                           "POST /v1/transactions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                           "GET /v1/health HTTP/1.1\r\nHost: \x01\x02\r\n\r\n"};
  for (const char *g : garbage) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(r.http_port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    ASSERT_GT(::send(fd, g, std::strlen(g), MSG_NOSIGNAL), 0);
    shutdown(fd, SHUT_WR);
    char buf[512];
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) > 0) (void)::recv(fd, buf, sizeof buf, 0);
    close(fd);
  }
  EXPECT_EQ(r.health()["status"], "ok");  // still serving
}

TEST(TrustNodeHttp, HostileUdpFramesAreCountedAndTheNodeKeepsWorking) {
  Running r;
  r.attach(3);
  UdpDevice &d = *r.devs[0];
  r.serve_until([](const nlohmann::json &h) { return h["devices_attached"] == 3; });
  // bad CRC
  uint8_t p[512], dg[IOTW_DATAGRAM_MAX + 8];
  const size_t n = iotw_msg_encode(&static_cast<const iotw_v1_Envelope &>(d.dev.hello()), p, sizeof p);
  size_t k = iotw_datagram_encode(p, n, dg, sizeof dg);
  dg[k - 1] ^= 0xff;
  d.send_raw(dg, k);
  // oversized and tiny datagrams
  std::vector<uint8_t> big(IOTW_DATAGRAM_MAX + 5, 0xab);
  d.send_raw(big.data(), big.size());
  d.send_raw(dg, 2);
  // right CRC, undecodable protobuf
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  k = iotw_datagram_encode(junk, sizeof junk, dg, sizeof dg);
  d.send_raw(dg, k);
  // a replayed Prove (no pending challenge) and a forged-key attestation
  iotw_v1_Envelope prove = iotw_v1_Envelope_init_zero;
  prove.which_body = iotw_v1_Envelope_prove_tag;
  d.send(prove);
  const auto h = r.serve_until([](const nlohmann::json &h) {
    return h["frame_errors"].get<int>() >= 4 && h["registrations_rejected"].get<int>() >= 1;
  });
  EXPECT_GE(h["frame_errors"], 4);
  EXPECT_EQ(h["registrations_rejected"], 1);
  // still mines
  ASSERT_EQ(r.http.Post("/v1/transactions", R"({"payload":"after garbage"})", "application/json")->status, 202);
  r.devs[0]->send(r.devs[0]->dev.hello());  // the replayed Prove detached nothing, but re-attach to be sure
  const auto after = r.serve_until([](const nlohmann::json &h) { return h["height"] == 1; });
  EXPECT_EQ(after["height"], 1);
  const std::string events = r.node.read("events.jsonl");
  EXPECT_NE(events.find(R"("error":"bad_crc")"), std::string::npos);
  EXPECT_NE(events.find(R"("error":"decode")"), std::string::npos) << events;
}

TEST(TrustNodeHttp, BlacklistIsListedWithEvidenceAndLiftedByTheOperator) {
  Running r;
  r.attach(3);
  r.devs.push_back(std::make_unique<UdpDevice>(4, r.udp_port));
  r.devs.back()->dev.behaviour = Behaviour::invert_verdict;
  r.devs.back()->send(r.devs.back()->dev.hello());
  r.devs.push_back(std::make_unique<UdpDevice>(5, r.udp_port));
  r.devs.back()->send(r.devs.back()->dev.hello());
  nlohmann::json h;
  for (int i = 0; i < 40; ++i) {
    r.http.Post("/v1/transactions", nlohmann::json{{"payload", "t" + std::to_string(i)}}.dump(), "application/json");
    h = r.serve_until([&](const nlohmann::json &x) { return x["pending_txs"] == 0 || x["devices_blacklisted"] > 0; });
    if (h["devices_blacklisted"] > 0) break;
  }
  ASSERT_EQ(h["devices_blacklisted"], 2);
  const auto list = nlohmann::json::parse(r.http.Get("/v1/blacklist")->body)["blacklist"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["evidence"].size(), 2u);
  EXPECT_EQ(list[0]["evidence"][0]["signature"].get<std::string>().size(), 128u);
  const std::string path = "/v1/blacklist/" + list[0]["device"].get<std::string>() + "/lift";
  EXPECT_EQ(r.http.Post(path.c_str(), "", "text/plain")->status, 401);
  httplib::Headers auth{{"Authorization", "Bearer s3cret"}};
  EXPECT_EQ(r.http.Post(path.c_str(), auth, "", "text/plain")->status, 200);
  EXPECT_EQ(r.http.Post(path.c_str(), auth, "", "text/plain")->status, 404);
  EXPECT_EQ(r.health()["devices_blacklisted"], 1);
  EXPECT_NE(r.node.read("events.jsonl").find(R"("kind":"blacklist_lifted")"), std::string::npos);
}

TEST(TrustNodeHttp, MetricsPassPromtoolCheck) {
  Running r;
  r.attach(3);
  r.http.Post("/v1/transactions", R"({"payload":"m"})", "application/json");
  r.serve_until([](const nlohmann::json &h) { return h["height"] == 1; });
  auto m = r.http.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(m->body.find("\niotw_height 1\n"), std::string::npos);
  EXPECT_NE(m->body.find("\niotw_blocks_finalized_total 1\n"), std::string::npos);
  const fs::path file = r.node.dir / "metrics.txt";
  std::ofstream(file) << m->body;
  const fs::path out = r.node.dir / "promtool.txt";
  EXPECT_EQ(run_to_end("promtool", {"check", "metrics"}, {.stdin_file = file, .stdout_file = out, .stderr_file = out}), 0)
      << r.node.read("promtool.txt");
}

}  // namespace
}  // namespace iotw::tn::test
