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
      profile_(profile),
      log_(log),
      source_("emu:" + spec_.name),
      clock_(clock ? *clock : steady_),
      wdt_(clock_, profile_.wdt_timeout_ms),
      release_timer_(io) {
  cfg_.name = spec_.name.c_str();
  cfg_.model = profile_.model.c_str();
  cfg_.fw_version = profile_.fw_version.c_str();
  cfg_.reset_reason = profile_.power_on_reset;
  if (spec_.node_pubkey) cfg_.node_pubkey = spec_.node_pubkey->data();  // spec_ outlives fw_
  const BehaviourFlags flags = behaviour_flags(spec_.behaviour);
  cfg_.faults = flags.fw;
  collusion_.join(spec_.behaviour, spec_.name, spec_.collusion_witnesses, spec_.collusion_window_ms, cfg_);
  set_nvs_dir(spec_.nvs_dir, port_ctx_);
  set_port_seed(spec_.seed, port_ctx_);  // the identity follows from the device's seed
  port_ctx_.nvs_ram_only = flags.no_nvs ? 1 : 0;  // behaviour no_nvs: the host port's NVS, dropped in begin_boot()
  port_ctx_.send = &DeviceRuntime::on_send;
  port_ctx_.log = &DeviceRuntime::on_log;
  port_ctx_.user = this;
  // A UDP link carries one frame per datagram (payload + CRC-32); a serial link COBS frames.
  port_ctx_.kind = spec_.trust_node_udp.empty() ? IOTW_LINK_SERIAL : IOTW_LINK_DATAGRAM;
  if (spec_.links.size() > 1) {  // a trust-node mesh: the firmware picks the link (docs/protocol.md §6)
    if (spec_.links.size() > 255) throw std::invalid_argument(spec_.name + ": at most 255 links");
    port_ctx_.node_count = static_cast<uint8_t>(spec_.links.size());
    port_ctx_.select_node = &DeviceRuntime::on_select_node;
  }
  if (iotw_host_port_init(&port_, &port_ctx_) != 0) throw std::runtime_error("libsodium init failed");
  port_.now_ms = &DeviceRuntime::on_now_ms;  // the firmware reads the device's own clock (clock_skew)
  // The chip's crypto takes its CPU time (profile cycles / MHz): ports/host computes, the runtime charges.
  host_sha256_ = port_.sha256;
  host_keypair_ = port_.ed25519_seed_keypair;
  host_sign_ = port_.ed25519_sign;
  host_verify_ = port_.ed25519_verify;
  port_.sha256 = &DeviceRuntime::on_sha256;
  port_.ed25519_seed_keypair = &DeviceRuntime::on_ed25519_seed_keypair;
  port_.ed25519_sign = &DeviceRuntime::on_ed25519_sign;
  if (host_verify_) port_.ed25519_verify = &DeviceRuntime::on_ed25519_verify;
}

void DeviceRuntime::on_sha256(void* ctx, const uint8_t* in, size_t len, uint8_t out[32]) {
  DeviceRuntime& self = self_of(ctx);
  self.host_sha256_(ctx, in, len, out);
  self.charge_cpu(self.profile_.sha256_us(len));
}

void DeviceRuntime::on_ed25519_seed_keypair(void* ctx, const uint8_t seed[32], uint8_t pk[32], uint8_t sk[64]) {
  DeviceRuntime& self = self_of(ctx);
  self.host_keypair_(ctx, seed, pk, sk);
  self.charge_cpu(self.profile_.ed25519_keypair_us());
}

void DeviceRuntime::on_ed25519_sign(void* ctx, const uint8_t sk[64], const uint8_t* msg, size_t len, uint8_t sig[64]) {
  DeviceRuntime& self = self_of(ctx);
  self.host_sign_(ctx, sk, msg, len, sig);
  self.charge_cpu(self.profile_.ed25519_sign_us());
}

int DeviceRuntime::on_ed25519_verify(void* ctx, const uint8_t pk[32], const uint8_t* msg, size_t len,
                                     const uint8_t sig[64]) {
  DeviceRuntime& self = self_of(ctx);
  const int rc = self.host_verify_(ctx, pk, msg, len, sig);
  self.charge_cpu(self.profile_.ed25519_verify_us());
  return rc;
}

void DeviceRuntime::charge_cpu(double us) {
  const uint64_t now = now_us();
  cpu_free_us_ = std::max(cpu_free_us_, now) + static_cast<uint64_t>(us + 0.5);
}

void DeviceRuntime::begin_boot() {
  held_.clear();  // RAM (and the UART driver's queue) is gone
  iotw_host_port_nvs_ram_clear(&port_ctx_);  // behaviour no_nvs: what the firmware "stored" was only in RAM
  cpu_free_us_ = now_us() + static_cast<uint64_t>(profile_.boot_ms) * 1000;
}

bool DeviceRuntime::write_link(size_t node, const uint8_t* bytes, size_t len) {
  if (node >= links_.size()) return false;
  Link& l = *links_[node];
  boost::system::error_code ec;
  if (l.datagram()) return l.udp.send(boost::asio::buffer(bytes, len), 0, ec) == len && !ec;
  boost::asio::write(l.sd, boost::asio::buffer(bytes, len), ec);
  return !ec;
}

void DeviceRuntime::release_held() {
  const uint64_t now = now_us();
  while (!held_.empty() && held_.front().due_us <= now) {
    write_link(held_.front().node, held_.front().bytes.data(), held_.front().bytes.size());
    held_.pop_front();
  }
  if (held_.empty() || !running_) return;
  // Between ticks: wake when the next frame is due (device µs read as pool µs; the tick re-checks on the clock).
  release_timer_.expires_after(std::chrono::microseconds(held_.front().due_us - now));
  release_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && running_) release_held();
  });
}

uint64_t DeviceRuntime::on_now_ms(void* ctx) {
  return static_cast<DeviceRuntime*>(static_cast<iotw_host_port_ctx*>(ctx)->user)->clock_.now_ms();
}

void DeviceRuntime::reset_to(uint32_t reason, const std::vector<std::string>& banner, const char* cause) {
  hung_ = false;
  std::string text;
  for (const auto& line : banner) text += line + "\n";
  log_.emit(source_, "boot_banner", {{"text", text}, {"model", profile_.model}, {"cause", cause}});
  volatile uint8_t* ram = reinterpret_cast<volatile uint8_t*>(&fw_);  // RAM (and the secret key) is gone
  for (size_t i = 0; i < sizeof fw_; i++) ram[i] = 0;
  cfg_.reset_reason = reason;
  begin_boot();
  if (iotw_fw_boot(&fw_, &cfg_, &port_) != 0) throw std::runtime_error(spec_.name + ": NVS not writable");
  powered_ = true;
  wdt_.feed();
  log_.emit(source_, "reset", {{"reset_reason", reason}, {"boot_count", fw_.boot_count}, {"cause", cause}});
  note_state();
}

void DeviceRuntime::reboot() {
  if (!running_ || !powered_) throw std::runtime_error(spec_.name + " is not running (powered off?)");
  reset_to(profile_.sw_reset, profile_.sw_reset_banner, "software");
}

void DeviceRuntime::hang() {
  if (!running_ || !powered_) throw std::runtime_error(spec_.name + " is not running (powered off?)");
  if (hung_) return;
  hung_ = true;
  log_.emit(source_, "hung", {{"watchdog", profile_.wdt_name}, {"watchdog_timeout_ms", profile_.wdt_timeout_ms},
                              {"starved_ms", wdt_.starved_ms()}});
}

void DeviceRuntime::skew_clock(int64_t offset_ms, double ppm) {
  const uint64_t starved = wdt_.starved_ms();
  clock_.skew(offset_ms, ppm);
  wdt_.set_starved(starved);  // the step is not time the watchdog counted
  nlohmann::json j = clock_json();
  j["offset_ms"] = offset_ms;
  log_.emit(source_, "clock_skewed", std::move(j));
}

nlohmann::json DeviceRuntime::clock_json() const {
  const uint64_t dev = clock_.now_ms();
  return {{"device_ms", dev}, {"true_ms", clock_.base().now_ms()}, {"drift_ms", clock_.drift_ms()},
          {"ppm", clock_.ppm()},
          {"uptime_ms", powered_ && dev >= fw_.boot_ms ? dev - fw_.boot_ms : 0}};
}

void DeviceRuntime::tick() {
  if (!running_ || !powered_) return;
  release_held();
  if (hung_) {
    if (wdt_.expired()) {
      const uint64_t starved = wdt_.starved_ms();
      log_.emit(source_, "watchdog_reset", {{"watchdog", profile_.wdt_name}, {"starved_ms", starved},
                                            {"watchdog_timeout_ms", profile_.wdt_timeout_ms}});
      reset_to(profile_.wdt_reset, profile_.wdt_reset_banner, "watchdog");
    }
    return;
  }
  iotw_fw_poll(&fw_);
  wdt_.feed();
  note_state();
}

void DeviceRuntime::start() {
  std::string banner;
  for (const auto& line : profile_.boot_banner) banner += line + "\n";
  nlohmann::json fields{{"text", banner}, {"model", profile_.model}, {"chip", profile_.chip}, {"cpu_mhz", profile_.cpu_mhz},
                        {"boot_ms", profile_.boot_ms}, {"ed25519_sign_us", profile_.ed25519_sign_us()},
                        {"link", spec_.trust_node_udp.empty() ? spec_.link : "udp:" + spec_.trust_node_udp}};
  if (spec_.links.size() > 1) fields["links"] = spec_.links;
  log_.emit(source_, "boot_banner", std::move(fields));
  links_.clear();
  node_ = 0;
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
  begin_boot();
  if (iotw_fw_boot(&fw_, &cfg_, &port_) != 0) throw std::runtime_error(spec_.name + ": NVS not writable");
  powered_ = true;
  wdt_.feed();
  note_state();
  for (size_t i = 0; i < links_.size(); i++) read_some(i);
  arm_poll();
}

void DeviceRuntime::power_off() {
  powered_ = false;
  hung_ = false;  // a power cycle ends an endless loop
  held_.clear();  // frames waiting for the CPU die with it
  volatile uint8_t* ram = reinterpret_cast<volatile uint8_t*>(&fw_);  // RAM (and the secret key) is gone
  for (size_t i = 0; i < sizeof fw_; i++) ram[i] = 0;
  note_state();
}

void DeviceRuntime::power_on(uint32_t reset_reason) {
  cfg_.reset_reason = reset_reason;
  begin_boot();
  if (iotw_fw_boot(&fw_, &cfg_, &port_) != 0) throw std::runtime_error(spec_.name + ": NVS not writable");
  powered_ = true;
  wdt_.feed();
  log_.emit(source_, "reset", {{"reset_reason", reset_reason}, {"boot_count", fw_.boot_count}});
  note_state();
}

int64_t DeviceRuntime::report_usage(uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s) {
  if (!powered_) return 0;
  const int64_t rc = iotw_fw_report_usage(&fw_, energy_mwh, on_seconds, period_s);
  note_state();
  return rc;
}

void DeviceRuntime::stop() {
  running_ = false;
  powered_ = false;
  disarm_poll();
  release_timer_.cancel();
  held_.clear();
  for (auto& l : links_) {
    boost::system::error_code ec;
    l->retry.cancel();
    l->sd.close(ec);
    l->udp.close(ec);
  }
  links_.clear();
}

int DeviceRuntime::on_send(void* user, const uint8_t* bytes, size_t len) {
  auto* self = static_cast<DeviceRuntime*>(user);
  if (self->node_ >= self->links_.size()) return -1;
  if (self->held_.empty() && self->now_us() >= self->cpu_free_us_)  // the CPU is idle: out at once
    return self->write_link(self->node_, bytes, len) ? 0 : -1;
  // Still booting or still computing (a signature): the frame leaves when the CPU is done, after those before it.
  const bool was_empty = self->held_.empty();
  self->held_.push_back({self->cpu_free_us_, self->node_, std::vector<uint8_t>(bytes, bytes + len)});
  if (was_empty) self->release_held();
  return 0;
}

void DeviceRuntime::on_log(void* user, iotw_log_level level, const char* event, const char* detail) {
  auto* self = static_cast<DeviceRuntime*>(user);
  self->log_.emit(self->source_, "log", {{"level", level_name(level)}, {"event", event}, {"detail", detail}});
}

void DeviceRuntime::on_select_node(void* user, uint8_t index, const char* reason) {
  auto* self = static_cast<DeviceRuntime*>(user);
  if (index >= self->links_.size()) return;
  self->node_ = index;
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
    if (powered_ && !hung_ && i == node_) {
      iotw_fw_on_rx(&fw_, rx_buffer().data(), n);
      // The firmware panicked (behaviour reset_on_garbage): its panic handler restarts the chip, a software reset.
      if (state() == IOTW_FW_OFF) reset_to(profile_.sw_reset, profile_.sw_reset_banner, "panic");
    }
    note_state();
    read_some(i);
  };
  if (l.datagram()) l.udp.async_wait(boost::asio::ip::udp::socket::wait_read, std::move(on_readable));
  else l.sd.async_wait(boost::asio::posix::stream_descriptor::wait_read, std::move(on_readable));
}

void DeviceRuntime::arm_poll() {
  if (poll_) return;
  poll_ = [this] {
    if (!running_) return;
    tick();
    note_state();
  };
  boost::asio::use_service<PollService>(io_).add(&poll_);
}

void DeviceRuntime::disarm_poll() {
  if (!poll_) return;
  boost::asio::use_service<PollService>(io_).remove(&poll_);
  poll_ = nullptr;
}

void DeviceRuntime::note_state() {
  iotw_fw_state s = iotw_fw_get_state(&fw_);
  if (s == reported_state_) return;
  reported_state_ = s;
  log_.emit(source_, "state", {{"state", state_name(s)}});
}

}  // namespace iotw::emu
