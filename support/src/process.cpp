#include "iotw/support/process.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <thread>

#include <boost/process/args.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <boost/process/search_path.hpp>

namespace iotw {
namespace bp = boost::process;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// The files a child's standard streams are redirected to, opened close-on-exec in the parent (so no other
/// child inherits them) and closed once the child has its own copies.
class Streams {
 public:
  Streams(const SpawnOptions& o, const fs::path& exe) {
    in = open(o.stdin_file.empty() ? fs::path("/dev/null") : o.stdin_file, "re", exe);
    out = o.stdout_file.empty() ? stdout : open(o.stdout_file, "we", exe);
    err = o.stderr_file.empty() ? stderr : o.stderr_file == o.stdout_file ? out : open(o.stderr_file, "we", exe);
  }
  FILE* in = nullptr;
  FILE* out = nullptr;
  FILE* err = nullptr;

 private:
  FILE* open(const fs::path& file, const char* mode, const fs::path& exe) {
    FILE* f = std::fopen(file.c_str(), mode);
    if (!f)
      throw std::runtime_error("cannot start " + exe.string() + ": cannot open " + file.string() + ": " +
                               std::strerror(errno));
    owned_.emplace_back(f, &std::fclose);
    return f;
  }
  std::vector<std::unique_ptr<FILE, int (*)(FILE*)>> owned_;
};

/// Runs in the child between fork and exec (async-signal-safe calls only).
auto child_setup(const SpawnOptions& o) {
  return bp::extend::on_exec_setup = [group = o.own_process_group, death = o.parent_death_signal,
                                      dir = o.working_dir.string()](auto&) {
    if (!dir.empty() && ::chdir(dir.c_str()) != 0) ::_exit(127);  // checked in the parent; gone since
    if (death != 0) ::prctl(PR_SET_PDEATHSIG, death);
    if (group) ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);  // an ignored signal would survive exec
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
  };
}

/// `exe` itself, or a bare name (no '/') looked up in PATH. Throws std::runtime_error when PATH has no such name.
std::string resolve(const fs::path& exe) {
  if (exe.has_parent_path()) return exe.string();
  const auto found = bp::search_path(exe.string());
  if (found.empty()) throw std::runtime_error("cannot start " + exe.string() + ": not found in PATH");
  return found.string();
}

bp::child spawn(const fs::path& exe, const std::vector<std::string>& args, const SpawnOptions& o) {
  std::error_code dir_ec;
  if (!o.working_dir.empty() && !fs::is_directory(o.working_dir, dir_ec))
    throw std::runtime_error("cannot start " + exe.string() + ": " + o.working_dir.string() + " is not a folder");
  Streams s(o, exe);
  std::error_code ec;
  bp::child c(bp::exe = resolve(exe), bp::args = args, bp::std_in < s.in, bp::std_out > s.out,
              bp::std_err > s.err, child_setup(o), ec);
  if (ec || !c.valid()) throw std::runtime_error("cannot start " + exe.string() + ": " + ec.message());
  return c;
}

int code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

ProcessSupervisor::~ProcessSupervisor() { stop_all(2s); }

int ProcessSupervisor::start(const std::string& name, const fs::path& exe, const std::vector<std::string>& args,
                             const SpawnOptions& options) {
  bp::child proc = spawn(exe, args, options);
  const int pid = proc.id();
  children_.push_back({name, std::move(proc)});
  return pid;
}

ProcessExit ProcessSupervisor::ended(Child& c) { return {c.name, c.proc.id(), code_of(c.proc.native_exit_code())}; }

std::optional<ProcessExit> ProcessSupervisor::reap_exited() {
  for (auto it = children_.begin(); it != children_.end(); ++it) {
    std::error_code ec;
    if (it->proc.running(ec) || ec) continue;
    ProcessExit e = ended(*it);
    children_.erase(it);
    return e;
  }
  return std::nullopt;
}

std::optional<ProcessExit> ProcessSupervisor::wait(const std::string& name) {
  auto it = std::find_if(children_.begin(), children_.end(), [&](const Child& c) { return c.name == name; });
  if (it == children_.end()) return std::nullopt;
  std::error_code ec;
  it->proc.wait(ec);
  ProcessExit e = ended(*it);
  children_.erase(it);
  return e;
}

std::optional<ProcessExit> ProcessSupervisor::stop(const std::string& name, std::chrono::milliseconds grace) {
  auto it = std::find_if(children_.begin(), children_.end(), [&](const Child& c) { return c.name == name; });
  if (it == children_.end()) return std::nullopt;
  std::error_code ec;
  if (it->proc.running(ec)) {
    ::kill(it->proc.id(), SIGTERM);
    ::kill(it->proc.id(), SIGCONT);  // a SIGSTOPped child must run to handle SIGTERM
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (it->proc.running(ec) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    if (it->proc.running(ec)) {
      ::kill(it->proc.id(), SIGKILL);
      it->proc.wait(ec);
    }
  }
  ProcessExit e = ended(*it);
  children_.erase(it);
  return e;
}

std::optional<ProcessExit> ProcessSupervisor::kill(const std::string& name) {
  auto it = std::find_if(children_.begin(), children_.end(), [&](const Child& c) { return c.name == name; });
  if (it == children_.end()) return std::nullopt;
  std::error_code ec;
  ::kill(it->proc.id(), SIGKILL);
  it->proc.wait(ec);
  ProcessExit e = ended(*it);
  children_.erase(it);
  return e;
}

bool ProcessSupervisor::signal(const std::string& name, int sig) {
  auto it = std::find_if(children_.begin(), children_.end(), [&](const Child& c) { return c.name == name; });
  if (it == children_.end()) return false;
  return ::kill(it->proc.id(), sig) == 0;
}

std::vector<ProcessExit> ProcessSupervisor::stop_all(std::chrono::milliseconds grace) {
  std::error_code ec;
  for (auto it = children_.rbegin(); it != children_.rend(); ++it)
    if (it->proc.running(ec)) {
      ::kill(it->proc.id(), SIGTERM);
      ::kill(it->proc.id(), SIGCONT);
    }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  const auto any_running = [&] {
    return std::any_of(children_.begin(), children_.end(), [&](Child& c) { return c.proc.running(ec); });
  };
  while (any_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  std::vector<ProcessExit> out;
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    if (it->proc.running(ec)) {
      ::kill(it->proc.id(), SIGKILL);
      it->proc.wait(ec);
    }
    out.push_back(ended(*it));
  }
  children_.clear();
  return out;
}

int run_to_end(const fs::path& exe, const std::vector<std::string>& args, const SpawnOptions& options) {
  bp::child c = spawn(exe, args, options);
  std::error_code ec;
  c.wait(ec);
  return code_of(c.native_exit_code());
}

namespace {

/// What run_captured returns once `c` was started with its stdout on `out`: throws when it did not start.
CapturedRun collect(bp::child& c, bp::ipstream& out, const std::error_code& start_error, const fs::path& exe) {
  if (start_error || !c.valid()) throw std::runtime_error("cannot start " + exe.string() + ": " + start_error.message());
  CapturedRun r;
  r.output.assign(std::istreambuf_iterator<char>(out), std::istreambuf_iterator<char>());
  std::error_code ec;
  c.wait(ec);
  r.code = code_of(c.native_exit_code());
  return r;
}

}  // namespace

CapturedRun run_captured(const fs::path& exe, const std::vector<std::string>& args, Stderr err) {
  bp::ipstream out;
  std::error_code ec;
  const SpawnOptions o;
  bp::child c;
  if (err == Stderr::merge)
    c = bp::child(bp::exe = resolve(exe), bp::args = args, bp::std_in < bp::null, (bp::std_out & bp::std_err) > out,
                  child_setup(o), ec);
  else
    c = bp::child(bp::exe = resolve(exe), bp::args = args, bp::std_in < bp::null, bp::std_out > out,
                  bp::std_err > bp::null, child_setup(o), ec);
  return collect(c, out, ec, exe);
}

CapturedRun run_captured(const fs::path& exe, const std::vector<std::string>& args, const fs::path& stderr_file) {
  bp::ipstream out;
  std::error_code ec;
  const SpawnOptions o;
  bp::child c(bp::exe = resolve(exe), bp::args = args, bp::std_in < bp::null, bp::std_out > out,
              bp::std_err > stderr_file.string(), child_setup(o), ec);
  return collect(c, out, ec, exe);
}

}  // namespace iotw
