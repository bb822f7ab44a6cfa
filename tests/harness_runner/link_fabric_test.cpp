// LinkFabric over real PTYs: what one side's slave writes arrives unchanged at the other side's slave.
#include "link_fabric.hpp"
#include "fault_policy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "mocks/harness/mock_link_policy.hpp"

namespace iotw::harness {
namespace {

using Bytes = std::vector<std::uint8_t>;

// The test's end of a link: a peer process's view of a slave path.
class Peer {
 public:
  explicit Peer(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_NOCTTY)) {
    EXPECT_GE(fd_, 0) << path;
  }
  ~Peer() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void write_all(const Bytes& b) {
    std::size_t off = 0;
    while (off < b.size()) {
      const ssize_t n = ::write(fd_, b.data() + off, b.size() - off);
      ASSERT_GT(n, 0);
      off += static_cast<std::size_t>(n);
    }
  }
  // Reads until `n` bytes arrived, or nothing arrives for 10 s (a hang guard, not a timing assertion).
  Bytes read_n(std::size_t n) {
    Bytes out;
    std::uint8_t buf[4096];
    while (out.size() < n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) break;
      const ssize_t got = ::read(fd_, buf, std::min(sizeof buf, n - out.size()));
      if (got <= 0) break;
      out.insert(out.end(), buf, buf + got);
    }
    return out;
  }

 private:
  int fd_;
};

// delivered_bytes is counted when the write completes, which may be just after the peer read the bytes.
void wait_delivered(const LinkFabric& fabric, std::uint64_t to_device, std::uint64_t to_node) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);  // hang guard only
  while (std::chrono::steady_clock::now() < deadline) {
    const LinkStats s = fabric.stats().at(0);
    if (s.node_to_device.delivered_bytes >= to_device && s.device_to_node.delivered_bytes >= to_node) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Bytes pattern(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 31 + salt);  // all 256 values, 0x00 included
  return b;
}

TEST(LinkFabric, AddLinkGivesTwoDistinctPtySlaves) {
  LinkFabric fabric;
  const LinkInfo a = fabric.add_link("esp-01");
  const LinkInfo b = fabric.add_link("esp-02");
  EXPECT_EQ(a.device, "esp-01");
  EXPECT_EQ(a.node_side.rfind("/dev/pts/", 0), 0u);
  EXPECT_EQ(a.device_side.rfind("/dev/pts/", 0), 0u);
  EXPECT_NE(a.node_side, a.device_side);
  EXPECT_NE(a.node_side, b.node_side);
  ASSERT_EQ(fabric.stats().size(), 2u);
  EXPECT_EQ(fabric.stats()[1].info.device, "esp-02");
}

TEST(LinkFabric, RelaysBinaryBytesUnchangedBothWaysAndCountsThem) {
  LinkFabric fabric;
  const LinkInfo link = fabric.add_link("esp-01");
  Peer node(link.node_side), device(link.device_side);

  const Bytes down = pattern(1000, 1);
  node.write_all(down);
  EXPECT_EQ(device.read_n(down.size()), down);

  const Bytes up = pattern(700, 9);
  device.write_all(up);
  EXPECT_EQ(node.read_n(up.size()), up);

  wait_delivered(fabric, down.size(), up.size());
  const LinkStats s = fabric.stats().at(0);
  EXPECT_EQ(s.node_to_device.bytes, down.size());
  EXPECT_EQ(s.node_to_device.delivered_bytes, down.size());
  EXPECT_GE(s.node_to_device.chunks, 1u);
  EXPECT_EQ(s.device_to_node.bytes, up.size());
  EXPECT_EQ(s.device_to_node.delivered_bytes, up.size());
}

TEST(LinkFabric, LargeTransferWithConcurrentReaderArrivesIntact) {
  LinkFabric fabric;
  const LinkInfo link = fabric.add_link("esp-01");
  Peer node(link.node_side), device(link.device_side);
  const Bytes big = pattern(256 * 1024, 3);  // far beyond a PTY's buffer: exercises back-pressure
  Bytes got;
  std::thread reader([&] { got = device.read_n(big.size()); });
  node.write_all(big);
  reader.join();
  EXPECT_EQ(got, big);
}

TEST(LinkFabric, SurvivesThePeerClosingAndReopeningItsSlave) {
  LinkFabric fabric;
  const LinkInfo link = fabric.add_link("esp-01");
  Peer node(link.node_side);
  {
    Peer device(link.device_side);
    device.write_all({1, 2, 3});
    EXPECT_EQ(node.read_n(3), (Bytes{1, 2, 3}));
  }  // the device process goes away (e.g. iotw-emu restarts)
  node.write_all({4, 5});  // sent while nobody has the device side open
  Peer device(link.device_side);
  EXPECT_EQ(device.read_n(2), (Bytes{4, 5}));
  device.write_all({6});
  EXPECT_EQ(node.read_n(1), (Bytes{6}));

  node.close();  // and now the trust node side
  Peer node2(link.node_side);
  device.write_all({7, 8});
  EXPECT_EQ(node2.read_n(2), (Bytes{7, 8}));
}

// A fault-style policy: drops everything device->node and rewrites + delays node->device.
class UpcaseDownDropUp final : public LinkPolicy {
 public:
  std::vector<Delivery> on_chunk(Direction dir, Bytes chunk) override {
    if (dir == Direction::DeviceToNode) return {};
    for (auto& c : chunk) c = static_cast<std::uint8_t>(std::toupper(c));
    std::vector<Delivery> out;
    out.push_back({std::move(chunk), std::chrono::milliseconds(20)});
    return out;
  }
};

TEST(LinkFabric, PolicyDecidesWhatIsDelivered) {
  LinkFabric fabric;
  const LinkInfo link = fabric.add_link("esp-01", std::make_unique<UpcaseDownDropUp>());
  Peer node(link.node_side), device(link.device_side);

  device.write_all({'x', 'y'});  // dropped
  node.write_all({'a', 'b', 'c'});
  EXPECT_EQ(device.read_n(3), (Bytes{'A', 'B', 'C'}));
  wait_delivered(fabric, 3, 0);
  device.write_all({'z'});  // also dropped; then the fabric stops
  fabric.stop();

  const LinkStats s = fabric.stats().at(0);
  EXPECT_EQ(s.node_to_device.delivered_bytes, 3u);
  EXPECT_EQ(s.device_to_node.delivered_bytes, 0u);
}

TEST(LinkFabric, EachReadGoesThroughThePolicyWithItsDirection) {
  // One byte per write, each written once the previous one was read, so each read is one chunk; a strict mock
  // fails on any other call.
  auto owned = std::make_unique<::testing::StrictMock<mocks::MockLinkPolicy>>();
  auto& policy = *owned;
  std::atomic<bool> dropped{false};
  {
    ::testing::InSequence reads;
    EXPECT_CALL(policy, on_chunk(Direction::NodeToDevice, Bytes{'a'}))
        .WillOnce(::testing::Return(std::vector<Delivery>{{Bytes{'q', 'r'}, {}}}));
    EXPECT_CALL(policy, on_chunk(Direction::DeviceToNode, Bytes{'z'})).WillOnce([&](Direction, Bytes) {
      dropped = true;
      return std::vector<Delivery>{};
    });
    EXPECT_CALL(policy, on_chunk(Direction::DeviceToNode, Bytes{'y'}))
        .WillOnce(::testing::Return(std::vector<Delivery>{{Bytes{'Y'}, {}}}));
  }
  LinkFabric fabric;
  const LinkInfo link = fabric.add_link("esp-01", std::move(owned));
  Peer node(link.node_side), device(link.device_side);
  node.write_all({'a'});
  EXPECT_EQ(device.read_n(2), (Bytes{'q', 'r'})) << "what the policy returned, not what was read";
  device.write_all({'z'});  // dropped by the policy
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);  // hang guard only
  while (!dropped && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(dropped) << "the fabric never read the device's byte";
  device.write_all({'y'});
  EXPECT_EQ(node.read_n(1), (Bytes{'Y'})) << "only the second device byte reaches the node";
  fabric.stop();
}

TEST(LinkFabric, StopIsIdempotentAndLinksStayListed) {
  LinkFabric fabric;
  fabric.add_link("esp-01");
  fabric.stop();
  fabric.stop();
  EXPECT_EQ(fabric.stats().size(), 1u);
}

// ---- external devices (docs/rig-format.md "External devices") ----

// A TCP client of the fabric's listener, on a descriptor Peer-like helpers can use.
int connect_to(const std::string& device_side) {  // "tcp:127.0.0.1:PORT"
  const auto colon = device_side.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(device_side.substr(colon + 1))));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << device_side;
  return fd;
}

Bytes read_fd(int fd, std::size_t n) {  // until n bytes, EOF, or 10 s of silence (a hang guard)
  Bytes out;
  std::uint8_t buf[4096];
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    const ssize_t got = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
    if (got <= 0) break;
    out.insert(out.end(), buf, buf + got);
  }
  return out;
}

void write_fd(int fd, const Bytes& b) { ASSERT_EQ(::write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size())); }

TEST(LinkFabricExternal, RelaysTheDeviceDescriptorItWasGivenToTheNodesPty) {
  // The device holds a PTY master (as `iotw-emu --pty` does); the harness opened its slave and hands it over.
  const int device = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(device, 0);
  ASSERT_EQ(::grantpt(device), 0);
  ASSERT_EQ(::unlockpt(device), 0);
  const std::string path = ::ptsname(device);
  const int slave = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(slave, 0);
  termios tio{};
  ASSERT_EQ(::tcgetattr(slave, &tio), 0);
  ::cfmakeraw(&tio);
  ASSERT_EQ(::tcsetattr(slave, TCSANOW, &tio), 0);
  LinkFabric fabric;
  const LinkInfo link = fabric.add_external_link("partner", slave, path, std::make_unique<PassThrough>());
  EXPECT_EQ(link.device_side, path);
  EXPECT_EQ(link.node_side.rfind("/dev/pts/", 0), 0u);
  Peer node(link.node_side);
  const Bytes up = pattern(600, 4), down = pattern(900, 7);
  write_fd(device, up);
  EXPECT_EQ(node.read_n(up.size()), up);
  node.write_all(down);
  EXPECT_EQ(read_fd(device, down.size()), down);
  wait_delivered(fabric, down.size(), up.size());
  EXPECT_EQ(fabric.stats().at(0).device_to_node.bytes, up.size());
  fabric.stop();
  ::close(device);
}

TEST(LinkFabricExternal, TcpLinkRelaysTheCurrentConnectionAndANewOneReplacesIt) {
  LinkFabric fabric;
  const LinkInfo link = fabric.add_tcp_link("indep", "127.0.0.1", 0, std::make_unique<PassThrough>());
  ASSERT_EQ(link.device_side.rfind("tcp:127.0.0.1:", 0), 0u) << link.device_side;
  EXPECT_NE(link.device_side, "tcp:127.0.0.1:0") << "the bound port";
  Peer node(link.node_side);

  const int first = connect_to(link.device_side);
  write_fd(first, {'a', 0x00, 'b'});
  EXPECT_EQ(node.read_n(3), (Bytes{'a', 0x00, 'b'}));
  node.write_all({'c'});
  EXPECT_EQ(read_fd(first, 1), (Bytes{'c'}));

  // The device reset and connected again: its bytes reach the node (so it was accepted), the node's answer goes to
  // it, and the old connection is closed by the harness.
  const int second = connect_to(link.device_side);
  write_fd(second, {'d'});
  EXPECT_EQ(node.read_n(1), (Bytes{'d'}));
  node.write_all({'e'});
  EXPECT_EQ(read_fd(second, 1), (Bytes{'e'}));
  EXPECT_EQ(read_fd(first, 1), Bytes{}) << "the replaced connection ends (EOF)";
  fabric.stop();
  ::close(first);
  ::close(second);
}

/// A TCP listener on 127.0.0.1 (`port` 0: a free one): the trust node's [tcp] port for the relay tests.
int listen_tcp(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(fd, 4), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  port = ntohs(a.sin_port);
  return fd;
}

int accept_one(int listener) {  // the next connection, or -1 after 10 s (a hang guard)
  pollfd p{listener, POLLIN, 0};
  if (::poll(&p, 1, 10000) <= 0) return -1;
  return ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
}

TEST(LinkFabricTcpRelay, RelaysTheModulesConnectionToTheNodeAndEitherEndClosesBoth) {
  std::uint16_t port = 0;
  const int listener = listen_tcp(port);
  LinkFabric fabric;
  const LinkInfo link = fabric.add_tcp_relay("at-01", port, std::make_unique<PassThrough>());
  EXPECT_EQ(link.node_side, "tcp:127.0.0.1:" + std::to_string(port));
  ASSERT_EQ(link.device_side.rfind("tcp:127.0.0.1:", 0), 0u) << link.device_side;

  const int module = connect_to(link.device_side);
  const int node = accept_one(listener);
  ASSERT_GE(node, 0) << "the relay connects to the node for the module";
  write_fd(module, {'a', 0x00});
  EXPECT_EQ(read_fd(node, 2), (Bytes{'a', 0x00}));
  write_fd(node, {'b', 0x00});
  EXPECT_EQ(read_fd(module, 2), (Bytes{'b', 0x00}));
  ::close(node);  // the node went away (killed): the module's connection ends too
  EXPECT_EQ(read_fd(module, 1), Bytes{});
  ::close(module);

  const int again = connect_to(link.device_side);  // the module reconnects: a new peer for the node
  const int node2 = accept_one(listener);
  ASSERT_GE(node2, 0);
  write_fd(again, {'c'});
  EXPECT_EQ(read_fd(node2, 1), (Bytes{'c'}));
  ::close(again);  // the module's end closes the node's connection
  EXPECT_EQ(read_fd(node2, 1), Bytes{});
  fabric.stop();
  ::close(node2);
  ::close(listener);
}

TEST(LinkFabricTcpRelay, HoldsTheModuleWhileTheNodeDoesNotListenAndConnectsOnceItDoes) {
  std::uint16_t port = 0;
  ::close(listen_tcp(port));  // a port nobody listens on (yet)
  LinkFabric fabric;
  auto policy = std::make_unique<FaultPolicy>(1);
  FaultPolicy& faults = *policy;
  const LinkInfo link = fabric.add_tcp_relay("at-01", port, std::move(policy));
  const int module = connect_to(link.device_side);
  write_fd(module, {'x', 0x00});  // while the node is down: dropped
  const int listener = listen_tcp(port);  // the node is back on its port
  const int node = accept_one(listener);
  ASSERT_GE(node, 0) << "the relay kept trying the node for the held connection";
  Bytes got;
  for (int i = 0; i < 100 && (got.empty() || got.back() != 'y'); ++i) {  // 'x' may or may not have gone before
    write_fd(module, {'y'});
    const Bytes b = read_fd(node, 1);
    got.insert(got.end(), b.begin(), b.end());
  }
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), 'y');
  write_fd(node, {'z', 0x00});
  EXPECT_EQ(read_fd(module, 2), (Bytes{'z', 0x00}));
  EXPECT_GE(faults.frames_delivered(Direction::NodeToDevice), 1u) << "through the serial fault proxy";
  fabric.stop();
  ::close(module);
  ::close(node);
  ::close(listener);
}

TEST(LinkFabricExternal, TcpLinkOnAnAddressInUseThrowsNamingIt) {
  LinkFabric fabric;
  const LinkInfo held = fabric.add_tcp_link("one", "127.0.0.1", 0, std::make_unique<PassThrough>());
  const std::string port = held.device_side.substr(held.device_side.rfind(':') + 1);
  try {
    fabric.add_tcp_link("two", "127.0.0.1", static_cast<std::uint16_t>(std::stoi(port)), std::make_unique<PassThrough>());
    ADD_FAILURE() << "a second listener on the same port was accepted";
  } catch (const FabricError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("TCP listener for two on 127.0.0.1:" + port + ": "));
  }
}

}  // namespace
}  // namespace iotw::harness
