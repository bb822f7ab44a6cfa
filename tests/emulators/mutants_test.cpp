// The device-behaviour registry (common/device_behaviour.hpp) and the mutants that live outside the firmware core:
// the AT module's terminator (at_wrong_terminator) and the DPS chip's Modbus map (modbus_off_by_one). The firmware
// core's mutants are tested in tests/firmware_stub/firmware_test.cpp, the host-layer ones (no_nvs,
// reset_on_garbage's reset) in device_runtime_test.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "device_behaviour.hpp"
#include "dps_chip/dps_register_map.hpp"
#include "esp_wifi/at_engine.hpp"

using namespace iotw::emu;

namespace {

/// How many flags f sets (fault bytes of the core, plus the host-side flags).
int flags_set(const BehaviourFlags& f) {
  int n = 0;
  const auto* b = reinterpret_cast<const uint8_t*>(&f.fw);
  for (size_t i = 0; i < sizeof f.fw; i++) n += b[i] != 0;
  return n + f.no_nvs + f.modbus_off_by_one + f.at_wrong_terminator;
}

TEST(DeviceBehaviours, EveryMutantOfTheCertificationTableExists) {
  // docs/certification.md "Mutants", and the Byzantine devices of docs/faults.md.
  for (const char* name :
       {"wrong_hash", "wrong_domain", "ignore_crc", "no_nvs", "replay_attestation", "stale_witness", "slow_miner",
        "invert_verdict", "reset_on_garbage", "drop_heartbeats", "wrong_reset_reason", "forge_vrf",
        "accept_forged_checkpoint", "usage_seq_reset", "foreign_assignment", "cached_nonce", "modbus_off_by_one",
        "at_wrong_terminator", "collude", "verdict_other_hash", "wrong_key", "collude_all_slots",
        "accept_unsigned_request", "inflate_usage"})
    EXPECT_NO_THROW(device_behaviour(name)) << name;
  EXPECT_EQ(device_behaviours().front(), "honest");
  EXPECT_THROW(device_behaviour("evil"), std::invalid_argument);
}

TEST(DeviceBehaviours, HonestSetsNothingAndEveryOtherBehaviourExactlyOneDistinctFlag) {
  EXPECT_EQ(flags_set(behaviour_flags("honest")), 0);
  std::set<std::vector<uint8_t>> seen;
  for (const auto& b : device_behaviour_table()) {
    if (b.name == "honest") continue;
    const BehaviourFlags f = behaviour_flags(b.name);
    EXPECT_EQ(flags_set(f), 1) << b.name;
    EXPECT_FALSE(b.bug.empty()) << b.name;
    std::vector<uint8_t> key(reinterpret_cast<const uint8_t*>(&f.fw), reinterpret_cast<const uint8_t*>(&f.fw) + sizeof f.fw);
    key.insert(key.end(), {f.no_nvs, f.modbus_off_by_one, f.at_wrong_terminator});
    EXPECT_TRUE(seen.insert(key).second) << b.name << " sets the same flag as another behaviour";
  }
  EXPECT_EQ(device_behaviours().size(), device_behaviour_table().size());
}

TEST(DeviceBehaviours, AMutantAppliesOnlyWhereItsLayerExists) {
  EXPECT_EQ(behaviour_mismatch("wrong_hash", "esp32", "soc"), "");
  EXPECT_EQ(behaviour_mismatch("wrong_hash", "esp32", "at"), "");  // the appliance MCU runs the firmware
  EXPECT_NE(behaviour_mismatch("wrong_hash", "dps", "soc", false), "");  // a dps without a link runs none
  EXPECT_EQ(behaviour_mismatch("modbus_off_by_one", "dps", "soc", false), "");
  EXPECT_NE(behaviour_mismatch("modbus_off_by_one", "esp32", "soc"), "");
  EXPECT_EQ(behaviour_mismatch("at_wrong_terminator", "rtl8710", "at"), "");
  EXPECT_NE(behaviour_mismatch("at_wrong_terminator", "esp32", "soc"), "");
  EXPECT_EQ(behaviour_mismatch("no_nvs", "esp8266", "soc"), "");
  EXPECT_NE(behaviour_mismatch("no_nvs", "esp8266", "tap"), "");
  EXPECT_EQ(behaviour_mismatch("honest", "bulb", "soc", false), "");
}

/// An AT engine past its boot, echo off.
std::unique_ptr<AtEngine> module(const std::string& model, bool mutant, uint64_t& now) {
  AtModuleConfig c;
  c.model = model;
  c.ap.password = "0123456789";
  c.wrong_terminator = mutant;
  auto e = make_at_engine(c);
  e->power_on(now);
  now += c.boot_ms;
  e->tick(now);
  e->take_output();
  return e;
}

std::string cmd(AtEngine& e, const std::string& line, uint64_t now) {
  e.feed(line, now);
  e.tick(now);
  return e.take_output();
}

TEST(AtWrongTerminator, EspResultLinesEndInLfWithoutCr) {
  uint64_t now = 0;
  auto ref = module("esp8266", false, now);
  EXPECT_EQ(cmd(*ref, "AT\r\n", now), "AT\r\n\r\nOK\r\n");  // echo on, the reference
  now = 0;
  auto m = module("esp8266", true, now);
  EXPECT_EQ(cmd(*m, "AT\r\n", now), "AT\r\n\nOK\n");  // the echo verbatim, the OK line with "\n" alone
  EXPECT_EQ(cmd(*m, "ATE0\r\n", now), "ATE0\r\n\nOK\n");
  EXPECT_EQ(cmd(*m, "AT+FAKE\r\n", now), "\nERROR\n");
}

TEST(AtWrongTerminator, RealtekLinesToo) {
  uint64_t now = 0;
  auto m = module("rtl8710", true, now);
  const std::string out = cmd(*m, "ATSV\r\n", now);
  EXPECT_NE(out.find("\n[ATSV] OK"), std::string::npos) << out;
  EXPECT_EQ(out.find("\r\n["), std::string::npos) << out;
}

TEST(AtWrongTerminator, ReceivedPayloadBytesPassUntouched) {
  uint64_t now = 0;
  auto m = module("esp8266", true, now);
  cmd(*m, "ATE0\r\n", now);
  cmd(*m, "AT+CWJAP=\"iotw-lab\",\"0123456789\"\r\n", now);
  now += 1000;
  m->tick(now);
  m->take_output();
  cmd(*m, "AT+CIPSTART=\"UDP\",\"127.0.0.1\",5000\r\n", now);
  m->take_actions();
  m->on_open_result(0, true, now);
  EXPECT_EQ(m->take_output(), "CONNECT\n\nOK\n");
  m->on_receive(0, "a\r\nb", "127.0.0.1", 5000, now);
  EXPECT_EQ(m->take_output(), "\n+IPD,4:a\r\nb");
}

TEST(ModbusOffByOne, RegisterZeroHoldsWhatRegisterOneShould) {
  iotw::ManualClock clock{0};
  DpsChip chip{clock};
  chip.set_voltage(12.0);
  chip.set_current(2.0);
  DpsRegisterMap ref{chip}, shifted{chip};
  shifted.set_off_by_one(true);
  EXPECT_EQ(ref.holding(0x00), 1200);  // V-SET 12.00 V
  EXPECT_EQ(ref.holding(0x01), 2000);  // I-SET 2.000 A
  EXPECT_EQ(shifted.holding(0x00), ref.holding(0x01));
  EXPECT_EQ(shifted.holding(0x0A), ref.holding(0x0B));  // the model number moves to 0x0A
  EXPECT_EQ(shifted.holding(0x0B), ref.holding(0x0C));
  EXPECT_EQ(shifted.input(0x00), ref.input(0x01));
  // The address checks are not shifted: no legal request gets an exception.
  EXPECT_EQ(shifted.check_read(3, 0x00, 13), ModbusException::kNone);
  EXPECT_EQ(shifted.check_read(3, 0x0D, 1), ModbusException::kIllegalAddress);
  uint16_t regs[DpsRegisterMap::kHoldingCount], in[DpsRegisterMap::kInputCount];
  shifted.fill(regs, in);
  EXPECT_EQ(regs[0], 2000);
}

}  // namespace
