#include "link_fabric.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>

#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace iotw::harness {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

using LinkTap = std::function<void(Direction, const std::vector<std::uint8_t>&)>;

// A read error on a master (EIO: no slave open, or a hangup) is retried after this long.
constexpr auto kRetryAfter = 5ms;
// A TCP relay's connection attempt to a trust node that does not listen is repeated after this long.
constexpr auto kUpstreamRetry = 50ms;
// Full-buffer reads of one direction in a row before the io thread turns to the other links.
constexpr int kReadsPerTurn = 16;

[[noreturn]] void fail(const std::string& what) {
  throw FabricError(what + ": " + std::strerror(errno));
}

void make_raw(int fd) {
  termios tio{};
  if (tcgetattr(fd, &tio) != 0) fail("tcgetattr");
  cfmakeraw(&tio);
  if (tcsetattr(fd, TCSANOW, &tio) != 0) fail("tcsetattr");
}

// A PTY whose master the relay uses and whose slave the harness keeps open (never read) so the master
// sees no hangup while the peer process has the slave closed.
struct Pty {
  asio::posix::stream_descriptor master;
  int slave = -1;
  std::string path;

  explicit Pty(asio::io_context& io) : master(io) {
    const int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) fail("posix_openpt");
    master.assign(m);
    if (grantpt(m) != 0) fail("grantpt");
    if (unlockpt(m) != 0) fail("unlockpt");
    std::array<char, 128> name{};
    if (ptsname_r(m, name.data(), name.size()) != 0) fail("ptsname_r");
    path = name.data();
    slave = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) fail("open " + path);
    make_raw(slave);
    make_raw(m);
  }
  ~Pty() {
    if (slave >= 0) ::close(slave);
  }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;
};

struct AtomicCounts {
  std::atomic<std::uint64_t> bytes{0}, chunks{0}, delivered_bytes{0};
  DirectionCounts load() const { return {bytes.load(), chunks.load(), delivered_bytes.load()}; }
};

// One direction of a link: reads `from`, runs the policy, writes the deliveries to `to` in order.
class Pump {
 public:
  /// `idle_on_eof`: the sender is a connection (TCP) whose end is final: stop reading until restart(), after calling
  /// the on_end callback (if any).
  Pump(Direction dir, asio::posix::stream_descriptor& from, asio::posix::stream_descriptor& to, LinkPolicy& policy,
       LinkTap tap, bool idle_on_eof = false)
      : dir_(dir), from_(from), to_(to), policy_(policy), tap_(std::move(tap)), idle_on_eof_(idle_on_eof),
        retry_(from.get_executor()), hold_(to.get_executor()) {}

  void start() {
    ++epoch_;
    drain();
  }
  /// The receiver's descriptor was replaced (a new TCP connection): what was queued for the old one is dropped.
  void drop_queued() {
    queue_.clear();
    held_.clear();
    hold_.cancel();
    if (retry_write_) retry_write_->cancel();
  }
  DirectionCounts counts() const { return counts_.load(); }
  /// Called on the io thread when an idle_on_eof sender's connection ended (a relay then hangs up both ends).
  void on_end(std::function<void()> f) { on_end_ = std::move(f); }

 private:
  // Reads what the sender has and forwards each read at once, here on the io thread: one read(), then one write()
  // when nothing is queued before it (enqueue). A read shorter than the buffer took all the sender had (PTYs and
  // sockets hand over everything buffered), so the descriptor is then watched again; asio re-arms it with an
  // epoll_ctl that re-polls it, so bytes that arrived meanwhile are never missed. A full buffer is read again, at
  // most kReadsPerTurn times in a row before the other links get a turn. A chunk costs epoll_wait, read, write and
  // that epoll_ctl; async_read_some + async_write cost five calls (a speculative read that found nothing and a
  // zero-timeout epoll_wait for the posted completions) and a trip through the handler queue (bench/RESULTS.md).
  void drain() {
    if (!from_.is_open()) return;
    if (!from_.non_blocking()) {
      boost::system::error_code ec;
      from_.non_blocking(true, ec);
    }
    for (int turn = 0; turn < kReadsPerTurn; ++turn) {
      const ssize_t n = ::read(from_.native_handle(), buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return watch();
      if (n <= 0) return read_failed();  // 0: a TCP device's end; EIO: a PTY with no slave open (or hung up)
      const auto got = static_cast<std::size_t>(n);
      counts_.bytes += got;
      ++counts_.chunks;
      for (Delivery& d : policy_.on_chunk(dir_, std::vector<std::uint8_t>(buf_.begin(), buf_.begin() + n)))
        deliver(std::move(d));
      if (got < buf_.size()) return watch();
    }
    asio::post(from_.get_executor(), [this, epoch = epoch_] {
      if (epoch == epoch_) drain();  // else a new connection restarted the pump meanwhile
    });
  }

  void watch() {
    from_.async_wait(asio::posix::descriptor_base::wait_read, [this](boost::system::error_code ec) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) return read_failed();
      drain();
    });
  }

  void read_failed() {
    if (idle_on_eof_) {  // the connection ended: the next one restarts reading
      if (on_end_) on_end_();
      return;
    }
    retry_.expires_after(kRetryAfter);
    retry_.async_wait([this](boost::system::error_code wec) {
      if (!wec) drain();
    });
  }

  // Deliveries keep their order: a delayed chunk holds back every later one (a UART has no reordering).
  void deliver(Delivery d) {
    const auto now = Clock::now();
    if (d.delay <= 0ms && held_.empty()) return enqueue(std::move(d.bytes));
    const auto due = std::max(now + d.delay, held_.empty() ? now : held_.back().first);
    held_.emplace_back(due, std::move(d.bytes));
    if (held_.size() == 1) arm_hold();
  }

  void arm_hold() {
    hold_.expires_at(held_.front().first);
    hold_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      while (!held_.empty() && held_.front().first <= Clock::now()) {
        enqueue(std::move(held_.front().second));
        held_.pop_front();
      }
      if (!held_.empty()) arm_hold();
    });
  }

  void enqueue(std::vector<std::uint8_t> bytes) {
    if (bytes.empty() || !to_.is_open()) return;  // no connection to the receiver (TCP): dropped
    if (tap_) tap_(dir_, bytes);
    if (queue_.empty() && to_.is_open()) {  // nothing ahead of it: written here and now, if the receiver takes it
      if (!to_.non_blocking()) {
        boost::system::error_code ec;
        to_.non_blocking(true, ec);
      }
      ssize_t n;
      do n = ::write(to_.native_handle(), bytes.data(), bytes.size());
      while (n < 0 && errno == EINTR);
      if (n == static_cast<ssize_t>(bytes.size())) {
        counts_.delivered_bytes += bytes.size();
        return;
      }
      if (n > 0) {  // the receiver took a part: the rest waits for it
        counts_.delivered_bytes += static_cast<std::uint64_t>(n);
        bytes.erase(bytes.begin(), bytes.begin() + n);
      }
    }
    queue_.push_back(std::move(bytes));
    if (queue_.size() == 1) write();
  }

  void write() {
    if (queue_.empty()) return;  // dropped while a retry was pending
    asio::async_write(to_, asio::buffer(queue_.front()), [this](boost::system::error_code ec, std::size_t n) {
      if (ec == asio::error::operation_aborted) return;
      if (ec && !to_.is_open()) return drop_queued();  // the receiver's connection was closed meanwhile
      if (ec) {  // the receiver's master is briefly unusable: try the same chunk again
        retry_write_.emplace(to_.get_executor(), kRetryAfter);
        retry_write_->async_wait([this](boost::system::error_code wec) {
          if (!wec) write();
        });
        return;
      }
      counts_.delivered_bytes += n;
      queue_.pop_front();
      if (!queue_.empty()) write();
    });
  }

  Direction dir_;
  asio::posix::stream_descriptor& from_;
  asio::posix::stream_descriptor& to_;
  LinkPolicy& policy_;
  LinkTap tap_;
  bool idle_on_eof_ = false;
  std::function<void()> on_end_;
  asio::steady_timer retry_;
  asio::steady_timer hold_;
  std::deque<std::pair<Clock::time_point, std::vector<std::uint8_t>>> held_;
  std::optional<asio::steady_timer> retry_write_;
  std::array<std::uint8_t, 4096> buf_{};
  std::uint64_t epoch_ = 0;  // start() count: a read turn posted before a restart is not resumed
  std::deque<std::vector<std::uint8_t>> queue_;
  AtomicCounts counts_;
};

}  // namespace

std::vector<Delivery> PassThrough::on_chunk(Direction, std::vector<std::uint8_t> chunk) {
  std::vector<Delivery> out;
  out.push_back({std::move(chunk), 0ms});
  return out;
}

// A link: the trust node's end (node_: a PTY, or a relay's TCP connection to the node's [tcp] port) and the device's
// end, one of: the other PTY of a pair (an emulated device), a descriptor the harness opened (an external device's
// serial port or PTY), or the current connection of a TCP listener (an external tcp device, an AT module on TCP; a
// new connection replaces the old one).
class LinkFabric::Link {
 public:
  /// An emulated device: a second PTY.
  Link(asio::io_context& io, std::string device, std::unique_ptr<LinkPolicy> policy, const LinkFabric::Tap& tap,
       std::size_t index)
      : policy_(std::move(policy)), node_pty_(std::make_unique<Pty>(io)), node_(std::move(node_pty_->master)),
        dev_pty_(std::make_unique<Pty>(io)), dev_(std::move(dev_pty_->master)),
        to_device_(Direction::NodeToDevice, node_, dev_, *policy_, bind_tap(tap, index)),
        to_node_(Direction::DeviceToNode, dev_, node_, *policy_, bind_tap(tap, index)),
        info_{std::move(device), node_pty_->path, dev_pty_->path} {}

  /// An external device on `fd` (owned from now on), described as `where`.
  Link(asio::io_context& io, std::string device, int fd, std::string where, std::unique_ptr<LinkPolicy> policy,
       const LinkFabric::Tap& tap, std::size_t index)
      : policy_(std::move(policy)), node_pty_(std::make_unique<Pty>(io)), node_(std::move(node_pty_->master)),
        dev_(io, fd), to_device_(Direction::NodeToDevice, node_, dev_, *policy_, bind_tap(tap, index)),
        to_node_(Direction::DeviceToNode, dev_, node_, *policy_, bind_tap(tap, index)),
        info_{std::move(device), node_pty_->path, std::move(where)} {}

  /// A device that connects to `listen` (TCP): no device end until the first connection. With `upstream`, the node's
  /// end is a TCP connection to it too, made for each device connection (a relay); else a PTY.
  Link(asio::io_context& io, std::string device, const asio::ip::tcp::endpoint& listen,
       std::optional<asio::ip::tcp::endpoint> upstream, std::unique_ptr<LinkPolicy> policy, const LinkFabric::Tap& tap,
       std::size_t index)
      : policy_(std::move(policy)), node_pty_(upstream ? nullptr : std::make_unique<Pty>(io)),
        node_(node_pty_ ? std::move(node_pty_->master) : asio::posix::stream_descriptor(io)), dev_(io),
        acceptor_(std::in_place, io), upstream_(upstream),
        to_device_(Direction::NodeToDevice, node_, dev_, *policy_, bind_tap(tap, index), /*idle_on_eof=*/upstream.has_value()),
        to_node_(Direction::DeviceToNode, dev_, node_, *policy_, bind_tap(tap, index), /*idle_on_eof=*/true),
        info_{std::move(device), node_pty_ ? node_pty_->path : "", ""} {
    if (upstream_) {  // a relay: either connection's end ends both (the module reconnects, the node sees a new peer)
      info_.node_side = fmt::format("tcp:{}:{}", upstream_->address().to_string(), upstream_->port());
      to_device_.on_end([this] { hang_up(); });
      to_node_.on_end([this] { hang_up(); });
    }
    boost::system::error_code ec;
    acceptor_->open(listen.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(listen, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw FabricError(fmt::format("TCP listener for {} on {}:{}: {}", info_.device, listen.address().to_string(),
                                    listen.port(), ec.message()));
    const auto at = acceptor_->local_endpoint();
    info_.device_side = fmt::format("tcp:{}:{}", at.address().to_string(), at.port());
  }

  static LinkTap bind_tap(const LinkFabric::Tap& tap, std::size_t index) {
    if (!tap) return {};
    return [tap, index](Direction dir, const std::vector<std::uint8_t>& bytes) { tap(index, dir, bytes); };
  }

  void start() {
    if (!upstream_) to_device_.start();  // a relay has no node connection before the first device connection
    if (acceptor_) return accept();
    to_node_.start();
  }
  LinkStats stats() const { return {info_, to_device_.counts(), to_node_.counts()}; }
  const LinkInfo& info() const { return info_; }

 private:
  void accept() {
    acceptor_->async_accept([this](boost::system::error_code ec, asio::ip::tcp::socket sock) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        sock.set_option(asio::ip::tcp::no_delay(true), ec);
        boost::system::error_code ignored;
        if (upstream_) {
          hang_up();  // the module reconnected: the old pair ends
          dev_.assign(sock.release(ignored));
          to_node_.start();  // its bytes are dropped until the node's connection is up
          connect_upstream(++connection_);
          return accept();
        }
        if (dev_.is_open()) dev_.close(ignored);  // the device reconnected (it reset): the old connection ends
        to_device_.drop_queued();
        dev_.assign(sock.release(ignored));
        to_node_.start();
      }
      accept();
    });
  }

  /// A relay: connects to the node for device connection `connection`; while the node does not listen (it was killed
  /// and restarts), tries again every kUpstreamRetry as long as that device connection lasts.
  void connect_upstream(std::uint64_t connection) {
    if (connection != connection_ || !dev_.is_open()) return;  // the device left or reconnected meanwhile
    boost::system::error_code ec;
    asio::ip::tcp::socket up(acceptor_->get_executor());
    up.connect(*upstream_, ec);  // loopback: at once, accepted or refused
    if (ec) {
      if (!upstream_retry_) upstream_retry_.emplace(acceptor_->get_executor());
      upstream_retry_->expires_after(kUpstreamRetry);
      upstream_retry_->async_wait([this, connection](boost::system::error_code wec) {
        if (!wec) connect_upstream(connection);
      });
      return;
    }
    up.set_option(asio::ip::tcp::no_delay(true), ec);
    node_.assign(up.release(ec));
    to_device_.start();
  }

  /// A relay's connection ended on one side: the other side's is closed too; what was queued for either is dropped.
  void hang_up() {
    boost::system::error_code ignored;
    if (dev_.is_open()) dev_.close(ignored);
    if (node_.is_open()) node_.close(ignored);
    to_device_.drop_queued();
    to_node_.drop_queued();
  }

  std::unique_ptr<LinkPolicy> policy_;
  std::unique_ptr<Pty> node_pty_;  // the trust node's PTY (its master moved into node_); null for a relay
  asio::posix::stream_descriptor node_;
  std::unique_ptr<Pty> dev_pty_;  // an emulated device's PTY (its master moved into dev_)
  asio::posix::stream_descriptor dev_;
  std::optional<asio::ip::tcp::acceptor> acceptor_;
  std::optional<asio::ip::tcp::endpoint> upstream_;  // a relay: the trust node's [tcp] endpoint
  std::optional<asio::steady_timer> upstream_retry_;  // a relay: the next connect_upstream while the node is down
  std::uint64_t connection_ = 0;                      // a relay: device connections accepted so far
  Pump to_device_, to_node_;
  LinkInfo info_;
};

LinkFabric::LinkFabric() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

LinkFabric::~LinkFabric() { stop(); }

void LinkFabric::set_tap(Tap tap) {
  std::lock_guard lock(mutex_);
  tap_ = std::move(tap);
}

LinkInfo LinkFabric::start_link(const std::function<std::unique_ptr<Link>(std::size_t, const Tap&)>& make) {
  Link* raw = nullptr;
  {
    std::lock_guard lock(mutex_);
    links_.push_back(make(links_.size(), tap_));
    raw = links_.back().get();
  }
  asio::post(io_, [raw] { raw->start(); });
  return raw->info();
}

LinkInfo LinkFabric::add_link(const std::string& device, std::unique_ptr<LinkPolicy> policy) {
  return start_link([&](std::size_t index, const Tap& tap) {
    return std::make_unique<Link>(io_, device, std::move(policy), tap, index);
  });
}

LinkInfo LinkFabric::add_external_link(const std::string& device, int fd, const std::string& where,
                                       std::unique_ptr<LinkPolicy> policy) {
  return start_link([&](std::size_t index, const Tap& tap) {
    return std::make_unique<Link>(io_, device, fd, where, std::move(policy), tap, index);
  });
}

namespace {
asio::ip::tcp::endpoint tcp_endpoint(const std::string& device, const std::string& ip, std::uint16_t port) {
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address_v4(ip, ec);
  if (ec) throw FabricError(fmt::format("TCP endpoint for {}: '{}' is not an IPv4 address", device, ip));
  return {addr, port};
}
}  // namespace

LinkInfo LinkFabric::add_tcp_link(const std::string& device, const std::string& ip, std::uint16_t port,
                                  std::unique_ptr<LinkPolicy> policy) {
  const auto listen = tcp_endpoint(device, ip, port);
  return start_link([&](std::size_t index, const Tap& tap) {
    return std::make_unique<Link>(io_, device, listen, std::nullopt, std::move(policy), tap, index);
  });
}

LinkInfo LinkFabric::add_tcp_relay(const std::string& device, std::uint16_t node_port,
                                   std::unique_ptr<LinkPolicy> policy) {
  const auto listen = tcp_endpoint(device, "127.0.0.1", 0), node = tcp_endpoint(device, "127.0.0.1", node_port);
  return start_link([&](std::size_t index, const Tap& tap) {
    return std::make_unique<Link>(io_, device, listen, node, std::move(policy), tap, index);
  });
}

std::vector<LinkStats> LinkFabric::stats() const {
  std::lock_guard lock(mutex_);
  std::vector<LinkStats> out;
  for (const auto& l : links_) out.push_back(l->stats());
  return out;
}

void LinkFabric::stop() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace iotw::harness
