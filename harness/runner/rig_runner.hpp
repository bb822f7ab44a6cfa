// `iotw rig run` / `iotw rig check`: one rig end to end across real process boundaries.
// Loads the rig, wires a PTY link per device (and per trust node of a [mesh] rig) through the LinkFabric, starts a
// [mesh] rig's etcd members and TCP relays, writes the children's configs, spawns iotw-trust-node (one, or one per
// mesh node) and iotw-emu, drives transactions over HTTP until the target height or the deadline, exports the
// ledger, stops everything, merges the event streams and judges the run (iotw_harness_core).
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "iotw/exit_code.hpp"

namespace iotw::harness {

struct RunOptions {
  std::filesystem::path rig_file;
  std::optional<std::filesystem::path> out_dir;  ///< default runs/<rig>-<YYYYmmdd-HHMMSS>-<seed> under the cwd
  std::optional<std::uint64_t> seed;             ///< overrides the rig's seed; neither = std::random_device
  std::filesystem::path bin_dir;                 ///< holds iotw-trust-node and iotw-emu
  /// A rig needing a capability this host lacks (TAP without CAP_NET_ADMIN) is an error (kExitCouldNotRun,
  /// junit <error>) instead of a skip (kExitPass, junit <skipped>).
  bool require_all = false;
  std::string log_level = "info";  ///< --log-level of the children (iotw/cli/command_line.hpp)
  std::string tool_version;        ///< shown in the reports: "0.1.0 (git 5701406)" (iotw::cli::version_line)
  /// --hold: after the target (or deadline) keep everything running until a `stop` request on harness.sock,
  /// SIGINT or SIGTERM (docs/console.md).
  bool hold = false;
};

/// Runs the rig. stdout (`out`) gets "seed: N" as its first line, progress lines, the summary table and
/// "run folder: <path>"; errors go to `err`, logs to spdlog. `stop` is polled (every ≤ 200 ms): once true the
/// run stops its children, writes a partial report with reason "interrupted" and returns kExitInterrupted.
/// Returns kExitPass / kExitFail for a finished run; kExitUsage for a bad rig file or a non-empty run folder
/// (nothing started); kExitCouldNotRun for a missing binary or capability, a run folder that cannot be made, a
/// link or child that would not start or died, a trust node that did not answer (docs/cli.md).
/// Once the rig file is valid and the run folder is made, the folder always gets a junit.xml: a run that
/// cannot start (missing binary, no PTYs, no network namespace) has an <error> testcase "run" with the reason,
/// a TAP rig without CAP_NET_ADMIN, or a rig with qemu-cortex-m3 devices without qemu-system-arm or the image, a
/// <skipped> one (kExitPass) unless require_all (then an <error>, kExitCouldNotRun); a run that started also gets report.json and report.html.
/// Never throws; children are always stopped (SIGTERM, 5 s, SIGKILL) before it returns.
int run_rig(const RunOptions& options, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err);

/// Validates a rig file: prints "ok: <name>, N devices" and returns kExitPass, or the RigError text to
/// `err` and returns kExitUsage. A rig with qemu-cortex-m3 devices also needs qemu-system-arm in PATH and the image
/// built next to bin_dir (<bin_dir>/../cross/cortex-m3/iotw_fw_lm3s6965.elf); else "error: <what is missing: the
/// Debian package, or the image and the command that builds it>" and kExitCouldNotRun; likewise a [mesh] rig without
/// the etcd binary (Debian package etcd-server).
int check_rig(const std::filesystem::path& rig_file, std::ostream& out, std::ostream& err,
              const std::filesystem::path& bin_dir);

}  // namespace iotw::harness
