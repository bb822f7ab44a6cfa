// EtcdCluster with real etcd members (Debian's etcd-server): a 3-member cluster on loopback replicates a key,
// survives one member killed, and takes it back after a restart.
#include "iotw/support/base64.hpp"
#include "iotw/support/etcd_cluster.hpp"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <sodium.h>

#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

namespace iotw::support {
namespace {
using namespace std::chrono_literals;

std::string b64(const std::string& s) { return to_base64(s); }

std::string unb64(const std::string& s) {
  auto out = from_base64(s);
  if (!out) throw std::runtime_error("bad base64");
  return *out;
}

/// POST to etcd's v3 JSON gateway at endpoint "127.0.0.1:PORT"; nullopt when it does not answer 200.
std::optional<nlohmann::json> post(const std::string& endpoint, const std::string& path, const nlohmann::json& body) {
  const auto colon = endpoint.rfind(':');
  httplib::Client c(endpoint.substr(0, colon), std::stoi(endpoint.substr(colon + 1)));
  c.set_connection_timeout(2s);
  c.set_read_timeout(3s);
  const auto res = c.Post(path, body.dump(), "application/json");
  if (!res || res->status != 200) return std::nullopt;
  return nlohmann::json::parse(res->body);
}

bool put(const std::string& endpoint, const std::string& key, const std::string& value) {
  return post(endpoint, "/v3/kv/put", {{"key", b64(key)}, {"value", b64(value)}}).has_value();
}

std::optional<std::string> get(const std::string& endpoint, const std::string& key) {
  const auto r = post(endpoint, "/v3/kv/range", {{"key", b64(key)}});
  if (!r || !r->contains("kvs")) return std::nullopt;
  return unb64(r->at("kvs").at(0).at("value").get<std::string>());
}

class EtcdClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (find_etcd_binary().empty()) GTEST_FAIL() << "etcd not found (install Debian's etcd-server)";
    dir = std::filesystem::temp_directory_path() /
          ("iotw-etcd-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
           std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::filesystem::path dir;
};

TEST_F(EtcdClusterTest, ThreeMembersReplicateSurviveAKillAndTakeItBack) {
  EtcdCluster c(dir, {.members = 3});
  ASSERT_EQ(c.size(), 3);
  const auto eps = c.client_endpoints();
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_NE(eps[0], eps[1]);
  EXPECT_NE(eps[1], eps[2]);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(c.healthy(i)) << i;
    EXPECT_GT(c.pid(i), 0);
    EXPECT_EQ(c.client_endpoint(i), eps[i]);
    EXPECT_TRUE(std::filesystem::exists(dir / ("etcd-" + std::to_string(i) + ".log")));
  }

  ASSERT_TRUE(put(eps[0], "/t/a", "one"));
  EXPECT_EQ(get(eps[2], "/t/a"), "one");  // linearizable read on another member: replicated

  const int killed_pid = c.pid(1);
  c.kill(1);
  EXPECT_EQ(c.pid(1), -1);
  EXPECT_NE(::kill(killed_pid, 0), 0);  // reaped: no such process
  EXPECT_FALSE(c.healthy(1));
  // Two of three remain a quorum: healthy, and writes succeed (a put may land during a re-election: retry).
  bool written = false;
  for (int attempt = 0; attempt < 50 && !written; ++attempt) {
    written = put(eps[2], "/t/b", "two");
    if (!written) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(written);
  EXPECT_TRUE(c.healthy(0));
  EXPECT_TRUE(c.healthy(2));
  EXPECT_EQ(get(eps[0], "/t/b"), "two");

  c.restart(1);
  EXPECT_GT(c.pid(1), 0);
  EXPECT_TRUE(c.healthy(1));
  EXPECT_EQ(get(eps[1], "/t/b"), "two");  // caught up on what it missed
}

TEST_F(EtcdClusterTest, AStoppedMemberIsUnhealthyUntilResumed) {
  EtcdCluster c(dir, {.members = 1});
  ASSERT_TRUE(c.healthy(0));
  c.stop(0);
  EXPECT_FALSE(c.healthy(0));
  c.resume(0);
  bool back = false;
  for (int attempt = 0; attempt < 100 && !back; ++attempt) {  // hang guard 10 s+: the member catches up first
    back = c.healthy(0);
    if (!back) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(back);
}

TEST_F(EtcdClusterTest, AMissingBinaryNamesTheDebianPackage) {
  try {
    EtcdCluster c(dir, {.binary = (dir / "no-such-etcd").string()});
    FAIL() << "started without a binary";
  } catch (const EtcdMissing& e) {
    EXPECT_NE(std::string(e.what()).find("etcd-server"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace iotw::support
