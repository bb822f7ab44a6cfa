// TcpRelay (harness/runner/tcp_relay.hpp) on loopback: bytes pass both ways to the upstream, cut() closes the live
// connections and refuses new ones, restore() relays again, and a restarted upstream on its port is reached again.
#include "tcp_relay.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

using iotw::harness::TcpRelay;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// An echo server on 127.0.0.1 (its own io thread): writes back whatever it reads, per connection.
class Echo {
 public:
  explicit Echo(std::uint16_t port = 0)
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port)), work_(io_.get_executor()) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Echo() {
    asio::post(io_, [this] { acceptor_.close(); });
    work_.reset();
    io_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  struct Conn : std::enable_shared_from_this<Conn> {
    explicit Conn(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    std::array<char, 1024> buf{};
    void run() {
      socket.async_read_some(asio::buffer(buf), [self = shared_from_this()](auto ec, std::size_t n) {
        if (ec) return;
        asio::async_write(self->socket, asio::buffer(self->buf, n), [self](auto wec, std::size_t) {
          if (!wec) self->run();
        });
      });
    }
  };
  void accept() {
    acceptor_.async_accept([this](auto ec, tcp::socket s) {
      if (ec) return;
      std::make_shared<Conn>(std::move(s))->run();
      accept();
    });
  }
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

/// The relay's io thread.
struct RelayIo {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~RelayIo() {
    work.reset();
    io.stop();
    thread.join();
  }
};

/// A blocking client connected to the relay.
struct Client {
  asio::io_context io;
  tcp::socket socket{io};
  explicit Client(std::uint16_t port) { socket.connect({asio::ip::make_address_v4("127.0.0.1"), port}); }
  /// Sends `text` and reads as many bytes back; "" when the connection was closed instead.
  std::string round_trip(const std::string& text) {
    boost::system::error_code ec;
    asio::write(socket, asio::buffer(text), ec);
    if (ec) return "";
    std::string back(text.size(), '\0');
    asio::read(socket, asio::buffer(back), ec);
    return ec ? "" : back;
  }
  /// True when the peer closed the connection (a read ends in EOF or a reset).
  bool closed_by_peer() {
    char c;
    boost::system::error_code ec;
    socket.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }
};

}  // namespace

TEST(TcpRelay, RelaysBothWays) {
  Echo echo;
  RelayIo rio;
  TcpRelay relay(rio.io, "127.0.0.1:" + std::to_string(echo.port()));
  EXPECT_NE(relay.port(), echo.port());
  EXPECT_EQ(relay.endpoint(), "127.0.0.1:" + std::to_string(relay.port()));
  Client c(relay.port());
  EXPECT_EQ(c.round_trip("hello etcd"), "hello etcd");
  EXPECT_EQ(c.round_trip(std::string(40000, 'x')), std::string(40000, 'x'));  // more than one read buffer
  const auto n = relay.counts();
  EXPECT_EQ(n.accepted, 1u);
  EXPECT_EQ(n.bytes_up, 40010u);
  EXPECT_EQ(n.bytes_down, 40010u);
}

TEST(TcpRelay, CutClosesLiveConnectionsAndRefusesNewOnesUntilRestored) {
  Echo echo;
  RelayIo rio;
  TcpRelay relay(rio.io, "127.0.0.1:" + std::to_string(echo.port()));
  Client live(relay.port());
  ASSERT_EQ(live.round_trip("a"), "a");
  relay.cut();
  EXPECT_TRUE(relay.is_cut());
  EXPECT_TRUE(live.closed_by_peer());
  Client refused(relay.port());  // the kernel accepts it; the relay closes it at once
  EXPECT_TRUE(refused.closed_by_peer());
  relay.restore();
  EXPECT_FALSE(relay.is_cut());
  Client again(relay.port());
  EXPECT_EQ(again.round_trip("back"), "back");
  const auto n = relay.counts();
  EXPECT_EQ(n.cut_connections, 1u);
  EXPECT_EQ(n.refused, 1u);
  EXPECT_EQ(n.accepted, 2u);
}

TEST(TcpRelay, ReachesARestartedUpstreamOnItsPort) {
  RelayIo rio;
  std::uint16_t port = 0;
  std::unique_ptr<TcpRelay> relay;
  {
    Echo first;
    port = first.port();
    relay = std::make_unique<TcpRelay>(rio.io, "127.0.0.1:" + std::to_string(port));
    Client c(relay->port());
    ASSERT_EQ(c.round_trip("1"), "1");
  }
  Client down(relay->port());  // the upstream is gone: the relay closes the client's side
  EXPECT_TRUE(down.closed_by_peer());
  Echo second(port);
  Client c(relay->port());
  EXPECT_EQ(c.round_trip("2"), "2");
}

TEST(TcpRelay, RefusesAMalformedUpstream) {
  RelayIo rio;
  EXPECT_THROW(TcpRelay(rio.io, "localhost"), std::invalid_argument);
  EXPECT_THROW(TcpRelay(rio.io, "127.0.0.1:99999"), std::invalid_argument);
  EXPECT_THROW(TcpRelay(rio.io, "etcd:2379"), std::invalid_argument);
}
