// Serves a DpsRegisterMap over Modbus on the pool's Boost.Asio loop (single thread): Modbus TCP on a
// loopback/any IPv4 address and Modbus RTU on a PTY whose slave path clients (mbpoll, pymodbus) open.
// TCP is framed here (MBAP, Modbus Messaging on TCP/IP Implementation Guide V1.0b) on a StreamServer, so
// every client has its own buffers, deadline and output cap (docs/emulators.md "Server limits"): a slow or
// silent client never holds another one or the device model. RTU is framed here too, on the same loop
// (docs/emulators.md "Modbus RTU framing"): bytes are read as they arrive, a request of a served function code
// ends at its length, any other at the line's t3.5 silence; an unfinished frame is dropped at the silence
// deadline, a bad CRC-16 discards the frame; the reply is written without blocking. Both transports share one
// PDU handler: requests are validated by the map, and every function code gets either its normal reply or an
// exception reply (function | 0x80, code 01/02/03; docs/dps-register-map.md "Exceptions"). Each write emits
// "modbus_write", each exception "modbus_exception", each discarded frame "modbus_bad_frame" (docs/events.md),
// and is counted.
#pragma once
#include <modbus/modbus.h>

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/event_log.hpp"
#include "common/stream_server.hpp"
#include "dps_register_map.hpp"

namespace iotw::emu {

class ModbusServer {
 public:
  /// Limits of the TCP side (docs/emulators.md "Server limits"): an MBAP frame is at most 260 bytes.
  static constexpr StreamLimits kTcpLimits{64, 260, 65536, std::chrono::milliseconds(10000)};

  /// map and log must outlive the server. advance is called before every request (bring the chip to now).
  ModbusServer(boost::asio::io_context& io, DpsRegisterMap& map, EventLog& log, std::string source,
               std::function<void()> advance);
  ~ModbusServer();
  ModbusServer(const ModbusServer&) = delete;
  ModbusServer& operator=(const ModbusServer&) = delete;

  /// Listen for Modbus TCP on "A.B.C.D:PORT" (PORT 0 = ephemeral). Returns the bound "A.B.C.D:PORT".
  /// Throws std::runtime_error (bad address, bind failure).
  std::string listen_tcp(const std::string& host_port);
  /// Nominal line rate of the RTU PTY, bits/s (8N1: 10 bits a character; the silence counts 11, as with parity).
  static constexpr int kRtuBaud = 9600;
  /// Modbus RTU's inter-frame silence t3.5 at baud (Modbus over Serial Line V1.02 §2.5.1.1): 3.5 characters of
  /// 11 bits, rounded up to the microsecond; 1750 us above 19200 bit/s. 9600 bit/s: 4011 us.
  static constexpr std::chrono::microseconds rtu_silence(int baud) {
    return baud > 19200 ? std::chrono::microseconds(1750)
                        : std::chrono::microseconds((38'500'000 + baud - 1) / baud);
  }

  /// Open a PTY pair and serve Modbus RTU (slave id 1..247, nominal kRtuBaud 8N1) on its master. Returns the slave
  /// path for clients. Throws std::runtime_error if no PTY can be opened, std::invalid_argument for a bad id.
  std::string open_rtu_pty(int slave_id = 1);
  void stop();

  uint64_t requests() const { return requests_; }
  uint64_t exceptions() const { return exceptions_; }
  /// Frames discarded, both transports: TCP (protocol id not 0, or the connection closed for an impossible MBAP
  /// length) and RTU (the sum of the three counters below).
  uint64_t bad_frames() const { return bad_frames_; }
  /// RTU frames dropped unfinished at the silence deadline (a trickling or cut-off master).
  uint64_t rtu_partial_frames() const { return rtu_drops_[static_cast<std::size_t>(RtuDrop::kPartial)]; }
  /// RTU frames whose CRC-16 did not match (discarded with the bytes up to the next silence). Counters and events
  /// of discarded runs are updated at the silence that ends them.
  uint64_t rtu_crc_errors() const { return rtu_drops_[static_cast<std::size_t>(RtuDrop::kCrc)]; }
  /// RTU frames longer than an ADU (256 bytes) without a silence (discarded up to the next silence).
  uint64_t rtu_overruns() const { return rtu_drops_[static_cast<std::size_t>(RtuDrop::kLength)]; }
  /// RTU replies the PTY would not take at once (not written; the master gets none).
  uint64_t rtu_replies_dropped() const { return rtu_dropped_; }
  /// The TCP transport (connection counts and limit counters); null before listen_tcp.
  const StreamServer<boost::asio::ip::tcp>* transport() const { return tcp_.get(); }

  /// One request PDU (function code + data, n >= 1 bytes): appends its response PDU (normal or exception) to out.
  /// Applies accepted writes. transport names the side for events ("tcp"/"rtu").
  void answer(const uint8_t* pdu, std::size_t n, const char* transport, std::string& out);

 private:
  using Desc = boost::asio::posix::stream_descriptor;
  void on_tcp_data(StreamServer<boost::asio::ip::tcp>::Connection& c);
  void read_rtu();
  void on_rtu_bytes(const uint8_t* data, std::size_t n);
  void on_rtu_silence();
  void arm_rtu_silence();
  void rtu_request(const std::string& adu);
  enum class RtuDrop { kPartial, kCrc, kLength, kCount };  // event reasons "partial", "crc", "length"
  void rtu_bad_frame(RtuDrop why, std::size_t size);

  boost::asio::io_context& io_;
  DpsRegisterMap& map_;
  EventLog& log_;
  std::string source_;
  std::function<void()> advance_;
  std::unique_ptr<StreamServer<boost::asio::ip::tcp>> tcp_;
  std::unique_ptr<Desc> rtu_master_;
  int rtu_slave_fd_ = -1;
  int rtu_slave_id_ = 1;
  std::array<uint8_t, 512> rtu_chunk_{};
  std::string tcp_reply_;        // the MBAP reply being built (kept: no allocation per request)
  std::string rtu_in_;           // the frame being received
  std::optional<RtuDrop> rtu_discarding_;  // after a bad frame: bytes are dropped up to the next silence
  std::size_t rtu_discarded_bytes_ = 0;
  boost::asio::steady_timer rtu_silence_timer_;
  uint64_t rtu_silence_generation_ = 0;
  uint64_t requests_ = 0, exceptions_ = 0, bad_frames_ = 0;
  std::array<uint64_t, 3> rtu_drops_{};  // by RtuDrop
  uint64_t rtu_dropped_ = 0;
};

}  // namespace iotw::emu
