// What every IOTW binary's command line shares (docs/cli.md): `--version`, `--log-level`, and parse errors
// that name the offending argument and exit kExitUsage. Human-readable logs go through spdlog's default
// logger, set up here; machine-readable outputs (events.jsonl, reports) never do.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace iotw::cli {

/// The project version (CMake's project VERSION, e.g. "0.1.0"). version() and git_revision() are defined in the
/// generated version.cpp, which only executables linking the CMake target iotw_version get.
std::string_view version();

/// The git revision the binary was built from (`git describe --always --dirty`, e.g. "5701406" or
/// "5701406-dirty"), or "unknown" outside a git checkout. Captured at build time.
std::string_view git_revision();

/// "<program> <version> (git <revision>)", e.g. "iotw 0.1.0 (git 5701406)": what `--version` prints.
std::string version_line(std::string_view program);

/// `--version` and `--log-level` on one binary's CLI::App, and its parse.
class CommonOptions {
 public:
  /// Adds `--version` (prints version_line(program) on stdout) and `--log-level LEVEL` (trace, debug, info,
  /// warn, error, off; default info) to `app`, and lets subcommands take them (CLI::App::fallthrough). Call
  /// before adding subcommands. `app` must outlive this object.
  CommonOptions(CLI::App& app, std::string program);

  /// Parses the command line. Returns the code to exit with now: kExitPass after --help or --version (printed
  /// on stdout), kExitUsage after a usage error, printed on stderr as "<program>: error: <message>" where the
  /// message names the argument ("unknown option '--bogus'", "unknown subcommand 'rnu' of 'iotw rig' ...").
  /// Returns nullopt after a good parse, with spdlog's default logger writing to stderr at the chosen level.
  std::optional<int> parse(int argc, const char* const* argv);

  /// The --log-level given (default "info"), to pass on to child processes.
  const std::string& log_level() const { return log_level_; }

 private:
  CLI::App& app_;
  std::string program_;
  std::string log_level_ = "info";
};

/// Makes spdlog's default logger write to stderr as "[YYYY-mm-dd HH:MM:SS.mmm] [<program>] [<level>] message"
/// at `level` (one of trace, debug, info, warn, error, off). CommonOptions::parse calls it.
void init_logging(std::string_view program, std::string_view level);

}  // namespace iotw::cli
