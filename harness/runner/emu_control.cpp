#include "emu_control.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace iotw::harness {

EmuControlClient::~EmuControlClient() { close(); }

void EmuControlClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  rx_.clear();
}

void EmuControlClient::connect() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) throw std::runtime_error("control socket path too long: " + path_);
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  // The pool may still be starting: its socket appears moments after the process does.
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return;
    const int e = errno;
    close();
    if ((e != ENOENT && e != ECONNREFUSED) || std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("cannot connect to the emulator's control socket " + path_ + ": " + std::strerror(e));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

nlohmann::json EmuControlClient::request(nlohmann::json req) {
  if (fd_ < 0) connect();
  req["id"] = next_id_++;
  const std::string line = req.dump() + "\n";
  for (std::size_t off = 0; off < line.size();) {
    const ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      close();
      throw std::runtime_error("control socket " + path_ + ": send: " + std::strerror(e));
    }
    off += static_cast<std::size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    if (const auto nl = rx_.find('\n'); nl != std::string::npos) {
      const std::string reply_line = rx_.substr(0, nl);
      rx_.erase(0, nl + 1);
      auto reply = nlohmann::json::parse(reply_line, nullptr, false);
      if (reply.is_discarded() || !reply.is_object()) {
        close();
        throw std::runtime_error("control socket " + path_ + ": the reply is not a JSON object: " + reply_line);
      }
      if (reply.contains("id") && reply["id"] != req["id"]) continue;  // a stale reply
      return reply;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      close();
      throw std::runtime_error("control socket " + path_ + ": no reply within " + std::to_string(timeout_.count()) + " ms");
    }
    pollfd p{fd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close();
      throw std::runtime_error("control socket " + path_ + ": the emulator closed the connection");
    }
    rx_.append(buf, static_cast<std::size_t>(n));
  }
}

nlohmann::json EmuControlClient::command(const nlohmann::json& req) {
  nlohmann::json reply = request(req);
  if (reply.value("ok", false) != true)
    throw std::runtime_error(req.value("cmd", std::string("?")) + " " + req.value("device", std::string()) + ": " +
                             reply.value("error", std::string("(no error text)")));
  return reply;
}

}  // namespace iotw::harness
