#include "iotw/trust_node/links.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include <libserialport.h>

namespace iotw::tn {
namespace asio = boost::asio;

namespace {

speed_t termios_speed(uint32_t baud) {
  switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 230400: return B230400;
    case 460800: return B460800;
    case 921600: return B921600;
    default: return B115200;  // a PTY ignores the rate; real ttys go through libserialport
  }
}

bool is_pty(const std::string &path) {
  char real[PATH_MAX];
  return realpath(path.c_str(), real) && std::strncmp(real, "/dev/pts/", 9) == 0;
}

}  // namespace

SerialLink::SerialLink(asio::io_context &io, SerialConfig cfg, LinkHost &host)
    : cfg_(std::move(cfg)), name_("serial:" + cfg_.path), host_(host), id_(host.new_link_id()), sd_(io),
      retry_(io) {
  iotw_frame_decoder_init(&dec_);
}

SerialLink::~SerialLink() { close(); }

void SerialLink::start() { open(); }

void SerialLink::open() {
  if (closed_) return;
  std::string error;
  if (is_pty(cfg_.path)) {
    const int fd = ::open(cfg_.path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK);
    termios tio{};
    if (fd < 0) {
      error = std::strerror(errno);
    } else if (tcgetattr(fd, &tio) != 0) {
      error = std::strerror(errno);
      ::close(fd);
    } else {
      cfmakeraw(&tio);
      cfsetspeed(&tio, termios_speed(cfg_.baud));
      tcsetattr(fd, TCSANOW, &tio);
      sd_.assign(fd);
    }
  } else {
    int fd = -1;
    if (sp_get_port_by_name(cfg_.path.c_str(), &port_) != SP_OK || sp_open(port_, SP_MODE_READ_WRITE) != SP_OK ||
        sp_set_baudrate(port_, static_cast<int>(cfg_.baud)) != SP_OK || sp_set_bits(port_, 8) != SP_OK ||
        sp_set_parity(port_, SP_PARITY_NONE) != SP_OK || sp_set_stopbits(port_, 1) != SP_OK ||
        sp_set_flowcontrol(port_, SP_FLOWCONTROL_NONE) != SP_OK || sp_get_port_handle(port_, &fd) != SP_OK) {
      char *msg = sp_last_error_message();
      error = msg ? msg : "libserialport error";
      sp_free_error_message(msg);
      if (port_) sp_close(port_), sp_free_port(port_), port_ = nullptr;
    } else {
      sd_.assign(fd);
      sd_.non_blocking(true);
    }
  }
  if (!error.empty()) {
    if (!reported_) host_.link_event("link_error", {{"link", name_}, {"error", error}});
    reported_ = true;
    retry_.expires_after(std::chrono::milliseconds(retry_ms));
    retry_.async_wait([this](boost::system::error_code ec) {
      if (!ec) open();
    });
    return;
  }
  reported_ = false;
  up_ = true;
  iotw_frame_decoder_init(&dec_);
  host_.link_up(id_, name_, [this](const uint8_t *p, size_t n) { send(p, n); });
  read();
}

void SerialLink::reset(const std::string &why) {
  if (up_) {
    up_ = false;
    host_.link_down(id_);
    host_.link_event("link_error", {{"link", name_}, {"error", why}});
    reported_ = true;
  }
  outq_.clear();
  boost::system::error_code ignored;
  if (port_) {
    sd_.release();
    sp_close(port_);
    sp_free_port(port_);
    port_ = nullptr;
  } else {
    sd_.close(ignored);
  }
}

void SerialLink::read() {
  sd_.async_read_some(asio::buffer(buf_), [this](boost::system::error_code ec, size_t n) {
    if (closed_) return;
    if (ec) {  // EOF or EIO: the other side went away; reopen shortly
      reset(ec.message());
      retry_.expires_after(std::chrono::milliseconds(retry_ms));
      retry_.async_wait([this](boost::system::error_code e) {
        if (!e) open();
      });
      return;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint8_t *p;
      size_t len;
      switch (iotw_frame_decoder_push(&dec_, buf_[i], &p, &len)) {
        case IOTW_FRAME_OK: host_.payload(id_, p, len); break;
        case IOTW_FRAME_BAD_COBS: host_.link_event("frame_error", {{"link", name_}, {"error", "bad_cobs"}}); break;
        case IOTW_FRAME_BAD_CRC: host_.link_event("frame_error", {{"link", name_}, {"error", "bad_crc"}}); break;
        case IOTW_FRAME_OVERFLOW: host_.link_event("frame_error", {{"link", name_}, {"error", "overflow"}}); break;
        default: break;  // a byte consumed, or an empty frame (extra delimiter)
      }
      if (closed_ || !up_) return;
    }
    read();
  });
}

void SerialLink::send(const uint8_t *p, size_t n) {
  if (!up_) return;
  std::vector<uint8_t> wire(IOTW_FRAME_MAX_WIRE);
  wire.resize(iotw_frame_encode(p, n, wire.data(), wire.size()));
  if (wire.empty()) return;
  outq_.push_back(std::move(wire));
  if (!writing_) write_next();
}

void SerialLink::write_next() {
  if (outq_.empty() || !up_) {
    writing_ = false;
    return;
  }
  writing_ = true;
  asio::async_write(sd_, asio::buffer(outq_.front()), [this](boost::system::error_code ec, size_t) {
    writing_ = false;
    if (closed_ || ec) return;  // a broken link is reset by the pending read
    outq_.pop_front();
    write_next();
  });
}

void SerialLink::close() {
  if (closed_) return;
  closed_ = true;
  retry_.cancel();
  boost::system::error_code ignored;
  sd_.cancel(ignored);
  const bool was_up = up_;
  up_ = false;
  if (port_) {
    sd_.release();
    sp_close(port_);
    sp_free_port(port_);
    port_ = nullptr;
  } else {
    sd_.close(ignored);
  }
  if (was_up) host_.link_down(id_);
}

UdpLink::UdpLink(asio::io_context &io, const ListenConfig &cfg, const UdpLimits &limits, LinkHost &host)
    : host_(host),
      sock_(io, asio::ip::udp::endpoint(
                    asio::ip::make_address(cfg.host == "localhost" ? std::string("127.0.0.1") : cfg.host), cfg.port)),
      limits_(limits), sweep_(io) {
  if (limits_.peer_idle_ms == 0) limits_.peer_idle_ms = 1;
  // Room for a burst of many devices' datagrams (the kernel caps this at net.core.rmem_max).
  boost::system::error_code ignored;
  sock_.set_option(asio::socket_base::receive_buffer_size(4 << 20), ignored);
  sock_.non_blocking(true);  // the drain below reads until EWOULDBLOCK (no FIONREAD ioctl per datagram)
}

size_t UdpLink::EndpointHash::operator()(const asio::ip::udp::endpoint &e) const {
  size_t h = std::hash<uint16_t>()(e.port());
  if (e.address().is_v4()) return h ^ std::hash<uint32_t>()(e.address().to_v4().to_uint()) * 0x9e3779b97f4a7c15ull;
  for (uint8_t b : e.address().to_v6().to_bytes()) h = h * 131 + b;
  return h;
}

void UdpLink::start() {
  schedule_sweep();
  receive();
}

void UdpLink::schedule_sweep() {
  sweep_.expires_after(std::chrono::milliseconds(std::max<uint64_t>(limits_.peer_idle_ms / 4, 1)));
  sweep_.async_wait([this](boost::system::error_code ec) {
    if (ec || !sock_.is_open()) return;
    sweep();
    schedule_sweep();
  });
}

void UdpLink::sweep() {
  const auto cutoff = std::chrono::steady_clock::now() - std::chrono::milliseconds(limits_.peer_idle_ms);
  std::vector<uint32_t> gone;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->second.last < cutoff) {
      gone.push_back(it->second.id);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  pruned_ += gone.size();
  for (uint32_t id : gone) host_.link_down(id);
}

void UdpLink::receive() {
  sock_.async_receive_from(asio::buffer(buf_), from_, [this](boost::system::error_code ec, size_t n) {
    if (ec == asio::error::operation_aborted || !sock_.is_open()) return;
    if (!ec) handle(n);
    // Drain what is already queued (the socket is non-blocking: would_block ends it).
    for (int i = 1; i < max_drain && sock_.is_open(); ++i) {
      boost::system::error_code e2;
      const size_t k = sock_.receive_from(asio::buffer(buf_), from_, 0, e2);
      if (e2) break;
      handle(k);
    }
    if (sock_.is_open()) receive();
  });
}

void UdpLink::handle(size_t n) {
  const long len = iotw_datagram_check(buf_.data(), n);
  if (len < 0) {
    const std::string name = "udp:" + from_.address().to_string() + ":" + std::to_string(from_.port());
    host_.link_event("frame_error", {{"link", name}, {"error", n > IOTW_DATAGRAM_MAX ? "overflow" : "bad_crc"}});
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  auto it = peers_.find(from_);
  if (it == peers_.end()) {
    const std::string name = "udp:" + from_.address().to_string() + ":" + std::to_string(from_.port());
    // A full table is swept for idle peers at most every idle_ms / 64: a sweep visits every peer, and a flood
    // of new sources must not buy one per datagram (with 100,000 peers that is the io thread's whole budget).
    if (peers_.size() >= limits_.max_peers && now >= full_sweep_at_) {
      sweep();
      full_sweep_at_ = now + std::chrono::milliseconds(std::max<uint64_t>(limits_.peer_idle_ms / 64, 1));
    }
    if (peers_.size() >= limits_.max_peers) {
      ++refused_;
      host_.link_event("udp_peer_refused", {{"link", name}, {"reason", "peer_table_full"}});
      return;
    }
    it = peers_.emplace(from_, Peer{host_.new_link_id(), now}).first;
    const asio::ip::udp::endpoint to = from_;
    host_.link_up(it->second.id, name, [this, to](const uint8_t *p, size_t k) { send(to, p, k); });
  }
  it->second.last = now;
  host_.payload(it->second.id, buf_.data(), static_cast<size_t>(len));
}

void UdpLink::send(const asio::ip::udp::endpoint &to, const uint8_t *p, size_t n) {
  std::array<uint8_t, IOTW_DATAGRAM_MAX> d;
  const size_t len = iotw_datagram_encode(p, n, d.data(), d.size());
  if (len == 0 || !sock_.is_open()) return;
  boost::system::error_code ignored;
  sock_.send_to(asio::buffer(d.data(), len), to, 0, ignored);  // datagrams are small: never blocks for long
}

void UdpLink::close() {
  boost::system::error_code ignored;
  sweep_.cancel();
  sock_.close(ignored);
}

struct TcpListener::Conn {
  explicit Conn(asio::io_context &io) : sock(io), idle(io) {}
  asio::ip::tcp::socket sock;
  asio::steady_timer idle;
  uint32_t id = 0;
  std::string name;
  bool up = false, writing = false, got_bytes = false;
  iotw_frame_decoder dec{};
  std::array<uint8_t, 2048> buf{};
  std::deque<std::vector<uint8_t>> outq;
};

TcpListener::TcpListener(asio::io_context &io, const ListenConfig &cfg, LinkHost &host, uint64_t idle_ms)
    : io_(io), host_(host), idle_ms_(idle_ms ? idle_ms : 1), acceptor_(io), retry_(io) {
  const asio::ip::tcp::endpoint ep(
      asio::ip::make_address(cfg.host == "localhost" ? std::string("127.0.0.1") : cfg.host), cfg.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen();
}

TcpListener::~TcpListener() { close(); }

void TcpListener::accept() {
  auto c = std::make_shared<Conn>(io_);
  acceptor_.async_accept(c->sock, [this, c](boost::system::error_code ec) {
    if (closed_ || ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      boost::system::error_code e2;
      const auto peer = c->sock.remote_endpoint(e2);
      c->name = e2 ? std::string("tcp:?") : "tcp:" + peer.address().to_string() + ":" + std::to_string(peer.port());
      if (e2) {  // reset before we saw it
        c->sock.close(e2);
      } else if (conns_.size() >= max_connections) {
        ++rejected_;
        c->sock.close(e2);
        host_.link_event("link_rejected", {{"link", c->name}, {"reason", "too_many_connections"}, {"rejected", rejected_}});
      } else {
        c->sock.set_option(asio::ip::tcp::no_delay(true), e2);
        c->sock.set_option(asio::socket_base::keep_alive(true), e2);
        c->id = host_.new_link_id();
        c->up = true;
        iotw_frame_decoder_init(&c->dec);
        conns_[c->id] = c;
        std::weak_ptr<Conn> w = c;
        host_.link_up(c->id, c->name, [this, w](const uint8_t *p, size_t n) {
          if (auto s = w.lock()) send(s, p, n);
        });
        arm_idle(c);
        read(c);
      }
    } else {  // an accept error (EMFILE, ...) does not stop the listener; retry without spinning
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](boost::system::error_code e) {
        if (!e && !closed_) accept();
      });
      return;
    }
    accept();
  });
}

void TcpListener::arm_idle(const std::shared_ptr<Conn> &c) {
  c->got_bytes = false;
  c->idle.expires_after(std::chrono::milliseconds(idle_ms_));
  std::weak_ptr<Conn> w = c;
  c->idle.async_wait([this, w](boost::system::error_code ec) {
    auto s = w.lock();
    if (ec || !s || !s->up) return;
    if (s->got_bytes) {
      arm_idle(s);
    } else {
      drop(s, "idle");
    }
  });
}

void TcpListener::read(const std::shared_ptr<Conn> &c) {
  c->sock.async_read_some(asio::buffer(c->buf), [this, c](boost::system::error_code ec, size_t n) {
    if (!c->up) return;
    if (ec) {
      drop(c, ec == asio::error::eof ? "eof" : ec.message());
      return;
    }
    c->got_bytes = true;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t *p;
      size_t len;
      switch (iotw_frame_decoder_push(&c->dec, c->buf[i], &p, &len)) {
        case IOTW_FRAME_OK: host_.payload(c->id, p, len); break;
        case IOTW_FRAME_BAD_COBS: host_.link_event("frame_error", {{"link", c->name}, {"error", "bad_cobs"}}); break;
        case IOTW_FRAME_BAD_CRC: host_.link_event("frame_error", {{"link", c->name}, {"error", "bad_crc"}}); break;
        case IOTW_FRAME_OVERFLOW: host_.link_event("frame_error", {{"link", c->name}, {"error", "overflow"}}); break;
        default: break;
      }
      if (!c->up) return;
    }
    read(c);
  });
}

void TcpListener::send(const std::shared_ptr<Conn> &c, const uint8_t *p, size_t n) {
  if (!c->up) return;
  if (c->outq.size() >= max_queued) {  // dropped from the io loop: we may be inside the link's sender here
    asio::post(io_, [this, c] { drop(c, "slow_reader"); });
    return;
  }
  std::vector<uint8_t> wire(IOTW_FRAME_MAX_WIRE);
  wire.resize(iotw_frame_encode(p, n, wire.data(), wire.size()));
  if (wire.empty()) return;
  c->outq.push_back(std::move(wire));
  if (!c->writing) write_next(c);
}

void TcpListener::write_next(const std::shared_ptr<Conn> &c) {
  if (c->outq.empty() || !c->up) {
    c->writing = false;
    return;
  }
  c->writing = true;
  asio::async_write(c->sock, asio::buffer(c->outq.front()), [this, c](boost::system::error_code ec, size_t) {
    c->writing = false;
    if (!c->up) return;
    if (ec) {
      drop(c, ec.message());
      return;
    }
    c->outq.pop_front();
    write_next(c);
  });
}

void TcpListener::drop(const std::shared_ptr<Conn> &c, const std::string &reason) {
  if (!c->up) return;
  c->up = false;
  c->outq.clear();
  boost::system::error_code ignored;
  c->idle.cancel();
  c->sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  c->sock.close(ignored);
  conns_.erase(c->id);
  host_.link_down(c->id);
  host_.link_event("link_closed", {{"link", c->name}, {"reason", reason}});
}

void TcpListener::close() {
  if (closed_) return;
  closed_ = true;
  retry_.cancel();
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  auto conns = conns_;
  for (auto &[id, c] : conns) drop(c, "node_stopping");
}

}  // namespace iotw::tn
