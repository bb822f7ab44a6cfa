#include "esp_wifi/at_pty_server.hpp"

#include "common/serial_link.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace iotw::emu {

namespace {

sockaddr_in addr_of(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

}  // namespace

AtPtyServer::AtPtyServer(AtModuleConfig config, int baud, bool paced, const Clock& clock)
    : engine_(make_at_engine(config)),
      baud_(baud > 0 ? baud : engine_->default_baud()),
      paced_(paced),
      clock_(clock),
      pacer_(clock_, baud_, paced_) {}

AtPtyServer::~AtPtyServer() {
  stop();
  for (auto& [id, s] : socks_)
    if (s.fd >= 0) ::close(s.fd);
  for (int fd : {master_, slave_, wake_[0], wake_[1]})
    if (fd >= 0) ::close(fd);
}

std::string AtPtyServer::start() {
  const PtyPair pty = open_pty_pair(baud_);
  master_ = pty.master;
  slave_ = pty.slave;
  const std::string name = pty.path;
  ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2 failed");
  engine_->power_on(clock_.now_ms());
  thread_ = std::thread([this] { loop(); });
  return name;
}

void AtPtyServer::stop() {
  if (stop_.exchange(true)) return;
  if (wake_[1] >= 0) {
    char c = 1;
    [[maybe_unused]] auto r = ::write(wake_[1], &c, 1);
  }
  if (thread_.joinable()) thread_.join();
}

void AtPtyServer::flush_output() {
  std::string out = engine_->take_output();
  pacer_.write(out, [this](std::string_view part) {
    size_t off = 0;
    while (off < part.size() && !stop_) {
      ssize_t n = ::write(master_, part.data() + off, part.size() - off);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        pollfd p{master_, POLLOUT, 0};
        if (::poll(&p, 1, 200) == 0) return true;  // nobody reads the line: the bytes are lost, as on a UART
      } else {
        return true;
      }
    }
    return !stop_;
  });
}

void AtPtyServer::close_sock(int link) {
  auto it = socks_.find(link);
  if (it == socks_.end()) return;
  if (it->second.fd >= 0) ::close(it->second.fd);
  socks_.erase(it);
}

void AtPtyServer::perform(const AtAction& a, uint64_t now) {
  switch (a.type) {
    case AtAction::Type::Open: {
      close_sock(a.link);
      int fd = ::socket(AF_INET, (a.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
      bool ok = fd >= 0;
      if (ok && !a.tcp) {
        sockaddr_in local = addr_of("127.0.0.1", a.local_port);
        ok = ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0;
      }
      if (ok && a.tcp) {
        sockaddr_in remote = addr_of(a.host, a.port);
        ok = ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0;  // loopback: immediate
        int one = 1;
        if (ok) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      if (ok) {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        socks_[a.link] = Sock{fd, a.tcp, a.host, a.port};
      } else if (fd >= 0) {
        ::close(fd);
      }
      engine_->on_open_result(a.link, ok, now);
      break;
    }
    case AtAction::Type::Send: {
      auto it = socks_.find(a.link);
      bool ok = false;
      if (it != socks_.end()) {
        const Sock& s = it->second;
        if (s.tcp) {
          size_t off = 0;
          while (off < a.data.size()) {
            ssize_t n = ::send(s.fd, a.data.data() + off, a.data.size() - off, MSG_NOSIGNAL);
            if (n > 0) {
              off += static_cast<size_t>(n);
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
              pollfd p{s.fd, POLLOUT, 0};
              if (::poll(&p, 1, 1000) <= 0) break;
            } else {
              break;
            }
          }
          ok = off == a.data.size();
        } else {
          sockaddr_in to = addr_of(a.host.empty() ? s.ip : a.host, a.port ? a.port : s.port);
          ok = ::sendto(s.fd, a.data.data(), a.data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
               static_cast<ssize_t>(a.data.size());
        }
      }
      engine_->on_send_result(a.link, ok, now);
      break;
    }
    case AtAction::Type::Close:
      close_sock(a.link);
      break;
  }
}

void AtPtyServer::loop() {
  std::vector<char> buf(65536);
  while (!stop_) {
    uint64_t now = clock_.now_ms();
    engine_->tick(now);
    for (auto actions = engine_->take_actions(); !actions.empty(); actions = engine_->take_actions())
      for (const auto& a : actions) perform(a, clock_.now_ms());
    flush_output();

    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {master_, POLLIN, 0}};
    std::vector<int> links;
    for (const auto& [id, s] : socks_) {
      fds.push_back({s.fd, POLLIN, 0});
      links.push_back(id);
    }
    int timeout = 200;
    if (auto d = engine_->next_deadline_ms()) {
      now = clock_.now_ms();
      timeout = *d <= now ? 0 : static_cast<int>(std::min<uint64_t>(*d - now, 200));
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    now = clock_.now_ms();
    if (fds[1].revents & POLLIN) {
      ssize_t n = ::read(master_, buf.data(), buf.size());
      if (n > 0) engine_->feed(std::string_view(buf.data(), static_cast<size_t>(n)), now);
    }
    for (size_t i = 2; i < fds.size(); i++) {
      if (!fds[i].revents) continue;
      const int link = links[i - 2];
      auto it = socks_.find(link);
      if (it == socks_.end()) continue;
      Sock& s = it->second;
      if (s.tcp) {
        ssize_t n = ::recv(s.fd, buf.data(), 2920, 0);
        if (n > 0) {
          engine_->on_receive(link, std::string_view(buf.data(), static_cast<size_t>(n)), s.ip, s.port, now);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          close_sock(link);
          engine_->on_remote_closed(link, now);
        }
      } else {
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ssize_t n = ::recvfrom(s.fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n > 0) {
          char ip[INET_ADDRSTRLEN] = {0};
          ::inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
          engine_->on_receive(link, std::string_view(buf.data(), static_cast<size_t>(n)), ip, ntohs(from.sin_port), now);
        }
      }
    }
  }
}

}  // namespace iotw::emu
