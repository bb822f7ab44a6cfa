// A mesh node's way to etcd (harness/runner/tcp_relay.hpp): a real etcd member (Debian's etcd-server,
// support/etcd_cluster.hpp) answers through the relay, not while it is cut, and again once restored.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>

#include "iotw/support/etcd_cluster.hpp"
#include "tcp_relay.hpp"

namespace {

std::string health_through(const iotw::harness::TcpRelay& relay) {
  httplib::Client c("127.0.0.1", relay.port());
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(2, 0);
  const auto res = c.Get("/health");
  return res && res->status == 200 ? res->body : "";
}

TEST(TcpRelayEtcd, AnEtcdMemberAnswersThroughTheRelayUnlessCut) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("iotw-relay-etcd-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  {
    iotw::support::EtcdCluster etcd(dir, {.members = 1});
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::thread thread([&] { io.run(); });
    {
      iotw::harness::TcpRelay relay(io, etcd.client_endpoint(0));
      EXPECT_NE(health_through(relay).find("\"health\":\"true\""), std::string::npos);
      relay.cut();
      EXPECT_EQ(health_through(relay), "") << "a node behind a cut relay does not reach etcd";
      relay.restore();
      EXPECT_NE(health_through(relay).find("\"health\":\"true\""), std::string::npos);
    }
    work.reset();
    io.stop();
    thread.join();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
