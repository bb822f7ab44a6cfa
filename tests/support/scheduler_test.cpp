// The one scheduler (support/scheduler.hpp): order, ties, bounds, time.
#include <gtest/gtest.h>

#include <vector>

#include "iotw/support/scheduler.hpp"

namespace iotw {
namespace {

TEST(Scheduler, RunsActionsInTimeOrderAndTiesInTheOrderTheyWereScheduled) {
  Scheduler s;
  std::vector<int> order;
  const auto t0 = s.now_ns();
  s.at(t0 + 30, [&] { order.push_back(3); });
  s.at(t0 + 10, [&] { order.push_back(1); });
  s.at(t0 + 20, [&] { order.push_back(2); });
  s.at(t0 + 20, [&] { order.push_back(22); });  // same time: after the first one scheduled for it
  EXPECT_EQ(s.run_until(t0 + 100), 4u);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 22, 3}));
  EXPECT_EQ(s.now_ns(), t0 + 100);  // the bound, once nothing else is due
}

TEST(Scheduler, StartsAtTheFixedEpochAndShowsTheActionsTimeWhileItRuns) {
  Scheduler s;
  EXPECT_EQ(s.now_ns(), Scheduler::kEpochNs);
  EXPECT_EQ(s.now_ms(), 1'767'225'600'000ULL);  // 2026-01-01T00:00:00Z
  std::uint64_t seen = 0;
  s.after(5'000'000, [&] { seen = s.elapsed_ns(); });
  s.run_until(Scheduler::kEpochNs + 1'000'000'000);
  EXPECT_EQ(seen, 5'000'000u);
}

TEST(Scheduler, LeavesActionsLaterThanTheBoundQueued) {
  Scheduler s;
  int ran = 0;
  s.after(10, [&] { ++ran; });
  s.after(1000, [&] { ++ran; });
  s.run_until(s.now_ns() + 500);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(s.pending(), 1u);
  s.run_until(s.now_ns() + 500);
  EXPECT_EQ(ran, 2);
}

TEST(Scheduler, AnActionScheduledInThePastRunsNowAfterWhatIsAlreadyDue) {
  Scheduler s;
  std::vector<int> order;
  s.after(100, [&] {
    order.push_back(1);
    s.at(0, [&] { order.push_back(3); });  // the past: runs at now, never moves time back
  });
  s.after(100, [&] { order.push_back(2); });
  const auto t = s.now_ns() + 100;
  s.run_until(t + 1);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_GE(s.now_ns(), t);
}

TEST(Scheduler, StopEndsTheRunAfterTheCurrentAction) {
  Scheduler s;
  int ran = 0;
  s.after(1, [&] {
    ++ran;
    s.stop();
  });
  s.after(2, [&] { ++ran; });
  s.run_until(s.now_ns() + 10);
  EXPECT_EQ(ran, 1);
  EXPECT_TRUE(s.stopped());
  s.run_until(s.now_ns() + 10);
  EXPECT_EQ(ran, 2);
}

TEST(Scheduler, AnActionThatThrowsStopsTheRunAndPropagates) {
  Scheduler s;
  s.after(1, [] { throw std::runtime_error("boom"); });
  int later = 0;
  s.after(2, [&] { ++later; });
  EXPECT_THROW(s.run_until(s.now_ns() + 10), std::runtime_error);
  EXPECT_EQ(later, 0);
}

}  // namespace
}  // namespace iotw

namespace iotw {
namespace {

TEST(Scheduler, RunNextTakesOneStepAndCanStartAtAnyTime) {
  Scheduler s(5'000);
  EXPECT_EQ(s.now_ns(), 5'000u);
  std::vector<int> order;
  s.at(7'000, [&] { order.push_back(1); });
  s.at(6'000, [&] { order.push_back(0); });
  EXPECT_TRUE(s.run_next());
  EXPECT_EQ(order, (std::vector<int>{0}));
  EXPECT_EQ(s.now_ns(), 6'000u);
  EXPECT_TRUE(s.run_next());
  EXPECT_EQ(s.now_ns(), 7'000u);
  EXPECT_FALSE(s.run_next());
}

}  // namespace
}  // namespace iotw
