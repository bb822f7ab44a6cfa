// iotw: the IOTW Rig command line (`iotw rig run FILE.toml|DIR`, `iotw rig check FILE.toml`, `iotw vrf prove|verify`, `iotw ledger verify`,
// `iotw --version`, `--log-level`). Exit codes: docs/cli.md.
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <limits>

#include <CLI/CLI.hpp>

#include "iotw/certify/certify_command.hpp"
#include "iotw/cli/command_line.hpp"
#include "iotw/console/console_command.hpp"
#include "iotw/exit_code.hpp"
#include "iotw/harness/fault_registry.hpp"
#include "iotw/harness/score_registry.hpp"
#include "iotw/harness/scorer.hpp"
#include "rig_batch.hpp"
#include "iotw/sim/sim_run.hpp"
#include "rig_runner.hpp"
#include "ledger_command.hpp"
#include "vrf_command.hpp"

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void on_signal(int) { g_stop = true; }

/// `iotw rig run --help`'s footer: the faults and [pass] keys, from their registries.
std::string faults_and_criteria() {
  std::string out = "Faults ([[steps]] fault = ..., docs/faults.md):\n";
  for (const iotw::harness::FaultDef& d : iotw::harness::fault_registry()) {
    std::string params;
    for (auto p : d.params) params += (params.empty() ? " (" : ", ") + std::string(p);
    out += "  " + std::string(d.name) + (params.empty() ? "" : params + ")") + ": " + std::string(d.summary) + "\n";
  }
  out += "[pass] keys (docs/rig-format.md):";
  for (const iotw::harness::PassKeyDef& k : iotw::harness::pass_keys())
    out += "\n  " + k.key + ": " + std::string(k.score->name) + " " +
           std::string(iotw::harness::op_symbol(k.op)) + " value (" + std::string(k.score->label) + ")";
  return out;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed socket is an error code, not a death
}

}  // namespace

int main(int argc, char** argv) {
  namespace h = iotw::harness;
  CLI::App app{"iotw: hardware-in-the-loop rigs for the IOTW micro-mining protocol. Exit codes: 0 passed, "
               "1 criteria failed, 2 usage or configuration error, 3 could not run, 130 interrupted (docs/cli.md)"};
  iotw::cli::CommonOptions common(app, "iotw");
  app.require_subcommand(1);
  CLI::App* rig = app.add_subcommand("rig", "Run or check a rig scenario (rigs/*.toml)");
  rig->require_subcommand(1);

  h::RunOptions run_opts;
  std::filesystem::path out_dir;
  std::uint64_t seed = 0;
  CLI::App* run = rig->add_subcommand(
      "run",
      "Run a rig: starts iotw-trust-node and iotw-emu, links every device the rig's way (PTY pairs through the "
      "serial fault proxy, UDP through the UDP fault proxy for AT modules, TCP, TAP interfaces in the run's own "
      "network namespace), submits transactions, runs the rig's steps until the target height or the deadline, "
      "then judges the run. Writes a run folder: events.jsonl, ledger.jsonl, report.json, junit.xml, report.html, "
      "links.pcapng (every frame and datagram), the children's configs and logs. Prints the seed, progress and a "
      "summary; --log-level (anywhere on the line) sets the log on stderr of iotw and its children. Exit 0 passed, "
      "1 criteria failed, 2 bad rig or arguments, 3 could not run, 130 interrupted (docs/cli.md)");
  run->add_option("FILE", run_opts.rig_file,
                  "Rig file (TOML), or a folder: every *.toml in it runs as a child `iotw rig run` in its own run "
                  "subfolder of --out, with a combined junit.xml and batch.json (exit 2 any rig file invalid, else 3 "
                  "any could not run, else 1 any failed, else 0)")
      ->required();
  int jobs = 1;
  std::string shard_text;
  run->footer(faults_and_criteria());
  CLI::Option* jobs_opt =
      run->add_option("--jobs,-j", jobs, "Folder: rigs run at once (default 1)")->check(CLI::Range(1, 64));
  CLI::Option* shard_opt = run->add_option(
      "--shard", shard_text,
      "Folder: run share i of n (\"i/n\", 1 <= i <= n): the *.toml files sorted by name, those at 0-based "
      "position k with k % n == i - 1");
  CLI::Option* out_opt =
      run->add_option("--out,-o", out_dir, "Run folder (created; must be empty). Default runs/<rig>-<time>-<seed>; for a folder of rigs the "
                      "batch folder (run subfolders, logs, junit.xml, batch.json), default runs/batch-<time>");
  CLI::Option* seed_opt = run->add_option("--seed", seed, "Seed (overrides the rig's; default random, printed)")
                              ->check(CLI::Range(std::uint64_t{0},
                                                 static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));

  run->add_flag("--require-all", run_opts.require_all,
                "A rig needing a capability this host lacks (TAP needs root, qemu-cortex-m3 devices need "
                "qemu-system-arm and the built image) is an error, exit 3, instead of a skip (exit 0, junit <skipped>)");

  std::string mode = "real";
  run->add_option("--mode", mode,
                  "real (default): the rig's processes, PTYs and sockets in real time; sim: the whole rig in one process "
                  "in virtual time, byte-identical for a seed (docs/simulation.md; a rig that needs the OS is refused, "
                  "exit 2)")
      ->check(CLI::IsMember({"real", "sim"}));

  std::filesystem::path check_file;
  CLI::App* check = rig->add_subcommand("check", "Validate a rig file only: prints \"ok: <name>, N devices\"");
  check->add_option("FILE", check_file, "Rig file (TOML)")->required();

  std::filesystem::path replay_dir;
  std::optional<std::filesystem::path> replay_out;
  CLI::App* replay = rig->add_subcommand(
      "replay",
      "Run a sim run again from its folder (rig.toml, the seed and version in sim.json) and compare: prints the first "
      "event that differs, if any, and whether events.jsonl, ledger.jsonl and links.pcapng are identical. Exit 0 "
      "identical, 1 different, 2 not a sim run or another iotw version (docs/simulation.md)");
  replay->add_option("RUN_DIR", replay_dir, "The folder of a `iotw rig run --mode sim` run")->required();
  replay->add_option("--out,-o", replay_out, "Where the replay runs (created; must be empty). Default RUN_DIR/replay");


  run->add_flag("--hold", run_opts.hold,
                "After the target (or deadline), keep the rig running (trust node, devices, traffic) until a stop "
                "request on harness.sock, SIGINT or SIGTERM; then judge it (docs/console.md)");

  h::VrfCommand vrf(app);
  h::LedgerCommand ledger(app);
  iotw::console::ConsoleCommand console(app);
  iotw::certify::CertifyCommand certify(app);

  if (const auto code = common.parse(argc, argv)) return *code;

  if (check->parsed())
    return h::check_rig(check_file, std::cout, std::cerr, std::filesystem::read_symlink("/proc/self/exe").parent_path());
  if (vrf.parsed()) return vrf.run(std::cout, std::cerr);
  if (ledger.parsed()) return ledger.run(std::cout, std::cerr);
  if (certify.parsed()) return certify.run(std::cout, std::cerr);
  if (console.parsed()) return console.run(std::filesystem::read_symlink("/proc/self/exe"), std::cout, std::cerr);

  const std::string tool_version =
      std::string(iotw::cli::version()) + " (git " + std::string(iotw::cli::git_revision()) + ")";
  if (replay->parsed()) {
    install_signal_handlers();
    return iotw::sim::replay_run(replay_dir, replay_out, tool_version, g_stop, std::cout, std::cerr);
  }
  if (*out_opt) run_opts.out_dir = out_dir;
  if (*seed_opt) run_opts.seed = seed;
  run_opts.log_level = common.log_level();
  run_opts.tool_version = tool_version;
  run_opts.bin_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  std::error_code ec;
  if (std::filesystem::is_directory(run_opts.rig_file, ec)) {
    if (run_opts.hold) {
      std::cerr << "error: --hold needs one rig file; " << run_opts.rig_file.string() << " is a folder\n";
      return iotw::kExitUsage;
    }
    h::BatchOptions batch;
    batch.rig_dir = run_opts.rig_file;
    if (*out_opt) batch.out_dir = out_dir;
    if (*seed_opt) batch.seed = seed;
    batch.jobs = jobs;
    batch.require_all = run_opts.require_all;
    batch.log_level = common.log_level();
    batch.sim = mode == "sim";
    if (*shard_opt) {
      const auto s = h::parse_shard(shard_text);
      if (!s) {
        std::cerr << "error: --shard must be i/n with 1 <= i <= n, got '" << shard_text << "'\n";
        return iotw::kExitUsage;
      }
      batch.shard = *s;
    }
    batch.iotw_exe = std::filesystem::read_symlink("/proc/self/exe");
    install_signal_handlers();
    return h::run_batch(batch, g_stop, std::cout, std::cerr);
  }
  if (*jobs_opt || *shard_opt) {
    std::cerr << "error: --jobs and --shard need a folder of rigs; " << run_opts.rig_file.string()
              << " is not a folder\n";
    return iotw::kExitUsage;
  }
  install_signal_handlers();
  if (mode == "sim") {
    if (run_opts.hold) {
      std::cerr << "error: --hold needs a real-time run; --mode sim runs in virtual time\n";
      return iotw::kExitUsage;
    }
    iotw::sim::SimOptions sim{run_opts.rig_file, run_opts.out_dir, run_opts.seed, run_opts.tool_version};
    return iotw::sim::run_sim_rig(sim, g_stop, std::cout, std::cerr);
  }
  return h::run_rig(run_opts, g_stop, std::cout, std::cerr);
}
