// The two links the certifier sits between (docs/certification.md "The certification run"): the DUT's port and
// the trust node's side. A FrameLink carries whole frames (payload = one encoded Envelope, 1..512 bytes): a
// stream link (serial port, PTY) frames them as docs/protocol.md §2 says (COBS(payload || CRC-32 LE) || 0x00).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/certify/dut_spec.hpp"

namespace iotw::certify {

using Bytes = std::vector<std::uint8_t>;

/// What arrived on a link: a frame's payload (CRC checked and stripped), or bytes that were not a frame.
struct Received {
  Bytes payload;       ///< non-empty: a good frame
  std::string dropped;  ///< empty for a good frame; else what happened instead ("dropped: bad CRC ...",
                        ///< "connected from 127.0.0.1:40312", "connection closed")
};

/// A frame link on a file descriptor the caller polls.
class FrameLink {
 public:
  virtual ~FrameLink() = default;
  /// The descriptor to poll for input (non-blocking).
  virtual int fd() const = 0;
  /// Reads what is available; never blocks. Throws std::runtime_error when the link failed (EOF, EIO on a port).
  virtual std::vector<Received> receive() = 0;
  /// Sends one frame (payload 1..512 bytes), whole, in one write.
  virtual void send(const Bytes& payload) = 0;
  /// Sends bytes as they are (a stream link: raw bytes on the wire; a datagram link: one datagram).
  virtual void send_raw(const Bytes& bytes) = 0;
  /// The wire form of `payload_and_crc` (an Envelope and its 4 CRC bytes, right or wrong): COBS and a delimiter on
  /// a stream link, the bytes themselves on a datagram link.
  virtual Bytes wire(const Bytes& payload_and_crc) const = 0;
  /// True for a byte stream with the serial framing (serial port, PTY, TCP); false for UDP datagrams.
  virtual bool stream() const = 0;
};

/// A byte-stream link (serial port, PTY master or slave) with the serial framing of docs/protocol.md §2. Owns fd.
class StreamLink : public FrameLink {
 public:
  /// fd: open, non-blocking. on_close runs in the destructor (e.g. sp_close); empty = ::close(fd).
  explicit StreamLink(int fd, std::function<void()> on_close = {});
  ~StreamLink() override;
  StreamLink(const StreamLink&) = delete;
  StreamLink& operator=(const StreamLink&) = delete;
  int fd() const override { return fd_; }
  std::vector<Received> receive() override;
  void send(const Bytes& payload) override;
  void send_raw(const Bytes& bytes) override;
  Bytes wire(const Bytes& payload_and_crc) const override;
  bool stream() const override { return true; }

 private:
  int fd_;
  std::function<void()> on_close_;
  struct Decoder;
  std::unique_ptr<Decoder> decoder_;
};

/// A UDP link: one datagram = payload || CRC-32 LE (docs/protocol.md §2). Owns fd (a bound UDP socket). Only
/// datagrams from `peer` count; others are reported as dropped. A peer with port 0 is fixed by the first datagram
/// from its address.
class DatagramLink : public FrameLink {
 public:
  DatagramLink(int fd, std::uint32_t peer_ip_host_order, std::uint16_t peer_port);
  ~DatagramLink() override;
  DatagramLink(const DatagramLink&) = delete;
  DatagramLink& operator=(const DatagramLink&) = delete;
  int fd() const override { return fd_; }
  std::vector<Received> receive() override;
  void send(const Bytes& payload) override;
  void send_raw(const Bytes& bytes) override;
  Bytes wire(const Bytes& payload_and_crc) const override { return payload_and_crc; }
  bool stream() const override { return false; }

 private:
  int fd_;
  std::uint32_t peer_ip_;
  std::uint16_t peer_port_;
};

/// A TCP DUT: the certifier listens and takes one connection at a time from `host` (others are refused and
/// reported); the framing is the serial one. The connection closing is reported, not an error: the next
/// connection (a DUT that reset) takes its place.
class TcpServerLink : public FrameLink {
 public:
  TcpServerLink(int listen_fd, std::uint32_t host_ip_host_order);
  ~TcpServerLink() override;
  TcpServerLink(const TcpServerLink&) = delete;
  TcpServerLink& operator=(const TcpServerLink&) = delete;
  int fd() const override { return conn_ ? conn_->fd() : listen_fd_; }
  std::vector<Received> receive() override;
  void send(const Bytes& payload) override;
  void send_raw(const Bytes& bytes) override;
  Bytes wire(const Bytes& payload_and_crc) const override;
  bool stream() const override { return true; }

 private:
  int listen_fd_;
  std::uint32_t host_;
  std::unique_ptr<StreamLink> conn_;
};

/// What a UDP or TCP DUT is told and the link to it.
struct NetDut {
  std::unique_ptr<FrameLink> link;
  std::string endpoint;  ///< "ADDR:PORT": where the DUT must send (printed as `dut must send to: ...`)
  nlohmann::json port;   ///< {"spec", "kind": "udp"|"tcp", "host", "port", "certifier_endpoint"}
};

/// udp: a socket on an ephemeral port of the local address that routes to spec.host (127.0.0.1 for a loopback
/// host); tcp: a listening socket on spec.port of that address. Throws DutOpenError (3: cannot bind).
NetDut open_net_dut(const DutSpec& spec);

/// The certifier's side of the node's [udp] or [tcp] port on 127.0.0.1. Throws std::runtime_error.
std::unique_ptr<FrameLink> connect_node(bool udp, std::uint16_t port);

/// The serial frame of payload (COBS(payload || CRC-32 LE) || 0x00). Throws std::invalid_argument for an empty
/// payload or one over 512 bytes.
Bytes serial_frame(const Bytes& payload);

/// Thrown by open_serial_dut: `exit_code` 2 (no such port: the message lists the host's ports) or 3 (the port
/// exists but cannot be opened: held by another process, no permission).
struct DutOpenError : std::runtime_error {
  DutOpenError(int code, const std::string& what) : std::runtime_error(what), exit_code(code) {}
  int exit_code;
};

/// An opened serial DUT: the link, a reset through its DTR/RTS lines (reset=esp on a real port), and what is known
/// about the port for dut.json.
struct SerialDut {
  std::unique_ptr<FrameLink> link;
  std::function<void()> esp_reset;  ///< empty unless reset=esp: esptool's hard reset (RTS pulses EN low 100 ms)
  nlohmann::json port;              ///< {"spec", "path", "kind": "pty"|"serial", "baud", ..., USB fields}
};

/// Opens spec's port: a PTY through termios (raw, spec.baud), a real port through libserialport (baud, 8 data
/// bits, parity, 1 stop bit, flow control). Both are locked with flock(LOCK_EX | LOCK_NB), so a second certifier
/// (or any other program that locks) on the same port is refused. Throws DutOpenError.
SerialDut open_serial_dut(const DutSpec& spec);

/// A new PTY pair for the trust node's [[serial]] link: the master (ours, as a StreamLink) and the slave's path.
/// The slave is kept open by us too (raw), so the master never reads EIO while the node (re)opens it.
struct NodePty {
  std::unique_ptr<FrameLink> master;
  std::string slave_path;
  int slave_fd = -1;
  ~NodePty();
};
std::unique_ptr<NodePty> open_node_pty();

}  // namespace iotw::certify
