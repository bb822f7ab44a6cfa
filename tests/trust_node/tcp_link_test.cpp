// The trust node's [tcp] links (trust_node/net links.hpp TcpListener): serial framing over a TCP stream,
// one link per connection, hostile input bounded.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <string>
#include <vector>

#include "iotw/frame_codec.h"
#include "iotw/trust_node/links.hpp"

namespace {
namespace asio = boost::asio;
using iotw::tn::LinkHost;
using iotw::tn::PayloadSender;
using iotw::tn::TcpListener;

struct FakeHost : LinkHost {
  uint32_t next = 1;
  std::map<uint32_t, std::string> up;
  std::map<uint32_t, PayloadSender> senders;
  std::vector<uint32_t> downs;
  std::vector<std::pair<uint32_t, std::string>> payloads;
  std::vector<std::pair<std::string, nlohmann::json>> events;
  uint32_t new_link_id() override { return next++; }
  void link_up(uint32_t id, const std::string& name, PayloadSender send) override {
    up[id] = name;
    senders[id] = std::move(send);
  }
  void link_down(uint32_t id) override {
    up.erase(id);
    senders.erase(id);
    downs.push_back(id);
  }
  void payload(uint32_t id, const uint8_t* p, size_t n) override {
    payloads.emplace_back(id, std::string(reinterpret_cast<const char*>(p), n));
  }
  void link_event(std::string_view kind, nlohmann::json fields) override {
    events.emplace_back(std::string(kind), std::move(fields));
  }
  size_t count(const std::string& kind) const {
    size_t k = 0;
    for (const auto& e : events) k += e.first == kind;
    return k;
  }
};

std::string frame(const std::string& payload) {
  std::vector<uint8_t> w(IOTW_FRAME_MAX_WIRE);
  w.resize(iotw_frame_encode(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), w.data(), w.size()));
  return std::string(w.begin(), w.end());
}

class TcpLinkTest : public ::testing::Test {
 protected:
  asio::io_context io;
  FakeHost host;
  std::unique_ptr<TcpListener> tcp;

  void SetUp() override {
    iotw::tn::ListenConfig cfg;
    cfg.host = "127.0.0.1";
    tcp = std::make_unique<TcpListener>(io, cfg, host, 60'000);
    tcp->start();
  }
  // Runs the io_context until pred holds (bounded; not a timing assertion).
  template <class P>
  bool run_until(P pred) {
    for (int i = 0; i < 500 && !pred(); ++i) io.run_one_for(std::chrono::milliseconds(20));
    return pred();
  }
  asio::ip::tcp::socket connect() {
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), tcp->port()});
    return s;
  }
  void write(asio::ip::tcp::socket& s, const std::string& bytes) { asio::write(s, asio::buffer(bytes)); }
};

TEST_F(TcpLinkTest, ConnectionIsALinkNamedByPeer) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  const std::string name = host.up.begin()->second;
  EXPECT_EQ(name, "tcp:127.0.0.1:" + std::to_string(s.local_endpoint().port()));
}

TEST_F(TcpLinkTest, FrameSplitAcrossReads) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  const std::string w = frame("hello, split frame");
  for (char ch : w) {  // one byte per write: the node sees many partial reads
    write(s, std::string(1, ch));
    io.poll();
  }
  ASSERT_TRUE(run_until([&] { return host.payloads.size() == 1; }));
  EXPECT_EQ(host.payloads[0].second, "hello, split frame");
}

TEST_F(TcpLinkTest, TwoFramesInOneRead) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  write(s, frame("one") + frame("two"));
  ASSERT_TRUE(run_until([&] { return host.payloads.size() == 2; }));
  EXPECT_EQ(host.payloads[0].second, "one");
  EXPECT_EQ(host.payloads[1].second, "two");
}

TEST_F(TcpLinkTest, GarbageThenValidFrame) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  std::string garbage = "ready\r\nnoise";
  garbage.push_back('\0');
  garbage += std::string(2000, '\x55');  // oversized: more than a frame's wire length before a delimiter
  garbage.push_back('\0');
  write(s, garbage + frame("valid"));
  ASSERT_TRUE(run_until([&] { return host.payloads.size() == 1; }));
  EXPECT_EQ(host.payloads[0].second, "valid");
  EXPECT_GE(host.count("frame_error"), 2u);
  EXPECT_EQ(host.up.size(), 1u);  // garbage does not end the link
}

TEST_F(TcpLinkTest, NodeToDeviceIsSerialFramed) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  const std::string p = "from the node";
  host.senders.begin()->second(reinterpret_cast<const uint8_t*>(p.data()), p.size());
  const std::string want = frame(p);
  std::string got;
  ASSERT_TRUE(run_until([&] {
    boost::system::error_code ec;
    if (s.available(ec) > 0) {
      std::vector<char> b(s.available(ec));
      got.append(b.data(), s.read_some(asio::buffer(b), ec));
    }
    return got.size() >= want.size();
  }));
  EXPECT_EQ(got, want);
}

TEST_F(TcpLinkTest, CloseIsLinkGone) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  const uint32_t id = host.up.begin()->first;
  s.close();
  ASSERT_TRUE(run_until([&] { return host.downs.size() == 1; }));
  EXPECT_EQ(host.downs[0], id);
  EXPECT_TRUE(host.up.empty());
  ASSERT_EQ(host.count("link_closed"), 1u);
  EXPECT_EQ(tcp->connections(), 0u);
}

TEST_F(TcpLinkTest, HalfOpenPeerIsClosedWhenIdle) {
  iotw::tn::ListenConfig cfg;
  cfg.host = "127.0.0.1";
  TcpListener short_idle(io, cfg, host, 50);
  short_idle.start();
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), short_idle.port()});
  ASSERT_TRUE(run_until([&] { return host.count("link_closed") == 1; }));  // never sends a byte
  EXPECT_EQ(host.events.back().second["reason"], "idle");
  EXPECT_EQ(short_idle.connections(), 0u);
}

TEST_F(TcpLinkTest, ConnectionsAreCapped) {
  std::vector<asio::ip::tcp::socket> socks;
  for (size_t i = 0; i < TcpListener::max_connections + 3; ++i) socks.push_back(connect());
  ASSERT_TRUE(run_until([&] { return tcp->rejected() == 3; }));
  EXPECT_EQ(tcp->connections(), TcpListener::max_connections);
  EXPECT_EQ(host.count("link_rejected"), 3u);
  socks.clear();  // all go away: every link is gone
  ASSERT_TRUE(run_until([&] { return tcp->connections() == 0; }));
  EXPECT_EQ(host.downs.size(), TcpListener::max_connections);
}

TEST_F(TcpLinkTest, CloseDropsEveryLink) {
  auto a = connect();
  auto b = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 2; }));
  tcp->close();
  EXPECT_TRUE(host.up.empty());
  EXPECT_EQ(host.downs.size(), 2u);
}

}  // namespace

namespace {
TEST_F(TcpLinkTest, PeerThatNeverReadsIsDropped) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  auto send = host.senders.begin()->second;
  const std::string p(400, 'n');
  // The node keeps writing; the peer never reads: once the kernel buffers are full, frames queue up to the cap.
  for (int i = 0; i < 20000 && host.count("link_closed") == 0; ++i) {
    send(reinterpret_cast<const uint8_t*>(p.data()), p.size());
    io.poll();
  }
  ASSERT_TRUE(run_until([&] { return host.count("link_closed") == 1; }));
  EXPECT_EQ(host.events.back().second["reason"], "slow_reader");
  EXPECT_EQ(tcp->connections(), 0u);
}
}  // namespace
