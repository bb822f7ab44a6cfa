#include "iotw/sim/sim_powered_device.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "device_behaviour.hpp"
#include "dps_supply.hpp"
#include "smart_bulb/led_load.hpp"

namespace iotw::sim {

namespace {

/// The firmware's config: a Modbus-layer behaviour is the chip's, so the firmware runs honest.
SimDeviceConfig firmware_config(SimDeviceConfig cfg) {
  if (emu::device_behaviour(cfg.behaviour).layer == emu::BehaviourLayer::modbus) cfg.behaviour = "honest";
  return cfg;
}

std::vector<emu::PowerStep> schedule_of(const harness::PoweredSettings& p) {
  std::vector<emu::PowerStep> steps;
  for (const harness::PowerStep& s : p.power)
    steps.push_back({static_cast<std::uint64_t>(std::max(0, s.at_ms)), s.vin, s.ramp_v_per_s});
  return steps;
}

}  // namespace

struct SimPoweredDevice::Firmware final : emu::RailFirmware {
  explicit Firmware(SimDevice& d, std::uint32_t power_on_reset) : dev(d), reset_reason(power_on_reset) {}
  void start() override { dev.start(); }
  void power_off() override { dev.power_off(); }
  void power_on(std::uint32_t reason) override {
    reset_reason = reason;
    dev.power_on(reason);
  }
  std::int64_t report_usage(std::uint64_t energy_mwh, std::uint32_t on_seconds, std::uint32_t period_s) override {
    return dev.report_usage(energy_mwh, on_seconds, period_s);
  }
  /// State, reset reason of the last rail boot and key id; SimDevice keeps its boot count to itself (0 here). Nothing
  /// reads the map in sim mode (no Modbus server).
  emu::FirmwareStatus status() const override {
    emu::FirmwareStatus fs;
    if (!dev.powered()) return fs;
    fs.reset_reason = static_cast<std::uint16_t>(reset_reason);
    fs.state = static_cast<std::uint16_t>(dev.state());
    std::copy_n(dev.pubkey(), fs.id.size(), fs.id.begin());
    return fs;
  }
  SimDevice& dev;
  std::uint32_t reset_reason;
};

struct SimPoweredDevice::Bulb {
  Bulb(emu::DpsChip& chip, const std::string& name) : led(std::hash<std::string>{}(name)), load(chip, led) {}
  emu::YeelightBulb led;  ///< the bulb id as SmartBulb's (only its discovery reply shows it)
  emu::LedLoad load;
};

SimPoweredDevice::SimPoweredDevice(Scheduler& sched, EventStream& events, SimPoweredConfig cfg,
                                   emu::CollusionBoard& board, SimDevice::Send send)
    : sched_(sched),
      model_(cfg.model),
      usage_period_ns_(static_cast<std::uint64_t>(cfg.powered.usage_period_ms.value_or(emu::kDefaultUsagePeriodMs)) *
                       1'000'000),
      fw_(sched, events, firmware_config(cfg.device), emu::powered_device_profile(cfg.model), board, std::move(send)),
      chip_(
          sched,
          [&events, source = "emu:" + cfg.device.name](const char* kind, nlohmann::json f) {
            events.emit(source, kind, std::move(f));
          },
          schedule_of(cfg.powered), cfg.powered.load_ohm.value_or(emu::kDefaultLoadOhm),
          emu::behaviour_flags(cfg.device.behaviour).modbus_off_by_one),
      rail_fw_(std::make_unique<Firmware>(fw_, emu::powered_device_profile(cfg.model).power_on_reset)) {
  chip_.set_firmware(rail_fw_.get());
  if (model_ == "bulb") {
    bulb_ = std::make_unique<Bulb>(chip_.chip(), cfg.device.name);
    chip_.set_on_boot([b = bulb_.get()] { b->load.power_cycle(); });
  }
}

SimPoweredDevice::~SimPoweredDevice() = default;

void SimPoweredDevice::start() {
  chip_.start();
  sched_.after(kTickNs, [this] { tick(); });
  sched_.after(usage_period_ns_, [this] { report_usage(); });
}

void SimPoweredDevice::tick() {
  chip_.tick();
  fw_.tick();
  sched_.after(kTickNs, [this] { tick(); });
}

void SimPoweredDevice::report_usage() {
  chip_.tick();
  chip_.report_usage();
  sched_.after(usage_period_ns_, [this] { report_usage(); });
}

void SimPoweredDevice::set_supply(double vin, double ramp_v_per_s) {
  using harness::DpsSupplyWrite;
  const DpsSupplyWrite w = harness::dps_supply_registers(vin, ramp_v_per_s);
  for (const auto& [addr, value] : {std::pair{DpsSupplyWrite::kRampRegister, w.ramp},
                                    std::pair{DpsSupplyWrite::kVinRegister, w.vin}}) {
    chip_.tick();  // as the Modbus server does before every request
    if (chip_.registers().check_write(addr, &value, 1) != emu::ModbusException::kNone)
      throw harness::DpsSupplyError("the register map refused the supply write");
    chip_.registers().write(addr, value);
  }
}

}  // namespace iotw::sim
