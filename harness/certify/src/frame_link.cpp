#include "iotw/certify/frame_link.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/file.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <libserialport.h>

#include "iotw/certify/serial_ports.hpp"
#include "iotw/frame_codec.h"

namespace iotw::certify {

struct StreamLink::Decoder {
  iotw_frame_decoder d;
};

StreamLink::StreamLink(int fd, std::function<void()> on_close)
    : fd_(fd), on_close_(std::move(on_close)), decoder_(std::make_unique<Decoder>()) {
  iotw_frame_decoder_init(&decoder_->d);
}

StreamLink::~StreamLink() {
  if (on_close_) on_close_();
  else if (fd_ >= 0) ::close(fd_);
}

std::vector<Received> StreamLink::receive() {
  std::vector<Received> out;
  std::uint8_t buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    if (n < 0) throw std::runtime_error(std::string("read: ") + std::strerror(errno));
    if (n == 0) throw std::runtime_error("end of file");
    for (ssize_t i = 0; i < n; ++i) {
      const std::uint8_t* p = nullptr;
      std::size_t len = 0;
      switch (iotw_frame_decoder_push(&decoder_->d, buf[i], &p, &len)) {
        case IOTW_FRAME_NONE:
        case IOTW_FRAME_EMPTY: break;
        case IOTW_FRAME_OK: out.push_back({Bytes(p, p + len), {}}); break;
        case IOTW_FRAME_BAD_COBS: out.push_back({{}, "dropped: bad COBS"}); break;
        case IOTW_FRAME_BAD_CRC: out.push_back({{}, "dropped: bad CRC or under 5 bytes"}); break;
        case IOTW_FRAME_OVERFLOW: out.push_back({{}, "dropped: over 520 bytes before a delimiter"}); break;
      }
    }
    if (static_cast<std::size_t>(n) < sizeof buf) break;
  }
  return out;
}

void StreamLink::send_raw(const Bytes& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {  // the peer is slow: wait up to 1 s for room
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, 1000) <= 0) throw std::runtime_error("write: the peer reads nothing (1 s)");
      continue;
    }
    throw std::runtime_error(std::string("write: ") + std::strerror(errno));
  }
}

void StreamLink::send(const Bytes& payload) { send_raw(serial_frame(payload)); }

Bytes StreamLink::wire(const Bytes& payload_and_crc) const {
  Bytes w(IOTW_COBS_MAX_ENCODED(payload_and_crc.size()) + 1);
  w.resize(iotw_cobs_encode(payload_and_crc.data(), payload_and_crc.size(), w.data(), w.size()));
  w.push_back(0);
  return w;
}

namespace {

sockaddr_in v4(std::uint32_t ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(port);
  return a;
}

std::string text(const sockaddr_in& a) {
  char b[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &a.sin_addr, b, sizeof b);
  return std::string(b) + ":" + std::to_string(ntohs(a.sin_port));
}

}  // namespace

DatagramLink::DatagramLink(int fd, std::uint32_t peer_ip, std::uint16_t peer_port)
    : fd_(fd), peer_ip_(peer_ip), peer_port_(peer_port) {}
DatagramLink::~DatagramLink() { ::close(fd_); }

std::vector<Received> DatagramLink::receive() {
  std::vector<Received> out;
  std::uint8_t buf[2048];
  for (;;) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    if (n < 0) {
      if (errno == ECONNREFUSED) continue;  // an ICMP error for an earlier datagram: the peer is not there yet
      throw std::runtime_error(std::string("recvfrom: ") + std::strerror(errno));
    }
    if (ntohl(from.sin_addr.s_addr) != peer_ip_ || (peer_port_ && ntohs(from.sin_port) != peer_port_)) {
      out.push_back({{}, "dropped: a datagram from " + text(from) + ", not from the peer"});
      continue;
    }
    if (!peer_port_) peer_port_ = ntohs(from.sin_port);
    const long p = iotw_datagram_check(buf, static_cast<std::size_t>(n));
    if (p < 0) out.push_back({{}, p == -2 ? "dropped: bad CRC" : "dropped: a datagram of " + std::to_string(n) + " bytes"});
    else out.push_back({Bytes(buf, buf + p), {}});
  }
  return out;
}

void DatagramLink::send_raw(const Bytes& bytes) {
  if (!peer_port_) return;  // the peer has not sent yet: nowhere to send
  const sockaddr_in to = v4(peer_ip_, peer_port_);
  if (::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0 &&
      errno != ECONNREFUSED && errno != EAGAIN)
    throw std::runtime_error(std::string("sendto: ") + std::strerror(errno));
}

void DatagramLink::send(const Bytes& payload) {
  Bytes d(IOTW_DATAGRAM_MAX);
  const std::size_t n = iotw_datagram_encode(payload.data(), payload.size(), d.data(), d.size());
  if (n == 0) throw std::invalid_argument("a datagram payload is 1..512 bytes");
  d.resize(n);
  send_raw(d);
}

TcpServerLink::TcpServerLink(int listen_fd, std::uint32_t host) : listen_fd_(listen_fd), host_(host) {}
TcpServerLink::~TcpServerLink() {
  conn_.reset();
  ::close(listen_fd_);
}

std::vector<Received> TcpServerLink::receive() {
  std::vector<Received> out;
  if (!conn_) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const int c = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return out;
    if (ntohl(from.sin_addr.s_addr) != host_) {
      ::close(c);
      out.push_back({{}, "refused a connection from " + text(from) + ": not the DUT's host"});
      return out;
    }
    conn_ = std::make_unique<StreamLink>(c);
    out.push_back({{}, "the DUT connected from " + text(from)});
    return out;
  }
  try {
    return conn_->receive();
  } catch (const std::exception& e) {
    conn_.reset();
    out.push_back({{}, std::string("the DUT's connection closed (") + e.what() + ")"});
    return out;
  }
}

void TcpServerLink::send_raw(const Bytes& bytes) {
  if (conn_) conn_->send_raw(bytes);
}
void TcpServerLink::send(const Bytes& payload) { send_raw(serial_frame(payload)); }
Bytes TcpServerLink::wire(const Bytes& payload_and_crc) const {
  Bytes w(IOTW_COBS_MAX_ENCODED(payload_and_crc.size()) + 1);
  w.resize(iotw_cobs_encode(payload_and_crc.data(), payload_and_crc.size(), w.data(), w.size()));
  w.push_back(0);
  return w;
}

NetDut open_net_dut(const DutSpec& spec) {
  in_addr host{};
  ::inet_pton(AF_INET, spec.host.c_str(), &host);
  const std::uint32_t host_ip = ntohl(host.s_addr);
  // The local address that routes to the DUT's host (a connected UDP socket's own address; nothing is sent).
  std::uint32_t local = INADDR_LOOPBACK;
  if ((host_ip >> 24) != 127) {
    const int probe = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to = v4(host_ip, spec.port), me{};
    socklen_t len = sizeof me;
    if (probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 &&
        ::getsockname(probe, reinterpret_cast<sockaddr*>(&me), &len) == 0)
      local = ntohl(me.sin_addr.s_addr);
    if (probe >= 0) ::close(probe);
  }
  const bool udp = spec.kind == DutSpec::Kind::Udp;
  const int fd = ::socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw DutOpenError(3, std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  if (!udp) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = v4((host_ip >> 24) == 127 ? INADDR_LOOPBACK : INADDR_ANY, udp ? 0 : spec.port);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || (!udp && ::listen(fd, 4) != 0) ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const int e = errno;
    ::close(fd);
    throw DutOpenError(3, "cannot listen for the DUT on port " + std::to_string(udp ? 0 : spec.port) + ": " + std::strerror(e));
  }
  NetDut d;
  d.endpoint = text(v4(local, ntohs(a.sin_port)));
  if (udp) d.link = std::make_unique<DatagramLink>(fd, host_ip, spec.port);
  else d.link = std::make_unique<TcpServerLink>(fd, host_ip);
  d.port = {{"spec", spec.canonical()}, {"kind", udp ? "udp" : "tcp"}, {"host", spec.host}, {"port", spec.port},
            {"certifier_endpoint", d.endpoint}};
  return d;
}

std::unique_ptr<FrameLink> connect_node(bool udp, std::uint16_t port) {
  const int fd = ::socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in to = v4(INADDR_LOOPBACK, port);
  if (udp) {
    sockaddr_in me = v4(INADDR_LOOPBACK, 0);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof me) != 0) {
      ::close(fd);
      throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return std::make_unique<DatagramLink>(fd, INADDR_LOOPBACK, port);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::runtime_error("cannot connect to the trust node's TCP port " + std::to_string(port) + ": " + std::strerror(e));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return std::make_unique<StreamLink>(fd);
}

Bytes serial_frame(const Bytes& payload) {
  Bytes wire(IOTW_FRAME_MAX_WIRE);
  const std::size_t n = iotw_frame_encode(payload.data(), payload.size(), wire.data(), wire.size());
  if (n == 0) throw std::invalid_argument("a frame payload is 1..512 bytes, got " + std::to_string(payload.size()));
  wire.resize(n);
  return wire;
}

namespace {

speed_t termios_speed(int baud) {
  switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 230400: return B230400;
    case 460800: return B460800;
    case 921600: return B921600;
    default: return B115200;  // a PTY has no line rate: only the termios setting differs
  }
}

void make_raw(int fd, int baud) {
  termios t{};
  if (::tcgetattr(fd, &t) != 0) throw std::runtime_error(std::string("tcgetattr: ") + std::strerror(errno));
  ::cfmakeraw(&t);
  ::cfsetspeed(&t, termios_speed(baud));
  if (::tcsetattr(fd, TCSANOW, &t) != 0) throw std::runtime_error(std::string("tcsetattr: ") + std::strerror(errno));
}

std::string port_list() {
  try {
    const auto ports = list_serial_ports();
    if (ports.empty()) return "the host has no serial ports (PTYs are given as /dev/pts/N)";
    std::string s = "the host's ports:";
    for (const auto& p : ports) s += " " + p.path;
    return s;
  } catch (const std::exception& e) {
    return std::string("the ports cannot be listed: ") + e.what();
  }
}

void lock_or_throw(int fd, const std::string& path) {
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
    throw DutOpenError(3, path + " is held by another process (flock: " + std::strerror(errno) + ")");
}

}  // namespace

SerialDut open_serial_dut(const DutSpec& spec) {
  std::error_code ec;
  if (!std::filesystem::exists(spec.path, ec))
    throw DutOpenError(2, "--dut: no such port " + spec.path + "; " + port_list());
  SerialDut dut;
  dut.port = {{"spec", spec.canonical()}, {"path", spec.path}, {"baud", spec.baud}};
  if (spec.is_pty()) {
    const int fd = ::open(spec.path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw DutOpenError(3, "cannot open " + spec.path + ": " + std::strerror(errno));
    try {
      lock_or_throw(fd, spec.path);
      make_raw(fd, spec.baud);
    } catch (...) {
      ::close(fd);
      throw;
    }
    dut.port["kind"] = "pty";
    dut.link = std::make_unique<StreamLink>(fd);
    return dut;
  }
  sp_port* port = nullptr;
  if (sp_get_port_by_name(spec.path.c_str(), &port) != SP_OK)
    throw DutOpenError(2, "--dut: " + spec.path + " is not a serial port libserialport knows; " + port_list());
  auto fail = [&](const std::string& what) {
    char* msg = sp_last_error_message();
    const std::string text = what + " " + spec.path + ": " + (msg ? msg : "unknown error");
    if (msg) sp_free_error_message(msg);
    sp_close(port);
    sp_free_port(port);
    throw DutOpenError(3, text);
  };
  if (sp_open(port, SP_MODE_READ_WRITE) != SP_OK) fail("cannot open");
  const sp_parity parity = spec.parity == DutSpec::Parity::Even  ? SP_PARITY_EVEN
                           : spec.parity == DutSpec::Parity::Odd ? SP_PARITY_ODD
                                                                 : SP_PARITY_NONE;
  const sp_flowcontrol flow = spec.flow == DutSpec::Flow::RtsCts    ? SP_FLOWCONTROL_RTSCTS
                              : spec.flow == DutSpec::Flow::XonXoff ? SP_FLOWCONTROL_XONXOFF
                                                                    : SP_FLOWCONTROL_NONE;
  if (sp_set_baudrate(port, spec.baud) != SP_OK || sp_set_bits(port, 8) != SP_OK || sp_set_parity(port, parity) != SP_OK ||
      sp_set_stopbits(port, 1) != SP_OK || sp_set_flowcontrol(port, flow) != SP_OK)
    fail("cannot configure");
  int fd = -1;
  if (sp_get_port_handle(port, &fd) != SP_OK) fail("no descriptor for");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    sp_close(port);
    sp_free_port(port);
    throw DutOpenError(3, spec.path + " is held by another process (flock: " + std::strerror(errno) + ")");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  dut.port["kind"] = "serial";
  dut.port["parity"] = spec.parity == DutSpec::Parity::None ? "none" : spec.parity == DutSpec::Parity::Even ? "even" : "odd";
  dut.port["flow"] = spec.flow == DutSpec::Flow::None ? "none" : spec.flow == DutSpec::Flow::RtsCts ? "rtscts" : "xonxoff";
  try {
    for (const auto& p : list_serial_ports())
      if (p.path == spec.path) dut.port["info"] = p.to_json();
  } catch (const std::exception&) {
  }
  if (spec.reset == DutSpec::Reset::Esp) {
    dut.esp_reset = [port] {  // esptool's hard reset: RTS drives EN low (chip in reset), DTR high keeps IO0 high
      sp_set_dtr(port, SP_DTR_OFF);
      sp_set_rts(port, SP_RTS_ON);
      ::usleep(100'000);
      sp_set_rts(port, SP_RTS_OFF);
    };
  }
  dut.link = std::make_unique<StreamLink>(fd, [port] {
    sp_close(port);
    sp_free_port(port);
  });
  return dut;
}

NodePty::~NodePty() {
  master.reset();
  if (slave_fd >= 0) ::close(slave_fd);
}

std::unique_ptr<NodePty> open_node_pty() {
  const int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0 || ::grantpt(m) != 0 || ::unlockpt(m) != 0)
    throw std::runtime_error(std::string("cannot open a PTY: ") + std::strerror(errno));
  char name[128];
  if (::ptsname_r(m, name, sizeof name) != 0) throw std::runtime_error("ptsname failed");
  auto pty = std::make_unique<NodePty>();
  pty->slave_path = name;
  pty->slave_fd = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (pty->slave_fd < 0) throw std::runtime_error("cannot open " + pty->slave_path + ": " + std::strerror(errno));
  make_raw(pty->slave_fd, 115200);
  make_raw(m, 115200);
  ::fcntl(m, F_SETFL, ::fcntl(m, F_GETFL) | O_NONBLOCK);
  pty->master = std::make_unique<StreamLink>(m);
  return pty;
}

}  // namespace iotw::certify
