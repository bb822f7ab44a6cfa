#include "powered_chip.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace iotw::emu {

namespace {
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

PoweredChip::PoweredChip(const Clock& clock, Emit emit, std::vector<PowerStep> schedule, double load_ohm,
                         bool modbus_off_by_one)
    : clock_(clock), emit_(std::move(emit)), schedule_(std::move(schedule)), chip_(clock), map_(chip_) {
  chip_.set_voltage(12.0);
  chip_.set_current(2.0);
  chip_.set_load_ohm(load_ohm);
  chip_.set_power_on_output(true);  // S-INI = 1: an appliance's supply comes up on
  map_.set_off_by_one(modbus_off_by_one);  // the chip's own defect (Modbus layer)
}

void PoweredChip::start() {
  started_ms_ = last_report_ms_ = clock_.now_ms();
  chip_.set_input(kNominalInputV);
  tick();
}

void PoweredChip::tick() {
  const uint64_t now = clock_.now_ms();
  while (next_step_ < schedule_.size() && now - started_ms_ >= schedule_[next_step_].at_ms) {
    const PowerStep& s = schedule_[next_step_++];
    chip_.set_input(s.vin, s.ramp_v_per_s);
    emit_("supply", {{"vin", s.vin}, {"ramp_v_per_s", s.ramp_v_per_s}});
  }
  for (const RailEvent& e : chip_.advance()) {
    nlohmann::json f{{"event", rail_event_name(e.kind)}, {"vin", chip_.rail().input_v()}};
    if (e.kind == RailEvent::kBoot) f["reset_reason"] = e.reset_reason;
    emit_("rail", f);
    if (e.kind == RailEvent::kBoot && on_boot_) on_boot_();
    if (!fw_) continue;
    if (e.kind != RailEvent::kBoot) {
      fw_->power_off();
    } else if (!firmware_started_) {
      firmware_started_ = true;
      fw_->start();
    } else {
      fw_->power_on(e.reset_reason);
    }
  }
  map_.set_firmware_status(fw_ ? fw_->status() : FirmwareStatus{});
}

void PoweredChip::report_usage() {
  if (!fw_) return;
  const uint64_t now = clock_.now_ms();
  const auto mwh = static_cast<uint64_t>(std::floor(chip_.energy_mwh()));
  const uint64_t on_s = chip_.on_ms() / 1000;
  const uint64_t d_mwh = mwh - reported_mwh_;
  const auto period_s = static_cast<uint32_t>(std::max<uint64_t>(1, (now - last_report_ms_ + 500) / 1000));
  const auto d_on = static_cast<uint32_t>(std::min<uint64_t>(on_s - reported_on_s_, period_s));
  if (d_mwh == 0 && d_on == 0) return;  // nothing used: nothing to report
  const int64_t seq = fw_->report_usage(d_mwh, d_on, period_s);
  if (seq <= 0) return;  // not attached, NVS or link failure: the usage goes into the next report
  reported_mwh_ = mwh;
  reported_on_s_ = on_s;
  last_report_ms_ = now;
  emit_("usage_report", {{"seq", seq}, {"energy_mwh", d_mwh}, {"on_seconds", d_on}, {"period_s", period_s}});
}

}  // namespace iotw::emu
