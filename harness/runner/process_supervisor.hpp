// Spawns the rig's child processes (trust node, emulator pool) with Boost.Process and stops them:
// SIGTERM, a grace period, then SIGKILL. Each child runs in its own process group (a terminal's Ctrl-C reaches
// only the harness, which stops the children in order) with PR_SET_PDEATHSIG(SIGKILL), so it never outlives
// the harness even if the harness is killed outright.
#pragma once
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/process/child.hpp>

namespace iotw::harness {

/// How a child ended: `code` is its exit status, or 128 + signal number when a signal killed it.
struct ProcessExit {
  std::string name;
  int pid = 0;
  int code = 0;
};

class ProcessSupervisor {
 public:
  ProcessSupervisor() = default;
  /// Stops every child still running (see stop_all).
  ~ProcessSupervisor();
  ProcessSupervisor(const ProcessSupervisor&) = delete;
  ProcessSupervisor& operator=(const ProcessSupervisor&) = delete;

  /// Starts `exe args...` as child `name`, stdout and stderr redirected to (truncated) files.
  /// Returns its pid. Throws std::runtime_error naming `exe` when it cannot be spawned.
  int start(const std::string& name, const std::filesystem::path& exe, const std::vector<std::string>& args,
            const std::filesystem::path& stdout_log, const std::filesystem::path& stderr_log);

  /// The first child (in start order) that has exited on its own since the last call, if any; it is then
  /// forgotten (stop/stop_all skip it).
  std::optional<ProcessExit> reap_exited();

  /// Stops child `name` if it is still managed: SIGTERM, up to `grace` for it to exit, then SIGKILL.
  /// Returns how it ended, or nullopt if no such child is managed.
  std::optional<ProcessExit> stop(const std::string& name, std::chrono::milliseconds grace);

  /// SIGKILL to child `name`, reaped at once and forgotten. Returns how it ended, or nullopt if not managed.
  std::optional<ProcessExit> kill(const std::string& name);

  /// Sends `sig` (e.g. SIGSTOP, SIGCONT) to child `name`; false when no such child is managed.
  bool signal(const std::string& name, int sig);

  /// stop() for every managed child, latest started first.
  std::vector<ProcessExit> stop_all(std::chrono::milliseconds grace);

 private:
  struct Child {
    std::string name;
    boost::process::child proc;
  };
  static ProcessExit ended(Child& c);
  std::vector<Child> children_;
};

}  // namespace iotw::harness
