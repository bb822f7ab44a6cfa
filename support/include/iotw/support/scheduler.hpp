// The one scheduler of simulation mode (`iotw rig run --mode sim`, docs/simulation.md): virtual time and an ordered
// queue of actions. Every part of a simulated rig (the trust-node core, the devices' firmware, the links, the rig
// script, the traffic) runs as actions of this queue on one thread, so a rig and its seed give the same order of
// actions, and hence the same bytes, on every run. Nothing here reads an OS clock.
#pragma once
#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

#include "iotw/support/clock.hpp"

namespace iotw {

/// Virtual time (a Clock: now_ns() is the simulated Unix epoch time) and the action queue. Actions due at the same
/// ns run in the order they were scheduled (FIFO). Not thread-safe: one thread schedules and runs.
class Scheduler final : public Clock {
 public:
  using Action = std::function<void()>;
  /// The simulated wall clock at time 0: 2026-01-01T00:00:00Z in ns since the Unix epoch. Every simulated run
  /// starts there, so its timestamps (events, blocks, pcapng) depend on nothing outside the run.
  static constexpr std::uint64_t kEpochNs = 1'767'225'600'000ULL * 1'000'000ULL;

  /// Starts at start_ns (ns since the Unix epoch): kEpochNs for a simulated run, a recorded run's first event for a
  /// replay.
  explicit Scheduler(std::uint64_t start_ns = kEpochNs) : now_ns_(start_ns) {}

  /// Virtual time now, ns since the Unix epoch (kEpochNs at the start).
  std::uint64_t now_ns() const override { return now_ns_; }
  /// Virtual ns since kEpochNs (a simulated run's start).
  std::uint64_t elapsed_ns() const { return now_ns_ - kEpochNs; }
  /// Nothing sleeps in a simulation: a component that calls this (a SkewedClock over the scheduler) moves time
  /// forward to t_ns, never back, without running the actions due before it. Used by no part of sim mode itself.
  void sleep_until_ns(std::uint64_t t_ns) const override;

  /// Runs `action` at virtual time t_ns (ns since the Unix epoch); a time in the past runs at now, after what is
  /// already due now. Returns the action's sequence number.
  std::uint64_t at(std::uint64_t t_ns, Action action);
  /// Runs `action` delay_ns after now.
  std::uint64_t after(std::uint64_t delay_ns, Action action) { return at(now_ns_ + delay_ns, std::move(action)); }

  /// Runs the due actions in order until the queue is empty, stop() is called, or the next action is later than
  /// until_ns (time then stands at until_ns). Returns the number of actions run. An action that throws stops the
  /// run and the exception propagates (time stands at that action's).
  std::uint64_t run_until(std::uint64_t until_ns);
  /// Runs the next action alone (time moves to its time): one step. False when none is queued.
  bool run_next();
  /// Makes run_until return after the current action.
  void stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }
  /// Actions waiting.
  std::size_t pending() const { return queue_.size(); }
  /// Actions run since construction.
  std::uint64_t actions_run() const { return run_; }

 private:
  struct Entry {
    std::uint64_t t_ns, seq;
    Action action;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const { return a.t_ns != b.t_ns ? a.t_ns > b.t_ns : a.seq > b.seq; }
  };
  mutable std::uint64_t now_ns_;
  std::uint64_t seq_ = 0, run_ = 0;
  bool stopped_ = false;
  std::priority_queue<Entry, std::vector<Entry>, Later> queue_;
};

}  // namespace iotw
