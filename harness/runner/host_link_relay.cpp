#include "host_link_relay.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace iotw::harness {
namespace {

/// Frames read from one TAP interface per wake-up at most, so the other direction and the timer are not starved.
constexpr int kReadBurst = 64;
/// The read buffer: the largest frame a TAP interface can hand over (MTU up to 65535 + the Ethernet header).
constexpr std::size_t kMaxFrame = 65536 + 64;

int index_of(Direction dir) { return dir == Direction::NodeToDevice ? 0 : 1; }

}  // namespace

int HostLinkRelay::open_tap(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ)
    throw std::runtime_error(fmt::format("host link: '{}' is not a valid interface name", ifname));
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw std::runtime_error(std::string("host link: cannot open /dev/net/tun: ") + std::strerror(errno));
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(
        fmt::format("host link: cannot attach to TAP interface {}: {}", ifname, std::strerror(err)));
  }
  return fd;
}

HostLinkRelay::HostLinkRelay(int trust_node_tap, int far_tap, const HostLinkShape& shape, std::uint64_t rig_seed)
    : taps_{trust_node_tap, far_tap}, queue_(shape, rig_seed), buffer_(kMaxFrame) {
  timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (timer_ < 0 || wake_ < 0) {
    const int err = errno;
    for (int fd : {timer_, wake_, taps_[0], taps_[1]})
      if (fd >= 0) ::close(fd);
    throw std::runtime_error(std::string("host link: cannot create the relay's timer: ") + std::strerror(err));
  }
  thread_ = std::thread([this] { run(); });
}

HostLinkRelay::~HostLinkRelay() { stop(); }

void HostLinkRelay::set_tap(Tap tap) {
  std::lock_guard lock(tap_mutex_);
  tap_ = std::move(tap);
}

void HostLinkRelay::set_partitioned(bool partitioned) {
  std::lock_guard lock(mutex_);
  queue_.set_partitioned(partitioned);
}

HostLinkCounts HostLinkRelay::counts(Direction dir) const {
  std::lock_guard lock(mutex_);
  return queue_.counts(dir);
}

void HostLinkRelay::stop() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    if (::write(wake_, &one, sizeof one) < 0)
      spdlog::warn("host link: cannot wake the relay: {}", std::strerror(errno));
    thread_.join();
  }
  for (int* fd : {&taps_[0], &taps_[1], &timer_, &wake_})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

void HostLinkRelay::run() {
  pollfd fds[4] = {{taps_[0], POLLIN, 0}, {taps_[1], POLLIN, 0}, {timer_, POLLIN, 0}, {wake_, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 4, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("host link: poll failed: {}; the relay stops", std::strerror(errno));
      return;
    }
    if (fds[3].revents) return;
    if (fds[2].revents) {
      std::uint64_t expirations = 0;
      [[maybe_unused]] const auto n = ::read(timer_, &expirations, sizeof expirations);
    }
    for (Direction dir : {Direction::NodeToDevice, Direction::DeviceToNode}) {
      pollfd& p = fds[index_of(dir)];
      if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && !read_from(dir)) p.fd = -1;  // poll ignores it from now on
    }
    deliver();
  }
}

bool HostLinkRelay::read_from(Direction dir) {
  const int fd = taps_[index_of(dir)];
  for (int i = 0; i < kReadBurst; ++i) {
    const ssize_t n = ::read(fd, buffer_.data(), buffer_.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) {  // the interface is gone (it is deleted with its namespace only after stop())
      spdlog::warn("host link: reading the {} host's TAP interface failed ({}); that direction stops",
                   dir == Direction::NodeToDevice ? "trust node's" : "far",
                   n < 0 ? std::strerror(errno) : "end of file");
      return false;
    }
    std::lock_guard lock(mutex_);
    queue_.push(dir, std::vector<std::uint8_t>(buffer_.begin(), buffer_.begin() + n), HostLinkQueue::Clock::now());
  }
  return true;
}

void HostLinkRelay::deliver() {
  std::vector<HostLinkQueue::Due> due;
  std::optional<HostLinkQueue::Clock::time_point> next;
  {
    std::lock_guard lock(mutex_);
    due = queue_.pop_due(HostLinkQueue::Clock::now());
  }
  for (const HostLinkQueue::Due& d : due) {
    const int to = taps_[d.dir == Direction::NodeToDevice ? 1 : 0];
    if (::write(to, d.frame.data(), d.frame.size()) != static_cast<ssize_t>(d.frame.size())) {
      std::lock_guard lock(mutex_);
      queue_.count_failed(d.dir);
      continue;
    }
    std::lock_guard lock(tap_mutex_);
    if (tap_) tap_(d.dir, d.frame);
  }
  {
    std::lock_guard lock(mutex_);
    next = queue_.next_due();
  }
  itimerspec spec{};  // all zero: disarmed
  if (next) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(next->time_since_epoch()).count();
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  if (::timerfd_settime(timer_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
    spdlog::error("host link: cannot arm the relay's timer: {}", std::strerror(errno));
}

}  // namespace iotw::harness
