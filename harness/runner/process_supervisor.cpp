#include "process_supervisor.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include <boost/process/args.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>

namespace iotw::harness {
namespace bp = boost::process;
using namespace std::chrono_literals;

ProcessSupervisor::~ProcessSupervisor() { stop_all(2s); }

int ProcessSupervisor::start(const std::string& name, const std::filesystem::path& exe,
                             const std::vector<std::string>& args, const std::filesystem::path& stdout_log,
                             const std::filesystem::path& stderr_log) {
  std::error_code ec;
  bp::child proc(bp::exe = exe.string(), bp::args = args, bp::std_out > stdout_log.string(),
                 bp::std_err > stderr_log.string(), bp::std_in.close(),
                 bp::extend::on_exec_setup =
                     [](auto&) {
                       ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the harness
                       ::setpgid(0, 0);  // a terminal's Ctrl-C reaches only iotw, which then stops us in order
                       ::signal(SIGPIPE, SIG_DFL);
                     },
                 ec);
  if (ec || !proc.valid()) throw std::runtime_error("cannot start " + exe.string() + ": " + ec.message());
  const int pid = proc.id();
  children_.push_back({name, std::move(proc)});
  return pid;
}

ProcessExit ProcessSupervisor::ended(Child& c) {
  const int status = c.proc.native_exit_code();
  const int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return {c.name, c.proc.id(), code};
}

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
  std::vector<ProcessExit> out;
  while (!children_.empty())
    if (auto e = stop(children_.back().name, grace)) out.push_back(*e);
  return out;
}

}  // namespace iotw::harness

