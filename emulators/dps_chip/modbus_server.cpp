#include "modbus_server.hpp"

#include "common/serial_link.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pty.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/ipv4_endpoint.hpp"

namespace iotw::emu {

ModbusServer::ModbusServer(boost::asio::io_context& io, DpsRegisterMap& map, EventLog& log, std::string source,
                           std::function<void()> advance)
    : io_(io),
      map_(map),
      log_(log),
      source_(std::move(source)),
      advance_(std::move(advance)),
      mapping_(modbus_mapping_new_start_address(0, 0, 0, 0, 0, DpsRegisterMap::kHoldingCount, 0,
                                                DpsRegisterMap::kInputCount)) {
  if (!mapping_) throw std::runtime_error("modbus_mapping_new_start_address failed");
}

ModbusServer::~ModbusServer() {
  stop();
  modbus_mapping_free(mapping_);
}

void ModbusServer::stop() {
  clients_.clear();
  listener_.reset();
  rtu_master_.reset();
  for (modbus_t** ctx : {&tcp_, &rtu_}) {
    if (!*ctx) continue;
    modbus_set_socket(*ctx, -1);  // the descriptors above owned and closed the fds
    modbus_free(*ctx);
    *ctx = nullptr;
  }
  if (rtu_slave_fd_ >= 0) ::close(rtu_slave_fd_);
  rtu_slave_fd_ = -1;
}

std::string ModbusServer::listen_tcp(const std::string& host_port) {
  auto [host, port] = parse_host_port(host_port);
  tcp_ = modbus_new_tcp(host.c_str(), port);
  if (!tcp_) throw std::runtime_error("modbus_new_tcp: " + std::string(modbus_strerror(errno)));
  const int s = modbus_tcp_listen(tcp_, 8);
  if (s < 0) throw std::runtime_error("cannot listen on " + host_port + ": " + modbus_strerror(errno));
  ::fcntl(s, F_SETFD, FD_CLOEXEC);
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&bound), &len);
  listener_ = std::make_unique<Desc>(io_, s);
  accept_next();
  return host + ":" + std::to_string(ntohs(bound.sin_port));
}

void ModbusServer::accept_next() {
  listener_->async_wait(Desc::wait_read, [this](boost::system::error_code ec) {
    if (ec || !listener_) return;
    int s = listener_->native_handle();
    const int fd = modbus_tcp_accept(tcp_, &s);
    if (fd >= 0) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      clients_[fd] = std::make_unique<Desc>(io_, fd);
      wait_client(fd);
    }
    accept_next();
  });
}

void ModbusServer::wait_client(int fd) {
  clients_.at(fd)->async_wait(Desc::wait_read, [this, fd](boost::system::error_code ec) {
    if (ec || !clients_.count(fd)) return;
    modbus_set_socket(tcp_, fd);
    if (!serve_one(tcp_, "tcp")) {
      clients_.erase(fd);  // closes fd
      return;
    }
    wait_client(fd);
  });
}

std::string ModbusServer::open_rtu_pty(int slave_id) {
  const PtyPair pty = open_pty_pair(9600);
  const int master = pty.master;
  rtu_slave_fd_ = pty.slave;  // held open so the master never sees EIO between clients
  const std::string name = pty.path;
  rtu_ = modbus_new_rtu(name.c_str(), 9600, 'N', 8, 1);
  if (!rtu_) throw std::runtime_error("modbus_new_rtu: " + std::string(modbus_strerror(errno)));
  modbus_set_slave(rtu_, slave_id);
  modbus_set_socket(rtu_, master);  // served on the master side; clients open the slave path
  rtu_master_ = std::make_unique<Desc>(io_, master);
  wait_rtu();
  return name;
}

void ModbusServer::wait_rtu() {
  rtu_master_->async_wait(Desc::wait_read, [this](boost::system::error_code ec) {
    if (ec || !rtu_master_) return;
    if (!serve_one(rtu_, "rtu")) modbus_flush(rtu_);  // bad CRC, timeout mid-frame: resynchronise
    wait_rtu();
  });
}

bool ModbusServer::serve_one(modbus_t* ctx, const char* transport) {
  uint8_t req[MODBUS_MAX_ADU_LENGTH];
  const int rc = modbus_receive(ctx, req);
  if (rc < 0) return false;
  if (rc == 0) return true;  // addressed to another slave id
  requests_++;
  advance_();
  const int h = modbus_get_header_length(ctx);
  const uint8_t fc = req[h];
  const auto u16 = [&](int off) { return static_cast<uint16_t>(req[h + off] << 8 | req[h + off + 1]); };
  const uint16_t addr = rc >= h + 3 ? u16(1) : 0;
  std::vector<uint16_t> values;
  ModbusException ex;
  switch (fc) {
    case MODBUS_FC_READ_HOLDING_REGISTERS:
    case MODBUS_FC_READ_INPUT_REGISTERS:
      ex = map_.check_read(fc, addr, u16(3));
      break;
    case MODBUS_FC_WRITE_SINGLE_REGISTER:
      values.push_back(u16(3));
      ex = map_.check_write(addr, values.data(), 1);
      break;
    case MODBUS_FC_WRITE_MULTIPLE_REGISTERS: {
      const uint16_t n = u16(3);
      if (n == 0 || n > 123 || req[h + 5] != 2 * n || rc < h + 6 + 2 * n) {
        ex = ModbusException::kIllegalValue;
        break;
      }
      for (uint16_t i = 0; i < n; i++) values.push_back(u16(6 + 2 * i));
      ex = map_.check_write(addr, values.data(), n);
      break;
    }
    default:
      ex = ModbusException::kIllegalFunction;
  }
  if (ex != ModbusException::kNone) {
    exceptions_++;
    log_.emit(source_, "modbus_exception",
              {{"transport", transport}, {"function", fc}, {"address", addr}, {"code", static_cast<int>(ex)}});
    modbus_reply_exception(ctx, req, static_cast<unsigned>(ex));
    return true;
  }
  map_.fill(mapping_->tab_registers, mapping_->tab_input_registers);
  modbus_reply(ctx, req, rc, mapping_);
  for (size_t i = 0; i < values.size(); i++) {
    map_.write(static_cast<uint16_t>(addr + i), values[i]);
    log_.emit(source_, "modbus_write", {{"transport", transport}, {"address", addr + i}, {"value", values[i]}});
  }
  return true;
}

}  // namespace iotw::emu
