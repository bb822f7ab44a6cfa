// The whitepaper's collusion model and the statistics to compare a measured rate with it
// (docs/rig-format.md, "Collusion"), and the collusion scores computed from events.jsonl. No I/O.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/harness/rig_spec.hpp"

namespace iotw::harness {

/// Binomial model (infinite pool): probability that all n witnesses of a round are compromised when each
/// is compromised independently with probability p: p^n. 0 <= p <= 1; n = 0 gives 1.
double collusion_binomial(double p, std::uint64_t n);

/// Hypergeometric exact form (finite pool): n witnesses drawn uniformly without replacement from a pool of
/// `pool` devices of which `compromised` are compromised; probability that all n are:
/// C(compromised, n) / C(pool, n) = prod_{i<n} (compromised - i) / (pool - i).
/// 0 when n > compromised; 1 when n == 0; 0 when n > pool or compromised > pool (impossible draw).
double collusion_hypergeometric(std::uint64_t pool, std::uint64_t compromised, std::uint64_t n);

struct Interval {
  double low = 0;
  double high = 0;
};

/// Wilson score interval for a binomial proportion of `successes` in `trials`, at normal quantile z
/// (1.959963984540054 for 95 %). trials == 0 gives [0, 1].
Interval wilson_interval(std::uint64_t successes, std::uint64_t trials, double z = 1.959963984540054);

// ---- Collusion scoring (black-box: events only) -------------------------------------------------------

/// One round whose answered witnesses were all in the colluding group (k = n).
struct CapturedRound {
  std::uint64_t round_id = 0;
  std::uint64_t height = 0;
  std::vector<std::string> witnesses;  ///< names, as in round_closed verdicts
  std::string verdict;                 ///< the group's verdict if unanimous, else "mixed"
  bool false_verdict = false;          ///< unanimous and different from the round's `expected`
  bool detected = false;               ///< round_closed coherent = false, or a witness blacklisted for it
  std::string outcome;                 ///< "won" (false verdict, undetected), "lost" (detected), "no_attack"
};

/// The colluding group's record over a run and the model it is compared with (docs/rig-format.md).
struct CollusionScores {
  std::vector<std::string> group;  ///< byzantine (non-honest) device names of the rig, in rig order
  std::uint64_t pool = 0;          ///< rig devices, N
  std::uint64_t witnesses = 0;     ///< n, [trust_node] witnesses
  double p = 0;                    ///< group / pool
  std::uint64_t rounds = 0;        ///< round_closed events
  std::uint64_t rounds_with_colluder = 0;  ///< rounds with at least one group member among the verdicts
  std::uint64_t captured = 0;      ///< rounds whose answered witnesses were all in the group
  std::uint64_t won = 0;           ///< captured, unanimous false verdict, not detected
  std::uint64_t lost = 0;          ///< captured, false verdict, detected (incoherent / blacklisted)
  std::vector<CapturedRound> captured_rounds;
  double undetected_rate = 0;      ///< won / rounds (0 when no rounds)
  Interval undetected_ci;          ///< Wilson 95 % of won / rounds
  double captured_rate = 0;        ///< captured / rounds
  Interval captured_ci;            ///< Wilson 95 % of captured / rounds
  /// Model at the rig's composition: hypergeometric exact C(m,n)/C(N,n) (the form used for the comparison;
  /// the witnesses are a uniform n-subset of the N devices) and, for reference, the binomial p^n.
  double model_hypergeometric = 0;
  double model_binomial = 0;
  /// The same hypergeometric, round by round, on the pool as the events show it when the round's witnesses
  /// were drawn (its first witness_requested; registered, not detached, not blacklisted, not the round's
  /// miner): sum = expected captured rounds.
  double model_expected_captured = 0;
  double model_per_round_mean = 0;  ///< model_expected_captured / rounds
  /// Rounds in which a group member signed a false verdict (differs from `expected`), and those of them in which
  /// an honest co-witness answered truthfully (caught by a witness, not only by the node's own check).
  /// behaviour "collude" lies in every round it is in; "collude_all_slots" only in captured ones (caught 0).
  std::uint64_t attacked = 0;
  std::uint64_t caught_by_witness = 0;
  /// Captured rounds with a false verdict / rounds: what the group would win if the node relied on its
  /// witnesses alone (the whitepaper's model quantity, k = n), with its Wilson 95 % interval.
  double witness_undetected_rate = 0;
  Interval witness_undetected_ci;
};

/// Walks the events (docs/events.md: device_registered, device_detached, assignment_sent, witness_requested,
/// round_closed, blacklisted, blacklist_lifted) and fills CollusionScores. The group is every non-honest device of the rig. Never throws.
CollusionScores score_collusion(const RigSpec& rig, const std::vector<nlohmann::json>& events);

/// The report.json `collusion` object.
nlohmann::json collusion_json(const CollusionScores& c);

}  // namespace iotw::harness
