#include "dps_device.hpp"

#include "common/chip_control.hpp"
#include "common/device_behaviour.hpp"

#include <algorithm>
#include <cmath>

namespace iotw::emu {

namespace {
constexpr auto kTick = std::chrono::milliseconds(20);

ChipProfile with_model(const ChipProfile& base, const std::string& model) {
  ChipProfile p = base;
  p.model = model;
  return p;
}

const char* rail_event_name(RailEvent::Kind k) {
  switch (k) {
    case RailEvent::kBoot: return "boot";
    case RailEvent::kBrownout: return "brownout";
    default: return "power_lost";
  }
}
}  // namespace

const ChipProfile& powered_device_profile(const std::string& model) {
  static const ChipProfile dps = with_model(chip_profile("esp8266"), "dps");
  static const ChipProfile bulb = with_model(chip_profile("esp32"), "bulb");
  if (model == "dps") return dps;
  if (model == "bulb") return bulb;
  throw std::invalid_argument("unknown model '" + model + "'");
}

DpsDevice::DpsDevice(boost::asio::io_context& io, DeviceSpec spec, EventLog& log, const Clock& clock)
    : io_(io),
      spec_(std::move(spec)),
      log_(log),
      clock_(clock),
      source_("emu:" + spec_.name),
      chip_(clock),
      map_(chip_),
      modbus_(io, map_, log, source_, [this] { tick(); }),
      tick_timer_(io),
      usage_timer_(io) {
  chip_.set_voltage(12.0);
  chip_.set_current(2.0);
  chip_.set_load_ohm(spec_.load_ohm);
  chip_.set_power_on_output(true);  // S-INI = 1: an appliance's supply comes up on
  map_.set_off_by_one(behaviour_flags(spec_.behaviour).modbus_off_by_one);  // the chip's own defect (Modbus layer)
  if (!spec_.link.empty()) runtime_.emplace(io, spec_, powered_device_profile(spec_.model), log, &clock_);
}

void DpsDevice::start() {
  running_ = true;
  started_ms_ = last_report_ms_ = clock_.now_ms();
  if (!spec_.modbus_tcp.empty()) {
    modbus_tcp_ = modbus_.listen_tcp(spec_.modbus_tcp);
    log_.emit(source_, "modbus_listening", {{"tcp", modbus_tcp_}});
  }
  chip_.set_input(kNominalInputV);
  tick();
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
  s["vin"] = chip_.rail().input_v();
  s["output"] = chip_.output();
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

void DpsDevice::tick() {
  const uint64_t now = clock_.now_ms();
  while (next_power_step_ < spec_.power.size() && now - started_ms_ >= spec_.power[next_power_step_].at_ms) {
    const auto& s = spec_.power[next_power_step_++];
    chip_.set_input(s.vin, s.ramp_v_per_s);
    log_.emit(source_, "supply", {{"vin", s.vin}, {"ramp_v_per_s", s.ramp_v_per_s}});
  }
  for (const RailEvent& e : chip_.advance()) {
    nlohmann::json f{{"event", rail_event_name(e.kind)}, {"vin", chip_.rail().input_v()}};
    if (e.kind == RailEvent::kBoot) f["reset_reason"] = e.reset_reason;
    log_.emit(source_, "rail", f);
    if (e.kind == RailEvent::kBoot && on_boot_) on_boot_();
    if (!runtime_) continue;
    if (e.kind != RailEvent::kBoot) {
      runtime_->power_off();
    } else if (!firmware_started_) {
      firmware_started_ = true;
      runtime_->start();
    } else {
      runtime_->power_on(e.reset_reason);
    }
  }
  FirmwareStatus fs;
  if (runtime_ && runtime_->powered()) {
    fs.reset_reason = static_cast<uint16_t>(runtime_->reset_reason());
    fs.state = static_cast<uint16_t>(runtime_->state());
    fs.boot_count = static_cast<uint16_t>(runtime_->boot_count());
    std::copy_n(runtime_->pubkey(), fs.id.size(), fs.id.begin());
  }
  map_.set_firmware_status(fs);
}

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
    tick();
    report_usage();
    arm_usage();
  });
}

void DpsDevice::report_usage() {
  const uint64_t now = clock_.now_ms();
  const auto mwh = static_cast<uint64_t>(std::floor(chip_.energy_mwh()));
  const uint64_t on_s = chip_.on_ms() / 1000;
  const uint64_t d_mwh = mwh - reported_mwh_;
  const auto period_s = static_cast<uint32_t>(std::max<uint64_t>(1, (now - last_report_ms_ + 500) / 1000));
  const auto d_on = static_cast<uint32_t>(std::min<uint64_t>(on_s - reported_on_s_, period_s));
  if (d_mwh == 0 && d_on == 0) return;  // nothing used: nothing to report
  const int64_t seq = runtime_->report_usage(d_mwh, d_on, period_s);
  if (seq <= 0) return;  // not attached, NVS or link failure: the usage goes into the next report
  reported_mwh_ = mwh;
  reported_on_s_ = on_s;
  last_report_ms_ = now;
  log_.emit(source_, "usage_report",
              {{"seq", seq}, {"energy_mwh", d_mwh}, {"on_seconds", d_on}, {"period_s", period_s}});
}

}  // namespace iotw::emu
