// The score registry: every score a rig can judge, one entry each (docs/rig-format.md "Scores").
#include "iotw/harness/score_registry.hpp"

#include "iotw/harness/scorer.hpp"

namespace iotw::harness {
namespace {

using K = Criterion::Kind;
double flag(bool b) { return b ? 1.0 : 0.0; }
template <class T>
double num(T v) { return static_cast<double>(v); }

const ScoreDef kScores[] = {
    {"blocks_finalized", K::Count, [](const Scores& s) { return num(s.blocks_finalized); }, true, false, false,
     "ledger blocks, genesis excluded"},
    {"rounds", K::Count, [](const Scores& s) { return num(s.rounds); }, false, false, false, "witness rounds closed"},
    {"coherence_rate", K::Rate, [](const Scores& s) { return s.coherence_rate; }, true, true, false,
     "coherent rounds / rounds"},
    {"ledger_valid", K::Bool, [](const Scores& s) { return flag(s.ledger_valid); }, false, false, true,
     "the independent ledger verifier found no error"},
    {"false_blacklist", K::Count, [](const Scores& s) { return num(s.false_blacklist); }, false, true, false,
     "honest devices blacklisted"},
    {"false_blacklist_faulted", K::Count, [](const Scores& s) { return num(s.false_blacklist_faulted); }, false, true,
     false, "honest devices blacklisted that were targets of a link fault"},
    {"byzantine_blacklisted", K::Bool, [](const Scores& s) { return flag(s.byzantine_blacklisted); }, false, false,
     true, "every byzantine device was blacklisted"},
    {"incoherent_rounds_blacklisted", K::Bool, [](const Scores& s) { return flag(s.incoherent_rounds_blacklisted); },
     false, false, true, "every witness of every incoherent round was blacklisted"},
    {"byzantine_rounds_detected", K::Count, [](const Scores& s) { return num(s.byzantine_rounds_detected); }, true,
     false, false, "rounds that caught a byzantine device"},
    {"blacklisted", K::Count, [](const Scores& s) { return num(s.blacklisted.size()); }, false, true, false,
     "devices blacklisted"},
    {"liveness_blocks_per_min", K::Number, [](const Scores& s) { return s.liveness_blocks_per_min; }, true, false,
     false, "blocks per minute from rig start to the last block"},
    {"liveness_ratio", K::Number, [](const Scores& s) { return s.liveness_ratio; }, true, false, false,
     "blocks per minute under faults / the fault-free baseline"},
    {"frame_errors", K::Count, [](const Scores& s) { return num(s.frame_errors); }, false, false, false,
     "frame errors"},
    {"undetected_collusion_rate", K::Rate, [](const Scores& s) { return s.undetected_collusion_rate; }, false, true,
     false, "rounds the colluding group won / rounds"},
    {"usage_rewarded_devices", K::Count, [](const Scores& s) { return num(s.usage.rewarded_devices()); }, true, false,
     false, "devices paid a usage-data reward"},
    {"usage_reports_finalized", K::Count, [](const Scores& s) { return num(s.usage.reports_finalized); }, true, false,
     false, "usage reports whose tx is in the ledger"},
    {"usage_rewards_unearned", K::Count, [](const Scores& s) { return num(s.usage.rewards_unearned); }, false, true,
     false, "IOTW base units paid for energy never measured"},
    {"acked_tx_lost", K::Count, [](const Scores& s) { return num(s.acked_tx_lost); }, false, true, false,
     "transactions answered 202 and lost"},
    {"failover_ms", K::Number, [](const Scores& s) { return s.failover_ms; }, false, true, false,
     "ms from a trust-node kill to the next finalized block (the largest)"},
    {"recoveries_failed", K::Count, [](const Scores& s) { return num(s.recoveries_failed); }, false, true, false,
     "fault recovery checks that failed"},
};

const std::vector<PassKeyDef>& keys() {
  static const std::vector<PassKeyDef> out = [] {
    std::vector<PassKeyDef> v;
    for (const ScoreDef& s : kScores) {
      if (s.min_key) v.push_back({std::string(s.name) + "_min", &s, Criterion::Op::AtLeast});
      if (s.max_key) v.push_back({std::string(s.name) + "_max", &s, Criterion::Op::AtMost});
      if (s.equals_key) v.push_back({std::string(s.name), &s, Criterion::Op::Equals});
    }
    return v;
  }();
  return out;
}

}  // namespace

std::span<const ScoreDef> score_registry() { return kScores; }

const ScoreDef* find_score(std::string_view name) {
  for (const ScoreDef& s : kScores)
    if (s.name == name) return &s;
  return nullptr;
}

std::span<const PassKeyDef> pass_keys() { return keys(); }

const PassKeyDef* find_pass_key(std::string_view key) {
  for (const PassKeyDef& k : keys())
    if (k.key == key) return &k;
  return nullptr;
}

bool holds(Criterion::Op op, double measured, double threshold) {
  switch (op) {
    case Criterion::Op::AtLeast: return measured >= threshold;
    case Criterion::Op::AtMost: return measured <= threshold;
    case Criterion::Op::Equals: return measured == threshold;
  }
  return false;
}

}  // namespace iotw::harness
