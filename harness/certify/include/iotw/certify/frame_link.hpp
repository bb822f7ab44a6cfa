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
  std::string dropped;  ///< empty for a good frame; else why bytes were dropped ("bad CRC", "bad COBS", ...)
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
  /// Sends bytes as they are (a stream link: raw bytes on the wire, no framing added).
  virtual void send_raw(const Bytes& bytes) = 0;
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

 private:
  int fd_;
  std::function<void()> on_close_;
  struct Decoder;
  std::unique_ptr<Decoder> decoder_;
};

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
