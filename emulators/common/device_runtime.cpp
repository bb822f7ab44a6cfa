#include "device_runtime.hpp"

#include <cstring>
#include <stdexcept>

#include "serial_link.hpp"
#include "firmware_host.hpp"

namespace iotw::emu {

namespace {
constexpr auto kPollPeriod = std::chrono::milliseconds(20);
constexpr auto kReadRetry = std::chrono::milliseconds(50);

}  // namespace

const std::vector<std::string>& device_behaviours() {
  static const std::vector<std::string> v{"honest", "invert_verdict", "wrong_hash", "collude"};
  return v;
}

DeviceRuntime::DeviceRuntime(boost::asio::io_context& io, DeviceSpec spec, const EspChipProfile& profile,
                             EventLog& log)
    : io_(io),
      spec_(std::move(spec)),
      profile_(profile),
      log_(log),
      source_("emu:" + spec_.name),
      poll_timer_(io),
      retry_timer_(io) {
  cfg_.name = spec_.name.c_str();
  cfg_.model = profile_.model.c_str();
  cfg_.fw_version = profile_.fw_version.c_str();
  cfg_.reset_reason = profile_.power_on_reset;
  if (spec_.node_pubkey) cfg_.node_pubkey = spec_.node_pubkey->data();  // spec_ outlives fw_
  apply_behaviour(spec_.behaviour, cfg_.faults);
  set_nvs_dir(spec_.nvs_dir, port_ctx_);
  port_ctx_.send = &DeviceRuntime::on_send;
  port_ctx_.log = &DeviceRuntime::on_log;
  port_ctx_.user = this;
  port_ctx_.kind = IOTW_LINK_SERIAL;
  if (iotw_host_port_init(&port_, &port_ctx_) != 0) throw std::runtime_error("libsodium init failed");
}

void DeviceRuntime::start() {
  std::string banner;
  for (const auto& line : profile_.boot_banner) banner += line + "\n";
  log_.emit(source_, "boot_banner",
            {{"text", banner}, {"model", profile_.model}, {"cpu_mhz", profile_.cpu_mhz}, {"link", spec_.link}});
  link_.emplace(io_, open_serial_link(spec_.link, spec_.baud));
  running_ = true;
  if (iotw_fw_boot(&fw_, &cfg_, &port_) != 0) throw std::runtime_error(spec_.name + ": NVS not writable");
  powered_ = true;
  note_state();
  read_some();
  arm_poll();
}

void DeviceRuntime::power_off() {
  powered_ = false;
  volatile uint8_t* ram = reinterpret_cast<volatile uint8_t*>(&fw_);  // RAM (and the secret key) is gone
  for (size_t i = 0; i < sizeof fw_; i++) ram[i] = 0;
  note_state();
}

void DeviceRuntime::power_on(uint32_t reset_reason) {
  cfg_.reset_reason = reset_reason;
  if (iotw_fw_boot(&fw_, &cfg_, &port_) != 0) throw std::runtime_error(spec_.name + ": NVS not writable");
  powered_ = true;
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
  poll_timer_.cancel();
  retry_timer_.cancel();
  if (link_) {
    boost::system::error_code ec;
    link_->close(ec);
    link_.reset();
  }
}

int DeviceRuntime::on_send(void* user, const uint8_t* bytes, size_t len) {
  auto* self = static_cast<DeviceRuntime*>(user);
  if (!self->link_) return -1;
  boost::system::error_code ec;
  boost::asio::write(*self->link_, boost::asio::buffer(bytes, len), ec);
  return ec ? -1 : 0;
}

void DeviceRuntime::on_log(void* user, iotw_log_level level, const char* event, const char* detail) {
  auto* self = static_cast<DeviceRuntime*>(user);
  self->log_.emit(self->source_, "log", {{"level", level_name(level)}, {"event", event}, {"detail", detail}});
}

void DeviceRuntime::read_some() {
  if (!running_) return;
  link_->async_read_some(boost::asio::buffer(rx_), [this](boost::system::error_code ec, size_t n) {
    if (!running_) return;
    if (ec) {  // EIO while the other end of the PTY is closed: wait and read again
      retry_timer_.expires_after(kReadRetry);
      retry_timer_.async_wait([this](boost::system::error_code e) {
        if (!e) read_some();
      });
      return;
    }
    if (powered_) iotw_fw_on_rx(&fw_, rx_.data(), n);  // an unpowered UART hears nothing
    note_state();
    read_some();
  });
}

void DeviceRuntime::arm_poll() {
  poll_timer_.expires_after(kPollPeriod);
  poll_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    if (powered_) iotw_fw_poll(&fw_);
    note_state();
    arm_poll();
  });
}

void DeviceRuntime::note_state() {
  iotw_fw_state s = iotw_fw_get_state(&fw_);
  if (s == reported_state_) return;
  reported_state_ = s;
  log_.emit(source_, "state", {{"state", state_name(s)}});
}

}  // namespace iotw::emu
