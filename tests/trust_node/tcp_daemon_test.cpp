// The iotw-trust-node binary's [tcp] links: SimDevices register and mine over TCP (serial framing), and
// hostile peers (garbage, oversized frames, half-closed and abandoned connections) never stop the node.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include "iotw/frame_codec.h"
#include "node_process.hpp"

namespace iotw::tn::test {
namespace {

int tcp_connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
  return fd;
}

/** A SimDevice on its own TCP connection, frames split into 3-byte writes. */
struct TcpDevice {
  TcpDevice(uint32_t i, int port) : dev(i, "tcp-" + std::to_string(i), Behaviour::honest), fd(tcp_connect(port)) {
    iotw_frame_decoder_init(&dec);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~TcpDevice() { close(fd); }
  void send(const iotw_v1_Envelope &e) {
    uint8_t p[512], w[IOTW_FRAME_MAX_WIRE];
    const size_t n = iotw_msg_encode(&e, p, sizeof p), k = iotw_frame_encode(p, n, w, sizeof w);
    for (size_t off = 0; off < k; off += 3) ::send(fd, w + off, std::min<size_t>(3, k - off), MSG_NOSIGNAL);
  }
  void on_readable() {
    uint8_t buf[2048];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    for (ssize_t i = 0; i < n; ++i) {
      const uint8_t *p;
      size_t len;
      iotw_v1_Envelope in;
      if (iotw_frame_decoder_push(&dec, buf[i], &p, &len) == IOTW_FRAME_OK && iotw_msg_decode(p, len, &in) == 0)
        if (auto out = dev.respond(in)) send(*out);
    }
  }
  SimDevice dev;
  int fd;
  iotw_frame_decoder dec{};
};

TEST(TrustNodeDaemonTcp, TcpDevicesMineAndHostilePeersDoNotStopTheNode) {
  Node node(R"(
[node]
db = "ledger.sqlite"
seed = 9
events = "events.jsonl"
[http]
listen = "127.0.0.1:0"
port_file = "http.port"
[tcp]
listen = "127.0.0.1:0"
port_file = "tcp.port"
[consensus]
witnesses = 3
block_interval_ms = 0
)");
  const int http_port = node.port("http.port"), tcp_port = node.port("tcp.port");
  ASSERT_GT(http_port, 0);
  ASSERT_GT(tcp_port, 0);

  // Hostile peers first: garbage without a delimiter (oversized), garbage with delimiters, a half-closed
  // socket, and connections dropped at once.
  std::vector<int> hostile;
  for (int i = 0; i < 8; ++i) hostile.push_back(tcp_connect(tcp_port));
  std::string junk(100'000, '\x42');
  ::send(hostile[0], junk.data(), junk.size(), MSG_NOSIGNAL);
  for (size_t i = 0; i < junk.size(); i += 97) junk[i] = 0;
  ::send(hostile[1], junk.data(), junk.size(), MSG_NOSIGNAL);
  shutdown(hostile[2], SHUT_WR);
  close(hostile[3]), close(hostile[4]);

  std::vector<std::unique_ptr<TcpDevice>> devs;
  for (uint32_t i = 1; i <= 4; ++i) {
    devs.push_back(std::make_unique<TcpDevice>(i, tcp_port));
    devs.back()->send(devs.back()->dev.hello());
  }
  httplib::Client http("127.0.0.1", http_port);
  auto posted = http.Post("/v1/transactions", R"({"payload":"over tcp"})", "application/json");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 202);
  nlohmann::json health;
  for (int i = 0; i < 300; ++i) {  // bounded: serve the devices until the block is in
    std::vector<pollfd> fds;
    for (auto &d : devs) fds.push_back(pollfd{d->fd, POLLIN, 0});
    poll(fds.data(), fds.size(), 10);
    for (size_t k = 0; k < fds.size(); ++k)
      if (fds[k].revents & POLLIN) devs[k]->on_readable();
    auto h = http.Get("/v1/health");
    ASSERT_TRUE(h);
    health = nlohmann::json::parse(h->body);
    if (health["height"] == 1) break;
  }
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["height"], 1);
  EXPECT_EQ(health["devices_attached"], 4);
  EXPECT_GT(health["frame_errors"].get<int>(), 0);

  auto devices = http.Get("/v1/devices");
  ASSERT_TRUE(devices);
  const nlohmann::json listed = nlohmann::json::parse(devices->body);  // named: a range-for over a temporary's
  for (const auto &d : listed["devices"])                              // member would dangle
    EXPECT_EQ(d["link"].get<std::string>().rfind("tcp:127.0.0.1:", 0), 0u) << d.dump();

  devs.pop_back();  // a device's connection closes: it is detached at once (link gone), not after a timeout
  for (int i = 0; i < 300; ++i) {
    auto h = http.Get("/v1/health");
    ASSERT_TRUE(h);
    health = nlohmann::json::parse(h->body);
    if (health["devices_attached"] == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(health["devices_attached"], 3);
  for (int fd : hostile) close(fd);
  EXPECT_EQ(node.stop(), 0);
  const std::string events = node.read("events.jsonl");
  EXPECT_NE(events.find("\"tcp_listening\""), std::string::npos);
  EXPECT_NE(events.find("\"link_closed\""), std::string::npos);
  EXPECT_NE(events.find("\"reason\":\"link_closed\""), std::string::npos);  // device_detached
}

}  // namespace
}  // namespace iotw::tn::test
