// Hostile Modbus RTU masters on the DPS emulator's PTY (issue 15, "Emulators"): a master that trickles bytes,
// partial frames, bad CRCs, unsupported function codes and a master that never reads its replies. Two DPS devices,
// the control socket and a model timer share one io_context, as in an iotw-emu pool; no RTU master may stall any
// of them. Assertions are on answers, events and counts; poll and socket timeouts only guard against a freeze.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <atomic>
#include <boost/crc.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.hpp"
#include "common/pool_control.hpp"
#include "dps_chip/dps_device.hpp"
#include "emu_clients.hpp"

namespace {
using namespace iotw::emu;
using namespace iotw::hostile;

std::filesystem::path temp_path(const std::string& stem) {
  return std::filesystem::temp_directory_path() / (stem + "-" + std::to_string(::getpid()));
}

/// An RTU ADU: slave id, PDU, CRC-16/MODBUS low byte first.
std::string rtu(uint8_t slave, const std::string& pdu) {
  std::string f(1, static_cast<char>(slave));
  f += pdu;
  boost::crc_optimal<16, 0x8005, 0xFFFF, 0, true, true> crc;
  crc.process_bytes(f.data(), f.size());
  f.push_back(static_cast<char>(crc.checksum() & 0xFF));
  f.push_back(static_cast<char>(crc.checksum() >> 8));
  return f;
}
std::string pdu16(uint8_t fc, uint16_t a, uint16_t b) {
  return {static_cast<char>(fc), static_cast<char>(a >> 8), static_cast<char>(a), static_cast<char>(b >> 8),
          static_cast<char>(b)};
}
/// An MBAP frame (transaction id, protocol 0, unit 1) around pdu.
std::string mbap(uint16_t tid, const std::string& pdu) {
  const auto len = static_cast<uint16_t>(pdu.size() + 1);
  return std::string{static_cast<char>(tid >> 8), static_cast<char>(tid), 0, 0, static_cast<char>(len >> 8),
                     static_cast<char>(len), 1} +
         pdu;
}

/// The PTY side a master opens (raw 8N1, as mbpoll and pymodbus set it).
int open_master(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  termios t{};
  ::tcgetattr(fd, &t);
  ::cfmakeraw(&t);
  ::tcsetattr(fd, TCSANOW, &t);
  return fd;
}
/// Exactly n bytes from a PTY, or nullopt (EOF, error, or nothing for kGuardSeconds: a frozen server).
std::optional<std::string> read_exact(int fd, std::size_t n) {
  std::string out;
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kGuardSeconds * 1000) <= 0) return std::nullopt;
    char buf[512];
    const ssize_t r = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
    if (r < 0 && errno == EAGAIN) continue;
    if (r <= 0) return std::nullopt;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}
/// All of s, or false when the server stops taking bytes for kGuardSeconds (a frozen server) or on an error.
bool write_all(int fd, const std::string& s) {
  for (std::size_t off = 0; off < s.size();) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN) return false;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, kGuardSeconds * 1000) <= 0) return false;
  }
  return true;
}

class RtuHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    log_path_ = temp_path("iotw-hostile-rtu") += ".jsonl";
    sock_path_ = temp_path("iotw-hostile-rtu") += ".sock";
    log_.emplace(log_path_.string());
    DeviceSpec a;
    a.name = "dps-01";
    a.model = "dps";
    a.modbus_tcp = "127.0.0.1:0";
    DeviceSpec b = a;
    b.name = "dps-02";
    dps_a_.emplace(io_, a, *log_, clock_);
    dps_b_.emplace(io_, b, *log_, clock_);
    dps_a_->start();
    dps_b_->start();
    tcp_a_ = dps_a_->modbus_endpoint();
    tcp_b_ = dps_b_->modbus_endpoint();
    pty_ = dps_a_->open_rtu_pty();
    control_.emplace(*log_);
    control_server_.emplace(io_, sock_path_.string(), *control_);
    control_server_->start();
    beat();
    thread_.emplace(io_);
  }
  void TearDown() override {
    thread_->run([this] {
      beating_ = false;
      heartbeat_.cancel();
      control_server_->stop();
      dps_a_->stop();
      dps_b_->stop();
    });
    thread_.reset();
    std::filesystem::remove(log_path_);
  }
  /// A 20 ms timer on the pool's loop, standing for the device models' timers (tick, usage reports, firmware).
  void beat() {
    heartbeat_.expires_after(std::chrono::milliseconds(20));
    heartbeat_.async_wait([this](boost::system::error_code ec) {
      if (ec || !beating_) return;
      beats_++;
      beat();
    });
  }
  /// An FC 03 read of 2 registers over Modbus TCP at endpoint: the normal reply with that transaction id.
  static void expect_tcp_read(const std::string& endpoint, uint16_t tid) {
    const int fd = connect_tcp(endpoint);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, mbap(tid, pdu16(3, 0, 2))));
    const auto r = recv_exact(fd, 7 + 6);
    ::close(fd);
    ASSERT_TRUE(r) << "no Modbus TCP reply from " << endpoint;
    EXPECT_EQ(r->substr(0, 2), mbap(tid, "").substr(0, 2));
    EXPECT_EQ(r->substr(7, 2), std::string({3, 4}));
  }
  void expect_control_ping(int id) {
    const int fd = connect_unix(sock_path_.string());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, "{\"cmd\":\"ping\",\"id\":" + std::to_string(id) + "}\n"));
    const auto line = recv_line(fd, "\n");
    ::close(fd);
    ASSERT_TRUE(line) << "the control socket did not answer";
    EXPECT_EQ(nlohmann::json::parse(*line)["id"], id);
  }
  /// Waits (guarded) until the model timer fired n more times.
  void expect_beats(int n) {
    const int target = beats_ + n;
    for (int i = 0; i < kGuardSeconds * 200 && beats_ < target; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GE(beats_, target) << "the pool's timers did not run";
  }
  /// modbus_bad_frame events of the RTU side with this reason, from the event log.
  int bad_frame_events(const std::string& reason) {
    std::ifstream in(log_path_);
    int n = 0;
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || j.value("kind", "") != "modbus_bad_frame") continue;
      if (j["fields"].value("transport", "") == "rtu" && j["fields"].value("reason", "") == reason) n++;
    }
    return n;
  }
  /// Waits (guarded) until at least n such events were written.
  bool await_bad_frames(const std::string& reason, int n) {
    for (int i = 0; i < kGuardSeconds * 100; i++) {
      if (bad_frame_events(reason) >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  /// One RTU request on fd and its reply of reply_size bytes (slave id .. CRC).
  static std::optional<std::string> exchange(int fd, const std::string& frame, std::size_t reply_size) {
    if (!write_all(fd, frame)) return std::nullopt;
    return read_exact(fd, reply_size);
  }

  std::filesystem::path log_path_, sock_path_;
  boost::asio::io_context io_;
  iotw::SteadyClock clock_;
  std::optional<EventLog> log_;
  std::optional<DpsDevice> dps_a_, dps_b_;
  std::optional<PoolControl> control_;
  std::optional<ControlServer> control_server_;
  boost::asio::steady_timer heartbeat_{io_};
  std::atomic<int> beats_{0};
  bool beating_ = true;
  std::string tcp_a_, tcp_b_, pty_;
  std::optional<IoThread> thread_;  // last: joined before the devices are destroyed
};

// Finding: a Modbus master sending one byte every 0.4 s froze the whole process until its frame was complete
// (libmodbus's blocking modbus_receive waits up to 0.5 s per byte). Every other client and the model timers must
// be served while the trickled frame is still unfinished, and the trickled bytes are dropped as partial frames.
TEST_F(RtuHostile, ATricklingMasterStallsNoOtherClientTheControlSocketOrTheModelTimers) {
  const std::string frame = rtu(1, pdu16(3, 0, 2));
  std::atomic<std::size_t> sent{0};
  const int slow = open_master(pty_);
  ASSERT_GE(slow, 0);
  std::thread trickler([&] {
    for (char byte : frame) {
      if (::write(slow, &byte, 1) != 1) return;
      sent++;
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
    }
  });
  while (sent == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the first byte is in the server's hands
  const int rounds = long_mode() ? 4 : 2;
  std::chrono::steady_clock::duration worst{};
  for (int i = 0; i < rounds; i++) {
    const auto t0 = std::chrono::steady_clock::now();
    expect_tcp_read(tcp_b_, static_cast<uint16_t>(100 + i));  // (a) another device of the pool
    expect_tcp_read(tcp_a_, static_cast<uint16_t>(200 + i));  // (b) the same device's Modbus TCP
    expect_control_ping(300 + i);                             // (b) the pool's control socket
    expect_beats(3);                                          // (c) the models' timers
    worst = std::max(worst, std::chrono::steady_clock::now() - t0);
  }
  const std::size_t sent_when_served = sent;
  trickler.join();
  std::cout << "slowest round while trickling: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(worst).count() << " ms\n";
  EXPECT_LT(sent_when_served, frame.size()) << "the other clients were answered only after the trickled frame ended";
  // A byte every 0.4 s is far beyond the t3.5 silence: each one is a partial frame, never a request.
  EXPECT_TRUE(await_bad_frames("partial", 1));
  const auto r = exchange(slow, rtu(1, pdu16(3, 1, 1)), 7);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, rtu(1, std::string({3, 2}) + r->substr(3, 2))) << "the reply is not the one to the whole request";
  ::close(slow);
}

// Finding: a partial frame stalled the process 0.5 s. It must be dropped once the line is silent for t3.5, be
// counted, and the next request answered.
TEST_F(RtuHostile, APartialFrameIsDroppedAfterTheSilenceDeadlineAndTheNextRequestAnswered) {
  const int fd = open_master(pty_);
  ASSERT_GE(fd, 0);
  const int n = long_mode() ? 40 : 5;
  for (int i = 0; i < n; i++) {
    const std::string frame = rtu(1, pdu16(3, 0, 2));
    ASSERT_TRUE(write_all(fd, frame.substr(0, 1 + i % 6)));
    ASSERT_TRUE(await_bad_frames("partial", i + 1)) << "partial frame " << i << " was not dropped";
    const auto r = exchange(fd, rtu(1, pdu16(3, 0, 2)), 9);
    ASSERT_TRUE(r) << "no reply after partial frame " << i;
    EXPECT_EQ(r->substr(0, 3), std::string({1, 3, 4}));
    EXPECT_EQ(*r, rtu(1, r->substr(1, 6)));
  }
  EXPECT_EQ(thread_->run([this] { return dps_a_->modbus().rtu_partial_frames(); }), static_cast<uint64_t>(n));
  ::close(fd);
}

// A frame whose CRC does not match, and a burst longer than an ADU, are discarded without a reply and counted; the
// next good request is answered.
TEST_F(RtuHostile, AFrameWithABadCrcOrTooLongIsCountedAndNotAnswered) {
  const int fd = open_master(pty_);
  ASSERT_GE(fd, 0);
  std::string bad = rtu(1, pdu16(6, 0, 1234));  // would write U-SET
  bad.back() = static_cast<char>(bad.back() ^ 0x01);
  ASSERT_TRUE(write_all(fd, bad));
  ASSERT_TRUE(await_bad_frames("crc", 1));
  const auto r = exchange(fd, rtu(1, pdu16(3, 0, 1)), 7);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->substr(0, 3), std::string({1, 3, 2})) << "the first reply is not the one to the good frame";
  EXPECT_NE(r->substr(3, 2), std::string({0x04, static_cast<char>(0xD2)})) << "the bad-CRC write was applied";
  ASSERT_TRUE(write_all(fd, std::string(1, 1) + std::string(600, '\x41')));  // function 0x41: framed by silence
  ASSERT_TRUE(await_bad_frames("length", 1));
  const auto r2 = exchange(fd, rtu(1, pdu16(3, 0, 1)), 7);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->substr(0, 3), std::string({1, 3, 2}));
  EXPECT_EQ(thread_->run([this] { return dps_a_->modbus().rtu_crc_errors(); }), 1u);
  EXPECT_EQ(thread_->run([this] { return dps_a_->modbus().rtu_overruns(); }), 1u);
  ::close(fd);
}

// Finding (TCP side, now RTU too): every function code the map does not serve gets exception 01 with fc | 0x80,
// never silence or a normal reply. Another slave id is not answered; a broadcast write is applied without a reply.
TEST_F(RtuHostile, EveryUnsupportedFunctionCodeGetsIllegalFunction) {
  const int fd = open_master(pty_);
  ASSERT_GE(fd, 0);
  for (int fc = 0; fc <= 0xFF; fc++) {
    if (fc == 3 || fc == 4 || fc == 6 || fc == 16) continue;
    const auto r = exchange(fd, rtu(1, pdu16(static_cast<uint8_t>(fc), 0, 1)), 5);
    ASSERT_TRUE(r) << "no reply to fc " << fc;
    EXPECT_EQ(*r, rtu(1, std::string({static_cast<char>(fc | 0x80), 1}))) << "fc " << fc;
  }
  ASSERT_TRUE(write_all(fd, rtu(7, pdu16(6, 0, 77))));  // another slave's
  ASSERT_TRUE(write_all(fd, rtu(0, pdu16(6, 0, 88))));  // broadcast: applied, not answered
  const auto r = exchange(fd, rtu(1, pdu16(3, 0, 1)), 7);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, rtu(1, std::string({3, 2, 0, 88})));
  ::close(fd);
}

// A master that sends requests and never reads the replies must not fill the PTY and block the pool's thread in a
// write: other clients are served, each reply supersedes the unread ones (the PTY holds the last one at most, not
// a backlog), and the master, once it reads, gets the reply to its own next request.
TEST_F(RtuHostile, AMasterThatNeverReadsDoesNotBlockThePool) {
  const int fd = open_master(pty_);
  ASSERT_GE(fd, 0);
  const int n = long_mode() ? 10000 : 1000;
  const std::string big = rtu(1, pdu16(3, 0, 13));  // 31-byte replies, far more than the PTY buffers
  bool took_all = true;
  for (int i = 0; i < n && took_all; i++) took_all = write_all(fd, big);
  EXPECT_TRUE(took_all) << "the server stopped reading the PTY";
  expect_tcp_read(tcp_b_, 1);
  expect_control_ping(2);
  if (HasFailure()) {  // a frozen pool: read what it wrote until it is quiet, so that the test can end
    char buf[4096];
    for (pollfd p{fd, POLLIN, 0}; ::poll(&p, 1, 1000) > 0 && ::read(fd, buf, sizeof buf) > 0;) {
    }
    ::close(fd);
    return;
  }
  for (int i = 0; i < kGuardSeconds * 100; i++) {  // every request taken (answered or not)
    if (thread_->run([this] { return dps_a_->modbus().requests(); }) >= static_cast<uint64_t>(n)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int unread = -1;
  ASSERT_EQ(::ioctl(fd, FIONREAD, &unread), 0);
  EXPECT_LE(unread, 31) << "more than the last reply is waiting in the PTY";
  ::tcflush(fd, TCIFLUSH);  // as a master does before a request (pymodbus, libmodbus on a timeout)
  const auto r = exchange(fd, rtu(1, pdu16(3, 1, 1)), 7);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->substr(0, 3), std::string({1, 3, 2})) << "a stale reply came first";
  ::close(fd);
}

}  // namespace
