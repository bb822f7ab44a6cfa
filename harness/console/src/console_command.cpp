#include "iotw/console/console_command.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "iotw/console/control_client.hpp"
#include "iotw/console/controller.hpp"
#include "iotw/console/screen.hpp"
#include "iotw/exit_code.hpp"
#include "iotw/harness/rig_loader.hpp"
#include "iotw/support/process.hpp"

namespace iotw::console {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string no_live_run(const fs::path& dir) {
  return fmt::format("no live run in {} (no harness.sock answering)", dir.string());
}

fs::path default_out_dir(const fs::path& rig_file) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return fs::path("runs") / fmt::format("{}-{}-console", rig_file.stem().string(), stamp);
}

// The last lines of a log file, for an error message.
std::string tail_of(const fs::path& file, std::size_t lines) {
  std::ifstream in(file);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  " + all[i] + '\n';
  return out;
}

// The screen over a live run's socket; what the user chose at the end, and whether the run had ended by then.
struct AttachEnd {
  ScreenEnd screen;
  bool run_ended;
  std::string verdict;  // "PASS", "FAIL ...", or empty
};

// The rig's steps as the schedule shows them: what each does and how long a fault lasts (for its countdown).
// The rig file is read with the harness's own loader; a file that no longer loads leaves the labels as they are.
void describe_steps(Controller& controller) {
  if (controller.rig_file().empty()) return;
  try {
    const harness::RigSpec spec = harness::load_rig(controller.rig_file());
    for (const harness::Step& st : spec.steps) {
      std::string text = fmt::format("{} (line {}): ", st.label, st.line);
      std::optional<double> duration;
      if (st.action == harness::Step::Action::Fault) {
        text += "fault " + st.fault.kind;
        if (!st.fault.devices.empty()) text += fmt::format(" {}", fmt::join(st.fault.devices, ","));
        duration = st.fault.duration_s;
      } else {
        text += st.action == harness::Step::Action::Wait ? "wait" : "expect";
      }
      controller.describe_step(st.label, text, duration);
    }
  } catch (const std::exception&) {
  }
}

AttachEnd attach_screen(const fs::path& dir, ControlClient& client) {
  Controller controller([&client](const json& req) { return client.request(req); });
  describe_steps(controller);
  const ScreenEnd end = run_screen(controller, dir.string());
  std::string verdict;
  if (const auto& pass = controller.model().status().verdict_pass) {
    verdict = *pass ? "PASS" : "FAIL";
    for (const auto& f : controller.model().status().failed_criteria) verdict += ' ' + f;
  }
  return {end, controller.run_ended(), verdict};
}

void say_how_it_ended(const AttachEnd& end, const fs::path& dir, std::ostream& out) {
  if (end.run_ended)
    out << "the run has ended" << (end.verdict.empty() ? "" : ": " + end.verdict) << "; run folder " << dir.string() << '\n';
  else if (end.screen == ScreenEnd::stopped)
    out << "stop sent; the run is judged in " << dir.string() << '\n';
  else
    out << "detached; the run keeps going: iotw console --attach " << dir.string() << " (q s there stops it)\n";
}

// The screen needs a terminal on stdin and stdout; say so before anything starts.
bool have_terminal(std::ostream& err) {
  if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) return true;
  err << "error: iotw console needs a terminal (stdin and stdout); `iotw rig run --hold` runs a rig without one\n";
  return false;
}

}  // namespace

ConsoleCommand::ConsoleCommand(CLI::App& app) {
  console_ = app.add_subcommand("console", "Live view of a rig: start one, attach to a held run, or replay a finished run (docs/console.md)");
  console_->add_option("RIG", rig_file_, "Rig file (TOML) to start with --hold and attach to");
  console_->add_option("--attach", attach_dir_, "Attach to the live run in this run folder");
  console_->add_option("--replay", replay_dir_, "Replay the finished run in this run folder");
  out_opt_ = console_->add_option("--out,-o", out_dir_, "Run folder for a rig the console starts (default runs/<rig>-<time>-console)");
  seed_opt_ = console_->add_option("--seed", seed_, "Seed for a rig the console starts");
}

bool ConsoleCommand::parsed() const { return console_->parsed(); }

int ConsoleCommand::run(const fs::path& iotw_exe, std::ostream& out, std::ostream& err) const {
  const int modes = !rig_file_.empty() + !attach_dir_.empty() + !replay_dir_.empty();
  if (modes != 1) {
    err << "error: iotw console takes one of RIG.toml, --attach RUN_DIR, --replay RUN_DIR\n";
    return kExitUsage;
  }
  try {
    if (!replay_dir_.empty()) {
      std::ifstream in(replay_dir_ / "events.jsonl");
      if (!in) {
        err << "error: no events.jsonl in " << replay_dir_.string() << '\n';
        return kExitUsage;
      }
      std::vector<json> events;
      for (std::string line; std::getline(in, line);) {
        auto e = json::parse(line, nullptr, false);
        if (!e.is_discarded() && e.is_object()) events.push_back(std::move(e));
      }
      std::ifstream report_in(replay_dir_ / "report.json");
      json report = report_in ? json::parse(report_in, nullptr, false) : json();
      if (report.is_discarded()) report = json();
      if (!have_terminal(err)) return kExitUsage;
      Controller controller(std::move(events), std::move(report));
      run_screen(controller, replay_dir_.string());
      return kExitPass;
    }

    if (!attach_dir_.empty()) {
      std::unique_ptr<ControlClient> client;
      try {
        client = std::make_unique<ControlClient>(attach_dir_ / "harness.sock");
      } catch (const std::exception&) {
        err << "error: " << no_live_run(attach_dir_) << '\n';
        return kExitUsage;
      }
      if (!have_terminal(err)) return kExitUsage;
      say_how_it_ended(attach_screen(attach_dir_, *client), attach_dir_, out);
      return kExitPass;
    }

    // Start the rig held, as a child that outlives a detach: its own process group (the terminal's Ctrl-C is
    // the console's), no parent-death signal. `iotw rig run` wants an empty run folder, so its output goes to
    // <DIR>.console.log first and is moved into the folder (DIR/console.log) once the run serves harness.sock.
    if (!have_terminal(err)) return kExitUsage;
    const fs::path dir = fs::absolute(*out_opt_ ? out_dir_ : default_out_dir(rig_file_));
    fs::create_directories(dir.parent_path());
    const fs::path early_log = dir.string() + ".console.log";
    std::vector<std::string> args{"rig", "run", "--hold", rig_file_.string(), "--out", dir.string()};
    if (*seed_opt_) args.insert(args.end(), {"--seed", std::to_string(seed_)});
    SpawnOptions spawn;
    spawn.stdout_file = early_log;
    spawn.stderr_file = early_log;
    spawn.own_process_group = true;
    spawn.parent_death_signal = 0;
    auto rig = std::make_unique<ProcessSupervisor>();
    rig->start("rig", iotw_exe, args, spawn);
    out << "starting " << rig_file_.string() << " held; run folder " << dir.string() << std::endl;

    std::unique_ptr<ControlClient> client;
    // Ctrl-C or SIGTERM before the screen is up is not a detach: the rig nobody has seen yet is stopped.
    static std::atomic<int> interrupted{0};
    struct sigaction on_stop {};
    on_stop.sa_handler = [](int sig) { interrupted = sig; };
    sigemptyset(&on_stop.sa_mask);
    sigaction(SIGINT, &on_stop, nullptr);
    sigaction(SIGTERM, &on_stop, nullptr);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!client) {
      if (interrupted) {
        err << "interrupted before the rig was up; stopping it\n";
        rig->stop("rig", std::chrono::seconds(10));
        return kExitInterrupted;
      }
      if (const auto exited = rig->reap_exited()) {
        err << "error: the rig ended before it served harness.sock (exit " << exited->code << "); "
            << early_log.string() << ":\n" << tail_of(early_log, 15);
        return exited->code == kExitUsage ? kExitUsage : kExitCouldNotRun;
      }
      if (std::chrono::steady_clock::now() > give_up) {
        err << "error: " << no_live_run(dir) << " 60 s after starting it; it keeps running, see " << early_log.string() << '\n';
        (void)rig.release();  // leave it running for --attach (its destructor would stop it)
        return kExitCouldNotRun;
      }
      try {
        client = std::make_unique<ControlClient>(dir / "harness.sock");
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    std::error_code ec;
    fs::rename(early_log, dir / "console.log", ec);
    const AttachEnd end = attach_screen(dir, *client);
    client.reset();
    if (end.screen != ScreenEnd::stopped && !end.run_ended) {
      // The supervisor would stop its child when destroyed: let it go instead, the run stays held.
      (void)rig.release();  // deliberately leaked with its child
      say_how_it_ended(end, dir, out);
      return kExitPass;
    }
    if (!end.run_ended) out << "stopping the rig; judging the run..." << std::endl;
    const auto exit = rig->wait("rig");
    say_how_it_ended(end, dir, out);
    out << "iotw rig run exited " << (exit ? exit->code : -1) << "; its output: " << (dir / "console.log").string() << '\n';
    return kExitPass;
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return kExitCouldNotRun;
  }
}

}  // namespace iotw::console
