// Trust-node mesh end to end (docs/trust-node.md "Mesh"): real iotw-trust-node processes on a real etcd cluster.
// One node assigns, the other refuses devices with Error 6 and stores transactions; when the assigning node dies
// the other takes over and the ledger stays one verifiable chain; a node whose etcd view is stale stops assigning.
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <httplib.h>

#include "iotw/harness/ledger_verifier.hpp"
#include "iotw/support/etcd_cluster.hpp"
#include "node_process.hpp"

namespace iotw::tn::test {
namespace {

struct MeshFixture {
  explicit MeshFixture(int members = 1) {
    char tmpl[] = "/tmp/iotw-mesh-XXXXXX";
    dir = mkdtemp(tmpl);
    etcd = std::make_unique<support::EtcdCluster>(dir / "etcd", support::EtcdClusterOptions{.members = members});
  }
  ~MeshFixture() {
    nodes.clear();
    etcd.reset();
    fs::remove_all(dir);
  }
  std::string config(int i, const std::string &consensus_extra = "") const {
    std::string eps;
    for (const std::string &e : etcd->client_endpoints()) eps += (eps.empty() ? "\"" : ", \"") + e + "\"";
    return "[node]\nseed = 7\nevents = \"events.jsonl\"\nkey = \"" + (dir / "node.key").string() +
           "\"\n[http]\nlisten = \"127.0.0.1:0\"\nport_file = \"http.port\"\n[udp]\nlisten = \"127.0.0.1:0\"\n"
           "port_file = \"udp.port\"\n[store]\nkind = \"etcd\"\nendpoints = [" + eps +
           "]\nprefix = \"/test/\"\n[mesh]\nnode_id = \"tn-" + std::to_string(i) +
           "\"\nlease_ttl_s = 1\n[consensus]\nwitnesses = 3\nblock_interval_ms = 0\n" + consensus_extra;
  }
  Node &start(int i, const std::string &consensus_extra = "") {
    nodes.push_back(std::make_unique<Node>(config(i, consensus_extra)));
    return *nodes.back();
  }
  fs::path dir;
  std::unique_ptr<support::EtcdCluster> etcd;
  std::vector<std::unique_ptr<Node>> nodes;
};

std::optional<nlohmann::json> health(int http_port) {
  httplib::Client c("127.0.0.1", http_port);
  c.set_connection_timeout(1);
  c.set_read_timeout(3);
  auto r = c.Get("/v1/health");
  if (!r || r->status != 200) return std::nullopt;
  return nlohmann::json::parse(r->body);
}

std::string role_of(int http_port) {
  const auto h = health(http_port);
  return h && h->contains("mesh") ? (*h)["mesh"]["role"].get<std::string>() : std::string();
}

/** Serves the devices and polls until pred() holds; at most `rounds` rounds of about 20 ms (bounded, not timed). */
template <class Pred>
bool serve_until(std::vector<std::unique_ptr<UdpDevice>> &devs, Pred pred, int rounds = 750) {
  for (int i = 0; i < rounds; ++i) {
    if (!devs.empty()) serve(devs, 20);
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (pred()) return true;
  }
  return false;
}

int post_tx(int http_port, const std::string &payload) {
  httplib::Client c("127.0.0.1", http_port);
  auto r = c.Post("/v1/transactions", nlohmann::json{{"payload", payload}}.dump(), "application/json");
  return r ? r->status : 0;
}

std::vector<nlohmann::json> export_ledger_lines(int http_port) {
  httplib::Client c("127.0.0.1", http_port);
  auto tip = c.Get("/v1/tip");
  std::vector<nlohmann::json> out = nlohmann::json::parse(c.Get("/v1/blocks?limit=1000")->body)["blocks"];
  if (tip && tip->status == 200) out.push_back(nlohmann::json::parse(tip->body));
  return out;
}

bool has_error6(const SimDevice &d) {
  for (const iotw_v1_Envelope &e : d.received)
    if (e.which_body == iotw_v1_Envelope_error_tag && e.body.error.code == 6) return true;
  return false;
}

TEST(MeshDaemon, OneNodeAssignsTheOtherTakesOverWhenItDies) {
  MeshFixture mesh;
  Node &a = mesh.start(0);
  const int a_http = a.port("http.port"), a_udp = a.port("udp.port");
  ASSERT_GT(a_http, 0);
  std::vector<std::unique_ptr<UdpDevice>> none;
  ASSERT_TRUE(serve_until(none, [&] { return role_of(a_http) == "assigning"; })) << a.read("stderr.txt");
  Node &b = mesh.start(1);
  const int b_http = b.port("http.port"), b_udp = b.port("udp.port");
  ASSERT_GT(b_http, 0);
  ASSERT_TRUE(serve_until(none, [&] { return role_of(b_http) == "standby"; })) << b.read("stderr.txt");
  EXPECT_EQ((*health(b_http))["mesh"]["leader"], "tn-0");

  // A device that says Hello to the standby is told to move on (Error 6) and is not attached there.
  std::vector<std::unique_ptr<UdpDevice>> wrong;
  wrong.push_back(std::make_unique<UdpDevice>(9, b_udp));
  wrong[0]->send(wrong[0]->dev.hello());
  ASSERT_TRUE(serve_until(wrong, [&] { return has_error6(wrong[0]->dev); }));
  EXPECT_EQ((*health(b_http))["devices_attached"], 0);

  // Devices on the assigning node mine a transaction the standby acknowledged (202 = in etcd's quorum).
  std::vector<std::unique_ptr<UdpDevice>> devs;
  for (uint32_t i = 1; i <= 4; ++i) {
    devs.push_back(std::make_unique<UdpDevice>(i, a_udp));
    devs.back()->send(devs.back()->dev.hello());
  }
  ASSERT_EQ(post_tx(b_http, "through the standby"), 202);
  ASSERT_EQ(post_tx(b_http, "through the standby"), 409);  // duplicates are refused across the mesh
  ASSERT_TRUE(serve_until(devs, [&] { auto h = health(a_http); return h && (*h)["height"] >= 1; }))
      << a.read("events.jsonl");
  EXPECT_GE((*health(a_http))["pending_absorbed"], 1);

  // The assigning node dies without a word: the standby takes over within about the lease.
  ASSERT_EQ(post_tx(b_http, "pending at the failover"), 202);
  a.kill9();
  ASSERT_TRUE(serve_until(none, [&] { return role_of(b_http) == "assigning"; })) << b.read("events.jsonl");
  EXPECT_EQ((*health(b_http))["mesh"]["leader"], "tn-1");
  std::vector<std::unique_ptr<UdpDevice>> moved;  // the same device identities, now on the new node
  for (uint32_t i = 1; i <= 4; ++i) {
    moved.push_back(std::make_unique<UdpDevice>(i, b_udp));
    moved.back()->send(moved.back()->dev.hello());
  }
  ASSERT_EQ(post_tx(b_http, "after the failover"), 202);
  ASSERT_TRUE(serve_until(moved, [&] {
    auto h = health(b_http);
    return h && (*h)["pending_txs"] == 0 && (*h)["height"] >= 2;
  })) << b.read("events.jsonl");

  // One chain, every acknowledged transaction in it once, bound by the one node key of the mesh.
  const auto lines = export_ledger_lines(b_http);
  const auto verdict = harness::verify_ledger(lines);
  EXPECT_TRUE(verdict.valid) << (verdict.errors.empty() ? "" : verdict.errors.front());
  std::multiset<std::string> payloads;
  for (const auto &blk : harness::ledger_blocks(lines))
    for (const auto &tx : blk["transactions"]) payloads.insert(tx["payload_hex"].get<std::string>());
  for (const std::string text : {"through the standby", "pending at the failover", "after the failover"})
    EXPECT_EQ(payloads.count(to_hex(Bytes(text.begin(), text.end()))), 1u) << text;
  const std::string events = b.read("events.jsonl");
  EXPECT_NE(events.find(R"("role":"assigning")"), std::string::npos);
}

TEST(MeshDaemon, StaleEtcdViewStopsAssigningInsteadOfForking) {
  MeshFixture mesh;
  Node &a = mesh.start(0);
  const int a_http = a.port("http.port"), a_udp = a.port("udp.port");
  std::vector<std::unique_ptr<UdpDevice>> devs;
  ASSERT_TRUE(serve_until(devs, [&] { return role_of(a_http) == "assigning"; })) << a.read("stderr.txt");
  for (uint32_t i = 1; i <= 4; ++i) {
    devs.push_back(std::make_unique<UdpDevice>(i, a_udp));
    devs.back()->send(devs.back()->dev.hello());
  }
  ASSERT_EQ(post_tx(a_http, "before the stall"), 202);
  ASSERT_TRUE(serve_until(devs, [&] { auto h = health(a_http); return h && (*h)["height"] >= 1; }));

  // etcd stops answering (SIGSTOP): the node cannot know whether it still leads, so it stops assigning.
  mesh.etcd->stop(0);
  ASSERT_TRUE(serve_until(devs, [&] { return role_of(a_http) == "stale"; })) << a.read("events.jsonl");
  serve_until(devs, [&] {  // the Error 6 datagrams may still be on their way
    return std::all_of(devs.begin(), devs.end(), [](auto &d) { return has_error6(d->dev); });
  }, 100);
  const auto h = health(a_http);
  ASSERT_TRUE(h);
  EXPECT_EQ((*h)["devices_attached"], 0);  // detached with Error 6
  for (auto &d : devs) EXPECT_TRUE(has_error6(d->dev)) << d->dev.name;
  const uint64_t height = (*h)["height"];
  // While stale it starts no round: devices that say Hello again are refused and the height stays.
  for (auto &d : devs) d->send(d->dev.hello());
  serve_until(devs, [] { return false; }, 50);
  EXPECT_EQ((*health(a_http))["height"], height);
  EXPECT_EQ((*health(a_http))["rounds"], (*h)["rounds"]);

  // etcd answers again: the node leads again (its lease expired meanwhile, it campaigns anew) and mines.
  mesh.etcd->resume(0);
  ASSERT_TRUE(serve_until(devs, [&] { return role_of(a_http) == "assigning"; })) << a.read("events.jsonl");
  for (auto &d : devs) d->send(d->dev.hello());
  ASSERT_EQ(post_tx(a_http, "after the stall"), 202);
  ASSERT_TRUE(serve_until(devs, [&] { auto hh = health(a_http); return hh && (*hh)["height"] > height; }))
      << a.read("events.jsonl");
  const auto verdict = harness::verify_ledger(export_ledger_lines(a_http));
  EXPECT_TRUE(verdict.valid) << (verdict.errors.empty() ? "" : verdict.errors.front());
}

TEST(MeshDaemon, ALeaderCutOffFromItsDevicesHandsTheLeadershipOver) {
  // The devices of the assigning node go silent (as when its links are cut): it detaches them after the device
  // timeout and, with none attached for two device timeouts plus a lease, hands the leadership to the other node.
  MeshFixture mesh;
  const std::string fast = "device_timeout_ms = 1000\n";
  Node &a = mesh.start(0, fast);
  const int a_http = a.port("http.port"), a_udp = a.port("udp.port");
  std::vector<std::unique_ptr<UdpDevice>> none;
  ASSERT_TRUE(serve_until(none, [&] { return role_of(a_http) == "assigning"; })) << a.read("stderr.txt");
  Node &b = mesh.start(1, fast);
  const int b_http = b.port("http.port"), b_udp = b.port("udp.port");
  ASSERT_TRUE(serve_until(none, [&] { return role_of(b_http) == "standby"; }));
  std::vector<std::unique_ptr<UdpDevice>> devs;
  for (uint32_t i = 1; i <= 4; ++i) {
    devs.push_back(std::make_unique<UdpDevice>(i, a_udp));
    devs.back()->send(devs.back()->dev.hello());
  }
  ASSERT_EQ(post_tx(a_http, "before the cut"), 202);
  ASSERT_TRUE(serve_until(devs, [&] { auto h = health(a_http); return h && (*h)["height"] >= 1; }));

  // Nothing from the devices any more: a keeps its lease (it reaches etcd) but has nobody to assign to.
  ASSERT_TRUE(serve_until(none, [&] { return role_of(b_http) == "assigning"; })) << a.read("events.jsonl");
  EXPECT_EQ(role_of(a_http), "standby");
  EXPECT_NE(a.read("events.jsonl").find("leadership handed over"), std::string::npos);

  // The devices reach b: blocks go on there.
  std::vector<std::unique_ptr<UdpDevice>> moved;
  for (uint32_t i = 1; i <= 4; ++i) {
    moved.push_back(std::make_unique<UdpDevice>(i, b_udp));
    moved.back()->send(moved.back()->dev.hello());
  }
  ASSERT_EQ(post_tx(b_http, "after the hand-over"), 202);
  ASSERT_TRUE(serve_until(moved, [&] { auto h = health(b_http); return h && (*h)["height"] >= 2; }))
      << b.read("events.jsonl");
}

}  // namespace
}  // namespace iotw::tn::test
