// PowerRail and DpsChip on a ManualClock: brown-out vs hold-up, power loss, slow ramps, CV/CC,
// protections and energy metering, all deterministic.
#include <gtest/gtest.h>

#include "common/power_rail.hpp"
#include "dps_chip/dps_chip.hpp"

extern "C" {
#include "iotw/firmware.h"
}

using namespace iotw::emu;

namespace {

std::vector<RailEvent::Kind> kinds(const std::vector<RailEvent>& v) {
  std::vector<RailEvent::Kind> k;
  for (const auto& e : v) k.push_back(e.kind);
  return k;
}

}  // namespace

TEST(PowerRail, BootsWithPowerOnReasonWhenSupplyAppears) {
  iotw::ManualClock clock(1000);
  PowerRail rail(clock);
  EXPECT_TRUE(rail.advance().empty());
  rail.set_input(24);
  auto ev = rail.advance();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, RailEvent::kBoot);
  EXPECT_EQ(ev[0].reset_reason, IOTW_RESET_POWERON);
  EXPECT_EQ(ev[0].at_ms, 1000u);
  EXPECT_TRUE(rail.running());
}

TEST(PowerRail, DipShorterThanHoldUpIsRiddenThrough) {
  iotw::ManualClock clock;
  PowerRail rail(clock, {6.0, 0.5, 2.0, 20});
  rail.set_input(24);
  rail.advance();
  rail.set_input(4);
  clock.advance(19);
  rail.set_input(24);
  clock.advance(100);
  EXPECT_TRUE(rail.advance().empty());
  EXPECT_TRUE(rail.running());
}

TEST(PowerRail, BrownoutLongerThanHoldUpResetsWithBrownoutReason) {
  iotw::ManualClock clock;
  PowerRail rail(clock, {6.0, 0.5, 2.0, 20});
  rail.set_input(24);
  rail.advance();
  rail.set_input(4);
  clock.advance(20);
  auto ev = rail.advance();
  ASSERT_EQ(kinds(ev), std::vector{RailEvent::kBrownout});
  EXPECT_EQ(ev[0].at_ms, 20u);
  EXPECT_EQ(rail.state(), RailState::kBrownout);
  clock.advance(500);
  rail.set_input(6.2);  // above the threshold but inside the hysteresis: still held in reset
  EXPECT_TRUE(rail.advance().empty());
  rail.set_input(24);
  ev = rail.advance();
  ASSERT_EQ(kinds(ev), std::vector{RailEvent::kBoot});
  EXPECT_EQ(ev[0].reset_reason, IOTW_RESET_BROWNOUT);
}

TEST(PowerRail, PowerLossThenRestoreIsAPowerOnBoot) {
  iotw::ManualClock clock;
  PowerRail rail(clock);
  rail.set_input(24);
  rail.advance();
  rail.set_input(0);
  clock.advance(1000);
  EXPECT_EQ(kinds(rail.advance()), std::vector{RailEvent::kPowerLost});
  EXPECT_EQ(rail.state(), RailState::kOff);
  rail.set_input(24);
  auto ev = rail.advance();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].reset_reason, IOTW_RESET_POWERON);
}

TEST(PowerRail, SlowRampBootsWhenItCrossesTheThresholdPlusHysteresis) {
  iotw::ManualClock clock;
  PowerRail rail(clock);
  rail.set_input(24, 1.0);  // 1 V/s from 0 V: 6.5 V after 6.5 s
  clock.advance(6499);
  EXPECT_TRUE(rail.advance().empty());
  clock.advance(1);
  auto ev = rail.advance();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].at_ms, 6500u);
  // and a slow ramp down browns out hold-up ms after crossing 6 V: 24 V -> 6 V at 2 V/s takes 9 s
  clock.advance(100'000);
  rail.advance();
  rail.set_input(5, 2.0);  // exactly 6 V at 9000 ms (not below), below from 9001 ms
  clock.advance(9001 + 20 - 1);
  EXPECT_TRUE(rail.advance().empty());
  clock.advance(1);
  EXPECT_EQ(kinds(rail.advance()), std::vector{RailEvent::kBrownout});
}

class DpsChipTest : public ::testing::Test {
 protected:
  iotw::ManualClock clock{0};
  DpsChip chip{clock};
  void SetUp() override {
    chip.set_input(24);
    chip.set_voltage(12);
    chip.set_current(2);
    chip.set_load_ohm(10);
    chip.set_output(true);
    chip.advance();
  }
};

TEST_F(DpsChipTest, ConstantVoltageWhenTheLoadDrawsLessThanISet) {
  const auto& r = chip.reading();
  EXPECT_FALSE(r.cc);
  EXPECT_DOUBLE_EQ(r.uout, 12);
  EXPECT_DOUBLE_EQ(r.iout, 1.2);
  EXPECT_NEAR(r.pout, 14.4, 1e-9);
  EXPECT_NEAR(r.pin, 14.4 / 0.92 + 0.5, 1e-9);
  EXPECT_GT(r.pf, 0.5);
  EXPECT_LT(r.thd_pct, 80);
}

TEST_F(DpsChipTest, ConstantCurrentWhenTheLoadWouldDrawMore) {
  chip.set_load_ohm(2);  // 12 V / 2 ohm = 6 A > 2 A
  EXPECT_TRUE(chip.reading().cc);
  EXPECT_DOUBLE_EQ(chip.reading().iout, 2);
  EXPECT_DOUBLE_EQ(chip.reading().uout, 4);
}

TEST_F(DpsChipTest, OutputIsCappedByInputDropout) {
  chip.set_input(11);
  EXPECT_NEAR(chip.reading().uout, 10.0, 1e-9);
}

TEST_F(DpsChipTest, ProtectionsLatchAndOutputOnClearsThem) {
  chip.set_ocp(1.0);  // 1.2 A > 1.0 A
  EXPECT_EQ(chip.protect(), DpsProtect::kOcp);
  EXPECT_FALSE(chip.output());
  EXPECT_EQ(chip.reading().iout, 0);
  chip.set_ocp(5);
  chip.set_output(true);
  EXPECT_EQ(chip.protect(), DpsProtect::kNone);
  chip.set_opp(10);  // 14.4 W > 10 W
  EXPECT_EQ(chip.protect(), DpsProtect::kOpp);
  chip.set_opp(250);
  chip.set_ovp(11);  // 12 V > 11 V
  chip.set_output(true);
  EXPECT_EQ(chip.protect(), DpsProtect::kOvp);
}

TEST_F(DpsChipTest, EnergyAndOnTimeIntegrateOnlyWhilePowered) {
  clock.advance(3'600'000);  // one hour at 14.4 W
  chip.advance();
  EXPECT_NEAR(chip.energy_mwh(), 14400, 1e-6);
  EXPECT_EQ(chip.on_ms(), 3'600'000u);
  chip.set_input(3);  // 20 ms hold-up with the output sagging to 3 V / 1.1, then brownout: nothing
  clock.advance(10'000);
  auto ev = chip.advance();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, RailEvent::kBrownout);
  const double sag_w = (3 / 1.1) * (3 / 1.1) / 10;
  EXPECT_NEAR(chip.energy_mwh(), 14400 + sag_w * 0.020 / 3.6, 1e-6);
  EXPECT_EQ(chip.brownouts(), 1u);
  EXPECT_EQ(chip.reading().pout, 0);
  chip.set_input(24);  // reboot: output comes back as S-INI says
  ev = chip.advance();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].reset_reason, IOTW_RESET_BROWNOUT);
  EXPECT_FALSE(chip.output());  // S-INI defaults to off
}

TEST_F(DpsChipTest, TemperatureRisesTowardsTheLossSteadyState) {
  const double loss = chip.reading().pin - chip.reading().pout;
  clock.advance(600'000);  // ten time constants
  chip.advance();
  EXPECT_NEAR(chip.reading().temp_c, 25 + 2 * loss, 0.01);
}
