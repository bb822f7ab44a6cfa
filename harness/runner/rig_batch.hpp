// `iotw rig run [--jobs N] [--shard i/n] DIR`: a folder of rigs, each run by a child `iotw rig run` in its
// own run subfolder, N at a time, with one combined junit.xml (docs/rig-format.md, "Running a folder").
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace iotw::harness {

/// --shard i/n: this machine runs the i-th of n shares (1 <= i <= n).
struct Shard {
  int index = 1;
  int count = 1;
};

/// Parses "i/n" (decimal, 1 <= i <= n <= 10000); nullopt otherwise.
std::optional<Shard> parse_shard(std::string_view text);

/// The rigs of `dir` this shard runs: the regular files named *.toml directly in `dir`, sorted by file name
/// (byte order), keeping position k (0-based) when k % count == index - 1. Stable: the same folder always
/// splits the same way. Throws std::runtime_error when `dir` cannot be read.
std::vector<std::filesystem::path> select_rigs(const std::filesystem::path& dir, const Shard& shard);

struct BatchOptions {
  std::filesystem::path rig_dir;
  std::filesystem::path out_dir;        ///< empty = runs/batch-<UTC time>; created, must be empty if it exists
  int jobs = 1;                         ///< rigs run at once, 1..64
  Shard shard;
  std::optional<std::uint64_t> seed;    ///< passed to every rig (--seed)
  std::filesystem::path iotw_exe;       ///< the `iotw` binary the children run
  bool require_all = false;             ///< passed to every rig (--require-all): a missing capability is exit 3
  std::string log_level = "info";       ///< passed to every child (--log-level)
  bool sim = false;                     ///< passed to every rig (--mode sim: docs/simulation.md)
};

/// One rig's result in the batch.
struct RigOutcome {
  std::string stem;                ///< file name without .toml: the run subfolder's name
  std::filesystem::path rig_file;
  std::filesystem::path run_dir;   ///< out_dir / stem
  std::filesystem::path log;       ///< out_dir / (stem + ".log"): the child's stdout and stderr
  int exit_code = -1;              ///< the child's exit code; 128 + signal when killed
  double seconds = 0;
  std::chrono::system_clock::time_point started{};  ///< when the child was started
  bool skipped = false;  ///< exit 0 and its junit.xml's testcase "run" is <skipped> (a capability was missing)
};

/// The batch as a whole, for the combined junit.xml's root.
struct BatchContext {
  std::chrono::system_clock::time_point started{};  ///< when the batch began
  double duration_s = 0;                             ///< seconds until the last child ended
  std::string hostname;
};

/// The combined JUnit XML, merged with pugixml: one <testsuites> (tests, failures, errors, skipped summed
/// over the suites; the batch's time and timestamp) holding every rig's <testsuite> element copied whole from
/// its run folder's junit.xml, in selection order. A rig whose junit.xml is missing, is not XML or has no
/// <testsuite> (it could not load its rig file, or died) becomes a suite with one <testcase name="run">
/// carrying an <error type="could_not_run"> with its exit code, why, and the last 20 lines of its log.
std::string combined_junit(const std::vector<RigOutcome>& outcomes, const BatchContext& context);

/// Batch exit code (docs/cli.md): kExitUsage (2) when any rig file is invalid (exit 2), else kExitCouldNotRun (3)
/// when any rig could not run (any other code but 0 and 1: 3, 130, killed), else kExitFail (1) when any rig
/// failed a criterion, else kExitPass (0; also for an empty list: a shard may get no rig).
int batch_exit_code(const std::vector<RigOutcome>& outcomes);

/// Runs the selected rigs, `jobs` at a time, as children `iotw rig run FILE --out OUT/<stem> [--seed S]`;
/// writes OUT/junit.xml and OUT/batch.json. Returns batch_exit_code(); 2 when the folder is not a folder, has no
/// rig, or the out folder is not empty; 3 when the folder cannot be read or the out folder cannot be made; 130
/// when `stop` was set (children get SIGTERM, up to 60 s to finish, then SIGKILL).
int run_batch(const BatchOptions& options, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err);

}  // namespace iotw::harness
