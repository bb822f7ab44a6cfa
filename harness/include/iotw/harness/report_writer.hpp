// Run reports: report.json (machine-readable, every score) and junit.xml (one testcase per [pass]
// criterion, for CI); the terminal summary is summary_table.hpp. Keys are documented in docs/rig-format.md ("Reports").
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "iotw/harness/ledger_verifier.hpp"
#include "iotw/harness/rig_spec.hpp"
#include "iotw/harness/scorer.hpp"

namespace iotw::harness {

/// Everything a report shows; the referenced objects must outlive the call.
struct RunReport {
  const RigSpec& rig;
  std::uint64_t seed;  ///< the seed actually used (printed, replayable)
  const Scores& scores;
  const LedgerVerdict& ledger;
  const Evaluation& evaluation;
  std::filesystem::path run_dir;
};

/// report.json content. Top-level keys: rig, seed, devices [{name, model, behaviour}], blocks_finalized,
/// rounds, coherent_rounds, coherence_rate, blacklisted [names], ledger_valid, pass,
/// criteria [{name, threshold, measured, pass}], byzantine_rounds_detected, incoherent_rounds_blacklisted,
/// false_blacklist, byzantine_blacklisted, time_to_blacklist_ms {name: ms|null}, liveness_blocks_per_min,
/// frame_errors, malformed_events, ledger_errors [strings], event_counts {kind: n}, run_dir.
nlohmann::json report_json(const RunReport& r);

/// JUnit XML: <testsuites> holding one <testsuite name="<rig name>">, one <testcase name="<criterion>"
/// classname="rig.<rig name>"> per criterion, a <failure message="..."> child when it failed; the seed is
/// a <property>. All attribute text is XML-escaped.
std::string junit_xml(const RunReport& r);

/// Writes run_dir/report.json and run_dir/junit.xml. Throws std::runtime_error when a file cannot be written.
void write_reports(const RunReport& r);

}  // namespace iotw::harness
