// The bulb's LAN side on Boost.Asio: Yeelight control over TCP (JSON lines, "\r\n") on a StreamServer, so
// every client has its own buffers, deadline and output cap (docs/emulators.md "Server limits"): at most
// kLimits.max_connections at once, a new one closing the connection idle the longest (the spec's real bulb
// takes 4 and refuses the rest, which lets 4 idle clients lock everyone out); a line over 1024 bytes, a line
// left unfinished for 10 s, or more than 64 KiB of replies and notifications queued to a client that does
// not read close that connection only. Discovery replies go over UDP. SSDP multicast (239.255.255.250:1982) is not loopback-safe, so discovery
// is served unicast on a configurable UDP endpoint: a client sends the M-SEARCH there and gets the
// search response back, as the spec's unicast reply.
#pragma once
#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <string>

#include "common/event_log.hpp"
#include "common/stream_server.hpp"
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

  static constexpr StreamLimits kLimits{16, 1024, 65536, std::chrono::milliseconds(10000)};
  /// The TCP transport (connection counts and limit counters); null before listen().
  const StreamServer<boost::asio::ip::tcp>* transport() const { return tcp_.get(); }

 private:
  void on_data(StreamServer<boost::asio::ip::tcp>::Connection& c);
  void receive_search();
  void broadcast(const std::string& line);

  boost::asio::io_context& io_;
  YeelightBulb& bulb_;
  EventLog& log_;
  std::string source_, location_;
  std::function<void()> on_change_;
  std::unique_ptr<StreamServer<boost::asio::ip::tcp>> tcp_;
  std::unique_ptr<boost::asio::ip::udp::socket> udp_;
  std::array<char, 1500> dgram_{};
  boost::asio::ip::udp::endpoint peer_;
};

}  // namespace iotw::emu
