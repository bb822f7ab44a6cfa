// report.json and junit.xml of one rig run.
#include "iotw/harness/report_writer.hpp"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

#include "iotw/harness/xml_escape.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::json;

std::string failure_message(const CriterionResult& c) {
  return fmt::format("{}: measured {} = {:g}, required {} {:g}", c.name, c.score, c.measured, op_symbol(c.op),
                     c.threshold);
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + p.string());
}

}  // namespace

json report_json(const RunReport& r) {
  const Scores& s = r.scores;
  json devices = json::array();
  for (const DeviceInstance& d : r.rig.instances())
    devices.push_back({{"name", d.name}, {"model", d.model}, {"behaviour", d.behaviour}});
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
      {"devices", devices},
      {"blocks_finalized", s.blocks_finalized},
      {"rounds", s.rounds},
      {"coherent_rounds", s.coherent_rounds},
      {"coherence_rate", s.coherence_rate},
      {"blacklisted", s.blacklisted},
      {"ledger_valid", s.ledger_valid},
      {"pass", r.evaluation.pass},
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
      {"collusion_captured_rounds", s.collusion_captured_rounds},
      {"undetected_collusion_rate", s.undetected_collusion_rate},
      {"collusion", collusion_json(s.collusion)},
      {"recoveries_failed", s.recoveries_failed},
      {"step_checks", checks},
      {"usage", json{{"reports_accepted", s.usage.reports_accepted},
                     {"reports_finalized", s.usage.reports_finalized},
                     {"energy_mwh_total", s.usage.energy_mwh_total},
                     {"rewards_total", s.usage.rewards_total},
                     {"rewarded_devices", s.usage.rewarded_devices()},
                     {"rewards_by_device", s.usage.rewards_by_device}}},
  };
}

std::string junit_xml(const RunReport& r) {
  const auto& crit = r.evaluation.criteria;
  const auto& checks = r.scores.step_checks;
  std::size_t failures = 0;
  for (const auto& c : crit) failures += c.pass ? 0 : 1;
  for (const auto& c : checks) failures += c.pass ? 0 : 1;
  const std::size_t tests = crit.size() + checks.size();
  const std::string name = xml_escape(r.rig.name);
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += fmt::format("<testsuites tests=\"{}\" failures=\"{}\">\n", tests, failures);
  x += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n", name,
                   tests, failures);
  x += fmt::format("    <properties>\n      <property name=\"seed\" value=\"{}\"/>\n    </properties>\n", r.seed);
  for (const auto& c : crit) {
    x += fmt::format("    <testcase name=\"{}\" classname=\"rig.{}\"", xml_escape(c.name), name);
    if (c.pass) {
      x += "/>\n";
    } else {
      x += fmt::format(">\n      <failure message=\"{}\"/>\n    </testcase>\n", xml_escape(failure_message(c)));
    }
  }
  for (const auto& c : checks) {
    x += fmt::format("    <testcase name=\"{}\" classname=\"rig.{}.steps\"", xml_escape(c.name), name);
    if (c.pass) {
      x += "/>\n";
    } else {
      x += fmt::format(">\n      <failure message=\"{}\"/>\n    </testcase>\n", xml_escape(c.name + ": " + c.message));
    }
  }
  x += "  </testsuite>\n</testsuites>\n";
  return x;
}

void write_reports(const RunReport& r) {
  write_file(r.run_dir / "report.json", report_json(r).dump(2) + "\n");
  write_file(r.run_dir / "junit.xml", junit_xml(r));
}

}  // namespace iotw::harness
