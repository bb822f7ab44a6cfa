// The one registry of scores (docs/rig-format.md "Scores", "[pass]"): one entry per score a rig can judge, with
// what its numbers are, how it is read from the computed Scores and the [pass] keys that compare it. The rig
// loader's [pass] and `expect`, the checker (evaluate), and through CriterionResult the summary table, junit.xml,
// report.json and report.html read from it; a test checks docs/rig-format.md against it.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iotw/harness/rig_spec.hpp"

namespace iotw::harness {

struct Scores;

/// One judgeable score.
struct ScoreDef {
  std::string_view name;    ///< the `expect` name and the stem of its [pass] keys, e.g. "coherence_rate"
  Criterion::Kind kind;     ///< how a threshold is typed in the rig file and how reports show it
  double (*value)(const Scores&);  ///< the measured value; booleans 1.0 / 0.0, lists their size
  /// Its [pass] keys: "<name>_min" (>=), "<name>_max" (<=), "<name>" (==, booleans).
  bool min_key = false, max_key = false, equals_key = false;
  std::string_view label;   ///< what it measures, in words (reports, `iotw rig run --help`)
};

/// A [pass] key and the criterion it makes.
struct PassKeyDef {
  std::string key;          ///< e.g. "coherence_rate_min"
  const ScoreDef* score;
  Criterion::Op op;
};

/// Every score, in the order docs and "allowed:" messages list them.
std::span<const ScoreDef> score_registry();
/// The entry of `name`; nullptr for an unknown score.
const ScoreDef* find_score(std::string_view name);
/// Every [pass] key, in registry order (for one score: _min, _max, then the == key).
std::span<const PassKeyDef> pass_keys();
/// The entry of a [pass] key; nullptr for an unknown key.
const PassKeyDef* find_pass_key(std::string_view key);
/// measured <op> threshold.
bool holds(Criterion::Op op, double measured, double threshold);

}  // namespace iotw::harness
