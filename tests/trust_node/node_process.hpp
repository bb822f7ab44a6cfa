// A real iotw-trust-node process in a temp directory, and a SimDevice behind its own UDP socket
// (shared by the daemon, HTTP API and durability tests).
#pragma once
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "iotw/frame_codec.h"
#include "iotw/support/process.hpp"
#include "sim.hpp"

namespace iotw::tn::test {
namespace fs = std::filesystem;

/** An iotw-trust-node child (iotw/support/process.hpp), stderr into DIR/stderr.txt, stdout the test's. */
struct Node {
  explicit Node(const std::string &toml) {
    char tmpl[] = "/tmp/iotw-tn-daemon-XXXXXX";
    dir = mkdtemp(tmpl);
    std::ofstream(dir / "tn.toml") << toml;
    start();
  }
  /** (Re)start the daemon on the same directory (config, db, events); port files are removed first. */
  void start() {
    fs::remove(dir / "http.port");
    fs::remove(dir / "udp.port");
    try {
      pid = children.start(kName, IOTW_TRUST_NODE_BIN, {"--config", (dir / "tn.toml").string()},
                           {.stderr_file = dir / "stderr.txt"});
    } catch (const std::exception &e) {
      ADD_FAILURE() << e.what();
    }
  }
  ~Node() {
    children.kill(kName);
    fs::remove_all(dir);
  }
  /** Waits (bounded) for the daemon to write a port file; 0 if it never appears. */
  int port(const char *file) {
    for (int i = 0; i < 500; ++i) {
      std::ifstream f(dir / file);
      int p = 0;
      if (f >> p) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  }
  /** SIGKILL (no chance to clean up) and reap. */
  void kill9() {
    children.kill(kName);
    pid = -1;
  }
  /** SIGTERM, up to 30 s to shut down cleanly, then SIGKILL; its exit code (128 + signal when killed). */
  int stop() {
    const auto e = children.stop(kName, std::chrono::seconds(30));
    pid = -1;
    return e ? e->code : -1;
  }
  /** Waits for the daemon to exit on its own; its exit code (128 + signal when killed). */
  int wait_exit() {
    const auto e = children.wait(kName);
    pid = -1;
    return e ? e->code : -1;
  }
  std::string read(const char *file) {
    std::stringstream ss;
    ss << std::ifstream(dir / file).rdbuf();
    return ss.str();
  }
  static constexpr const char *kName = "iotw-trust-node";
  fs::path dir;
  ProcessSupervisor children;
  int pid = -1;
};

/** A SimDevice behind its own UDP socket. */
struct UdpDevice {
  UdpDevice(uint32_t i, int port) : dev(i, "udp-" + std::to_string(i), Behaviour::honest) {
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    connect_to(port);
  }
  /** Point the socket at the node's UDP port (after a restart it may differ). */
  void connect_to(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
  }
  /** Raw datagram bytes (hostile-input tests). */
  void send_raw(const uint8_t *p, size_t n) { ::send(fd, p, n, 0); }
  ~UdpDevice() { close(fd); }
  void send(const iotw_v1_Envelope &e) {
    uint8_t p[512], d[IOTW_DATAGRAM_MAX];
    const size_t n = iotw_msg_encode(&e, p, sizeof p);
    ::send(fd, d, iotw_datagram_encode(p, n, d, sizeof d), 0);
  }
  void on_readable() {
    uint8_t d[IOTW_DATAGRAM_MAX + 1];
    const ssize_t n = recv(fd, d, sizeof d, 0);
    const long len = n > 0 ? iotw_datagram_check(d, static_cast<size_t>(n)) : -1;
    iotw_v1_Envelope in;
    if (len > 0 && iotw_msg_decode(d, static_cast<size_t>(len), &in) == 0)
      if (auto out = dev.respond(in)) send(*out);
  }
  SimDevice dev;
  int fd;
};

/** Serve every device's pending datagrams for up to wait_ms (one poll round). */
inline void serve(std::vector<std::unique_ptr<UdpDevice>> &devs, int wait_ms) {
  std::vector<pollfd> fds;
  for (auto &d : devs) fds.push_back(pollfd{d->fd, POLLIN, 0});
  poll(fds.data(), fds.size(), wait_ms);
  for (size_t k = 0; k < fds.size(); ++k)
    if (fds[k].revents & POLLIN) devs[k]->on_readable();
}

}  // namespace iotw::tn::test
