// Transports of the trust node (docs/protocol.md §2): serial links (PTY via termios, real ttys via
// libserialport) with COBS+CRC framing, one UDP socket (payload || CRC per datagram, one link per peer) and
// one TCP listener (each connection a link framed like a serial link). Everything runs on one io_context thread.
#pragma once
#include <array>
#include <chrono>
#include <utility>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "iotw/frame_codec.h"
#include "iotw/trust_node/config.hpp"

struct sp_port;

namespace iotw::tn {

/** Sends one payload (an encoded Envelope) on a link; the link frames it. */
using PayloadSender = std::function<void(const uint8_t *payload, size_t len)>;

/** What links report to their owner (the daemon). */
class LinkHost {
 public:
  virtual ~LinkHost() = default;
  virtual uint32_t new_link_id() = 0;
  /** A link is usable (emits link_opened). */
  virtual void link_up(uint32_t id, const std::string &name, PayloadSender send) = 0;
  virtual void link_down(uint32_t id) = 0;
  /** One checked payload (CRC stripped) received on link id. */
  virtual void payload(uint32_t id, const uint8_t *p, size_t n) = 0;
  /** frame_error / link_error events. */
  virtual void link_event(std::string_view kind, nlohmann::json fields) = 0;
};

/** One [[serial]] link. Reopens after a read error or EOF (e.g. EIO while the PTY's other side is closed),
 *  retrying every retry_ms. */
class SerialLink {
 public:
  static constexpr int retry_ms = 200;
  SerialLink(boost::asio::io_context &io, SerialConfig cfg, LinkHost &host);
  ~SerialLink();
  void start();
  void close();

 private:
  void open();
  void reset(const std::string &why);
  void read();
  void send(const uint8_t *p, size_t n);
  void write_next();

  SerialConfig cfg_;
  std::string name_;
  LinkHost &host_;
  uint32_t id_;
  boost::asio::posix::stream_descriptor sd_;
  boost::asio::steady_timer retry_;
  sp_port *port_ = nullptr;  ///< set when opened through libserialport (real tty)
  bool up_ = false, closed_ = false, reported_ = false, writing_ = false;
  iotw_frame_decoder dec_{};
  std::array<uint8_t, 1024> buf_{};
  std::deque<std::vector<uint8_t>> outq_;
};

/** The [udp] socket; each remote endpoint that sends a CRC-valid datagram becomes its own link
 *  "udp:<ip>:<port>" (a peer). The peer table is bounded (UdpLimits): a peer that has sent nothing for
 *  idle_ms is pruned (link_down; counted, no event), swept every idle_ms / 4 and when a new source finds the
 *  table full (at most every idle_ms / 64);
 *  while max_peers non-idle peers exist, datagrams from a new source are dropped and counted (a
 *  "udp_peer_refused" {link, reason "peer_table_full"} link event per datagram: the owner aggregates it). */
class UdpLink {
 public:
  /** Binds (throws boost::system::system_error on failure). limits.peer_idle_ms must be >= 1. */
  UdpLink(boost::asio::io_context &io, const ListenConfig &cfg, const UdpLimits &limits, LinkHost &host);
  uint16_t port() const { return sock_.local_endpoint().port(); }
  void start();
  void close();
  size_t peers() const { return peers_.size(); }
  uint64_t pruned() const { return pruned_; }    ///< idle peers removed since start
  uint64_t refused() const { return refused_; }  ///< datagrams from new sources dropped: table full

 private:
  struct Peer {
    uint32_t id;
    std::chrono::steady_clock::time_point last;
  };
  void sweep();
  void schedule_sweep();
  void receive();
  /** Handles the datagram of n bytes in buf_ from from_. */
  void handle(size_t n);
  void send(const boost::asio::ip::udp::endpoint &to, const uint8_t *p, size_t n);

  /** Datagrams handled per completion (the first plus those already queued in the socket). One per
   *  completion starves UDP behind long io-thread tasks (an HTTP batch commit): 1,000 heartbeating devices
   *  were all detached under load (bench/RESULTS.md). */
  static constexpr int max_drain = 512;
  LinkHost &host_;
  boost::asio::ip::udp::socket sock_;
  boost::asio::ip::udp::endpoint from_;
  std::array<uint8_t, IOTW_DATAGRAM_MAX + 1> buf_{};
  UdpLimits limits_;
  boost::asio::steady_timer sweep_;
  /** Hash of a peer's address and port (a lookup per datagram: 100,000 peers in a std::map cost a sixth of the
   *  io thread in endpoint compares, bench/RESULTS.md). */
  struct EndpointHash {
    size_t operator()(const boost::asio::ip::udp::endpoint &e) const;
  };
  std::unordered_map<boost::asio::ip::udp::endpoint, Peer, EndpointHash> peers_;
  std::chrono::steady_clock::time_point full_sweep_at_{};  ///< next sweep a new source may trigger when full
  uint64_t pruned_ = 0, refused_ = 0;
};

/** The [tcp] listener (docs/trust-node.md): every accepted connection is one link "tcp:<ip>:<port>" framed
 *  exactly like a serial link (COBS(payload || CRC-32 LE) || 0x00, the same decoder and frame_error events).
 *  A connection that ends (EOF, reset, error) is the link going away: link_down, then a "link_closed" event
 *  {link, reason}. Hostile peers are bounded: at most max_connections links at once (more are accepted and
 *  closed at once: "link_rejected" {link, reason "too_many_connections", rejected: total so far}); a
 *  connection with no byte received for idle_ms is closed (reason "idle": half-open peers); a peer that
 *  leaves more than max_queued frames unread is closed (reason "slow_reader"). */
class TcpListener {
 public:
  static constexpr size_t max_connections = 256;
  static constexpr size_t max_queued = 256;
  /** Binds and listens (throws boost::system::system_error on failure). idle_ms >= 1. */
  TcpListener(boost::asio::io_context &io, const ListenConfig &cfg, LinkHost &host, uint64_t idle_ms);
  ~TcpListener();
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void start() { accept(); }
  /** Stops accepting and closes every connection (each gets link_down). */
  void close();
  size_t connections() const { return conns_.size(); }
  uint64_t rejected() const { return rejected_; }

 private:
  struct Conn;
  void accept();
  void read(const std::shared_ptr<Conn> &c);
  void arm_idle(const std::shared_ptr<Conn> &c);
  void send(const std::shared_ptr<Conn> &c, const uint8_t *p, size_t n);
  void write_next(const std::shared_ptr<Conn> &c);
  void drop(const std::shared_ptr<Conn> &c, const std::string &reason);

  boost::asio::io_context &io_;
  LinkHost &host_;
  uint64_t idle_ms_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  ///< after an accept error (EMFILE, ...): accept again 100 ms later
  std::map<uint32_t, std::shared_ptr<Conn>> conns_;
  uint64_t rejected_ = 0;
  bool closed_ = false;
};

}  // namespace iotw::tn
