// Hostile Modbus TCP clients against the DPS emulator's server (issue 15, "Emulators"): a slow client, partial
// frames, bad MBAP headers, function codes >= 0x80, and accept at the descriptor limit. Each client is served
// on its own; the assertions are on answers and counts, the socket timeouts only guard against a freeze.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <vector>

#include "common/clock.hpp"
#include "dps_chip/dps_chip.hpp"
#include "dps_chip/modbus_server.hpp"
#include "emu_clients.hpp"

namespace {
using namespace iotw::emu;
using namespace iotw::hostile;

/// An MBAP frame: transaction id, protocol id, unit 1, the PDU; length from the PDU unless given.
std::string mbap(uint16_t tid, const std::string& pdu, uint16_t pid = 0, int length = -1) {
  const auto len = static_cast<uint16_t>(length < 0 ? pdu.size() + 1 : length);
  std::string f{static_cast<char>(tid >> 8), static_cast<char>(tid), static_cast<char>(pid >> 8),
                static_cast<char>(pid), static_cast<char>(len >> 8), static_cast<char>(len), 1};
  return f + pdu;
}
std::string read_holding(uint16_t addr, uint16_t count) {
  return {3, static_cast<char>(addr >> 8), static_cast<char>(addr), static_cast<char>(count >> 8),
          static_cast<char>(count)};
}
/// The next reply: transaction id and PDU, or nullopt when the connection closed.
struct Reply {
  uint16_t tid;
  std::string pdu;
};
std::optional<Reply> recv_reply(int fd) {
  const auto head = recv_exact(fd, 7);
  if (!head) return std::nullopt;
  const auto* h = reinterpret_cast<const uint8_t*>(head->data());
  const auto len = static_cast<std::size_t>(h[4] << 8 | h[5]);
  if (len < 1) return std::nullopt;
  const auto pdu = recv_exact(fd, len - 1);
  if (!pdu) return std::nullopt;
  return Reply{static_cast<uint16_t>(h[0] << 8 | h[1]), *pdu};
}

class ModbusHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    log_path_ = std::filesystem::temp_directory_path() /
                ("iotw-hostile-modbus-" + std::to_string(::getpid()) + ".jsonl");
    log_.emplace(log_path_.string());
    chip_.emplace(clock_);
    map_.emplace(*chip_);
    server_.emplace(io_, *map_, *log_, "emu:dps-01", [] {});
    endpoint_ = server_->listen_tcp("127.0.0.1:0");
    thread_.emplace(io_);
  }
  void TearDown() override {
    thread_->run([this] { server_->stop(); });
    thread_.reset();
    server_.reset();
    std::filesystem::remove(log_path_);
  }
  /// Sends one FC 03 read of 2 registers at 0 on fd and checks the normal reply with that transaction id.
  void expect_read(int fd, uint16_t tid) {
    ASSERT_TRUE(send_all(fd, mbap(tid, read_holding(0, 2))));
    const auto r = recv_reply(fd);
    ASSERT_TRUE(r) << "no reply to transaction " << tid;
    EXPECT_EQ(r->tid, tid);
    ASSERT_EQ(r->pdu.size(), 6u);
    EXPECT_EQ(r->pdu[0], 3);
    EXPECT_EQ(r->pdu[1], 4);
  }

  std::filesystem::path log_path_;
  iotw::ManualClock clock_{1000};
  boost::asio::io_context io_;
  std::optional<EventLog> log_;
  std::optional<DpsChip> chip_;
  std::optional<DpsRegisterMap> map_;
  std::optional<ModbusServer> server_;
  std::string endpoint_;
  std::optional<IoThread> thread_;  // last: joined before the server is destroyed
};

// Finding: one client sending a byte every 0.4 s froze the whole process until its frame was complete.
TEST_F(ModbusHostile, ASlowClientDoesNotStallAnotherClientsRequests) {
  const std::string slow_frame = mbap(7, read_holding(0, 2));
  const int slow = connect_tcp(endpoint_);
  ASSERT_GE(slow, 0);
  std::atomic<std::size_t> slow_sent{0};
  std::thread dripper([&] {
    for (char byte : slow_frame) {
      if (::send(slow, &byte, 1, MSG_NOSIGNAL) != 1) return;
      slow_sent++;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  while (slow_sent == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const int fast = connect_tcp(endpoint_);
  ASSERT_GE(fast, 0);
  const int rounds = long_mode() ? 500 : 50;
  for (int i = 0; i < rounds; i++) expect_read(fast, static_cast<uint16_t>(100 + i));
  // Every fast answer came while the slow frame was still unfinished.
  EXPECT_LT(slow_sent.load(), slow_frame.size());
  dripper.join();
  const auto r = recv_reply(slow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tid, 7);
  ::close(fast);
  ::close(slow);
}

// Finding: every partial frame stalled the process 0.5 s, and its connection was then dropped.
TEST_F(ModbusHostile, PartialFramesWaitOnTheirOwnConnectionWhileOthersAreServed) {
  const int n = long_mode() ? 48 : 8;
  std::vector<int> partial;
  std::vector<std::string> rest;
  std::mt19937 rng(15);
  for (int i = 0; i < n; i++) {
    const std::string frame = mbap(static_cast<uint16_t>(i), read_holding(0, 2));
    const std::size_t cut = 1 + rng() % (frame.size() - 1);  // 1..11 bytes now, the rest later
    const int fd = connect_tcp(endpoint_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, frame.substr(0, cut)));
    partial.push_back(fd);
    rest.push_back(frame.substr(cut));
  }
  const int fast = connect_tcp(endpoint_);
  for (int i = 0; i < 20; i++) expect_read(fast, static_cast<uint16_t>(1000 + i));
  for (int i = 0; i < n; i++) {
    ASSERT_TRUE(send_all(partial[i], rest[i]));
    const auto r = recv_reply(partial[i]);
    ASSERT_TRUE(r) << "partial client " << i << " was dropped";
    EXPECT_EQ(r->tid, i);
    ::close(partial[i]);
  }
  ::close(fast);
}

// The partial-frame deadline is per message: a client whose stream always ends mid-frame, but completes every frame,
// is served for longer than the deadline (kTcpLimits.partial_timeout, 10 s).
TEST_F(ModbusHostile, AClientThatKeepsCompletingFramesIsNotCutByThePartialDeadline) {
  const int fd = connect_tcp(endpoint_);
  ASSERT_GE(fd, 0);
  const auto step = std::chrono::milliseconds(500);
  const int rounds = static_cast<int>(ModbusServer::kTcpLimits.partial_timeout / step) + 4;
  ASSERT_TRUE(send_all(fd, mbap(0, read_holding(0, 2)).substr(0, 5)));  // from here on, always mid-frame
  for (int i = 0; i < rounds; i++) {
    const std::string frame = mbap(static_cast<uint16_t>(i), read_holding(0, 2));
    const std::string next = mbap(static_cast<uint16_t>(i + 1), read_holding(0, 2));
    ASSERT_TRUE(send_all(fd, frame.substr(5) + next.substr(0, 5))) << "round " << i;
    const auto r = recv_reply(fd);
    ASSERT_TRUE(r) << "closed in round " << i;
    EXPECT_EQ(r->tid, i);
    std::this_thread::sleep_for(step);
  }
  EXPECT_EQ(thread_->run([this] { return server_->transport()->timeouts(); }), 0u);
  ::close(fd);
}

// Finding: the MBAP protocol id and length were not checked.
TEST_F(ModbusHostile, AFrameWithAProtocolIdOtherThanZeroIsDiscardedWithoutAReply) {
  const int fd = connect_tcp(endpoint_);
  ASSERT_TRUE(send_all(fd, mbap(1, read_holding(0, 2), 0x1234) + mbap(2, read_holding(0, 2))));
  const auto r = recv_reply(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tid, 2) << "the frame with protocol id 0x1234 was answered";
  EXPECT_EQ(thread_->run([this] { return server_->bad_frames(); }), 1u);
  ::close(fd);
}

TEST_F(ModbusHostile, AnImpossibleMbapLengthClosesTheConnection) {
  for (int length : {0, 1, 255, 300, 0xFFFF}) {
    const int fd = connect_tcp(endpoint_);
    ASSERT_TRUE(send_all(fd, mbap(9, read_holding(0, 2), 0, length)));
    EXPECT_TRUE(closed_by_peer(fd)) << "MBAP length " << length << " was not refused";
    ::close(fd);
  }
  // A length that disagrees with the PDU inside (one byte short) is an illegal data value, not a read.
  const int fd = connect_tcp(endpoint_);
  ASSERT_TRUE(send_all(fd, mbap(10, read_holding(0, 2).substr(0, 4), 0)));
  const auto r = recv_reply(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->pdu, std::string({static_cast<char>(0x83), 3}));
  ::close(fd);
}

// Several requests in flight on one connection (MBAP transaction ids; the bench's saturated load): each is answered,
// in order, with its own id, however many one read brings (their replies go out in one write).
TEST_F(ModbusHostile, PipelinedRequestsAreAllAnsweredInOrder) {
  const int fd = connect_tcp(endpoint_);
  ASSERT_GE(fd, 0);
  std::string burst;
  for (int i = 0; i < 100; i++) burst += mbap(static_cast<uint16_t>(1000 + i), read_holding(0, 2));
  ASSERT_TRUE(send_all(fd, burst));
  for (int i = 0; i < 100; i++) {
    const auto r = recv_reply(fd);
    ASSERT_TRUE(r) << "no reply to the " << i << "th request";
    EXPECT_EQ(r->tid, 1000 + i);
    ASSERT_EQ(r->pdu.size(), 6u);
    EXPECT_EQ(r->pdu[0], 3);
  }
  ::close(fd);
}

// The replies queued for the requests before an unframeable header in the same read are still written before
// the connection closes.
TEST_F(ModbusHostile, RequestsBeforeAnImpossibleLengthInTheSameWriteAreAnsweredBeforeTheClose) {
  const int fd = connect_tcp(endpoint_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, mbap(1, read_holding(0, 2)) + mbap(2, read_holding(0, 2)) +
                               mbap(3, read_holding(0, 2), 0, 0xFFFF)));
  for (uint16_t tid : {1, 2}) {
    const auto r = recv_reply(fd);
    ASSERT_TRUE(r) << "no reply to transaction " << tid;
    EXPECT_EQ(r->tid, tid);
  }
  EXPECT_TRUE(closed_by_peer(fd));
  ::close(fd);
}

// Finding: a function code >= 0x80 got an exception whose code wrapped into a normal FC 3 reply.
TEST_F(ModbusHostile, EveryUnsupportedFunctionCodeGetsIllegalFunctionAndNeverANormalReply) {
  const int fd = connect_tcp(endpoint_);
  for (int fc = 0; fc <= 0xFF; fc++) {
    if (fc == 3 || fc == 4 || fc == 6 || fc == 16) continue;
    std::string pdu = read_holding(0, 1);
    pdu[0] = static_cast<char>(fc);
    ASSERT_TRUE(send_all(fd, mbap(static_cast<uint16_t>(fc), pdu)));
    const auto r = recv_reply(fd);
    ASSERT_TRUE(r) << "fc " << fc;
    EXPECT_EQ(r->tid, fc);
    EXPECT_EQ(r->pdu, std::string({static_cast<char>(fc | 0x80), 1})) << "fc " << fc;
  }
  // The supported codes' exceptions keep their own code: an undefined address is exception 2.
  ASSERT_TRUE(send_all(fd, mbap(1, read_holding(0x4000, 1))));
  const auto r = recv_reply(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->pdu, std::string({static_cast<char>(0x83), 2}));
  ::close(fd);
}

// Finding: at the descriptor limit the accept loop spun at full CPU. With RLIMIT_NOFILE lowered (prlimit) and
// every descriptor taken, pending connections must cost the server thread little CPU, and be served once
// descriptors are free again.
TEST_F(ModbusHostile, AcceptBacksOffAtTheDescriptorLimitAndRecovers) {
  rlimit old{};
  ASSERT_EQ(::prlimit(0, RLIMIT_NOFILE, nullptr, &old), 0);
  int open_now = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) (void)e, open_now++;
  rlimit low{static_cast<rlim_t>(open_now + 64), old.rlim_max};
  ASSERT_EQ(::prlimit(0, RLIMIT_NOFILE, &low, nullptr), 0);
  std::vector<int> clients, fillers;
  for (int i = 0; i < 4; i++) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    clients.push_back(fd);
  }
  for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) fillers.push_back(fd);
  ASSERT_EQ(errno, EMFILE);
  const auto colon = endpoint_.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(endpoint_.substr(colon + 1))));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int fd : clients) {
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);  // lands in the backlog
    set_guard(fd);
  }
  clockid_t cpu;
  ASSERT_EQ(::pthread_getcpuclockid(thread_->native_handle(), &cpu), 0);
  const auto cpu_ms = [cpu] {
    timespec ts{};
    ::clock_gettime(cpu, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1'000'000;
  };
  const long before = cpu_ms();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long spent = cpu_ms() - before;
  for (int fd : fillers) ::close(fd);
  ASSERT_EQ(::prlimit(0, RLIMIT_NOFILE, &old, nullptr), 0);
  EXPECT_LT(spent, 500) << "the server thread used " << spent << " ms of CPU in 2 s at the descriptor limit";
  for (std::size_t i = 0; i < clients.size(); i++) {
    expect_read(clients[i], static_cast<uint16_t>(i));
    ::close(clients[i]);
  }
  EXPECT_GE(thread_->run([this] { return server_->transport()->accept_backoffs(); }), 1u);
}

}  // namespace
