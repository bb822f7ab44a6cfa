// The out-of-band channel of a colluding group (behaviour = "collude_all_slots", docs/faults.md): colluders
// coordinate off-protocol, which is the realistic threat model (the protocol cannot see it). In one iotw-emu
// pool the group shares this board: each member that gets a WitnessRequest posts (round_id, its name); the
// group lies (signs the false verdict "invalid") only when `witnesses` members posted the same round, i.e. when
// it holds every witness slot of the round, so an honest co-witness never contradicts it. A round that does not
// fill up within `window_ms` of its first post is answered honestly by every member (the node sends the n
// requests of a round at once, so they arrive within a few ms; a late replacement witness finds the round
// already decided). The firmware holds its Attestation while the board says "undecided" (firmware.h,
// iotw_fw_collusion) and asks again from iotw_fw_poll.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>

extern "C" {
#include "iotw/firmware.h"
}

namespace iotw::emu {

class CollusionBoard {
 public:
  /// The pool's one board (all members of a pool share it).
  static CollusionBoard& instance() {
    static CollusionBoard board;
    return board;
  }
  /// witnesses: n, the trust node's witnesses per round (0 = unknown: the group never lies).
  void configure(uint32_t witnesses, uint64_t window_ms) {
    std::lock_guard<std::mutex> lock(m_);
    witnesses_ = witnesses;
    window_ms_ = window_ms;
  }
  /// 1 lie, 0 honest, -1 undecided (iotw_fw_collusion::decide).
  int decide(const std::string& member, uint64_t round_id, uint64_t now_ms) {
    std::lock_guard<std::mutex> lock(m_);
    auto [it, fresh] = rounds_.try_emplace(round_id);
    Round& r = it->second;
    if (fresh) {
      r.first_ms = now_ms;
      while (rounds_.size() > 4096) rounds_.erase(rounds_.begin());  // round ids grow: drop the oldest
    }
    r.members.insert(member);
    if (r.decided < 0) {
      if (witnesses_ > 0 && r.members.size() >= witnesses_)
        r.decided = 1;
      else if (now_ms >= r.first_ms + window_ms_)
        r.decided = 0;
    }
    return r.decided;
  }

 private:
  struct Round {
    std::set<std::string> members;
    uint64_t first_ms = 0;
    int decided = -1;
  };
  std::mutex m_;
  std::map<uint64_t, Round> rounds_;
  uint32_t witnesses_ = 0;
  uint64_t window_ms_ = 50;
};

/// One member's hook into the board: set it as iotw_fw_config::collusion. Must outlive the firmware.
struct CollusionMember {
  std::string name;
  iotw_fw_collusion hook{};
  CollusionBoard* board = nullptr;  ///< the group's board (set by join)

  /// For behaviour "collude_all_slots": joins `group` (the pool's one board by default; a simulated run has its
  /// own), configured with witnesses, window_ms, and points cfg.collusion at this member; any other behaviour leaves
  /// cfg alone.
  void join(const std::string& behaviour, const std::string& member, uint32_t witnesses, uint64_t window_ms,
            iotw_fw_config& cfg, CollusionBoard& group = CollusionBoard::instance()) {
    if (behaviour != "collude_all_slots") return;
    name = member;
    board = &group;
    board->configure(witnesses, window_ms);
    hook.decide = [](void* ctx, uint64_t round_id, uint64_t now_ms) {
      auto* self = static_cast<CollusionMember*>(ctx);
      return self->board->decide(self->name, round_id, now_ms);
    };
    hook.ctx = this;
    cfg.collusion = &hook;
  }
};

}  // namespace iotw::emu
