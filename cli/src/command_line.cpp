// --version, --log-level and parse errors that name the offending argument (command_line.hpp).
#include "iotw/cli/command_line.hpp"

#include <cctype>
#include <iostream>
#include <memory>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>  // also the stderr sinks
#include <spdlog/spdlog.h>

#include "iotw/exit_code.hpp"

namespace iotw::cli {
namespace {

const std::vector<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};

/// "iotw rig" for the `rig` subcommand of the program "iotw".
std::string command_path(const CLI::App& cmd, const std::string& program) {
  std::string path;
  for (const CLI::App* a = &cmd; a != nullptr && a->get_parent() != nullptr; a = a->get_parent())
    path = " " + a->get_name() + path;
  return program + path;
}

bool looks_like_option(const std::string& arg) {
  return arg.size() > 1 && arg[0] == '-' && !std::isdigit(static_cast<unsigned char>(arg[1])) && arg[1] != '.';
}

/// The parse error in words that name what was wrong: CLI11 reports an unknown subcommand as "A subcommand is
/// required" and lists unexpected arguments last-first, so an unknown option hides behind the file beside it.
std::string explain(const CLI::App& app, const CLI::ParseError& e, const std::string& program) {
  const CLI::App* cmd = &app;  // the deepest subcommand given
  for (;;) {
    const auto parsed = cmd->get_subcommands();
    if (parsed.empty()) break;
    cmd = parsed.front();
  }
  const std::vector<std::string> rest = app.remaining(true);
  for (const std::string& arg : rest)
    if (looks_like_option(arg)) {
      const std::string name = arg.substr(0, arg.find('='));
      return "unknown option '" + name + "' for '" + command_path(*cmd, program) + "'";
    }
  if (!rest.empty()) {
    const auto subs = cmd->get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); });
    if (!subs.empty()) {
      std::string names;
      for (const CLI::App* s : subs) names += (names.empty() ? "" : ", ") + s->get_name();
      return "unknown subcommand '" + rest.front() + "' of '" + command_path(*cmd, program) +
             "'; expected one of: " + names;
    }
    return "unexpected argument '" + rest.front() + "' for '" + command_path(*cmd, program) + "'";
  }
  return e.what();
}

}  // namespace

std::string version_line(std::string_view program) {
  return std::string(program) + " " + std::string(version()) + " (git " + std::string(git_revision()) + ")";
}

CommonOptions::CommonOptions(CLI::App& app, std::string program) : app_(app), program_(std::move(program)) {
  app_.fallthrough();  // `iotw rig run FILE --log-level debug`: subcommands hand unknown options up
  app_.set_version_flag("--version", version_line(program_), "Print \"" + program_ + " VERSION (git REVISION)\" and exit");
  app_.add_option("--log-level", log_level_, "Human-readable log on stderr: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember(kLevels))
      ->default_str("info");
}

std::optional<int> CommonOptions::parse(int argc, const char* const* argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    app_.exit(e, std::cout, std::cerr);
    return kExitPass;
  } catch (const CLI::ParseError& e) {
    std::cerr << program_ << ": error: " << explain(app_, e, program_) << "\nRun '" << program_
              << " --help' for usage.\n";
    return kExitUsage;
  }
  init_logging(program_, log_level_);
  return std::nullopt;
}

void init_logging(std::string_view program, std::string_view level) {
  auto logger = std::make_shared<spdlog::logger>(std::string(program),
                                                 std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%^%l%$] %v");
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace iotw::cli
