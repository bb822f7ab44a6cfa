#include "modbus_server.hpp"

#include "common/serial_link.hpp"

#include <modbus/modbus-rtu.h>
#include <termios.h>
#include <unistd.h>

#include <boost/crc.hpp>
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

// CRC-16/MODBUS (polynomial 0x8005 reflected, initial 0xFFFF), sent low byte first.
uint16_t crc16(const char* p, std::size_t n) {
  boost::crc_optimal<16, 0x8005, 0xFFFF, 0, true, true> crc;
  crc.process_bytes(p, n);
  return crc.checksum();
}
bool crc_ok(const std::string& adu) {
  if (adu.size() < 4) return false;  // slave id, function, CRC
  const std::size_t n = adu.size() - 2;
  const auto got = static_cast<uint16_t>(static_cast<uint8_t>(adu[n]) | static_cast<uint8_t>(adu[n + 1]) << 8);
  return crc16(adu.data(), n) == got;
}
// The function codes whose requests the map serves, framed by their length; any other ends at the silence.
bool framed_by_length(uint8_t fc) {
  return fc == MODBUS_FC_READ_HOLDING_REGISTERS || fc == MODBUS_FC_READ_INPUT_REGISTERS ||
         fc == MODBUS_FC_WRITE_SINGLE_REGISTER || fc == MODBUS_FC_WRITE_MULTIPLE_REGISTERS;
}
// The length of the request ADU at the front of `in` (slave id .. CRC) once it is known, else 0.
std::size_t rtu_request_length(const std::string& in) {
  if (in.size() < 2 || !framed_by_length(static_cast<uint8_t>(in[1]))) return 0;
  if (static_cast<uint8_t>(in[1]) != MODBUS_FC_WRITE_MULTIPLE_REGISTERS) return 8;  // address, count/value
  return in.size() >= 7 ? 9 + std::size_t{static_cast<uint8_t>(in[6])} : 0;       // + byte count, values
}
}  // namespace

ModbusServer::ModbusServer(asio::io_context& io, DpsRegisterMap& map, EventLog& log, std::string source,
                           std::function<void()> advance)
    : io_(io), map_(map), log_(log), source_(std::move(source)), advance_(std::move(advance)),
      rtu_silence_timer_(io) {}

ModbusServer::~ModbusServer() { stop(); }

void ModbusServer::stop() {
  if (tcp_) tcp_->stop();
  rtu_silence_timer_.cancel();
  rtu_silence_generation_++;
  rtu_master_.reset();  // closes the master; a pending read ends with operation_aborted
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

// Every complete MBAP frame at the front of the input is answered, in order; a partial one waits. The replies
// are queued on the connection, which writes those of one read together; the input is consumed once at the end.
void ModbusServer::on_tcp_data(StreamServer<tcp>::Connection& c) {
  std::string& in = c.input();
  std::size_t at = 0;
  while (in.size() - at >= kMbapHeader - 1) {
    const auto* p = reinterpret_cast<const uint8_t*>(in.data() + at);
    const uint16_t tid = be16(p), pid = be16(p + 2), len = be16(p + 4);
    if (len < 2 || len > kMaxMbapLength) {  // the stream cannot be re-framed: close it
      bad_frames_++;
      log_.emit(source_, "modbus_bad_frame", {{"transport", "tcp"}, {"reason", "length"}, {"length", len}});
      c.close();
      return;
    }
    const std::size_t frame = 6 + std::size_t{len};
    if (in.size() - at < frame) break;
    if (pid != 0) {  // not Modbus: discarded without a reply (Implementation Guide 4.4.1.1)
      bad_frames_++;
      log_.emit(source_, "modbus_bad_frame", {{"transport", "tcp"}, {"reason", "protocol_id"}, {"protocol_id", pid}});
    } else {
      tcp_reply_.clear();
      put16(tcp_reply_, tid);
      put16(tcp_reply_, 0);
      put16(tcp_reply_, 0);  // the length, once the PDU is known
      tcp_reply_.push_back(static_cast<char>(p[6]));  // unit id
      answer(p + kMbapHeader, frame - kMbapHeader, "tcp", tcp_reply_);
      const auto length = static_cast<uint16_t>(tcp_reply_.size() - (kMbapHeader - 1));
      tcp_reply_[4] = static_cast<char>(length >> 8);
      tcp_reply_[5] = static_cast<char>(length & 0xFF);
      c.send(tcp_reply_);
      if (!c.is_open()) return;
    }
    at += frame;
  }
  in.erase(0, at);
}

void ModbusServer::answer(const uint8_t* pdu, std::size_t n, const char* transport, std::string& out) {
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
  if (ex != ModbusException::kNone) {
    exceptions_++;
    log_.emit(source_, "modbus_exception",
              {{"transport", transport}, {"function", fc}, {"address", addr}, {"code", static_cast<int>(ex)}});
    out.push_back(static_cast<char>(fc | 0x80));
    out.push_back(static_cast<char>(ex));
    return;
  }
  out.push_back(static_cast<char>(fc));
  if (fc == MODBUS_FC_READ_HOLDING_REGISTERS || fc == MODBUS_FC_READ_INPUT_REGISTERS) {
    const uint16_t count = u16(3);
    out.push_back(static_cast<char>(2 * count));
    for (uint16_t i = 0; i < count; i++) {
      const auto a = static_cast<uint16_t>(addr + i);
      put16(out, fc == MODBUS_FC_READ_HOLDING_REGISTERS ? map_.holding(a) : map_.input(a));
    }
    return;
  }
  put16(out, addr);
  put16(out, fc == MODBUS_FC_WRITE_SINGLE_REGISTER ? values[0] : static_cast<uint16_t>(values.size()));
  for (std::size_t i = 0; i < values.size(); i++) {
    map_.write(static_cast<uint16_t>(addr + i), values[i]);
    log_.emit(source_, "modbus_write", {{"transport", transport}, {"address", addr + i}, {"value", values[i]}});
  }
}

std::string ModbusServer::open_rtu_pty(int slave_id) {
  if (slave_id < 1 || slave_id > 247) throw std::invalid_argument("Modbus RTU slave id must be 1..247");
  const PtyPair pty = open_pty_pair(kRtuBaud);
  rtu_slave_fd_ = pty.slave;  // held open so the master never sees EIO between clients
  rtu_slave_id_ = slave_id;
  rtu_master_ = std::make_unique<Desc>(io_, pty.master);
  rtu_master_->non_blocking(true);  // a reply the PTY cannot take is dropped, never waited for
  read_rtu();
  return pty.path;
}

// RTU framing (Modbus over Serial Line V1.02 §2.5.1.1) on the loop: every chunk read goes to on_rtu_bytes; nothing
// here waits for the next byte, so a trickling master holds nothing but its own unfinished frame.
void ModbusServer::read_rtu() {
  rtu_master_->async_read_some(asio::buffer(rtu_chunk_), [this](boost::system::error_code ec, std::size_t n) {
    if (ec == asio::error::operation_aborted || !rtu_master_) return;
    if (ec) {  // cannot happen while the slave is held open; stop serving RTU rather than spin
      log_.emit(source_, "modbus_rtu_error", {{"error", ec.message()}});
      return;
    }
    on_rtu_bytes(rtu_chunk_.data(), n);
    read_rtu();
  });
}

// Bytes append to the frame being received; a frame of a served function code is taken as soon as its length has
// arrived (a master waits for the reply, so the next request starts after a silence anyway). Anything unfinished
// waits for the silence deadline, which every read restarts. After a bad CRC or an overlong frame the bytes up to
// the next silence are dropped (the frame boundaries are lost) and reported together at that silence.
void ModbusServer::on_rtu_bytes(const uint8_t* data, std::size_t n) {
  if (rtu_discarding_) {
    rtu_discarded_bytes_ += n;
  } else {
    rtu_in_.append(reinterpret_cast<const char*>(data), n);
    for (std::size_t len; (len = rtu_request_length(rtu_in_)) != 0 && rtu_in_.size() >= len;) {
      if (!crc_ok(rtu_in_.substr(0, len))) {  // framing is lost: drop everything up to the next silence
        rtu_discarding_ = RtuDrop::kCrc;
        break;
      }
      const std::string adu = rtu_in_.substr(0, len);
      rtu_in_.erase(0, len);
      rtu_request(adu);
    }
    if (!rtu_discarding_ && rtu_in_.size() > MODBUS_RTU_MAX_ADU_LENGTH) rtu_discarding_ = RtuDrop::kLength;
    if (rtu_discarding_) {
      rtu_discarded_bytes_ = rtu_in_.size();
      rtu_in_.clear();
    }
  }
  arm_rtu_silence();
}

// The silence deadline restarts with every read; it only matters while a frame is unfinished or being discarded.
void ModbusServer::arm_rtu_silence() {
  const uint64_t generation = ++rtu_silence_generation_;
  if (rtu_in_.empty() && !rtu_discarding_) {
    rtu_silence_timer_.cancel();
    return;
  }
  rtu_silence_timer_.expires_after(rtu_silence(kRtuBaud));
  rtu_silence_timer_.async_wait([this, generation](boost::system::error_code ec) {
    if (ec || generation != rtu_silence_generation_) return;  // cancelled, or bytes came after it was armed
    on_rtu_silence();
  });
}

// t3.5 of silence ends the frame: with a valid CRC it is a request (an unserved function code, or a served one of
// the wrong length, which the PDU handler answers with an exception); else it is dropped as partial or bad.
void ModbusServer::on_rtu_silence() {
  if (rtu_discarding_) {  // reported now, with every byte it swallowed, so the next frame is the master's next
    rtu_bad_frame(*rtu_discarding_, rtu_discarded_bytes_);
    rtu_discarding_.reset();
    return;
  }
  if (rtu_in_.empty()) return;
  std::string adu;
  adu.swap(rtu_in_);
  if (crc_ok(adu)) {
    rtu_request(adu);
    return;
  }
  const std::size_t expected = rtu_request_length(adu);
  const bool unfinished = adu.size() < 4 || (framed_by_length(static_cast<uint8_t>(adu[1])) &&
                                             (expected == 0 || adu.size() < expected));
  rtu_bad_frame(unfinished ? RtuDrop::kPartial : RtuDrop::kCrc, adu.size());
}

// A request addressed to this slave is answered; a broadcast (slave 0) is executed without a reply; another
// slave's is not ours. The reply supersedes any earlier one the master left unread (flushed from the PTY), so a
// master that never reads cannot fill it, and is written without blocking.
void ModbusServer::rtu_request(const std::string& adu) {
  const auto slave = static_cast<uint8_t>(adu[0]);
  if (slave != 0 && slave != rtu_slave_id_) return;
  std::string reply(1, static_cast<char>(slave));
  answer(reinterpret_cast<const uint8_t*>(adu.data()) + 1, adu.size() - 3, "rtu", reply);
  if (slave == 0) return;
  const uint16_t crc = crc16(reply.data(), reply.size());
  reply.push_back(static_cast<char>(crc & 0xFF));
  reply.push_back(static_cast<char>(crc >> 8));
  ::tcflush(rtu_slave_fd_, TCIFLUSH);
  boost::system::error_code ec;
  const std::size_t written = rtu_master_->write_some(asio::buffer(reply), ec);
  if (ec || written != reply.size()) rtu_dropped_++;
}

void ModbusServer::rtu_bad_frame(RtuDrop why, std::size_t size) {
  static constexpr const char* kReason[] = {"partial", "crc", "length"};
  static_assert(std::size(kReason) == static_cast<std::size_t>(RtuDrop::kCount));
  bad_frames_++;
  rtu_drops_[static_cast<std::size_t>(why)]++;
  log_.emit(source_, "modbus_bad_frame",
            {{"transport", "rtu"}, {"reason", kReason[static_cast<std::size_t>(why)]}, {"bytes", size}});
}

}  // namespace iotw::emu
