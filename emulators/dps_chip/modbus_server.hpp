// Serves a DpsRegisterMap over Modbus on the pool's Boost.Asio loop (single thread): Modbus TCP on a
// loopback/any IPv4 address and Modbus RTU on a PTY whose slave path clients (mbpoll, pymodbus) open.
// TCP is framed here (MBAP, Modbus Messaging on TCP/IP Implementation Guide V1.0b) on a StreamServer, so
// every client has its own buffers, deadline and output cap (docs/emulators.md "Server limits"): a slow or
// silent client never holds another one or the device model. RTU is framed by libmodbus on the PTY.
// Both transports share one PDU handler: requests are validated by the map, and every function code gets
// either its normal reply or an exception reply (function | 0x80, code 01/02/03; docs/dps-register-map.md
// "Exceptions"). Each write emits "modbus_write", each exception "modbus_exception", each discarded TCP
// frame "modbus_bad_frame" (docs/events.md), and is counted.
#pragma once
#include <modbus/modbus.h>

#include <boost/asio.hpp>
#include <cstdint>
#include <functional>
#include <memory>
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
  /// Open a PTY pair and serve Modbus RTU (slave id, nominal 9600 8N1) on its master. Returns the slave
  /// path for clients. Throws std::runtime_error if no PTY can be opened.
  std::string open_rtu_pty(int slave_id = 1);
  void stop();

  uint64_t requests() const { return requests_; }
  uint64_t exceptions() const { return exceptions_; }
  /// TCP frames discarded (protocol id not 0) or connections closed for an impossible MBAP length.
  uint64_t bad_frames() const { return bad_frames_; }
  /// The TCP transport (connection counts and limit counters); null before listen_tcp.
  const StreamServer<boost::asio::ip::tcp>* transport() const { return tcp_.get(); }

  /// One request PDU (function code + data, n >= 1 bytes) -> its response PDU (normal or exception).
  /// Applies accepted writes. transport names the side for events ("tcp"/"rtu").
  std::string answer(const uint8_t* pdu, std::size_t n, const char* transport);

 private:
  using Desc = boost::asio::posix::stream_descriptor;
  void on_tcp_data(StreamServer<boost::asio::ip::tcp>::Connection& c);
  void wait_rtu();

  boost::asio::io_context& io_;
  DpsRegisterMap& map_;
  EventLog& log_;
  std::string source_;
  std::function<void()> advance_;
  std::unique_ptr<StreamServer<boost::asio::ip::tcp>> tcp_;
  modbus_t* rtu_ = nullptr;
  std::unique_ptr<Desc> rtu_master_;
  int rtu_slave_fd_ = -1;
  uint64_t requests_ = 0, exceptions_ = 0, bad_frames_ = 0;
};

}  // namespace iotw::emu
