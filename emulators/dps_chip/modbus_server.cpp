#include "modbus_server.hpp"

#include "common/serial_link.hpp"

#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

#include "common/ipv4_endpoint.hpp"

namespace iotw::emu {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr std::size_t kMbapHeader = 7;      // transaction id, protocol id, length, unit id
constexpr uint16_t kMaxMbapLength = 254;    // unit id + a PDU of at most 253 bytes
uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xFF));
}
}  // namespace

ModbusServer::ModbusServer(asio::io_context& io, DpsRegisterMap& map, EventLog& log, std::string source,
                           std::function<void()> advance)
    : io_(io), map_(map), log_(log), source_(std::move(source)), advance_(std::move(advance)) {}

ModbusServer::~ModbusServer() { stop(); }

void ModbusServer::stop() {
  if (tcp_) tcp_->stop();
  rtu_master_.reset();
  if (rtu_) {
    modbus_set_socket(rtu_, -1);  // the descriptor above owned and closed the fd
    modbus_free(rtu_);
    rtu_ = nullptr;
  }
  if (rtu_slave_fd_ >= 0) ::close(rtu_slave_fd_);
  rtu_slave_fd_ = -1;
}

std::string ModbusServer::listen_tcp(const std::string& host_port) {
  auto [host, port] = parse_host_port(host_port);
  tcp_ = std::make_unique<StreamServer<tcp>>(io_, kTcpLimits,
                                             [this](StreamServer<tcp>::Connection& c) { on_tcp_data(c); });
  try {
    const auto ep = tcp_->listen(tcp::endpoint(asio::ip::make_address(host), port));
    return host + ":" + std::to_string(ep.port());
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + host_port + ": " + e.what());
  }
}

// Every complete MBAP frame at the front of the input is answered, in order; a partial one waits.
void ModbusServer::on_tcp_data(StreamServer<tcp>::Connection& c) {
  std::string& in = c.input();
  while (in.size() >= kMbapHeader - 1) {
    const auto* p = reinterpret_cast<const uint8_t*>(in.data());
    const uint16_t tid = be16(p), pid = be16(p + 2), len = be16(p + 4);
    if (len < 2 || len > kMaxMbapLength) {  // the stream cannot be re-framed: close it
      bad_frames_++;
      log_.emit(source_, "modbus_bad_frame", {{"transport", "tcp"}, {"reason", "length"}, {"length", len}});
      c.close();
      return;
    }
    const std::size_t frame = 6 + std::size_t{len};
    if (in.size() < frame) return;
    if (pid != 0) {  // not Modbus: discarded without a reply (Implementation Guide 4.4.1.1)
      bad_frames_++;
      log_.emit(source_, "modbus_bad_frame", {{"transport", "tcp"}, {"reason", "protocol_id"}, {"protocol_id", pid}});
    } else {
      const uint8_t unit = p[6];
      const std::string pdu = answer(p + kMbapHeader, frame - kMbapHeader, "tcp");
      std::string reply;
      put16(reply, tid);
      put16(reply, 0);
      put16(reply, static_cast<uint16_t>(pdu.size() + 1));
      reply.push_back(static_cast<char>(unit));
      reply += pdu;
      c.send(reply);
      if (!c.is_open()) return;
    }
    in.erase(0, frame);
  }
}

std::string ModbusServer::answer(const uint8_t* pdu, std::size_t n, const char* transport) {
  requests_++;
  advance_();
  const uint8_t fc = pdu[0];
  const auto u16 = [&](std::size_t off) { return be16(pdu + off); };
  const uint16_t addr = n >= 3 ? u16(1) : 0;
  std::vector<uint16_t> values;
  ModbusException ex = ModbusException::kNone;
  switch (fc) {
    case MODBUS_FC_READ_HOLDING_REGISTERS:
    case MODBUS_FC_READ_INPUT_REGISTERS:
      ex = n != 5 ? ModbusException::kIllegalValue : map_.check_read(fc, addr, u16(3));
      break;
    case MODBUS_FC_WRITE_SINGLE_REGISTER:
      if (n != 5) {
        ex = ModbusException::kIllegalValue;
        break;
      }
      values.push_back(u16(3));
      ex = map_.check_write(addr, values.data(), 1);
      break;
    case MODBUS_FC_WRITE_MULTIPLE_REGISTERS: {
      const uint16_t count = n >= 6 ? u16(3) : 0;
      if (count == 0 || count > 123 || pdu[5] != 2 * count || n != 6 + 2 * std::size_t{count}) {
        ex = ModbusException::kIllegalValue;
        break;
      }
      for (uint16_t i = 0; i < count; i++) values.push_back(u16(6 + 2 * i));
      ex = map_.check_write(addr, values.data(), count);
      break;
    }
    default:  // every other code, and 0x80..0xFF (reserved for exception replies): illegal function
      ex = ModbusException::kIllegalFunction;
  }
  std::string out;
  if (ex != ModbusException::kNone) {
    exceptions_++;
    log_.emit(source_, "modbus_exception",
              {{"transport", transport}, {"function", fc}, {"address", addr}, {"code", static_cast<int>(ex)}});
    out.push_back(static_cast<char>(fc | 0x80));
    out.push_back(static_cast<char>(ex));
    return out;
  }
  out.push_back(static_cast<char>(fc));
  if (fc == MODBUS_FC_READ_HOLDING_REGISTERS || fc == MODBUS_FC_READ_INPUT_REGISTERS) {
    const uint16_t count = u16(3);
    out.push_back(static_cast<char>(2 * count));
    for (uint16_t i = 0; i < count; i++) {
      const auto a = static_cast<uint16_t>(addr + i);
      put16(out, fc == MODBUS_FC_READ_HOLDING_REGISTERS ? map_.holding(a) : map_.input(a));
    }
    return out;
  }
  put16(out, addr);
  put16(out, fc == MODBUS_FC_WRITE_SINGLE_REGISTER ? values[0] : static_cast<uint16_t>(values.size()));
  for (std::size_t i = 0; i < values.size(); i++) {
    map_.write(static_cast<uint16_t>(addr + i), values[i]);
    log_.emit(source_, "modbus_write", {{"transport", transport}, {"address", addr + i}, {"value", values[i]}});
  }
  return out;
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

// libmodbus frames the RTU request (slave id, CRC); the reply is the shared PDU, framed back by libmodbus.
void ModbusServer::wait_rtu() {
  rtu_master_->async_wait(Desc::wait_read, [this](boost::system::error_code ec) {
    if (ec || !rtu_master_) return;
    uint8_t req[MODBUS_MAX_ADU_LENGTH];
    const int rc = modbus_receive(rtu_, req);
    if (rc < 0) {
      modbus_flush(rtu_);  // bad CRC, timeout mid-frame: resynchronise
    } else if (rc >= 4) {  // slave id + function + CRC at least; 0 = addressed to another slave
      const std::string pdu = answer(req + 1, static_cast<std::size_t>(rc) - 3, "rtu");
      if (req[0] != 0) {  // no reply to a broadcast
        std::string raw(1, static_cast<char>(req[0]));
        raw += pdu;
        modbus_send_raw_request(rtu_, reinterpret_cast<const uint8_t*>(raw.data()), static_cast<int>(raw.size()));
      }
    }
    wait_rtu();
  });
}

}  // namespace iotw::emu
