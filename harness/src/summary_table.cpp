// The terminal summary of one rig run (summary_table.hpp).
#include "iotw/harness/summary_table.hpp"

#include <fmt/format.h>

#include "iotw/harness/collusion_model.hpp"

namespace iotw::harness {
namespace {

constexpr std::size_t kLabel = 12;  // the label column

/// `first` followed by the words of `text`, broken at spaces so that no line passes `width` columns (unless one
/// word does); continuation lines start with `indent` spaces. Ends with '\n'.
std::string wrap(std::string first, std::string_view text, std::size_t indent, std::size_t width) {
  std::string out = std::move(first);
  std::size_t col = out.size();
  bool need_space = !out.empty() && out.back() != ' ';
  while (!text.empty()) {
    const std::size_t start = text.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    text.remove_prefix(start);
    const std::string_view word = text.substr(0, text.find(' '));
    text.remove_prefix(word.size());
    if (col > indent && col + (need_space ? 1 : 0) + word.size() > width) {
      out += '\n' + std::string(indent, ' ');
      col = indent;
      need_space = false;
    }
    if (need_space) {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
    need_space = true;
  }
  return out + '\n';
}

}  // namespace

std::string stop_reason_text(const RunReport& r, std::string_view reason) {
  if (reason == "target_reached") return fmt::format("target reached ({} blocks)", r.rig.target_blocks);
  if (reason == "deadline") return fmt::format("deadline ({:g} s)", r.rig.deadline_s);
  if (reason == "interrupted") return "interrupted (SIGINT/SIGTERM); partial report";
  if (reason == "error") return "error (see the messages above); partial report";
  if (reason == "stopped") return "stop request (harness.sock), or SIGINT/SIGTERM while held";
  return std::string(reason);
}

std::string summary_table(const RunReport& r, std::string_view stop_reason, std::size_t width) {
  const Scores& s = r.scores;
  const auto row = [&](std::string_view label, std::string_view value) {
    return wrap(fmt::format("{:<{}}", label, kLabel), value, kLabel, width);
  };
  std::string blacklist = s.blacklisted.empty() ? "none" : fmt::format("{}:", s.blacklisted.size());
  for (const auto& n : s.blacklisted) blacklist += " " + n;
  blacklist += fmt::format(" ({} honest)", s.false_blacklist);
  const std::string ledger =
      r.ledger.valid ? fmt::format("valid ({} blocks, {} attestations checked)", r.ledger.blocks_checked,
                                   r.ledger.attestations_checked)
                     : fmt::format("INVALID ({} errors; first: {})", r.ledger.errors.size(),
                                   r.ledger.errors.empty() ? "-" : r.ledger.errors.front());
  std::string t = row("rig", r.rig.name);
  t += row("seed", std::to_string(r.seed));
  t += row("stopped", stop_reason_text(r, stop_reason));
  t += row("blocks", fmt::format("{} finalized (target {})", s.blocks_finalized, r.rig.target_blocks));
  t += row("rounds", fmt::format("{} ({} coherent)", s.rounds, s.coherent_rounds));
  t += row("coherence", fmt::format("{:.3f}", s.coherence_rate));
  t += row("blacklist", blacklist);
  t += row("ledger", ledger);
  std::string external;  // devices the harness relayed but did not run (docs/rig-format.md "External devices")
  for (const DeviceInstance& d : r.rig.instances())
    if (d.external) external += fmt::format("{}{} ({})", external.empty() ? "" : ", ", d.name, d.external->text);
  if (!external.empty()) t += row("external", external);
  if (s.collusion.rounds_with_colluder > 0)  // the byzantine group witnessed: its record against the model
    t += row("collusion", collusion_json(s.collusion)["summary"].get<std::string>());
  const bool judged = r.outcome.end == RunEnd::Completed;  // an unfinished run shows what it measured, unjudged
  for (const auto& c : r.evaluation.criteria)
    t += fmt::format("  {:<32}{:>10} {} {:<10}{}\n", c.name, shown_measured(c), op_symbol(c.op),
                     shown_threshold(c), !judged ? "not judged" : c.pass ? "ok" : "FAIL");
  for (const auto& c : s.step_checks)
    t += wrap(fmt::format("  {:<56} {}", c.name, !judged ? "not judged" : c.pass ? "ok" : "FAIL:"),
              !judged || c.pass ? "" : c.message, 4, width);
  t += row("result", !judged              ? "NOT JUDGED (" + r.outcome.reason + ")"
                     : r.evaluation.pass ? "PASS"
                                         : "FAIL");
  return t;
}

}  // namespace iotw::harness
