// Shared by the node_* hostile-input tests: raw HTTP over loopback TCP (so that the tests control every byte),
// the node's RSS, metrics and events, and the suite's scale (short by default, IOTW_HOSTILE_LONG=1 for release
// checks) and seed (IOTW_HOSTILE_SEED, default 15).
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "trust_node/node_process.hpp"

namespace iotw::tn::test {

/** n in the short (CI) mode; 10 x n with IOTW_HOSTILE_LONG=1. */
inline int hostile_scale(int n) {
  const char *e = std::getenv("IOTW_HOSTILE_LONG");
  return e && std::string(e) == "1" ? 10 * n : n;
}

inline uint64_t hostile_seed() {
  const char *e = std::getenv("IOTW_HOSTILE_SEED");
  return e ? std::strtoull(e, nullptr, 10) : 15;
}

/** VmRSS of pid in KiB (0 if unreadable). */
inline uint64_t rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  return 0;
}

inline int connect_tcp(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0) << std::strerror(errno);
  return fd;
}

inline std::string http_get(const std::string &target) {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}
inline std::string http_post(const std::string &target, const std::string &body, const std::string &extra = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Response {
  int status = 0;
  std::string body;
};

/** Complete responses at the front of data (each with a Content-Length, as the node always sends). */
inline std::vector<Response> parse_responses(const std::string &data) {
  std::vector<Response> out;
  size_t at = 0;
  for (;;) {
    const size_t end = data.find("\r\n\r\n", at);
    if (end == std::string::npos) break;
    const std::string head = data.substr(at, end - at);
    Response r;
    if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) break;
    r.status = std::atoi(head.c_str() + 9);
    if (r.status == 100) {  // interim: no body
      at = end + 4;
      continue;
    }
    std::string lower = head;
    for (char &c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t cl = lower.find("\r\ncontent-length:");
    const size_t len = cl == std::string::npos ? 0 : std::strtoull(lower.c_str() + cl + 17, nullptr, 10);
    if (data.size() < end + 4 + len) break;
    r.body = data.substr(end + 4, len);
    out.push_back(std::move(r));
    at = end + 4 + len;
  }
  return out;
}

/** Sends wire on a fresh connection (while reading, so a node that answers early cannot deadlock us) and
 *  returns the responses read until `expected` are complete or the node closes. guard_ms only ends a hang. */
inline std::vector<Response> http_exchange(int port, const std::string &wire, size_t expected = 1,
                                      int guard_ms = 60'000) {
  const int fd = connect_tcp(port);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  size_t sent = 0;
  bool can_send = true;
  std::string data;
  std::vector<Response> rs;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(guard_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, static_cast<short>(POLLIN | (can_send && sent < wire.size() ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 100) <= 0) continue;
    if (p.revents & POLLOUT) {
      const ssize_t k = ::send(fd, wire.data() + sent, std::min<size_t>(wire.size() - sent, 1 << 16), MSG_NOSIGNAL);
      if (k > 0) sent += static_cast<size_t>(k);
      else if (errno != EAGAIN) can_send = false;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      const ssize_t k = ::recv(fd, buf, sizeof buf, 0);
      if (k > 0) {
        data.append(buf, static_cast<size_t>(k));
        rs = parse_responses(data);
        if (rs.size() >= expected) break;
      } else if (k == 0 || errno != EAGAIN) {
        break;
      }
    }
  }
  close(fd);
  return parse_responses(data);
}

/** True once the peer closed fd (recv returns 0 or an error); false if still open after guard_ms. */
inline bool wait_closed(int fd, int guard_ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, guard_ms) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/** The value of an unlabelled sample in Prometheus text (0 if absent). */
inline uint64_t metric(const std::string &text, const std::string &name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + " ", 0) == 0) return std::strtoull(line.c_str() + name.size() + 1, nullptr, 10);
  return 0;
}

inline uint64_t node_metric(int http_port, const std::string &name) {
  const auto r = http_exchange(http_port, http_get("/metrics"));
  return r.empty() ? 0 : metric(r[0].body, name);
}

/** The trust node's events of kind (parsed lines of events.jsonl). */
inline std::vector<nlohmann::json> events_of(Node &node, const std::string &kind) {
  std::vector<nlohmann::json> out;
  std::istringstream in(node.read("events.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("kind", "") == kind) out.push_back(std::move(j));
  }
  return out;
}

/** How many events the lines stand for: an aggregated line carries "count" (docs/events.md). */
inline uint64_t event_total(const std::vector<nlohmann::json> &lines) {
  uint64_t n = 0;
  for (const auto &l : lines) n += l["fields"].value("count", uint64_t{1});
  return n;
}

}  // namespace iotw::tn::test
