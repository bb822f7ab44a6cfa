#include "device_runtime.hpp"
#include <cerrno>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <cstring>
#include <stdexcept>

#include "ipv4_endpoint.hpp"
#include "serial_link.hpp"
#include "firmware_host.hpp"

namespace iotw::emu {

namespace {
constexpr auto kPollPeriod = std::chrono::milliseconds(20);
constexpr auto kReadRetry = std::chrono::milliseconds(50);

/// The pool thread's receive buffer: a link reads into it only once readable and the firmware consumes the bytes at
/// once, so one buffer serves every device of the pool (a datagram from the node is at most 516 bytes).
std::array<uint8_t, 2048>& rx_buffer() {
  thread_local std::array<uint8_t, 2048> buf;
  return buf;
}

/// The pool's poll ticker, one per io_context (an Asio service): every kPollPeriod it polls every device that joined
/// it, in the order they joined. A device leaves by stop(); one leaving while the others are polled is skipped. The
/// timer runs only while a device is joined, so io_context::run() returns once every device stopped.
class PollService : public boost::asio::io_context::service {
 public:
  static boost::asio::io_context::id id;
  explicit PollService(boost::asio::io_context& io) : boost::asio::io_context::service(io), timer_(io) {}

  void add(std::function<void()>* poll) {
    polls_.push_back(poll);
    if (!armed_ && !polling_) arm();  // while polling, the round's end arms the next one
  }
  void remove(std::function<void()>* poll) {
    for (auto& p : polls_)
      if (p == poll) {
        p = nullptr;
        holes_++;
      }
    if (!polling_) compact();
  }

 private:
  void shutdown() override {
    polls_.clear();
    holes_ = 0;
  }
  void compact() {
    if (holes_ == 0) return;
    std::erase(polls_, nullptr);
    holes_ = 0;
    if (polls_.empty()) {
      timer_.cancel();
      armed_ = false;
    }
  }
  void arm() {
    armed_ = true;
    timer_.expires_after(kPollPeriod);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;  // cancelled: compact() or shutdown() already said so
      armed_ = false;
      polling_ = true;
      for (size_t i = 0; i < polls_.size(); i++)  // a device joining meanwhile is appended and polled too
        if (polls_[i]) (*polls_[i])();
      polling_ = false;
      compact();
      if (!polls_.empty()) arm();
    });
  }

  boost::asio::steady_timer timer_;
  std::vector<std::function<void()>*> polls_;
  size_t holes_ = 0;
  bool armed_ = false, polling_ = false;
};

boost::asio::io_context::id PollService::id;

}  // namespace

DeviceRuntime::DeviceRuntime(boost::asio::io_context& io, DeviceSpec spec, const ChipProfile& profile,
                             EventLog& log, const Clock* clock)
    : io_(io),
      spec_(std::move(spec)),
      log_(log),
      source_("emu:" + spec_.name),
      release_timer_(io),
      chip_(profile, clock ? *clock : steady_, chip_config(spec_), host_port(), *this) {}

FirmwareChipConfig DeviceRuntime::chip_config(const DeviceSpec& spec) {
  return {.name = spec.name, .behaviour = spec.behaviour, .node_pubkey = spec.node_pubkey,
          .collusion_witnesses = spec.collusion_witnesses, .collusion_window_ms = spec.collusion_window_ms};
}

iotw_port DeviceRuntime::host_port() {
  set_nvs_dir(spec_.nvs_dir, port_ctx_);
  set_port_seed(spec_.seed, port_ctx_);  // the identity follows from the device's seed
  // behaviour no_nvs: the host port's NVS in RAM only, dropped at every boot (ram_lost). Throws on an unknown one.
  port_ctx_.nvs_ram_only = behaviour_flags(spec_.behaviour).no_nvs ? 1 : 0;
  port_ctx_.user = this;
  // A UDP link carries one frame per datagram (payload + CRC-32); a serial link COBS frames.
  port_ctx_.kind = spec_.trust_node_udp.empty() ? IOTW_LINK_SERIAL : IOTW_LINK_DATAGRAM;
  if (spec_.links.size() > 1) {  // a trust-node mesh: the firmware picks the link (docs/protocol.md §6)
    if (spec_.links.size() > 255) throw std::invalid_argument(spec_.name + ": at most 255 links");
    port_ctx_.node_count = static_cast<uint8_t>(spec_.links.size());
    port_ctx_.select_node = &DeviceRuntime::on_select_node;
  }
  iotw_port port{};
  if (iotw_host_port_init(&port, &port_ctx_) != 0) throw std::runtime_error("libsodium init failed");
  return port;  // the chip sends, logs and reads the time; the port's NVS, randomness and crypto
}

bool DeviceRuntime::write_link(size_t node, const uint8_t* bytes, size_t len) {
  if (node >= links_.size()) return false;
  Link& l = *links_[node];
  boost::system::error_code ec;
  if (l.datagram()) return l.udp.send(boost::asio::buffer(bytes, len), 0, ec) == len && !ec;
  boost::asio::write(l.sd, boost::asio::buffer(bytes, len), ec);
  return !ec;
}

void DeviceRuntime::wake_after(uint64_t us) {
  if (!running_) return;
  // Between ticks: wake when the next frame is due (device µs read as pool µs; the tick re-checks on the clock).
  release_timer_.expires_after(std::chrono::microseconds(us));
  release_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && running_) chip_.release_held();
  });
}

void DeviceRuntime::reboot() {
  if (!running_) throw std::runtime_error(spec_.name + " is not running (powered off?)");
  chip_.reboot();
}

void DeviceRuntime::hang() {
  if (!running_) throw std::runtime_error(spec_.name + " is not running (powered off?)");
  chip_.hang();
}

void DeviceRuntime::tick() {
  if (!running_ || !chip_.powered()) return;
  chip_.release_held();
  chip_.tick();
}

void DeviceRuntime::start() {
  nlohmann::json link{{"link", spec_.trust_node_udp.empty() ? spec_.link : "udp:" + spec_.trust_node_udp}};
  if (spec_.links.size() > 1) link["links"] = spec_.links;
  chip_.emit_boot_banner(std::move(link));
  links_.clear();
  if (spec_.link_fd >= 0) {
    const int fd = ::dup(spec_.link_fd);
    if (fd < 0) throw std::runtime_error(spec_.name + ": cannot use its UART: " + std::strerror(errno));
    links_.push_back(std::make_unique<Link>(io_, fd, spec_.link));
  } else if (!spec_.trust_node_udp.empty()) {  // the module's Wi-Fi UDP socket, connected to the trust node
    namespace ip = boost::asio::ip;
    const auto [host, port] = parse_host_port(spec_.trust_node_udp);
    ip::udp::socket s(io_);
    boost::system::error_code ec;
    const ip::address_v4 addr = ip::make_address_v4(host, ec);
    if (!ec) s.open(ip::udp::v4(), ec);
    if (!ec) s.connect(ip::udp::endpoint(addr, port), ec);  // an ephemeral local port; only the node is heard
    if (ec)
      throw std::runtime_error(spec_.name + ": cannot open its UDP socket to " + spec_.trust_node_udp + ": " + ec.message());
    links_.push_back(std::make_unique<Link>(io_, std::move(s), "udp:" + spec_.trust_node_udp));
  } else {
    for (const std::string& path : spec_.links.empty() ? std::vector<std::string>{spec_.link} : spec_.links)
      links_.push_back(std::make_unique<Link>(io_, open_serial_link(path, spec_.baud), path));
  }
  running_ = true;
  chip_.start();
  for (size_t i = 0; i < links_.size(); i++) read_some(i);
  arm_poll();
}

void DeviceRuntime::stop() {
  running_ = false;
  chip_.stop();
  disarm_poll();
  release_timer_.cancel();
  for (auto& l : links_) {
    boost::system::error_code ec;
    l->retry.cancel();
    l->sd.close(ec);
    l->udp.close(ec);
  }
  links_.clear();
}

void DeviceRuntime::on_select_node(void* user, uint8_t index, const char* reason) {
  auto* self = static_cast<DeviceRuntime*>(user);
  if (index >= self->links_.size()) return;
  self->log_.emit(self->source_, "node_selected",
                  {{"index", index}, {"link", self->links_[index]->path}, {"reason", reason}});
}

void DeviceRuntime::read_some(size_t i) {
  if (!running_ || i >= links_.size()) return;
  Link& l = *links_[i];
  auto on_readable = [this, i, &l](boost::system::error_code ec) {
    if (ec == boost::asio::error::operation_aborted || !running_) return;
    // Readable: the read returns at once (a datagram, or what the serial link holds; EIO while the PTY's other end
    // is closed, ECONNREFUSED while nothing listens on the node's UDP port).
    size_t n = 0;
    if (!ec)
      n = l.datagram() ? l.udp.receive(boost::asio::buffer(rx_buffer()), 0, ec)
                       : l.sd.read_some(boost::asio::buffer(rx_buffer()), ec);
    if (ec) {  // wait and read again
      l.retry.expires_after(kReadRetry);
      l.retry.async_wait([this, i](boost::system::error_code e) {
        if (!e) read_some(i);
      });
      return;
    }
    // An unpowered (or hung) firmware hears nothing; nor does it hear a trust node it is not talking to.
    if (i == chip_.node()) chip_.receive(rx_buffer().data(), n);
    read_some(i);
  };
  if (l.datagram()) l.udp.async_wait(boost::asio::ip::udp::socket::wait_read, std::move(on_readable));
  else l.sd.async_wait(boost::asio::posix::stream_descriptor::wait_read, std::move(on_readable));
}

void DeviceRuntime::arm_poll() {
  if (poll_) return;
  poll_ = [this] { tick(); };
  boost::asio::use_service<PollService>(io_).add(&poll_);
}

void DeviceRuntime::disarm_poll() {
  if (!poll_) return;
  boost::asio::use_service<PollService>(io_).remove(&poll_);
  poll_ = nullptr;
}

}  // namespace iotw::emu
