// Hostile clients of the line servers (issue 15, "Emulators"): the bulb's Yeelight control and the pool's
// control socket. Idle connections must not lock others out, and a client that never reads its replies is
// closed at its output cap while the others are still answered.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/pool_control.hpp"
#include "emu_clients.hpp"
#include "smart_bulb/yeelight_server.hpp"

namespace {
using namespace iotw::emu;
using namespace iotw::hostile;

std::filesystem::path temp_path(const std::string& stem) {
  return std::filesystem::temp_directory_path() / (stem + "-" + std::to_string(::getpid()));
}

/// Floods fd with `request` until the server stops taking bytes (closed it, or the guard ran out) or `limit`
/// bytes went out, never reading. Returns the bytes sent.
std::size_t flood_without_reading(int fd, const std::string& request, std::size_t limit) {
  std::string burst;
  while (burst.size() < 65536) burst += request;
  std::size_t sent = 0;
  while (sent < limit) {
    const ssize_t n = ::send(fd, burst.data(), burst.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  return sent;
}

class YeelightHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    log_path_ = temp_path("iotw-hostile-yeelight");
    log_.emplace(log_path_.string());
    server_.emplace(io_, bulb_, *log_, "emu:bulb-01", [] {});
    endpoint_ = server_->listen("127.0.0.1:0");
    thread_.emplace(io_);
  }
  void TearDown() override {
    thread_->run([this] { server_->stop(); });
    thread_.reset();
    server_.reset();
    std::filesystem::remove(log_path_);
  }
  /// get_prop power on fd: the result line with that id.
  void expect_answer(int fd, int id) {
    ASSERT_TRUE(send_all(fd, R"({"id":)" + std::to_string(id) + R"(,"method":"get_prop","params":["power"]})" "\r\n"));
    const auto line = recv_line(fd, "\r\n");
    ASSERT_TRUE(line) << "no answer to id " << id;
    EXPECT_EQ(nlohmann::json::parse(*line)["id"], id);
  }

  std::filesystem::path log_path_;
  boost::asio::io_context io_;
  YeelightBulb bulb_{0x15};
  std::optional<EventLog> log_;
  std::optional<YeelightServer> server_;
  std::string endpoint_;
  std::optional<IoThread> thread_;
};

// Finding: four idle Yeelight connections locked every other client out.
TEST_F(YeelightHostile, IdleConnectionsDoNotLockOtherClientsOut) {
  const std::size_t idle_count = YeelightServer::kLimits.max_connections * (long_mode() ? 4 : 1);
  std::vector<int> idle;
  for (std::size_t i = 0; i < idle_count; i++) {
    const int fd = connect_tcp(endpoint_);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  for (int round = 0; round < 3; round++) {
    const int fd = connect_tcp(endpoint_);
    ASSERT_GE(fd, 0);
    expect_answer(fd, 100 + round);
    ::close(fd);
  }
  EXPECT_LE(thread_->run([this] { return server_->transport()->connections(); }),
            YeelightServer::kLimits.max_connections);
  for (int fd : idle) ::close(fd);
}

// Finding: a Yeelight client that never read its replies stopped the pool.
TEST_F(YeelightHostile, AClientThatNeverReadsIsClosedAtItsOutputCapAndOthersAreServed) {
  const int flooder = connect_tcp(endpoint_);
  ASSERT_GE(flooder, 0);
  const std::string req = R"({"id":1,"method":"get_prop","params":["power","bright","ct","rgb","name"]})" "\r\n";
  const std::size_t sent = flood_without_reading(flooder, req, std::size_t{64} << 20);
  const int other = connect_tcp(endpoint_);
  ASSERT_GE(other, 0);
  expect_answer(other, 7);
  EXPECT_TRUE(closed_by_peer(flooder)) << sent << " bytes sent";
  EXPECT_GE(thread_->run([this] { return server_->transport()->output_overflows(); }), 1u);
  ::close(flooder);
  ::close(other);
}

class ControlHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    log_path_ = temp_path("iotw-hostile-control") += ".jsonl";
    sock_path_ = temp_path("iotw-hostile-control") += ".sock";
    log_.emplace(log_path_.string());
    control_.emplace(*log_);
    server_.emplace(io_, sock_path_.string(), *control_);
    server_->start();
    thread_.emplace(io_);
  }
  void TearDown() override {
    thread_->run([this] { server_->stop(); });
    thread_.reset();
    server_.reset();
    std::filesystem::remove(log_path_);
  }
  std::filesystem::path log_path_, sock_path_;
  boost::asio::io_context io_;
  std::optional<EventLog> log_;
  std::optional<PoolControl> control_;
  std::optional<ControlServer> server_;
  std::optional<IoThread> thread_;
};

// Finding: a control-socket client that never read its replies stopped the pool.
TEST_F(ControlHostile, AClientThatNeverReadsIsClosedAtItsOutputCapAndOthersAreServed) {
  const int flooder = connect_unix(sock_path_.string());
  ASSERT_GE(flooder, 0);
  const std::size_t sent = flood_without_reading(flooder, "{\"cmd\":\"ping\",\"id\":1}\n", std::size_t{256} << 20);
  const int other = connect_unix(sock_path_.string());
  ASSERT_GE(other, 0);
  ASSERT_TRUE(send_all(other, "{\"cmd\":\"ping\",\"id\":2}\n"));
  const auto line = recv_line(other, "\n");
  ASSERT_TRUE(line) << "the control socket did not answer another client";
  EXPECT_EQ(nlohmann::json::parse(*line)["id"], 2);
  EXPECT_TRUE(closed_by_peer(flooder)) << sent << " bytes sent";
  ::close(flooder);
  ::close(other);
}

}  // namespace
