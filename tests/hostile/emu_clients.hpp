// Blocking loopback clients for the hostile emulator tests, and an io_context on its own thread. Every socket
// has a receive and send timeout (kGuard): a guard against a frozen server, never an assertion on time.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>

namespace iotw::hostile {

inline constexpr int kGuardSeconds = 20;

/// IOTW_HOSTILE_LONG=1: the release-check mode (more clients, more rounds); else the CI mode.
inline bool long_mode() {
  const char* v = std::getenv("IOTW_HOSTILE_LONG");
  return v && std::string(v) == "1";
}

inline void set_guard(int fd, int seconds = kGuardSeconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/// A connected TCP socket to "127.0.0.1:PORT" (-1 on failure).
inline int connect_tcp(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  ::inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_guard(fd);
  return fd;
}

inline int connect_unix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  set_guard(fd);
  return fd;
}

inline bool send_all(int fd, const std::string& s) {
  for (std::size_t off = 0; off < s.size();) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

/// Exactly n bytes, or nullopt on EOF, error or the guard timeout.
inline std::optional<std::string> recv_exact(int fd, std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t off = 0; off < n;) {
    const ssize_t r = ::recv(fd, out.data() + off, n - off, 0);
    if (r <= 0) return std::nullopt;
    off += static_cast<std::size_t>(r);
  }
  return out;
}

/// One line ending in `eol` (without it), or nullopt.
inline std::optional<std::string> recv_line(int fd, const std::string& eol) {
  std::string out;
  char ch;
  while (out.size() < eol.size() || out.compare(out.size() - eol.size(), eol.size(), eol) != 0) {
    if (::recv(fd, &ch, 1, 0) != 1) return std::nullopt;
    out.push_back(ch);
  }
  out.resize(out.size() - eol.size());
  return out;
}

/// True when the peer closed (EOF or reset) before the guard timeout; false if bytes or nothing came.
inline bool closed_by_peer(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r == 0) return true;
    if (r < 0) return errno == ECONNRESET || errno == EPIPE;
  }
}

/// Runs an io_context on its own thread until destroyed (declare it after the servers it runs, so it joins
/// before they are destroyed); run(f) executes f there and waits for it.
class IoThread {
 public:
  explicit IoThread(boost::asio::io_context& io) : io_(io), guard_(io.get_executor()), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  template <class F>
  auto run(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return fut.get();
  }
  std::thread::native_handle_type native_handle() { return thread_.native_handle(); }

 private:
  boost::asio::io_context& io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

}  // namespace iotw::hostile
