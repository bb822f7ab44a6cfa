#include "iotw/console/console_command.hpp"

#include "iotw/exit_code.hpp"

namespace iotw::console {

ConsoleCommand::ConsoleCommand(CLI::App& app) {
  console_ = app.add_subcommand("console", "Live view of a rig: start one, attach to a held run, or replay a finished run (docs/console.md)");
  console_->add_option("RIG", rig_file_, "Rig file (TOML) to start with --hold and attach to");
  console_->add_option("--attach", attach_dir_, "Attach to the live run in this run folder");
  console_->add_option("--replay", replay_dir_, "Replay the finished run in this run folder");
  out_opt_ = console_->add_option("--out,-o", out_dir_, "Run folder for a rig the console starts");
  seed_opt_ = console_->add_option("--seed", seed_, "Seed for a rig the console starts");
}

bool ConsoleCommand::parsed() const { return console_->parsed(); }

int ConsoleCommand::run(const std::filesystem::path&, std::ostream&, std::ostream& err) const {
  err << "error: iotw console is not built yet\n";
  return kExitCouldNotRun;
}

}  // namespace iotw::console
