// A folder of rigs run by child `iotw rig run` processes, N at a time; stable sharding; combined JUnit.
#include "rig_batch.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "iotw/harness/xml_escape.hpp"
#include "iotw/support/process.hpp"

namespace iotw::harness {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kExitInterrupted = 130;

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t count_of(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) ++n;
  return n;
}

/// The <testsuite> elements of a junit.xml written by write_reports(): what lies inside <testsuites>.
std::optional<std::string> suites_of(const fs::path& junit) {
  std::error_code ec;
  if (!fs::is_regular_file(junit, ec)) return std::nullopt;
  const std::string x = slurp(junit);
  const auto open = x.find("<testsuites");
  const auto close = x.rfind("</testsuites>");
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  const auto body = x.find('>', open);
  if (body == std::string::npos || body > close) return std::nullopt;
  std::string inner = x.substr(body + 1, close - body - 1);
  if (inner.find("<testsuite") == std::string::npos) return std::nullopt;
  while (!inner.empty() && (inner.front() == '\n' || inner.front() == '\r')) inner.erase(inner.begin());
  while (!inner.empty() && (inner.back() == ' ' || inner.back() == '\n')) inner.pop_back();
  return inner;
}

/// The last `n` lines of a file, joined with '\n'.
std::string tail(const fs::path& file, std::size_t n) {
  std::ifstream in(file);
  std::deque<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    lines.push_back(l);
    if (lines.size() > n) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

const char* result_of(int code) {
  return code == 0 ? "pass" : code == 1 ? "fail" : code == kExitInterrupted ? "interrupted" : "error";
}

std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

/// How long interrupted children get to finish their own clean-up (stop their daemons, write reports) after
/// SIGTERM before SIGKILL.
constexpr auto kInterruptGrace = std::chrono::seconds(60);

/// Starts `iotw rig run FILE --out RUN [--seed S]` as child r.stem, stdout and stderr into the log, in the batch's
/// own process group (a terminal's Ctrl-C reaches every rig). Throws std::runtime_error when it cannot start.
int spawn_rig(ProcessSupervisor& children, const BatchOptions& o, const RigOutcome& r) {
  std::vector<std::string> args = {"rig", "run", r.rig_file.string(), "--out", r.run_dir.string()};
  if (o.seed) args.insert(args.end(), {"--seed", std::to_string(*o.seed)});
  return children.start(r.stem, o.iotw_exe, args,
                        {.stdout_file = r.log, .stderr_file = r.log, .own_process_group = false, .parent_death_signal = 0});
}

}  // namespace

std::optional<Shard> parse_shard(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  Shard s;
  const auto num = [](std::string_view t, int& v) {
    if (t.empty() || t.size() > 5) return false;
    const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    return ec == std::errc() && p == t.data() + t.size();
  };
  if (!num(text.substr(0, slash), s.index) || !num(text.substr(slash + 1), s.count)) return std::nullopt;
  if (s.count < 1 || s.count > 10000 || s.index < 1 || s.index > s.count) return std::nullopt;
  return s;
}

std::vector<fs::path> select_rigs(const fs::path& dir, const Shard& shard) {
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    std::error_code e2;
    if (p.extension() == ".toml" && fs::is_regular_file(p, e2)) names.push_back(p.filename().string());
  }
  if (ec) throw std::runtime_error("cannot read " + dir.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());
  std::vector<fs::path> out;
  for (std::size_t k = 0; k < names.size(); ++k)
    if (static_cast<int>(k % static_cast<std::size_t>(shard.count)) == shard.index - 1) out.push_back(dir / names[k]);
  return out;
}

std::string combined_junit(const std::vector<RigOutcome>& outcomes) {
  std::string body;
  std::size_t tests = 0, failures = 0, errors = 0;
  for (const RigOutcome& r : outcomes) {
    if (auto suites = suites_of(r.run_dir / "junit.xml")) {
      tests += count_of(*suites, "<testcase ");
      failures += count_of(*suites, "<failure");
      errors += count_of(*suites, "<error");
      body += *suites + "\n";
      continue;
    }
    ++tests;
    ++errors;
    const std::string msg = fmt::format("{}: could not run (exit {})", r.rig_file.filename().string(), r.exit_code);
    body += fmt::format(
        "  <testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n"
        "    <testcase name=\"run\" classname=\"rig.{0}\">\n"
        "      <error message=\"{1}\">{2}</error>\n"
        "    </testcase>\n"
        "  </testsuite>\n",
        xml_escape(r.stem), xml_escape(msg), xml_escape(tail(r.log, 20)));
  }
  return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"{}\" failures=\"{}\" errors=\"{}\">\n{}</testsuites>\n",
                     tests, failures, errors, body);
}

int batch_exit_code(const std::vector<RigOutcome>& outcomes) {
  bool failed = false;
  for (const RigOutcome& r : outcomes) {
    if (r.exit_code != 0 && r.exit_code != 1) return 2;
    failed = failed || r.exit_code == 1;
  }
  return failed ? 1 : 0;
}

int run_batch(const BatchOptions& o, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err) {
  std::error_code ec;
  if (!fs::is_directory(o.rig_dir, ec)) {
    err << "error: " << o.rig_dir.string() << " is not a folder\n";
    return 2;
  }
  if (o.jobs < 1 || o.jobs > 64) {
    err << "error: --jobs must be in 1..64, got " << o.jobs << '\n';
    return 2;
  }
  std::vector<fs::path> all, mine;
  try {
    all = select_rigs(o.rig_dir, Shard{1, 1});
    mine = select_rigs(o.rig_dir, o.shard);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return 2;
  }
  if (all.empty()) {
    err << "error: no *.toml rig in " << o.rig_dir.string() << '\n';
    return 2;
  }
  const fs::path out_dir = o.out_dir.empty() ? fs::path("runs") / ("batch-" + utc_stamp()) : o.out_dir;
  if (fs::exists(out_dir, ec) && !fs::is_empty(out_dir, ec)) {
    err << "error: out folder " << out_dir.string() << " is not empty\n";
    return 2;
  }
  fs::create_directories(out_dir, ec);
  if (ec) {
    err << "error: cannot create " << out_dir.string() << ": " << ec.message() << '\n';
    return 2;
  }
  out << fmt::format("batch: {} of {} rigs in {} (shard {}/{}), {} at a time, out {}\n", mine.size(), all.size(),
                     o.rig_dir.string(), o.shard.index, o.shard.count, o.jobs, out_dir.string())
      << std::flush;

  std::vector<RigOutcome> outcomes;
  for (const fs::path& f : mine) {
    RigOutcome r;
    r.stem = f.stem().string();
    r.rig_file = f;
    r.run_dir = out_dir / r.stem;
    r.log = out_dir / (r.stem + ".log");
    outcomes.push_back(std::move(r));
  }
  ProcessSupervisor children;
  std::map<std::string, std::pair<std::size_t, Clock::time_point>> running;  // by stem: outcome index, start
  std::size_t next = 0;
  bool interrupted = false;
  const auto finished = [&](const ProcessExit& e) {
    auto it = running.find(e.name);
    if (it == running.end()) return;
    RigOutcome& r = outcomes[it->second.first];
    r.exit_code = e.code;
    r.seconds = std::chrono::duration<double>(Clock::now() - it->second.second).count();
    running.erase(it);
    out << fmt::format("  {:<24} {} (exit {}, {:.1f} s) -> {}\n", r.stem, result_of(r.exit_code), r.exit_code,
                       r.seconds, r.run_dir.string())
        << std::flush;
  };
  while (next < outcomes.size() || !running.empty()) {
    while (!interrupted && !stop && next < outcomes.size() && running.size() < static_cast<std::size_t>(o.jobs)) {
      RigOutcome& r = outcomes[next];
      try {
        const int pid = spawn_rig(children, o, r);
        running[r.stem] = {next, Clock::now()};
        out << fmt::format("  {:<24} started (pid {})\n", r.stem, pid) << std::flush;
      } catch (const std::exception& e) {
        r.exit_code = 2;
        std::ofstream(r.log) << e.what() << '\n';
        out << fmt::format("  {:<24} error (cannot start)\n", r.stem) << std::flush;
      }
      ++next;
    }
    if (stop && !interrupted) {
      interrupted = true;
      for (const ProcessExit& e : children.stop_all(kInterruptGrace)) finished(e);
    }
    if (running.empty()) {
      if (interrupted || stop) break;
      continue;
    }
    if (auto e = children.reap_exited()) finished(*e);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  // Rigs never started (interrupted) are left out of the reports.
  std::vector<RigOutcome> done;
  for (const RigOutcome& r : outcomes)
    if (r.exit_code >= 0) done.push_back(r);
  nlohmann::json summary = nlohmann::json::array();
  for (const RigOutcome& r : done)
    summary.push_back({{"rig", r.stem},
                       {"file", r.rig_file.string()},
                       {"run_dir", r.run_dir.string()},
                       {"log", r.log.string()},
                       {"exit_code", r.exit_code},
                       {"result", result_of(r.exit_code)},
                       {"seconds", r.seconds}});
  const int code = interrupted ? kExitInterrupted : batch_exit_code(done);
  std::ofstream(out_dir / "junit.xml") << combined_junit(done);
  std::ofstream(out_dir / "batch.json") << nlohmann::json{{"rig_dir", o.rig_dir.string()},
                                                          {"shard", {{"index", o.shard.index}, {"count", o.shard.count}}},
                                                          {"jobs", o.jobs},
                                                          {"rigs_in_folder", all.size()},
                                                          {"rigs", summary},
                                                          {"exit_code", code}}
                                                    .dump(2)
                                           << '\n';
  std::size_t pass = 0, fail = 0, error = 0;
  for (const RigOutcome& r : done) (r.exit_code == 0 ? pass : r.exit_code == 1 ? fail : error)++;
  out << fmt::format("batch: {} rigs, {} passed, {} failed, {} could not run{}; junit: {}\n", done.size(), pass, fail,
                     error, interrupted ? " (interrupted)" : "", (out_dir / "junit.xml").string());
  return code;
}

}  // namespace iotw::harness
