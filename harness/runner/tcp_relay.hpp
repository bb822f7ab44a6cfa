// A TCP relay that can be cut: listens on 127.0.0.1 (a kernel-picked port) and joins every accepted connection to
// a fresh connection to one upstream endpoint, copying bytes both ways. A [mesh] rig puts one in front of each etcd
// member for each trust node (docs/faults.md "Trust-node mesh faults"), so `partition_node from = "etcd"` cuts a node
// from the store without touching etcd or the node: cut() closes the live connections and refuses new ones (each is
// accepted and closed at once) until restore().
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace iotw::harness {

/// Counters of one relay (thread-safe snapshot).
struct TcpRelayCounts {
  std::uint64_t accepted = 0;   ///< connections joined to the upstream
  std::uint64_t refused = 0;    ///< connections accepted and closed at once while cut
  std::uint64_t cut_connections = 0;  ///< live connections closed by cut()
  std::uint64_t bytes_up = 0, bytes_down = 0;  ///< relayed to the upstream / back to the client
};

class TcpRelay {
 public:
  /// Binds 127.0.0.1:0 and starts accepting on `io`, whose run() must be driven by another thread (cut(),
  /// restore() and the destructor wait for it). `upstream` is "IP:PORT" (an IPv4 address; e.g. an etcd member's client
  /// endpoint); it is connected once per accepted connection, so a restarted upstream on the same port is reached
  /// again. Throws std::invalid_argument for a malformed upstream, boost::system::system_error when it cannot listen.
  TcpRelay(boost::asio::io_context& io, const std::string& upstream);
  /// Closes the listener and every connection (on the io thread; waits for it).
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  std::uint16_t port() const { return port_; }
  /// "127.0.0.1:PORT": where a client connects instead of the upstream.
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& upstream() const { return upstream_text_; }

  /// Closes every live connection (both sockets) and refuses new ones until restore(). Returns once done.
  void cut();
  /// New connections are relayed again. Returns once done.
  void restore();
  bool is_cut() const;
  TcpRelayCounts counts() const;

 private:
  struct Shared;
  class Pair;
  void accept();
  /// Runs `f` on the io thread and waits for it.
  template <class F>
  void on_io(F&& f);

  boost::asio::io_context& io_;
  std::string upstream_text_;
  boost::asio::ip::tcp::endpoint upstream_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::shared_ptr<Shared> shared_;  // state the connections' handlers share with the relay
};

}  // namespace iotw::harness
