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
#include <pugixml.hpp>

#include "iotw/exit_code.hpp"
#include "iotw/harness/report_writer.hpp"
#include "iotw/harness/xml_escape.hpp"
#include "iotw/support/process.hpp"

namespace iotw::harness {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {


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

const char* result_of(const RigOutcome& r) {
  switch (r.exit_code) {
    case kExitPass: return r.skipped ? "skipped" : "pass";
    case kExitFail: return "fail";
    case kExitUsage: return "usage_error";
    case kExitInterrupted: return "interrupted";
    default: return "could_not_run";  // 3, a signal, a crash
  }
}

/// Whether a run folder's junit.xml says the rig was skipped (its testcase "run" holds a <skipped>).
bool skipped_run(const fs::path& junit) {
  pugi::xml_document doc;
  if (!doc.load_file(junit.c_str())) return false;
  for (pugi::xml_node suite : doc.child("testsuites").children("testsuite"))
    if (suite.find_child_by_attribute("testcase", "name", "run").child("skipped")) return true;
  return false;
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
  if (o.require_all) args.push_back("--require-all");
  if (o.sim) args.insert(args.end(), {"--mode", "sim"});
  args.insert(args.end(), {"--log-level", o.log_level});
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

std::string combined_junit(const std::vector<RigOutcome>& outcomes, const BatchContext& context) {
  pugi::xml_document doc;
  pugi::xml_node root = junit_root(doc, "iotw rig run (folder)");
  const std::string started = utc_timestamp(context.started);
  const std::string host = xml_text(context.hostname.empty() ? "localhost" : context.hostname);
  unsigned long long tests = 0, failures = 0, errors = 0, skipped = 0;
  auto count = [](pugi::xml_node suite, const char* attr) { return suite.attribute(attr).as_ullong(); };
  for (const RigOutcome& r : outcomes) {
    pugi::xml_document rig;
    const fs::path junit = r.run_dir / "junit.xml";
    std::error_code ec;
    const pugi::xml_parse_result parsed =
        fs::is_regular_file(junit, ec) ? rig.load_file(junit.c_str()) : pugi::xml_parse_result{};
    bool copied = false;
    if (parsed) {
      for (pugi::xml_node suite : rig.child("testsuites").children("testsuite")) {
        pugi::xml_node mine = root.append_copy(suite);
        tests += count(mine, "tests");
        failures += count(mine, "failures");
        errors += count(mine, "errors");
        skipped += count(mine, "skipped");
        copied = true;
      }
    }
    if (copied) continue;
    // No junit.xml (the child could not load its rig, or died), or one that is not JUnit XML: an <error>.
    const std::string why = !fs::exists(junit, ec) ? "no junit.xml"
                            : parsed            ? "junit.xml holds no <testsuite>"
                                                : fmt::format("junit.xml is not XML ({})", parsed.description());
    const std::string message =
        fmt::format("{}: could not run (exit {}; {})", r.rig_file.filename().string(), r.exit_code, why);
    pugi::xml_node suite = root.append_child("testsuite");
    suite.append_attribute("name") = xml_text(r.stem).c_str();
    suite.append_attribute("tests") = 1;
    suite.append_attribute("failures") = 0;
    suite.append_attribute("errors") = 1;
    suite.append_attribute("skipped") = 0;
    suite.append_attribute("time") = fmt::format("{:.3f}", r.seconds).c_str();
    suite.append_attribute("timestamp") = utc_timestamp(r.started).c_str();
    suite.append_attribute("hostname") = host.c_str();
    pugi::xml_node tc = suite.append_child("testcase");
    tc.append_attribute("name") = "run";
    tc.append_attribute("classname") = ("rig." + xml_text(r.stem)).c_str();
    tc.append_attribute("time") = fmt::format("{:.3f}", r.seconds).c_str();
    tc.append_attribute("timestamp") = utc_timestamp(r.started).c_str();
    tc.append_attribute("hostname") = host.c_str();
    pugi::xml_node error = tc.append_child("error");
    error.append_attribute("message") = xml_text(message).c_str();
    error.append_attribute("type") = "could_not_run";
    error.text() = xml_text(tail(r.log, 20)).c_str();
    ++tests;
    ++errors;
  }
  // The totals go first, after the name, as the single-rig junit.xml has them.
  pugi::xml_attribute after = root.attribute("name");
  for (const auto& [name, value] : {std::pair<const char*, unsigned long long>{"tests", tests},
                                    {"failures", failures}, {"errors", errors}, {"skipped", skipped}}) {
    after = root.insert_attribute_after(name, after);
    after.set_value(value);
  }
  after = root.insert_attribute_after("time", after);
  after.set_value(fmt::format("{:.3f}", std::max(0.0, context.duration_s)).c_str());
  root.insert_attribute_after("timestamp", after).set_value(started.c_str());
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
  return out.str();
}

int batch_exit_code(const std::vector<RigOutcome>& outcomes) {
  bool usage = false, could_not_run = false, failed = false;
  for (const RigOutcome& r : outcomes) {
    usage = usage || r.exit_code == kExitUsage;
    could_not_run = could_not_run || (r.exit_code != kExitPass && r.exit_code != kExitFail && r.exit_code != kExitUsage);
    failed = failed || r.exit_code == kExitFail;
  }
  return usage ? kExitUsage : could_not_run ? kExitCouldNotRun : failed ? kExitFail : kExitPass;
}

int run_batch(const BatchOptions& o, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err) {
  std::error_code ec;
  if (!fs::is_directory(o.rig_dir, ec)) {
    err << "error: " << o.rig_dir.string() << " is not a folder\n";
    return kExitUsage;
  }
  if (o.jobs < 1 || o.jobs > 64) {
    err << "error: --jobs must be in 1..64, got " << o.jobs << '\n';
    return kExitUsage;
  }
  std::vector<fs::path> all, mine;
  try {
    all = select_rigs(o.rig_dir, Shard{1, 1});
    mine = select_rigs(o.rig_dir, o.shard);
  } catch (const std::exception& e) {  // the folder cannot be read
    err << "error: " << e.what() << '\n';
    return kExitCouldNotRun;
  }
  if (all.empty()) {
    err << "error: no *.toml rig in " << o.rig_dir.string() << '\n';
    return kExitUsage;
  }
  const fs::path out_dir = o.out_dir.empty() ? fs::path("runs") / ("batch-" + utc_stamp()) : o.out_dir;
  if (fs::exists(out_dir, ec) && !fs::is_empty(out_dir, ec)) {
    err << "error: out folder " << out_dir.string() << " is not empty\n";
    return kExitUsage;
  }
  fs::create_directories(out_dir, ec);
  if (ec) {
    err << "error: cannot create " << out_dir.string() << ": " << ec.message() << '\n';
    return kExitCouldNotRun;
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
  BatchContext context;
  context.started = std::chrono::system_clock::now();
  context.hostname = this_host_name();
  const auto batch_start = Clock::now();
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
    r.skipped = r.exit_code == 0 && skipped_run(r.run_dir / "junit.xml");
    running.erase(it);
    out << fmt::format("  {:<24} {} (exit {}, {:.1f} s) -> {}\n", r.stem, result_of(r), r.exit_code,
                       r.seconds, r.run_dir.string())
        << std::flush;
  };
  while (next < outcomes.size() || !running.empty()) {
    while (!interrupted && !stop && next < outcomes.size() && running.size() < static_cast<std::size_t>(o.jobs)) {
      RigOutcome& r = outcomes[next];
      r.started = std::chrono::system_clock::now();
      try {
        const int pid = spawn_rig(children, o, r);
        running[r.stem] = {next, Clock::now()};
        out << fmt::format("  {:<24} started (pid {})\n", r.stem, pid) << std::flush;
      } catch (const std::exception& e) {
        r.exit_code = kExitCouldNotRun;
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
                       {"result", result_of(r)},
                       {"seconds", r.seconds}});
  const int code = interrupted ? kExitInterrupted : batch_exit_code(done);
  context.duration_s = std::chrono::duration<double>(Clock::now() - batch_start).count();
  std::ofstream(out_dir / "junit.xml") << combined_junit(done, context);
  std::ofstream(out_dir / "batch.json") << nlohmann::json{{"rig_dir", o.rig_dir.string()},
                                                          {"shard", {{"index", o.shard.index}, {"count", o.shard.count}}},
                                                          {"jobs", o.jobs},
                                                          {"rigs_in_folder", all.size()},
                                                          {"rigs", summary},
                                                          {"exit_code", code}}
                                                    .dump(2)
                                           << '\n';
  std::size_t pass = 0, skipped = 0, fail = 0, usage = 0, error = 0;
  for (const RigOutcome& r : done)
    (r.exit_code == kExitPass   ? (r.skipped ? skipped : pass)
     : r.exit_code == kExitFail  ? fail
     : r.exit_code == kExitUsage ? usage
                                 : error)++;
  out << fmt::format("batch: {} rigs, {} passed, {} skipped, {} failed, {} invalid, {} could not run{}; junit: {}\n",
                     done.size(), pass, skipped, fail, usage, error, interrupted ? " (interrupted)" : "",
                     (out_dir / "junit.xml").string());
  return code;
}

}  // namespace iotw::harness
