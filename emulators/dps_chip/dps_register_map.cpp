#include "dps_register_map.hpp"

#include <cmath>

namespace iotw::emu {

namespace {

// Holding registers: writable flag and the largest value a write may carry.
struct Reg {
  bool defined, writable;
  uint16_t max;
};

Reg holding_reg(uint16_t a) {
  switch (a) {
    case 0x00: case 0x50: return {true, true, 5000};   // U-SET 0.01 V, 0..50.00 V
    case 0x01: case 0x51: return {true, true, 5000};   // I-SET 0.001 A, 0..5.000 A
    case 0x02: case 0x03: case 0x04: case 0x05:        // UOUT IOUT POWER UIN
    case 0x07: case 0x08: case 0x0B: case 0x0C:        // PROTECT CV/CC MODEL VERSION
      return {true, false, 0};
    case 0x06: case 0x09: case 0x57: return {true, true, 1};  // LOCK ONOFF S-INI
    case 0x0A: case 0x55: return {true, true, 5};             // B_LED
    case 0x52: return {true, true, 6200};   // S-OVP 0.01 V
    case 0x53: return {true, true, 5200};   // S-OCP 0.001 A
    case 0x54: return {true, true, 2600};   // S-OPP 0.1 W
    case 0x56: return {true, true, 9};      // M-PRE
    case 0x100: return {true, true, 6000};  // VIN 0.01 V
    case 0x101: return {true, true, 65535}; // VIN ramp 0.01 V/s (0 = step)
    case 0x102: return {true, true, 65535}; // load 0.1 ohm (0 = open circuit)
    case 0x103: return {true, true, 10000}; // hold-up ms
    default: return {false, false, 0};
  }
}

uint16_t scaled(double v, double per_unit) {
  const double x = std::round(v * per_unit);
  return x <= 0 ? 0 : x >= 65535 ? 65535 : static_cast<uint16_t>(x);
}

}  // namespace

ModbusException DpsRegisterMap::check_read(uint8_t fc, uint16_t addr, uint16_t count) const {
  if (fc != 3 && fc != 4) return ModbusException::kIllegalFunction;
  if (count == 0 || count > 125) return ModbusException::kIllegalValue;
  for (uint32_t a = addr; a < uint32_t{addr} + count; a++) {
    const bool ok = fc == 3 ? a < kHoldingCount && holding_reg(static_cast<uint16_t>(a)).defined : a < kInputCount;
    if (!ok) return ModbusException::kIllegalAddress;
  }
  return ModbusException::kNone;
}

ModbusException DpsRegisterMap::check_write(uint16_t addr, const uint16_t* values, uint16_t count) const {
  if (count == 0 || count > 123) return ModbusException::kIllegalValue;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t a = uint32_t{addr} + i;
    const Reg r = a < kHoldingCount ? holding_reg(static_cast<uint16_t>(a)) : Reg{false, false, 0};
    if (!r.defined || !r.writable) return ModbusException::kIllegalAddress;
  }
  for (uint32_t i = 0; i < count; i++)
    if (values[i] > holding_reg(static_cast<uint16_t>(addr + i)).max) return ModbusException::kIllegalValue;
  return ModbusException::kNone;
}

uint16_t DpsRegisterMap::holding_at(uint16_t a) const {
  const DpsReading& r = chip_.reading();
  switch (a) {
    case 0x00: case 0x50: return scaled(chip_.vset(), 100);
    case 0x01: case 0x51: return scaled(chip_.iset(), 1000);
    case 0x02: return scaled(r.uout, 100);
    case 0x03: return scaled(r.iout, 1000);
    case 0x04: return scaled(r.pout, 100);
    case 0x05: return scaled(r.uin, 100);
    case 0x06: return lock_;
    case 0x07: return static_cast<uint16_t>(chip_.protect());
    case 0x08: return r.cc ? 1 : 0;
    case 0x09: return chip_.output() ? 1 : 0;
    case 0x0A: case 0x55: return backlight_;
    case 0x0B: return kModel;
    case 0x0C: return kVersion;
    case 0x52: return scaled(chip_.ovp(), 100);
    case 0x53: return scaled(chip_.ocp(), 1000);
    case 0x54: return scaled(chip_.opp(), 10);
    case 0x56: return preset_;
    case 0x57: return chip_.power_on_output() ? 1 : 0;
    case 0x100: return scaled(chip_.rail().target_v(), 100);
    case 0x101: return ramp_;
    case 0x102: return chip_.load_ohm() > 0 ? scaled(chip_.load_ohm(), 10) : 0;
    case 0x103: return static_cast<uint16_t>(chip_.rail().params().holdup_ms);
    default: return 0;
  }
}

uint16_t DpsRegisterMap::input_at(uint16_t a) const {
  const DpsReading& r = chip_.reading();
  const auto energy = static_cast<uint32_t>(chip_.energy_mwh());
  const auto on_s = static_cast<uint32_t>(chip_.on_ms() / 1000);
  switch (a) {
    case 0x00: return scaled(r.uout, 100);
    case 0x01: return scaled(r.iout, 1000);
    case 0x02: return scaled(r.pout, 100);
    case 0x03: return scaled(r.uin, 100);
    case 0x04: return scaled(r.pin, 100);
    case 0x05: return scaled(r.pf, 1000);
    case 0x06: return scaled(r.thd_pct, 10);
    case 0x07: return static_cast<uint16_t>(static_cast<int16_t>(std::lround(r.temp_c * 10)));
    case 0x08: return static_cast<uint16_t>(energy >> 16);
    case 0x09: return static_cast<uint16_t>(energy & 0xffff);
    case 0x0A: return static_cast<uint16_t>(on_s >> 16);
    case 0x0B: return static_cast<uint16_t>(on_s & 0xffff);
    case 0x0C: return fw_.reset_reason;
    case 0x0D: return fw_.state;
    case 0x0E: return fw_.boot_count;
    case 0x0F: return static_cast<uint16_t>(chip_.brownouts());
    case 0x10: case 0x11: case 0x12: case 0x13: {
      const size_t i = 2u * (a - 0x10u);
      return static_cast<uint16_t>(fw_.id[i] << 8 | fw_.id[i + 1]);
    }
    default: return 0;
  }
}

void DpsRegisterMap::write(uint16_t a, uint16_t v) {
  switch (a) {
    case 0x00: case 0x50: chip_.set_voltage(v / 100.0); break;
    case 0x01: case 0x51: chip_.set_current(v / 1000.0); break;
    case 0x06: lock_ = v; break;
    case 0x09: chip_.set_output(v != 0); break;
    case 0x0A: case 0x55: backlight_ = v; break;
    case 0x52: chip_.set_ovp(v / 100.0); break;
    case 0x53: chip_.set_ocp(v / 1000.0); break;
    case 0x54: chip_.set_opp(v / 10.0); break;
    case 0x56: preset_ = v; break;
    case 0x57: chip_.set_power_on_output(v != 0); break;
    case 0x100: chip_.set_input(v / 100.0, ramp_ / 100.0); break;
    case 0x101: ramp_ = v; break;
    case 0x102: chip_.set_load_ohm(v / 10.0); break;
    case 0x103: chip_.rail().set_holdup_ms(v); break;
    default: break;
  }
}

void DpsRegisterMap::fill(uint16_t* holding_regs, uint16_t* input_regs) const {
  for (uint16_t a = 0; a < kHoldingCount; a++) holding_regs[a] = holding(a);
  for (uint16_t a = 0; a < kInputCount; a++) input_regs[a] = input(a);
}

}  // namespace iotw::emu
