// The one Clock (support/include/iotw/support/clock.hpp): each clock's origin, and what a sleep does on each.
#include <gtest/gtest.h>

#include <ctime>

#include "iotw/support/clock.hpp"

namespace {

TEST(Clock, SystemClockCountsFromTheUnixEpochAndSteadyClockNeverGoesBack) {
  const iotw::SystemClock sys;
  const std::uint64_t epoch_s = static_cast<std::uint64_t>(std::time(nullptr));
  EXPECT_NEAR(static_cast<double>(sys.now_ms() / 1000), static_cast<double>(epoch_s), 2.0);
  const iotw::SteadyClock steady;
  std::uint64_t last = steady.now_ns();
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t t = steady.now_ns();
    EXPECT_GE(t, last);
    last = t;
  }
}

TEST(Clock, ARealClockSleepsUntilTheTimeAskedForAndAPastTimeReturnsAtOnce) {
  const iotw::SteadyClock steady;
  const std::uint64_t target = steady.now_ns() + 2'000'000;
  steady.sleep_until_ns(target);
  EXPECT_GE(steady.now_ns(), target);
  const iotw::SystemClock sys;
  const std::uint64_t sys_target = sys.now_ns() + 2'000'000;
  sys.sleep_until_ns(sys_target);
  EXPECT_GE(sys.now_ns(), sys_target);
  steady.sleep_until_ns(0);  // long past: returns
}

TEST(Clock, AManualClockStandsStillUntilAdvancedAndASleepJumpsItForwardOnly) {
  iotw::ManualClock m(5);
  EXPECT_EQ(m.now_ns(), 5'000'000u);
  EXPECT_EQ(m.now_ms(), 5u);
  m.advance(2);
  m.advance_ns(500'000);
  EXPECT_EQ(m.now_ns(), 7'500'000u);
  m.sleep_until_ns(9'000'001);
  EXPECT_EQ(m.now_ns(), 9'000'001u);
  EXPECT_EQ(m.now_ms(), 9u);  // whole ms, rounded down
  m.sleep_until_ns(1);        // never back
  EXPECT_EQ(m.now_ns(), 9'000'001u);
}

}  // namespace
