// report.json and junit.xml of one rig run.
#include "iotw/harness/report_writer.hpp"
#include "iotw/harness/score_registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pugixml.hpp>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "iotw/harness/summary_table.hpp"
#include "iotw/harness/xml_escape.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::json;

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + p.string());
}

/// JUnit's time: seconds with millisecond resolution, never negative.
std::string seconds(double s) { return fmt::format("{:.3f}", std::max(0.0, s)); }

std::string to_string(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
  return out.str();
}

/// `v` with `digits` significant digits, never in exponent form.
std::string significant(double v, int digits) {
  if (v == 0 || !std::isfinite(v)) return fmt::format("{}", v);
  const int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(v))));
  const int decimals = std::max(0, digits - 1 - magnitude);
  std::string out = fmt::format("{:.{}f}", v, decimals);
  if (out.find('.') != std::string::npos) {  // 0.950 -> 0.95, 2.0 -> 2
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  return out;
}

}  // namespace

std::string this_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

pugi::xml_node junit_root(pugi::xml_document& doc, const char* name) {
  pugi::xml_node decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  pugi::xml_node root = doc.append_child("testsuites");
  root.append_attribute("name") = name;
  return root;
}

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string format_value(Criterion::Kind kind, double v) {
  switch (kind) {
    case Criterion::Kind::Bool: return v != 0 ? "true" : "false";
    case Criterion::Kind::Count: return fmt::format("{:.0f}", v);
    case Criterion::Kind::Rate:
    case Criterion::Kind::Number: return std::fabs(v) >= 1000 ? fmt::format("{:.0f}", v) : significant(v, 3);
  }
  return fmt::format("{}", v);
}

std::string shown_measured(const CriterionResult& c) {
  std::string measured = format_value(c.kind, c.measured);
  if (c.kind == Criterion::Kind::Rate || c.kind == Criterion::Kind::Number) {
    // 0.9996 against "== 1" must not read "1 == 1": more digits until the shown numbers agree with the verdict.
    for (int digits = 4; digits <= 17 && holds(c.op, std::stod(measured), c.threshold) != c.pass; ++digits)
      measured = significant(c.measured, digits);
  }
  return measured;
}

std::string shown_threshold(const CriterionResult& c) {
  return c.kind == Criterion::Kind::Bool ? format_value(c.kind, c.threshold) : fmt::format("{}", c.threshold);
}

std::string criterion_text(const CriterionResult& c) {
  return fmt::format("measured {} = {}, required {} {}", c.score, shown_measured(c), op_symbol(c.op),
                     shown_threshold(c));
}

std::vector<std::string> not_seeded(const RigSpec& rig) {
  std::vector<std::string> out{
      "OS scheduling and wall-clock timing: when each process runs, when timers fire and frames arrive, so which "
      "device is assigned, mines or witnesses which block can differ between runs of the same seed",
      "the host's names: PTY numbers, loopback port numbers, the run folder"};
  std::vector<std::string> os_seeded, external;
  for (const DeviceInstance& d : rig.instances()) {
    if (d.external) external.push_back(d.name);
    else if (d.seed_from_os) os_seeded.push_back(d.name);
  }
  if (!os_seeded.empty())
    out.push_back(fmt::format("identities from the OS (seed = \"os\"): {}", fmt::join(os_seeded, ", ")));
  if (!external.empty())
    out.push_back(fmt::format("external devices (their own keys and randomness): {}", fmt::join(external, ", ")));
  return out;
}

json report_json(const RunReport& r) {
  const Scores& s = r.scores;
  json devices = json::array();
  for (const DeviceInstance& d : r.rig.instances()) {
    devices.push_back({{"name", d.name}, {"model", d.model}, {"behaviour", d.behaviour}});
    if (d.external) devices.back()["external"] = d.external->text;  // relayed, not emulated
  }
  json failovers = json::array();  // per trust_node_kill: ms to the next block, null = none came
  for (const auto& ms : s.failovers_ms) failovers.push_back(ms ? json(*ms) : json(nullptr));
  json criteria = json::array();
  for (const CriterionResult& c : r.evaluation.criteria)
    criteria.push_back({{"name", c.name}, {"threshold", c.threshold}, {"measured", c.measured}, {"pass", c.pass}});
  json ttb = json::object();
  for (const auto& [name, ms] : s.time_to_blacklist_ms) ttb[name] = ms ? json(*ms) : json(nullptr);
  json checks = json::array();
  for (const auto& c : s.step_checks) checks.push_back({{"name", c.name}, {"pass", c.pass}, {"detail", c.message}});
  return {
      {"rig", r.rig.name},
      {"seed", r.seed},
      {"not_seeded", not_seeded(r.rig)},
      {"devices", devices},
      {"blocks_finalized", s.blocks_finalized},
      {"rounds", s.rounds},
      {"coherent_rounds", s.coherent_rounds},
      {"coherence_rate", s.coherence_rate},
      {"blacklisted", s.blacklisted},
      {"ledger_valid", s.ledger_valid},
      {"pass", r.evaluation.pass && r.outcome.end == RunEnd::Completed},
      {"reason", r.outcome.reason},
      {"started", utc_timestamp(r.context.started) + "Z"},
      {"duration_s", std::round(r.context.duration_s * 1000) / 1000},
      {"hostname", r.context.hostname},
      {"iotw_version", r.context.tool_version},
      {"command", r.context.command},
      {"criteria", criteria},
      {"byzantine_rounds_detected", s.byzantine_rounds_detected},
      {"incoherent_rounds_blacklisted", s.incoherent_rounds_blacklisted},
      {"false_blacklist", s.false_blacklist},
      {"byzantine_blacklisted", s.byzantine_blacklisted},
      {"time_to_blacklist_ms", ttb},
      {"blacklist_reasons", s.blacklist_reason},
      {"liveness_blocks_per_min", s.liveness_blocks_per_min},
      {"frame_errors", s.frame_errors},
      {"malformed_events", s.malformed_events},
      {"ledger_errors", r.ledger.errors},
      {"event_counts", s.event_counts},
      {"run_dir", r.run_dir.string()},
      {"baseline_blocks_per_min", s.baseline_blocks_per_min},
      {"faulted_blocks_per_min", s.faulted_blocks_per_min},
      {"liveness_ratio", s.liveness_ratio},
      {"false_blacklist_faulted", s.false_blacklist_faulted},
      {"acked_tx_lost", s.acked_tx_lost},
      {"failover_ms", std::isfinite(s.failover_ms) ? json(s.failover_ms) : json(nullptr)},
      {"failovers_ms", failovers},
      {"collusion_captured_rounds", s.collusion_captured_rounds},
      {"undetected_collusion_rate", s.undetected_collusion_rate},
      {"collusion", collusion_json(s.collusion)},
      {"recoveries_failed", s.recoveries_failed},
      {"step_checks", checks},
      {"console_actions", s.console_actions},
      {"usage", json{{"reports_accepted", s.usage.reports_accepted},
                     {"reports_finalized", s.usage.reports_finalized},
                     {"energy_mwh_total", s.usage.energy_mwh_total},
                     {"rewards_total", s.usage.rewards_total},
                     {"rewarded_devices", s.usage.rewarded_devices()},
                     {"rewards_by_device", s.usage.rewards_by_device},
                     {"energy_mwh_measured", s.usage.energy_mwh_measured},
                     {"energy_mwh_unmeasured", s.usage.energy_mwh_unmeasured},
                     {"rewards_unearned", s.usage.rewards_unearned},
                     {"unearned_by_device", s.usage.unearned_by_device}}},
  };
}

std::string junit_xml(const RunReport& r) {
  const RunContext& ctx = r.context;
  const RunEnd end = r.outcome.end;
  const bool completed = end == RunEnd::Completed;
  const bool ran = end == RunEnd::Completed || end == RunEnd::Interrupted || end == RunEnd::Error;
  const std::string suite_name = xml_text(r.rig.name);
  const std::string classname = "rig." + suite_name;
  const std::string started = utc_timestamp(ctx.started);
  const std::string ended =
      utc_timestamp(ctx.started + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                      std::chrono::duration<double>(ctx.duration_s)));
  const std::string host = ctx.hostname.empty() ? "localhost" : xml_text(ctx.hostname);
  std::size_t tests = 0, failures = 0, errors = 0, skipped = 0;

  pugi::xml_document doc;
  pugi::xml_node root = junit_root(doc, "iotw rig run");
  pugi::xml_node suite = root.append_child("testsuite");
  suite.append_attribute("name") = suite_name.c_str();
  pugi::xml_node props = suite.append_child("properties");
  auto property = [&](const char* name, const std::string& value) {
    pugi::xml_node p = props.append_child("property");
    p.append_attribute("name") = name;
    p.append_attribute("value") = xml_text(value).c_str();
  };
  property("seed", std::to_string(r.seed));
  property("command", ctx.command);
  property("iotw_version", ctx.tool_version);
  property("reason", r.outcome.reason);
  if (!r.rig.description.empty()) property("description", r.rig.description);

  // A testcase with the attributes every one carries; `at` is when its verdict was reached.
  auto testcase = [&](const std::string& name, const std::string& cls, double time_s, const std::string& at) {
    ++tests;
    pugi::xml_node tc = suite.append_child("testcase");
    tc.append_attribute("name") = xml_text(name).c_str();
    tc.append_attribute("classname") = cls.c_str();
    tc.append_attribute("time") = seconds(time_s).c_str();
    tc.append_attribute("timestamp") = at.c_str();
    tc.append_attribute("hostname") = host.c_str();
    return tc;
  };
  auto verdict = [](pugi::xml_node tc, const char* kind, const std::string& message, const std::string& type = "",
                    const std::string& text = "") {
    pugi::xml_node v = tc.append_child(kind);
    v.append_attribute("message") = xml_text(message).c_str();
    if (!type.empty()) v.append_attribute("type") = type.c_str();
    if (!text.empty()) v.text() = xml_text(text).c_str();
  };
  auto system_out = [](pugi::xml_node n, const std::string& text) {
    n.append_child("system-out").text() = xml_text(text).c_str();
  };

  pugi::xml_node run = testcase("run", classname, ctx.duration_s, started);
  switch (end) {
    case RunEnd::Completed:
      system_out(run, fmt::format("run completed ({}) in {:.1f} s", r.outcome.reason, ctx.duration_s));
      break;
    case RunEnd::Skipped:
      ++skipped;
      verdict(run, "skipped", r.outcome.message);
      break;
    case RunEnd::Interrupted:
    case RunEnd::Error:
    case RunEnd::NotStarted:
      ++errors;
      verdict(run, "error", r.outcome.message, r.outcome.reason);
      break;
  }
  const std::string not_judged = fmt::format("not judged: the run did not complete ({})", r.outcome.reason);
  for (const CriterionResult& c : r.evaluation.criteria) {
    pugi::xml_node tc = testcase(c.name, classname, 0, ended);
    if (!completed) {
      ++skipped;
      verdict(tc, "skipped", not_judged);
      continue;
    }
    if (!c.pass) {
      ++failures;
      verdict(tc, "failure", c.name + ": " + criterion_text(c));
    }
    system_out(tc, criterion_text(c));
  }
  for (const auto& c : r.scores.step_checks) {
    pugi::xml_node tc = testcase(c.name, classname + ".steps", 0, ended);
    if (!completed) {
      ++skipped;
      verdict(tc, "skipped", not_judged);
    } else if (!c.pass) {
      ++failures;
      verdict(tc, "failure", c.name + ": " + c.message);
    }
  }
  if (ran) {
    system_out(suite, summary_table(r, r.outcome.reason));
  } else {
    system_out(suite, fmt::format("rig {} (seed {}) {}: {}\n", r.rig.name, r.seed,
                                  end == RunEnd::Skipped ? "skipped" : "could not start", r.outcome.message));
  }
  for (pugi::xml_node n : {root, suite}) {
    // pugixml appends attributes; the counts go after the name, in the order CI readers expect.
    pugi::xml_attribute after = n.attribute("name");
    after = n.insert_attribute_after("tests", after);
    after.set_value(tests);
    after = n.insert_attribute_after("failures", after);
    after.set_value(failures);
    after = n.insert_attribute_after("errors", after);
    after.set_value(errors);
    after = n.insert_attribute_after("skipped", after);
    after.set_value(skipped);
    after = n.insert_attribute_after("time", after);
    after.set_value(seconds(ctx.duration_s).c_str());
    after = n.insert_attribute_after("timestamp", after);
    after.set_value(started.c_str());
  }
  suite.insert_attribute_after("hostname", suite.attribute("timestamp")).set_value(host.c_str());
  return to_string(doc);
}

void write_reports(const RunReport& r) {
  write_file(r.run_dir / "report.json", report_json(r).dump(2) + "\n");
  write_file(r.run_dir / "junit.xml", junit_xml(r));
}

}  // namespace iotw::harness
