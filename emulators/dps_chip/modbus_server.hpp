// Serves a DpsRegisterMap over Modbus with libmodbus, on a Boost.Asio loop (single thread): Modbus TCP on
// a loopback/any IPv4 address and Modbus RTU on a PTY whose slave path clients (mbpoll, pymodbus) open.
// Requests are validated by the map (exceptions 01/02/03 via modbus_reply_exception); valid ones are
// answered by modbus_reply from a libmodbus mapping filled from the chip, then writes are applied.
// Each request emits nothing; each write emits "modbus_write" and each exception "modbus_exception"
// (docs/events.md) and is counted.
#pragma once
#include <modbus/modbus.h>

#include <boost/asio.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/event_log.hpp"
#include "dps_register_map.hpp"

namespace iotw::emu {

class ModbusServer {
 public:
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

 private:
  using Desc = boost::asio::posix::stream_descriptor;
  void accept_next();
  void wait_client(int fd);
  void wait_rtu();
  /// Receive and answer one request on ctx; returns false when the connection is gone.
  bool serve_one(modbus_t* ctx, const char* transport);

  boost::asio::io_context& io_;
  DpsRegisterMap& map_;
  EventLog& log_;
  std::string source_;
  std::function<void()> advance_;
  modbus_mapping_t* mapping_;
  modbus_t* tcp_ = nullptr;
  modbus_t* rtu_ = nullptr;
  std::unique_ptr<Desc> listener_, rtu_master_;
  int rtu_slave_fd_ = -1;
  std::map<int, std::unique_ptr<Desc>> clients_;
  uint64_t requests_ = 0, exceptions_ = 0;
};

}  // namespace iotw::emu
