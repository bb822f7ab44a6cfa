#include "dps_device.hpp"

#include "common/chip_control.hpp"
#include "common/device_behaviour.hpp"

#include <algorithm>

namespace iotw::emu {

namespace {
constexpr auto kTick = std::chrono::milliseconds(20);
}  // namespace

struct DpsDevice::RuntimeFirmware final : RailFirmware {
  explicit RuntimeFirmware(DeviceRuntime& r) : rt(r) {}
  void start() override { rt.start(); }
  void power_off() override { rt.power_off(); }
  void power_on(uint32_t reset_reason) override { rt.power_on(reset_reason); }
  int64_t report_usage(uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s) override {
    return rt.report_usage(energy_mwh, on_seconds, period_s);
  }
  FirmwareStatus status() const override {
    FirmwareStatus fs;
    if (!rt.powered()) return fs;
    fs.reset_reason = static_cast<uint16_t>(rt.reset_reason());
    fs.state = static_cast<uint16_t>(rt.state());
    fs.boot_count = static_cast<uint16_t>(rt.boot_count());
    std::copy_n(rt.pubkey(), fs.id.size(), fs.id.begin());
    return fs;
  }
  DeviceRuntime& rt;
};

DpsDevice::DpsDevice(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, const Clock& clock)
    : io_(io),
      spec_(std::move(spec)),
      log_(log),
      clock_(clock),
      source_("emu:" + spec_.name),
      core_(clock, [this](const char* kind, nlohmann::json f) { log_.emit(source_, kind, std::move(f)); },
            spec_.power, spec_.load_ohm, behaviour_flags(spec_.behaviour).modbus_off_by_one),
      modbus_(io, core_.registers(), log, source_, [this] { tick(); }),
      tick_timer_(io),
      usage_timer_(io) {
  if (spec_.link.empty()) return;
  runtime_.emplace(io, spec_, powered_device_profile(spec_.model), log, &clock_);
  firmware_ = std::make_unique<RuntimeFirmware>(*runtime_);
  core_.set_firmware(firmware_.get());
}

DpsDevice::~DpsDevice() = default;

void DpsDevice::start() {
  running_ = true;
  if (!spec_.modbus_tcp.empty()) {
    modbus_tcp_ = modbus_.listen_tcp(spec_.modbus_tcp);
    log_.emit(source_, "modbus_listening", {{"tcp", modbus_tcp_}});
  }
  core_.start();
  arm_tick();
  if (runtime_) arm_usage();
}

void DpsDevice::stop() {
  running_ = false;
  tick_timer_.cancel();
  usage_timer_.cancel();
  modbus_.stop();
  if (runtime_) runtime_->stop();
}

std::vector<std::string> DpsDevice::control_commands() const {
  if (!runtime_) return {};
  return {"reboot", "hang", "clock_skew", "clock"};
}

nlohmann::json DpsDevice::status() const {
  nlohmann::json s = Device::status();
  s["modbus_tcp"] = modbus_tcp_;
  s["vin"] = core_.chip().rail().input_v();
  s["output"] = core_.chip().output();
  if (runtime_)
    s["firmware"] = {{"powered", runtime_->powered()}, {"boot_count", runtime_->boot_count()},
                     {"reset_reason", runtime_->reset_reason()}, {"node_index", runtime_->node_index()}};
  return s;
}

std::string DpsDevice::refusal_hint(const std::string& cmd) const {
  if (cmd == "power")
    return "its supply is its chip's rail: write its VIN register (docs/faults.md brownout, power_loss)";
  if (!runtime_) return "it runs no firmware (no 'link')";
  return Device::refusal_hint(cmd);
}

nlohmann::json DpsDevice::reboot() {
  if (!runtime_) refuse("reboot");
  return chip_reboot(*runtime_);
}
nlohmann::json DpsDevice::hang() {
  if (!runtime_) refuse("hang");
  return chip_hang(*runtime_);
}
nlohmann::json DpsDevice::clock_skew(int64_t offset_ms, double ppm) {
  if (!runtime_) refuse("clock_skew");
  return chip_clock_skew(*runtime_, offset_ms, ppm);
}
nlohmann::json DpsDevice::clock() {
  if (!runtime_) refuse("clock");
  return chip_clock(*runtime_);
}

void DpsDevice::tick() { core_.tick(); }

void DpsDevice::arm_tick() {
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    tick();
    arm_tick();
  });
}

void DpsDevice::arm_usage() {
  usage_timer_.expires_after(std::chrono::milliseconds(spec_.usage_period_ms));
  usage_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    core_.tick();
    core_.report_usage();
    arm_usage();
  });
}

}  // namespace iotw::emu
