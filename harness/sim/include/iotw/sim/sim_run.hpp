// `iotw rig run --mode sim RIG.toml` and `iotw rig replay RUN_DIR` (docs/simulation.md): one rig in one process under
// virtual time. The trust-node core, every device's firmware on its chip model, the links with the rig's seeded
// fault proxies, the rig script (the same RigScript as a real-time run) and the traffic are actions of one Scheduler;
// the outputs are a real-time run's files (events.jsonl, ledger.jsonl, links.pcapng, report.json, junit.xml,
// report.html), judged by the same scorer. The same rig and seed give byte-identical events.jsonl, ledger.jsonl and
// links.pcapng.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "iotw/harness/rig_spec.hpp"

namespace iotw::sim {

/// What a simulated run is given (the fields of harness::RunOptions that apply).
struct SimOptions {
  std::filesystem::path rig_file;
  std::optional<std::filesystem::path> out_dir;  ///< default runs/<rig>-sim-<seed> under the cwd
  std::optional<std::uint64_t> seed;             ///< overrides the rig's; neither = std::random_device (printed)
  std::string tool_version;                      ///< "0.1.0 (git 5701406)": recorded in sim.json, checked by replay
};

/// Why sim mode cannot run `spec`, naming the key, device group or step (with its line) that needs what sim mode does
/// not model (the OS: TAP namespaces, [hosts], real or external ports, QEMU, etcd; or a model not simulated yet);
/// nullopt when it can.
std::optional<std::string> sim_unsupported(const harness::RigSpec& spec);

/// Runs the rig in virtual time. stdout gets "seed: N" first, then "mode: sim", the summary table and "run folder:
/// <path>". The run folder also gets rig.toml (the rig file's bytes) and sim.json {mode, seed, version, rig, virtual_s,
/// wall_s, actions} for replay. Returns kExitPass / kExitFail; kExitUsage for a bad rig, a rig sim mode cannot run
/// (sim_unsupported, before any folder is made) or a non-empty run folder; kExitCouldNotRun when the folder cannot be
/// written; kExitInterrupted when `stop` became true (polled every 100 simulated ms). Never throws.
int run_sim_rig(const SimOptions& options, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err);

/// `iotw rig replay RUN_DIR`: runs the rig recorded in RUN_DIR (rig.toml, sim.json's seed) again in sim mode into
/// `into` (default RUN_DIR/replay), then compares events.jsonl line by line, ledger.jsonl and links.pcapng. Prints
/// "identical: events.jsonl, ledger.jsonl, links.pcapng" and returns kExitPass, or the first event that differs (line
/// number, both lines) and each file that differs, and returns kExitFail. RUN_DIR that is not a sim run (no sim.json,
/// or its mode is not "sim"), or whose version differs from `tool_version`, is refused with kExitUsage.
int replay_run(const std::filesystem::path& run_dir, const std::optional<std::filesystem::path>& into,
               const std::string& tool_version, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err);

}  // namespace iotw::sim
