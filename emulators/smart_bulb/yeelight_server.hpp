// The bulb's LAN side on Boost.Asio: Yeelight control over TCP (JSON lines, "\r\n"; at most 4 clients
// at once as the spec says, a 5th is closed at once; lines over 1024 bytes close the connection) and
// discovery replies over UDP. SSDP multicast (239.255.255.250:1982) is not loopback-safe, so discovery
// is served unicast on a configurable UDP endpoint: a client sends the M-SEARCH there and gets the
// search response back, as the spec's unicast reply.
#pragma once
#include <boost/asio.hpp>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "common/event_log.hpp"
#include "yeelight_bulb.hpp"

namespace iotw::emu {

class YeelightServer {
 public:
  /// on_change runs after every command that changed the bulb's state. bulb and log outlive the server.
  YeelightServer(boost::asio::io_context& io, YeelightBulb& bulb, EventLog& log, std::string source,
                 std::function<void()> on_change);
  /// Listen on "A.B.C.D:PORT" (0 = ephemeral); returns the bound endpoint. Throws std::runtime_error.
  std::string listen(const std::string& host_port);
  /// Answer M-SEARCH datagrams on UDP "A.B.C.D:PORT"; returns the bound endpoint. Call after listen().
  std::string serve_discovery(const std::string& host_port);
  void stop();

  static constexpr size_t kMaxClients = 4;

 private:
  struct Client;
  void accept_next();
  void read_next(const std::shared_ptr<Client>& c);
  void receive_search();
  void broadcast(const std::string& line);

  boost::asio::io_context& io_;
  YeelightBulb& bulb_;
  EventLog& log_;
  std::string source_, location_;
  std::function<void()> on_change_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::unique_ptr<boost::asio::ip::udp::socket> udp_;
  std::list<std::shared_ptr<Client>> clients_;
  std::array<char, 1500> dgram_{};
  boost::asio::ip::udp::endpoint peer_;
};

}  // namespace iotw::emu
