// TrustNodeClient against a stub trust node speaking the docs/trust-node.md HTTP API.
#include "trust_node_client.hpp"

#include <algorithm>
#include <httplib.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <thread>

namespace iotw::harness {
namespace {

class StubNode : public ::testing::Test {
 protected:
  void SetUp() override {
    server.Get("/v1/health", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok","height":12,"devices_attached":4,"devices_blacklisted":1,"pending_txs":3,"rounds":13)" +
                          mesh + "}",
                      "application/json");
    });
    server.Post("/v1/transactions", [this](const httplib::Request& req, httplib::Response& res) {
      const auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (!body.contains("payload")) return void(res.status = 400);
      res.status = seen.insert(body["payload"].get<std::string>()).second ? 202 : 409;
    });
    server.Get("/v1/blocks", [this](const httplib::Request& req, httplib::Response& res) {
      const int from = std::stoi(req.get_param_value("from"));
      const int limit = std::stoi(req.get_param_value("limit"));
      std::string body = R"({"blocks":[)";
      for (int h = from; h < std::min({from + limit, from + page_blocks, chain_length}); ++h)
        body += (h > from ? "," : "") + std::string(R"({"height":)") + std::to_string(h) + R"(,"hash":"ab","tx_count":0})";
      res.set_content(body + "]}", "application/json");
    });
    server.Get("/v1/tip", [this](const httplib::Request&, httplib::Response& res) {
      if (tip_height < 0) return void(res.status = 404);  // a node without a node key
      res.set_content(R"({"tip":{"height":)" + std::to_string(tip_height) + R"(,"hash":"ab"}})", "application/json");
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::yield();
  }
  void TearDown() override {
    server.stop();
    thread.join();
  }
  httplib::Server server;
  std::set<std::string> seen;
  std::string mesh;  ///< appended to the health object (a mesh node's ,"mesh":{...})
  int chain_length = 2345;
  int page_blocks = 1000;  ///< blocks per answer at most (a node bounds a page by its transactions too)
  int tip_height = -1;  ///< GET /v1/tip answers 404 while negative
  int port = 0;
  std::thread thread;
};

TEST_F(StubNode, ReadsHealth) {
  TrustNodeClient client(port);
  const auto h = client.health();
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->height, 12u);
  EXPECT_EQ(h->devices_attached, 4u);
  EXPECT_EQ(h->devices_blacklisted, 1u);
  EXPECT_EQ(h->pending_txs, 3u);
  EXPECT_EQ(h->rounds, 13u);
  EXPECT_FALSE(h->mesh) << "a node without [mesh]";
  EXPECT_FALSE(h->assigning());
}

TEST_F(StubNode, ReadsAMeshNodesRole) {
  TrustNodeClient client(port);
  mesh = R"(,"mesh":{"node_id":"tn-1","role":"assigning","leader":"tn-1"})";
  auto h = client.health();
  ASSERT_TRUE(h && h->mesh);
  EXPECT_EQ(h->mesh->node_id, "tn-1");
  EXPECT_EQ(h->mesh->role, "assigning");
  EXPECT_EQ(h->mesh->leader, "tn-1");
  EXPECT_TRUE(h->assigning());
  mesh = R"(,"mesh":{"node_id":"tn-2","role":"standby","leader":null})";
  h = client.health();
  ASSERT_TRUE(h && h->mesh);
  EXPECT_EQ(h->mesh->leader, "");
  EXPECT_FALSE(h->assigning());
  mesh = R"(,"mesh":{"node_id":"tn-2"})";  // no role: not the documented shape
  EXPECT_FALSE(client.health());
}

TEST_F(StubNode, MapsSubmitStatuses) {
  TrustNodeClient client(port);
  EXPECT_EQ(client.submit("hello"), SubmitResult::Accepted);
  EXPECT_EQ(client.submit("hello"), SubmitResult::Duplicate);
}

TEST_F(StubNode, ExportPagesThroughTheWholeChainKeepingKeyOrder) {
  TrustNodeClient client(port);
  const auto blocks = client.export_blocks();
  ASSERT_EQ(blocks.size(), 2345u);
  EXPECT_EQ(blocks.front(), R"({"height":0,"hash":"ab","tx_count":0})");
  EXPECT_EQ(blocks.back(), R"({"height":2344,"hash":"ab","tx_count":0})");
}

TEST_F(StubNode, ExportEndsAtTheSignedTipFetchedFirst) {
  tip_height = 1500;  // blocks above it (finalized after the tip was signed) are left out
  TrustNodeClient client(port);
  const auto lines = client.export_blocks();
  ASSERT_EQ(lines.size(), 1502u);
  EXPECT_EQ(lines[1500], R"({"height":1500,"hash":"ab","tx_count":0})");
  EXPECT_EQ(lines.back(), R"({"tip":{"height":1500,"hash":"ab"}})");
}

TEST_F(StubNode, ExportOfAnExactPageMultipleEnds) {
  chain_length = 1000;
  TrustNodeClient client(port);
  EXPECT_EQ(client.export_blocks().size(), 1000u);
}

TEST_F(StubNode, ExportGoesOnPastPagesShortenedByTheirTransactions) {
  page_blocks = 7;  // big blocks: the node answers fewer blocks than asked before the tip (docs/trust-node.md)
  TrustNodeClient client(port);
  const auto blocks = client.export_blocks();
  ASSERT_EQ(blocks.size(), 2345u);
  EXPECT_EQ(blocks.back(), R"({"height":2344,"hash":"ab","tx_count":0})");
}

TEST(TrustNodeClientOffline, UnreachableNodeIsNoHealthAndExportThrows) {
  // A port held bound but never listening: every connection is refused at once.
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  TrustNodeClient client(ntohs(addr.sin_port));
  EXPECT_FALSE(client.health().has_value());
  EXPECT_EQ(client.submit("x"), SubmitResult::Failed);
  EXPECT_THROW(client.export_blocks(), TrustNodeError);
  ::close(sock);
}

TEST(TxPayload, DeterministicDistinctAndOfTheRequestedSize) {
  EXPECT_EQ(tx_payload(7, 0, 48), tx_payload(7, 0, 48));
  EXPECT_EQ(tx_payload(7, 0, 48).size(), 48u);
  EXPECT_EQ(tx_payload(7, 0, 4096).size(), 4096u);
  EXPECT_EQ(tx_payload(7, 0, 1).size(), 1u);
  std::set<std::string> distinct;
  for (std::uint64_t i = 0; i < 1000; ++i) distinct.insert(tx_payload(7, i, 16));
  EXPECT_EQ(distinct.size(), 1000u);
  EXPECT_NE(tx_payload(7, 3, 48), tx_payload(8, 3, 48));
  for (char c : tx_payload(1, 2, 200)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
}

}  // namespace
}  // namespace iotw::harness
