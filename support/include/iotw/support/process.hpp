// Child processes, all started with Boost.Process through this header: ProcessSupervisor for children that run
// until stopped (the harness's trust node and emulator pool, rig batches, the pool's TAP module processes, the
// load driver's daemon, test daemons), run_to_end / run_captured for commands that run to their end (`ip`,
// tools in tests). There is one way to stop a child: SIGTERM (and SIGCONT, so a stopped child can act on it),
// a grace period, then SIGKILL.
//
// `exe` is a path, or a bare name (no '/') looked up in PATH. Every child gets stdin from /dev/null (or a file) and SIGPIPE, SIGINT and SIGTERM at their default
// dispositions, even when the parent ignores them. It inherits the calling thread's namespaces (a thread that
// entered a network namespace starts its children in it).
#pragma once
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/process/child.hpp>

namespace iotw {

/// Where a child's standard streams go and how it is tied to its parent.
struct SpawnOptions {
  std::filesystem::path stdin_file{};   ///< read from this file; empty = /dev/null
  std::filesystem::path stdout_file{};  ///< created or truncated (mode 0666 & ~umask); empty = the parent's stdout
  std::filesystem::path stderr_file{};  ///< likewise; the same path as stdout_file = both into one file (one open
                                      ///< file description, as `>file 2>&1`); empty = the parent's stderr
  std::filesystem::path working_dir{};  ///< the child's current directory; empty = the parent's
  bool own_process_group = true;      ///< setpgid(0, 0): a terminal's Ctrl-C reaches only the parent, which then
                                      ///< stops its children in order; false = stay in the parent's group
  int parent_death_signal = SIGKILL;  ///< PR_SET_PDEATHSIG: sent to the child when the thread that started it
                                      ///< ends (the parent died); 0 = none, the child may outlive its parent
};

/// How a child ended: `code` is its exit status, or 128 + signal number when a signal killed it.
struct ProcessExit {
  std::string name;
  int pid = 0;
  int code = 0;
};

/// Children by name, each running until it exits on its own or is stopped. Not thread-safe: one thread
/// starts, watches and stops them.
class ProcessSupervisor {
 public:
  ProcessSupervisor() = default;
  /// Stops every child still running (stop_all with a 2 s grace).
  ~ProcessSupervisor();
  ProcessSupervisor(const ProcessSupervisor&) = delete;
  ProcessSupervisor& operator=(const ProcessSupervisor&) = delete;

  /// Starts `exe args...` as child `name` (a name not in use). Returns its pid. Throws std::runtime_error naming
  /// `exe` when it cannot be started (missing, not executable, a redirection file cannot be opened).
  int start(const std::string& name, const std::filesystem::path& exe, const std::vector<std::string>& args,
            const SpawnOptions& options = {});

  /// The first child (in start order) that has exited on its own since the last call, if any; it is then
  /// forgotten (stop/stop_all skip it). Does not block.
  std::optional<ProcessExit> reap_exited();

  /// Blocks until child `name` exits on its own (no signal is sent); it is then forgotten. Returns how it ended,
  /// or nullopt if no such child is managed.
  std::optional<ProcessExit> wait(const std::string& name);

  /// Stops child `name` if it is still managed: SIGTERM, up to `grace` for it to exit, then SIGKILL.
  /// Returns how it ended, or nullopt if no such child is managed.
  std::optional<ProcessExit> stop(const std::string& name, std::chrono::milliseconds grace);

  /// SIGKILL to child `name`, reaped at once and forgotten. Returns how it ended, or nullopt if not managed.
  std::optional<ProcessExit> kill(const std::string& name);

  /// Sends `sig` (e.g. SIGSTOP, SIGCONT) to child `name`; false when no such child is managed.
  bool signal(const std::string& name, int sig);

  /// Stops every managed child at once: SIGTERM to each (latest started first), one shared `grace` for all of
  /// them to exit, then SIGKILL to the rest. Returns how each ended, latest started first.
  std::vector<ProcessExit> stop_all(std::chrono::milliseconds grace);

  /// Number of managed children (started, not yet reaped, stopped or killed).
  std::size_t size() const { return children_.size(); }
  bool empty() const { return children_.empty(); }

 private:
  struct Child {
    std::string name;
    boost::process::child proc;
  };
  static ProcessExit ended(Child& c);
  std::vector<Child> children_;
};

/// Runs `exe args...` to its end (stdin, stdout and stderr as `options` say; the process-group and death-signal
/// fields apply too) and returns its exit code, 128 + signal number when a signal killed it. Throws
/// std::runtime_error naming `exe` when it cannot be started.
int run_to_end(const std::filesystem::path& exe, const std::vector<std::string>& args, const SpawnOptions& options = {});

/// What run_captured collected.
struct CapturedRun {
  int code = -1;       ///< exit code, 128 + signal number when a signal killed it
  std::string output;  ///< everything the child wrote to stdout (and to stderr with Stderr::merge)
};

/// What run_captured does with the child's stderr.
enum class Stderr {
  merge,    ///< into the same pipe as stdout, interleaved as written (`2>&1`)
  discard,  ///< to /dev/null
};

/// Runs `exe args...` to its end with stdin from /dev/null, reading its stdout (and stderr, per `err`) through a
/// pipe. Throws std::runtime_error naming `exe` when it cannot be started.
CapturedRun run_captured(const std::filesystem::path& exe, const std::vector<std::string>& args, Stderr err);

/// As above, with the child's stderr written to `stderr_file` (created or truncated), e.g. to check a tool's
/// warnings apart from its output. Throws std::runtime_error naming `exe` when it cannot be started.
CapturedRun run_captured(const std::filesystem::path& exe, const std::vector<std::string>& args,
                         const std::filesystem::path& stderr_file);

}  // namespace iotw
