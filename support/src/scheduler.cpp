#include "iotw/support/scheduler.hpp"

#include <algorithm>

namespace iotw {

void Scheduler::sleep_until_ns(std::uint64_t t_ns) const { now_ns_ = std::max(now_ns_, t_ns); }

std::uint64_t Scheduler::at(std::uint64_t t_ns, Action action) {
  const std::uint64_t seq = seq_++;
  queue_.push(Entry{std::max(t_ns, now_ns_), seq, std::move(action)});
  return seq;
}

bool Scheduler::run_next() {
  if (queue_.empty()) return false;
  Entry e = std::move(const_cast<Entry&>(queue_.top()));
  queue_.pop();
  now_ns_ = e.t_ns;
  ++run_;
  e.action();
  return true;
}

std::uint64_t Scheduler::run_until(std::uint64_t until_ns) {
  stopped_ = false;
  std::uint64_t n = 0;
  while (!stopped_ && !queue_.empty() && queue_.top().t_ns <= until_ns) {
    // Move the action out before popping: it may schedule more (which reorders the heap).
    Entry e = std::move(const_cast<Entry&>(queue_.top()));
    queue_.pop();
    now_ns_ = e.t_ns;
    ++n;
    ++run_;
    e.action();
  }
  if (!stopped_) now_ns_ = std::max(now_ns_, until_ns);
  return n;
}

}  // namespace iotw
