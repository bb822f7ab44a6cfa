// `iotw rig run [--jobs N] [--shard i/n] DIR`: a folder of rigs, each run by a child `iotw rig run` in its
// own run subfolder, N at a time, with one combined junit.xml (docs/rig-format.md, "Running a folder").
#pragma once
#include <atomic>
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
};

/// One rig's result in the batch.
struct RigOutcome {
  std::string stem;                ///< file name without .toml: the run subfolder's name
  std::filesystem::path rig_file;
  std::filesystem::path run_dir;   ///< out_dir / stem
  std::filesystem::path log;       ///< out_dir / (stem + ".log"): the child's stdout and stderr
  int exit_code = -1;              ///< the child's exit code; 128 + signal when killed
  double seconds = 0;
};

/// The combined JUnit XML: one <testsuites> holding every rig's <testsuite> (copied from its run folder's
/// junit.xml, in selection order); a rig without a junit.xml (it could not run) becomes a suite with one
/// <testcase name="run"> carrying an <error> with its exit code and the last lines of its log.
std::string combined_junit(const std::vector<RigOutcome>& outcomes);

/// Batch exit code: 2 when any rig could not run (its exit code is neither 0 nor 1), else 1 when any rig
/// failed (exit 1), else 0 (also for an empty list: a shard may get no rig).
int batch_exit_code(const std::vector<RigOutcome>& outcomes);

/// Runs the selected rigs, `jobs` at a time, as children `iotw rig run FILE --out OUT/<stem> [--seed S]`;
/// writes OUT/junit.xml and OUT/batch.json. Returns batch_exit_code(); 2 when the folder has no rig or the
/// out folder cannot be made; 130 when `stop` was set (children get SIGTERM, up to 60 s to finish, then SIGKILL).
int run_batch(const BatchOptions& options, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err);

}  // namespace iotw::harness
