// `iotw console RIG.toml | --attach RUN_DIR | --replay RUN_DIR`: the live ncurses view of a rig and the keys that
// poke its devices (docs/console.md). Registered on iotw's command line like the other subcommands.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>

#include <CLI/CLI.hpp>

namespace iotw::console {

class ConsoleCommand {
 public:
  /// Registers `console` on app.
  explicit ConsoleCommand(CLI::App& app);

  /// True when the command line chose `console`.
  bool parsed() const;

  /// Runs the console until the user quits. `iotw_exe`: this executable (the rig runs as its child
  /// `iotw rig run --hold`). Returns the exit codes of docs/cli.md: 0 on a normal quit, 2 for usage errors
  /// (no live run in the --attach folder, no events.jsonl in the --replay folder), 3 when the rig could not start.
  int run(const std::filesystem::path& iotw_exe, std::ostream& out, std::ostream& err) const;

 private:
  CLI::App* console_ = nullptr;
  std::filesystem::path rig_file_, attach_dir_, replay_dir_, out_dir_;
  std::uint64_t seed_ = 0;
  CLI::Option* seed_opt_ = nullptr;
  CLI::Option* out_opt_ = nullptr;
};

}  // namespace iotw::console
