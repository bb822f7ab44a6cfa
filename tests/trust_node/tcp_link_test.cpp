// The trust node's [tcp] links (trust_node/net links.hpp TcpListener): serial framing over a TCP stream,
// one link per connection, hostile input bounded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <string>
#include <vector>

#include "iotw/frame_codec.h"
#include "iotw/trust_node/links.hpp"
#include "mocks/trust_node/mock_link_host.hpp"

namespace {
namespace asio = boost::asio;
using iotw::tn::LinkHost;
using iotw::tn::PayloadSender;
using iotw::tn::TcpListener;

using ::testing::_;
using ::testing::AtLeast;
using ::testing::InSequence;

/// The daemon's side (tests/mocks/trust_node/mock_link_host.hpp). By default it hands out ids 1, 2, ... and
/// keeps the open links, their senders and the events, which the tests wait for; what they check are the
/// calls (EXPECT_CALL).
struct Host : ::testing::NiceMock<iotw::tn::mocks::MockLinkHost> {
  uint32_t next = 1;
  std::map<uint32_t, std::string> up;
  std::map<uint32_t, PayloadSender> senders;
  size_t downs = 0, payloads = 0;
  std::vector<std::pair<std::string, nlohmann::json>> events;
  Host() {
    ON_CALL(*this, new_link_id()).WillByDefault([this] { return next++; });
    ON_CALL(*this, link_up).WillByDefault([this](uint32_t id, const std::string& name, PayloadSender send) {
      up[id] = name;
      senders[id] = std::move(send);
    });
    ON_CALL(*this, link_down).WillByDefault([this](uint32_t id) {
      up.erase(id);
      senders.erase(id);
      ++downs;
    });
    ON_CALL(*this, payload).WillByDefault([this](uint32_t, const uint8_t*, size_t) { ++payloads; });
    ON_CALL(*this, link_event).WillByDefault([this](std::string_view kind, nlohmann::json fields) {
      events.emplace_back(std::string(kind), std::move(fields));
    });
    // Links and events may come and go unless a test expects otherwise; payloads and link_down calls a test
    // does not expect fail it once it expects any.
    EXPECT_CALL(*this, new_link_id()).Times(::testing::AnyNumber());
    EXPECT_CALL(*this, link_up(_, _, _)).Times(::testing::AnyNumber());
    EXPECT_CALL(*this, link_event(_, _)).Times(::testing::AnyNumber());
  }
  size_t count(const std::string& kind) const {
    size_t k = 0;
    for (const auto& e : events) k += e.first == kind;
    return k;
  }
};

/// payload(id, p, n): the n bytes at p are `text` (use as .With(Args<1, 2>(BytesAre("..."))).
MATCHER_P(BytesAre, text, "payload bytes equal to \"" + std::string(text) + "\"") {
  return std::string(reinterpret_cast<const char*>(std::get<0>(arg)), std::get<1>(arg)) == text;
}
auto payload_is(const char* text) { return ::testing::Args<1, 2>(BytesAre(text)); }
MATCHER_P(HasReason, reason, "an event whose reason is the given one") {
  return arg.contains("reason") && arg["reason"] == reason;
}

std::string frame(const std::string& payload) {
  std::vector<uint8_t> w(IOTW_FRAME_MAX_WIRE);
  w.resize(iotw_frame_encode(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), w.data(), w.size()));
  return std::string(w.begin(), w.end());
}

class TcpLinkTest : public ::testing::Test {
 protected:
  asio::io_context io;
  Host host;
  std::unique_ptr<TcpListener> tcp;

  void SetUp() override {
    iotw::tn::ListenConfig cfg;
    cfg.host = "127.0.0.1";
    tcp = std::make_unique<TcpListener>(io, cfg, host, 60'000);
    tcp->start();
  }
  // The test's expectations cover its body; closing the listener afterwards (links going down) is not checked.
  void TearDown() override { ::testing::Mock::VerifyAndClearExpectations(&host); }
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
  std::string name;
  EXPECT_CALL(host, new_link_id());
  EXPECT_CALL(host, link_up(1, _, _)).WillOnce([&](uint32_t, const std::string& n, PayloadSender) { name = n; });
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return !name.empty(); }));
  EXPECT_EQ(name, "tcp:127.0.0.1:" + std::to_string(s.local_endpoint().port()));
}

TEST_F(TcpLinkTest, FrameSplitAcrossReads) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  const uint32_t id = host.up.begin()->first;
  EXPECT_CALL(host, payload(id, _, _)).With(payload_is("hello, split frame"));  // once, whole
  const std::string w = frame("hello, split frame");
  for (char ch : w) {  // one byte per write: the node sees many partial reads
    write(s, std::string(1, ch));
    io.poll();
  }
  ASSERT_TRUE(run_until([&] { return host.payloads == 1; }));
}

TEST_F(TcpLinkTest, TwoFramesInOneRead) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  {
    InSequence in_order;
    EXPECT_CALL(host, payload(_, _, _)).With(payload_is("one"));
    EXPECT_CALL(host, payload(_, _, _)).With(payload_is("two"));
  }
  write(s, frame("one") + frame("two"));
  ASSERT_TRUE(run_until([&] { return host.payloads == 2; }));
}

TEST_F(TcpLinkTest, GarbageThenValidFrame) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  std::string garbage = "ready\r\nnoise";
  garbage.push_back('\0');
  garbage += std::string(2000, '\x55');  // oversized: more than a frame's wire length before a delimiter
  garbage.push_back('\0');
  EXPECT_CALL(host, payload(_, _, _)).With(payload_is("valid"));  // only the valid frame
  EXPECT_CALL(host, link_event(std::string_view("frame_error"), _)).Times(AtLeast(2));
  EXPECT_CALL(host, link_down(_)).Times(0);  // garbage does not end the link
  write(s, garbage + frame("valid"));
  ASSERT_TRUE(run_until([&] { return host.payloads == 1; }));
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
  EXPECT_CALL(host, link_down(id));
  EXPECT_CALL(host, link_event(std::string_view("link_closed"), _));
  s.close();
  ASSERT_TRUE(run_until([&] { return host.downs == 1; }));
  EXPECT_EQ(tcp->connections(), 0u);
}

TEST_F(TcpLinkTest, HalfOpenPeerIsClosedWhenIdle) {
  iotw::tn::ListenConfig cfg;
  cfg.host = "127.0.0.1";
  TcpListener short_idle(io, cfg, host, 50);
  short_idle.start();
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), short_idle.port()});
  EXPECT_CALL(host, link_event(std::string_view("link_closed"), HasReason("idle")));
  ASSERT_TRUE(run_until([&] { return host.count("link_closed") == 1; }));  // never sends a byte
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
  EXPECT_EQ(host.downs, TcpListener::max_connections);
}

TEST_F(TcpLinkTest, CloseDropsEveryLink) {
  auto a = connect();
  auto b = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 2; }));
  EXPECT_CALL(host, link_down(_)).Times(2);
  tcp->close();
  EXPECT_TRUE(host.up.empty());
}

}  // namespace

namespace {
TEST_F(TcpLinkTest, PeerThatNeverReadsIsDropped) {
  auto s = connect();
  ASSERT_TRUE(run_until([&] { return host.up.size() == 1; }));
  auto send = host.senders.begin()->second;
  EXPECT_CALL(host, link_event(std::string_view("link_closed"), HasReason("slow_reader")));
  const std::string p(400, 'n');
  // The node keeps writing; the peer never reads: once the kernel buffers are full, frames queue up to the cap.
  for (int i = 0; i < 20000 && host.count("link_closed") == 0; ++i) {
    send(reinterpret_cast<const uint8_t*>(p.data()), p.size());
    io.poll();
  }
  ASSERT_TRUE(run_until([&] { return host.count("link_closed") == 1; }));
  EXPECT_EQ(tcp->connections(), 0u);
}
}  // namespace
