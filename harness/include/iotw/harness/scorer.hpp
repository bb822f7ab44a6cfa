// Scores of one rig run, computed black-box from the merged event stream (docs/events.md) and the
// exported ledger (docs/protocol.md §8), then judged against the rig's [pass] criteria.
// docs/rig-format.md defines every score.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/harness/collusion_model.hpp"
#include "iotw/harness/ledger_verifier.hpp"
#include "iotw/harness/rig_spec.hpp"

namespace iotw::harness {

struct Scores {
  std::uint64_t blocks_finalized = 0;   ///< ledger blocks, genesis excluded
  std::uint64_t rounds = 0;             ///< round_closed events
  std::uint64_t coherent_rounds = 0;    ///< round_closed events with coherent = true
  double coherence_rate = 0;            ///< coherent_rounds / rounds; 0 when rounds == 0
  std::vector<std::string> blacklisted; ///< device names from blacklisted events, first-blacklisted order, unique
  /// incoherent rounds with at least one byzantine witness, plus rounds in which a byzantine device was
  /// blacklisted as a faulty witness (reason "attestation_*": wrong hash, replay, bad signature)
  std::uint64_t byzantine_rounds_detected = 0;
  std::map<std::string, std::string> blacklist_reason;  ///< name -> reason of its first blacklisted event
  bool incoherent_rounds_blacklisted = true;    ///< every witness of every incoherent round was blacklisted
  std::uint64_t false_blacklist = 0;            ///< blacklisted devices whose behaviour is honest
  bool byzantine_blacklisted = true;            ///< every byzantine device was blacklisted (true if none)
  /// Per byzantine device name: first blacklisted time_ms − rig start time_ms; nullopt if never blacklisted.
  std::map<std::string, std::optional<std::int64_t>> time_to_blacklist_ms;
  bool ledger_valid = false;            ///< LedgerVerdict::valid
  double liveness_blocks_per_min = 0;   ///< blocks_finalized / minutes from rig start to the last block_finalized
  std::uint64_t frame_errors = 0;       ///< frame_error events
  std::uint64_t malformed_events = 0;   ///< events that are not objects with a string "kind"
  std::map<std::string, std::uint64_t> event_counts;  ///< per kind

  // Fault-fabric scores (docs/faults.md).
  /// Blocks/min from the first to the last block_finalized before the first fault_started (needs two
  /// such blocks), or [pass] baseline_blocks_per_min when the rig gives it; 0 when neither exists.
  double baseline_blocks_per_min = 0;
  /// Blocks/min from the first fault_started to the last block_finalized (whole run when no fault).
  double faulted_blocks_per_min = 0;
  /// faulted_blocks_per_min / baseline_blocks_per_min; 1 when no fault ran; 0 when there is no baseline.
  double liveness_ratio = 0;
  /// Honest devices that were the target of a link fault (fault_started `devices`) and got blacklisted.
  std::uint64_t false_blacklist_faulted = 0;
  /// The harness's tx_audit event: transactions answered 202 that are neither in the ledger nor known to
  /// the node (a resubmission was not a 409). 0 when there is no tx_audit event.
  std::uint64_t acked_tx_lost = 0;
  /// Per trust_node_kill (its fault_started event), in order: ms from the kill to the next block_finalized event;
  /// nullopt when no block finalized after it.
  std::vector<std::optional<std::int64_t>> failovers_ms;
  /// The largest of failovers_ms; +infinity when a kill was never followed by a block; 0 when nothing was killed.
  double failover_ms = 0;
  /// Rounds whose witnesses were all byzantine (the group controlled the round: k = n).
  std::uint64_t collusion_captured_rounds = 0;
  /// Rounds the colluding group won (all witnesses colluders, unanimous false verdict, not detected) /
  /// rounds; 0 if no rounds. Same as collusion.undetected_rate.
  double undetected_collusion_rate = 0;
  /// The colluding group's won/lost rounds, the model (hypergeometric / binomial) and Wilson 95 % intervals.
  CollusionScores collusion;
  /// Per step check (recovery_checked, wait_done, expect_checked events), in event order.
  struct StepCheck {
    std::string name;     ///< e.g. "step 2 (line 31): partition recovered"
    bool pass = false;
    std::string message;  ///< why it failed
  };
  std::vector<StepCheck> step_checks;

  /// Usage data (whitepaper "usage-data rewards"; docs/events.md usage_accepted). A report counts as
  /// rewarded only when its usage-data tx (the event's `hash`) is in a finalized ledger block.
  struct Usage {
    std::uint64_t reports_accepted = 0;   ///< usage_accepted events
    std::uint64_t reports_finalized = 0;  ///< of those, whose tx is in the ledger
    std::uint64_t energy_mwh_total = 0;   ///< sum of energy_mwh over finalized reports, mWh
    std::uint64_t rewards_total = 0;      ///< sum of `reward` (base units) over finalized reports
    std::map<std::string, std::uint64_t> rewards_by_device;  ///< device name -> base units
    std::uint64_t rewarded_devices() const { return rewards_by_device.size(); }
    /// Usage data that lies (docs/trust-node.md "Usage data"): each finalized report joined by (device name, seq)
    /// with the emulator's own `usage_report` event (source "emu:NAME"), whose energy_mwh is what the DPS model's
    /// meter measured. Energy reported above it was never measured; the rewards paid for it are the report's
    /// reward x unmeasured / reported (floor). Reports with no meter event (real devices) are not judged.
    std::uint64_t energy_mwh_measured = 0;    ///< meter truth of the judged finalized reports, mWh
    std::uint64_t energy_mwh_unmeasured = 0;  ///< reported above the meter over those reports, mWh
    std::uint64_t rewards_unearned = 0;       ///< base units paid for energy never measured
    std::map<std::string, std::uint64_t> unearned_by_device;  ///< device name -> base units (only devices > 0)
  } usage;
  std::uint64_t recoveries_failed = 0;  ///< recovery_checked events with recovered = false
  /// The console_action events' fields (docs/console.md "Events and the written rig"), in event order:
  /// action, request, key and device when given, step (or ends, for an `end`), at_s.
  std::vector<nlohmann::json> console_actions;
};

/// Computes the scores. Devices are identified by name (the events' `name`/`witness_name` fields,
/// matched against RigSpec::instances()); a witness in round_closed also counts as blacklisted when its
/// pubkey appears as `device` in a blacklisted event. Rig start = the rig_started event's time_ms, else
/// the first event's. Events with missing fields are skipped for the scores they cannot feed; never throws.
Scores score_run(const RigSpec& rig, const std::vector<nlohmann::json>& events,
                 const std::vector<nlohmann::json>& ledger, const LedgerVerdict& verdict);

struct CriterionResult {
  std::string name;    ///< the [pass] key
  std::string score;   ///< the score it reads
  Criterion::Op op = Criterion::Op::AtLeast;
  double threshold = 0;
  double measured = 0;  ///< booleans are 1.0 / 0.0; counts (blacklisted) are list sizes
  bool pass = false;
  Criterion::Kind kind = Criterion::Kind::Number;  ///< how measured and threshold are shown
};

struct Evaluation {
  std::vector<CriterionResult> criteria;  ///< in [pass] order
  bool pass = false;                      ///< every criterion passed
};

/// The numeric value of a score named in Criterion::score; std::nullopt for an unknown name.
std::optional<double> score_value(const Scores& s, std::string_view score);

/// Judges every criterion of rig.pass against s; `pass` also needs every s.step_checks entry to pass.
Evaluation evaluate(const RigSpec& rig, const Scores& s);

/// ">=", "<=" or "==".
std::string_view op_symbol(Criterion::Op op);

/// Reads a JSON-lines file (events.jsonl, ledger.jsonl): one value per non-blank line, a line that is not
/// valid JSON becomes a discarded value (is_discarded()), so the verifier and scorer report it rather than
/// losing it. Throws std::runtime_error when the file cannot be opened.
std::vector<nlohmann::json> read_json_lines(const std::filesystem::path& file);

}  // namespace iotw::harness
