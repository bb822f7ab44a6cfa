// Run reports: report.json (machine-readable, every score) and junit.xml (for CI: one testcase for the run
// itself and one per [pass] criterion and step check); the terminal summary is summary_table.hpp. Keys are
// documented in docs/rig-format.md ("Reports").
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "iotw/harness/ledger_verifier.hpp"
#include "iotw/harness/rig_spec.hpp"
#include "iotw/harness/scorer.hpp"

namespace iotw::harness {

/// Where, when and how a run happened: junit.xml's time/timestamp/hostname and report.html's header.
struct RunContext {
  std::chrono::system_clock::time_point started{};  ///< when the run began (before the run folder was made)
  double duration_s = 0;                             ///< wall-clock seconds from `started` to the reports
  std::string hostname;                              ///< this machine's name ("localhost" when unknown)
  std::string tool_version;                          ///< iotw's version (tool_version())
  std::string command;  ///< a shell command that repeats the run with its seed, e.g. "iotw rig run rigs/smoke.toml --seed 7"
  /// The run folder's files a reader may want, as (label, file name relative to the run folder), e.g.
  /// ("ledger", "ledger.jsonl"); report.html links them. Only files that exist belong here.
  std::vector<std::pair<std::string, std::string>> files;
};

/// How a run ended. Anything but Completed leaves the criteria unjudged.
enum class RunEnd {
  Completed,    ///< target reached or deadline: the criteria were judged
  Interrupted,  ///< SIGINT/SIGTERM stopped it early
  Error,        ///< it started, then broke off (a child died, the ledger could not be exported)
  NotStarted,   ///< it could not start (missing binary, no PTYs, a capability missing under --require-all)
  Skipped,      ///< it needs a capability this host lacks (TAP without CAP_NET_ADMIN); not an error
};

struct RunOutcome {
  RunEnd end = RunEnd::Completed;
  std::string reason;   ///< report.json "reason": target_reached, deadline, interrupted, error, not_started, skipped
  std::string message;  ///< why it did not complete, for people (empty when Completed)
};

/// Everything a report shows; the referenced objects must outlive the call. For a run that never started
/// (NotStarted, Skipped) the scores, ledger verdict and evaluation are empty ones.
struct RunReport {
  const RigSpec& rig;
  std::uint64_t seed;  ///< the seed actually used (printed, replayable)
  const Scores& scores;
  const LedgerVerdict& ledger;
  const Evaluation& evaluation;
  std::filesystem::path run_dir;
  RunContext context = {};
  RunOutcome outcome = {};
};

/// A score's value as reports show it, rounded to what it means: Count a whole number, Bool "true" or
/// "false", Rate and Number three significant digits without an exponent (whole numbers from 1000 up).
std::string format_value(Criterion::Kind kind, double value);

/// A criterion's measured value as reports show it: format_value(), with as many more significant digits
/// as it takes for the shown number to compare with the threshold the way the criterion was judged
/// (0.9996 against == 1 never reads "1").
std::string shown_measured(const CriterionResult& c);

/// A criterion's threshold as written in the rig ("20", "0.95", "true").
std::string shown_threshold(const CriterionResult& c);

/// "measured <score> = <shown_measured>, required <op> <shown_threshold>".
std::string criterion_text(const CriterionResult& c);

/// report.json content. Top-level keys: rig, seed, devices [{name, model, behaviour}], blocks_finalized,
/// rounds, coherent_rounds, coherence_rate, blacklisted [names], ledger_valid, pass,
/// criteria [{name, threshold, measured, pass}], byzantine_rounds_detected, incoherent_rounds_blacklisted,
/// false_blacklist, byzantine_blacklisted, time_to_blacklist_ms {name: ms|null}, liveness_blocks_per_min,
/// frame_errors, malformed_events, ledger_errors [strings], event_counts {kind: n}, run_dir,
/// console_actions [the console_action events' fields], not_seeded [strings: not_seeded()] (docs/rig-format.md
/// "Reports" lists every key).
nlohmann::json report_json(const RunReport& r);

/// The inputs of a run of `rig` that its seed does not control (docs/rig-format.md "Seed"), one sentence each: always
/// the OS's scheduling and wall-clock timing, and the host's PTY, port and folder names; then the devices with
/// seed = "os" and the external devices, by name. report.json "not_seeded" and report.html show them.
std::vector<std::string> not_seeded(const RigSpec& rig);

/// JUnit XML (written with pugixml; the shape of tests/data/junit.xsd): <testsuites> (tests, failures,
/// errors, skipped, time, timestamp) holding one <testsuite name="<rig name>"> (the same counts, time =
/// duration in seconds, timestamp = start in UTC "YYYY-MM-DDTHH:MM:SS", hostname; properties seed, command,
/// iotw_version, reason; <system-out> = the run summary). Its testcases, classname "rig.<rig name>", each
/// with time, timestamp and hostname:
///  - "run": the run itself, time = the duration; an <error> when Interrupted, Error or NotStarted, a
///    <skipped> when Skipped, with the outcome's message;
///  - one per criterion: <system-out> "measured ... required ..." (criterion_text()), plus a <failure> with
///    "<criterion>: <that text>" when it failed; a <skipped> ("not judged") when the run did not complete;
///  - one per step check (classname "rig.<rig name>.steps"), a <failure> when it failed.
/// Text is passed through xml_text() so the file is always well-formed XML 1.0.
std::string junit_xml(const RunReport& r);

/// Writes run_dir/report.json and run_dir/junit.xml. Throws std::runtime_error when a file cannot be written.
void write_reports(const RunReport& r);

/// This machine's name (gethostname), "localhost" when it has none.
std::string this_host_name();

/// "YYYY-MM-DDTHH:MM:SS" in UTC (JUnit's timestamp form).
std::string utc_timestamp(std::chrono::system_clock::time_point t);

/// Starts a JUnit document in `doc` (empty): the XML declaration (version 1.0, UTF-8) and the root
/// <testsuites name="`name`">, which it returns. Used by junit_xml() and the batch runner's merge.
pugi::xml_node junit_root(pugi::xml_document& doc, const char* name);

}  // namespace iotw::harness
