#include "iotw/harness/html_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "iotw/harness/summary_table.hpp"
#include "iotw/harness/xml_escape.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::json;


std::string str(const json& f, const char* key) {
  auto it = f.find(key);
  if (it == f.end()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

struct Mark {
  double t;  // seconds since rig start
  std::string lane, color, title;
  double until = -1;  // bars: end time
};

constexpr int kWidth = 1000, kLeft = 130, kLaneHeight = 26;
const char* const kLanes[] = {"blocks", "rounds", "faults", "blacklisted", "trust node"};

double num(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string ids(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_array() || it->empty()) return "none";
  std::string out;
  std::size_t shown = 0;
  for (const json& id : *it) {
    if (shown++ == 60) return out + fmt::format(" &hellip; ({} in all)", it->size());
    out += (out.empty() ? "" : " ") + id.dump();
  }
  return out;
}

/// The colluding group's figures (report.json `collusion`), when the rig has a colluding group: the measured
/// rates with their Wilson 95 % intervals against the model, drawn as SVG interval bars, and the rounds won/lost.
std::string collusion_section(const RigSpec& rig, const json& c) {
  const bool group = std::any_of(rig.devices.begin(), rig.devices.end(), [](const DeviceGroup& g) {
    return g.behaviour == "collude" || g.behaviour == "collude_all_slots";
  });
  if (!group || !c.is_object()) return "";
  const json model = c.value("model", json::object());
  const double m = num(model, "hypergeometric"), binom = num(model, "binomial"), per_round = num(model, "per_round_mean");
  struct Bar {
    const char* label;
    double rate, low, high;
  };
  const json u = c.value("undetected_collusion_ci", json::object()), w = c.value("witness_undetected_ci", json::object()),
             k = c.value("captured_rate_ci", json::object());
  const Bar bars[] = {
      {"undetected (node + witnesses)", num(c, "undetected_collusion_rate"), num(u, "low"), num(u, "high")},
      {"undetected by witnesses alone", num(c, "witness_undetected_rate"), num(w, "low"), num(w, "high")},
      {"captured (k = n)", num(c, "captured_rate"), num(k, "low"), num(k, "high")},
  };
  double top = std::max({m, binom, per_round});
  for (const Bar& b : bars) top = std::max(top, b.high);
  top = top > 0 ? top * 1.15 : 1.0;
  constexpr int left = 230, width = 760, row = 30;
  auto x = [&](double v) { return left + (width - left - 20) * std::clamp(v / top, 0.0, 1.0); };
  const int h = 20 + static_cast<int>(std::size(bars)) * row + 30;
  std::string svg = fmt::format("<svg class=\"collusion\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
                                "height=\"{1}\" viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n",
                                width, h);
  for (int i = 0; i <= 5; ++i) {
    const double v = top * i / 5;
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"14\" x2=\"{0:.1f}\" y2=\"{1}\" stroke=\"#e2e8f0\"/>"
                       "<text x=\"{0:.1f}\" y=\"{2}\" text-anchor=\"middle\">{3:.3f}</text>\n", x(v), h - 24, h - 8, v);
  }
  for (std::size_t i = 0; i < std::size(bars); ++i) {
    const Bar& b = bars[i];
    const int y = 20 + static_cast<int>(i) * row;
    svg += fmt::format("<text x=\"4\" y=\"{}\">{}</text><rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"10\" "
                       "fill=\"#90cdf4\"><title>95% CI {:.4f}..{:.4f}</title></rect><circle cx=\"{:.1f}\" cy=\"{}\" "
                       "r=\"4\" fill=\"#2b6cb0\"><title>measured {:.4f}</title></circle>\n",
                       y + 12, b.label, x(b.low), y + 3, std::max(1.0, x(b.high) - x(b.low)), b.low, b.high, x(b.rate),
                       y + 8, b.rate);
  }
  svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"14\" x2=\"{0:.1f}\" y2=\"{1}\" stroke=\"#e53e3e\" stroke-width=\"2\">"
                     "<title>model (hypergeometric) {2:.4f}</title></line>\n"
                     "<line x1=\"{3:.1f}\" y1=\"14\" x2=\"{3:.1f}\" y2=\"{1}\" stroke=\"#dd6b20\" stroke-dasharray=\"4 3\">"
                     "<title>model per round {4:.4f}</title></line>\n</svg>\n",
                     x(m), h - 24, m, x(per_round), per_round);
  auto row_of = [](const char* what, const std::string& value) {
    return fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", what, value);
  };
  auto ci = [](const json& i) { return fmt::format("{:.4f}..{:.4f}", num(i, "low"), num(i, "high")); };
  std::string t;
  t += row_of("group", fmt::format("{} of {} devices (p = {:.4f}), n = {} witnesses", c.value("group_size", 0),
                                   c.value("pool", 0), num(c, "p"), c.value("witnesses", 0)));
  t += row_of("rounds", fmt::format("{}", c.value("rounds", 0)));
  t += row_of("rounds with a colluder", fmt::format("{}", c.value("rounds_with_colluder", 0)));
  t += row_of("captured rounds (k = n)", fmt::format("<span id=\"collusion-captured\">{}</span>", c.value("captured_rounds", 0)));
  t += row_of("rounds won", fmt::format("<span id=\"collusion-won\">{}</span>: {}", c.value("won", 0), ids(c, "rounds_won")));
  t += row_of("rounds lost", fmt::format("<span id=\"collusion-lost\">{}</span>: {}", c.value("lost", 0), ids(c, "rounds_lost")));
  t += row_of("rounds attacked / caught by an honest witness",
              fmt::format("{} / {}", c.value("attacked_rounds", 0), c.value("caught_by_witness", 0)));
  t += row_of("undetected-collusion rate (95% CI)",
              fmt::format("<span id=\"collusion-rate\">{:.4f}</span> ({})", num(c, "undetected_collusion_rate"),
                          ci(c.value("undetected_collusion_ci", json::object()))));
  t += row_of("undetected by witnesses alone (95% CI)",
              fmt::format("<span id=\"collusion-witness-rate\">{:.4f}</span> ({})", num(c, "witness_undetected_rate"),
                          ci(c.value("witness_undetected_ci", json::object()))));
  t += row_of("capture rate (95% CI)", fmt::format("{:.4f} ({})", num(c, "captured_rate"),
                                                   ci(c.value("captured_rate_ci", json::object()))));
  t += row_of("model: k = n probability", fmt::format("<span id=\"collusion-model\">{:.4f}</span> hypergeometric "
                                                      "C(m,n)/C(N,n); binomial p^n {:.4f}; per-round mean {:.4f}",
                                                      m, binom, per_round));
  t += row_of("comparison", xml_escape(c.value("comparison", std::string())));
  return "<h2 id=\"collusion\">Collusion</h2>\n<p>" + xml_escape(c.value("summary", std::string())) +
         "</p>\n<table>\n" + t + "</table>\n<p>Measured rates (dot) with their Wilson 95 % intervals (bar) against "
         "the model (red: hypergeometric k = n probability; dashed: per-round model).</p>\n" + svg;
}

/// "42.3 s" under a minute, "3 min 12 s" from one minute on.
std::string duration_text(double s) {
  if (s < 60) return fmt::format("{:.1f} s", s);
  const auto total = static_cast<long long>(std::llround(s));
  if (total < 3600) return fmt::format("{} min {} s", total / 60, total % 60);
  return fmt::format("{} h {} min", total / 3600, (total % 3600) / 60);
}

}  // namespace

std::string report_html(const RunReport& r, const std::vector<json>& events) {
  std::optional<std::int64_t> t0;
  std::int64_t t_end = 0;
  std::vector<Mark> marks;
  std::map<std::string, std::size_t> open_faults;  // step label -> index in marks
  for (const json& e : events) {
    if (!e.is_object() || !e.contains("kind") || !e["kind"].is_string() || !e.contains("time_ms") ||
        !e["time_ms"].is_number())
      continue;
    const auto ms = e["time_ms"].get<std::int64_t>();
    const std::string kind = e["kind"];
    if (!t0) t0 = ms;
    t_end = std::max(t_end, ms);
    const double t = static_cast<double>(ms - *t0) / 1000.0;
    const json f = e.contains("fields") && e["fields"].is_object() ? e["fields"] : json::object();
    if (kind == "block_finalized") {
      marks.push_back({t, "blocks", "#2b6cb0", "block " + str(f, "height")});
    } else if (kind == "round_closed") {
      const bool ok = f.value("coherent", false);
      marks.push_back({t, "rounds", ok ? "#38a169" : "#e53e3e",
                       fmt::format("round {} {}", str(f, "round_id"), ok ? "coherent" : "INCOHERENT")});
    } else if (kind == "fault_started") {
      open_faults[str(f, "step")] = marks.size();
      marks.push_back({t, "faults", "#dd6b20", str(f, "step") + ": " + str(f, "fault") + " " + str(f, "devices"), -2});
    } else if (kind == "fault_ended") {
      auto it = open_faults.find(str(f, "step"));
      if (it != open_faults.end()) marks[it->second].until = t;
    } else if (kind == "blacklisted") {
      marks.push_back({t, "blacklisted", "#9b2c2c", "blacklisted " + str(f, "name")});
    } else if ((kind == "process_started" || kind == "process_exited") &&
               (str(f, "name") == "trust_node" || str(f, "name").rfind("tn-", 0) == 0)) {  // a [mesh] rig's nodes
      const std::string who = str(f, "name") == "trust_node" ? "" : str(f, "name") + " ";
      marks.push_back({t, "trust node", kind == "process_started" ? "#38a169" : "#1a202c",
                       who + kind + (f.contains("pid") && !f["pid"].is_null() ? " pid " + str(f, "pid") : "")});
    }
  }
  const double span = std::max(1.0, static_cast<double>(t_end - t0.value_or(t_end)) / 1000.0);
  auto x = [&](double t) { return kLeft + (kWidth - kLeft - 10) * std::clamp(t / span, 0.0, 1.0); };
  auto lane_y = [&](const std::string& lane) {
    for (std::size_t i = 0; i < std::size(kLanes); ++i)
      if (lane == kLanes[i]) return 20 + static_cast<int>(i) * kLaneHeight;
    return 20;
  };
  const int height = 20 + static_cast<int>(std::size(kLanes)) * kLaneHeight + 30;
  std::string svg = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
                                "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n", kWidth, height);
  for (const char* lane : kLanes) {
    const int y = lane_y(lane);
    svg += fmt::format("<text x=\"4\" y=\"{}\">{}</text><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" "
                       "stroke=\"#e2e8f0\"/>\n", y + 14, lane, kLeft, y + 20, kWidth - 10, y + 20);
  }
  // Axis ticks at a round step (1, 2 or 5 times a power of ten seconds), 4 to 10 of them.
  const double raw = span / 10, decade = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = decade * (raw <= decade ? 1 : raw <= 2 * decade ? 2 : raw <= 5 * decade ? 5 : 10);
  const int tick_decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  for (int i = 0; i * step <= span + 1e-9; ++i) {
    const double t = i * step;
    const bool last = (i + 1) * step > span + 1e-9 && x(t) > kWidth - 40;  // keep the last label inside the drawing
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"{}\">{:.{}f}s</text>\n", x(t), height - 8,
                       last ? "end" : "middle", t, tick_decimals);
  }
  for (const Mark& m : marks) {
    const int y = lane_y(m.lane);
    if (m.until != -1) {
      const double end = m.until < 0 ? span : m.until;  // -2: never ended
      svg += fmt::format("<rect class=\"fault\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"16\" fill=\"{}\" "
                         "fill-opacity=\"0.6\"><title>{}</title></rect>\n",
                         x(m.t), y + 3, std::max(2.0, x(end) - x(m.t)), m.color, xml_escape(m.title));
    } else {
      svg += fmt::format("<rect class=\"{}\" x=\"{:.1f}\" y=\"{}\" width=\"2\" height=\"16\" fill=\"{}\">"
                         "<title>{} at {:.3f}s</title></rect>\n",
                         m.lane == "trust node" ? "node" : m.lane, x(m.t), y + 3, m.color, xml_escape(m.title), m.t);
    }
  }
  svg += "</svg>\n";

  const Scores& sc = r.scores;
  const bool completed = r.outcome.end == RunEnd::Completed;
  // A run that did not complete shows what it measured so far, but judges nothing (as junit.xml).
  auto verdict_of = [&](bool pass) -> std::pair<const char*, const char*> {
    if (!completed) return {"nj", "not judged"};
    return pass ? std::pair{"ok", "ok"} : std::pair{"fail", "FAIL"};
  };
  std::string rows;
  for (const auto& c : r.evaluation.criteria) {
    const auto [cls, text] = verdict_of(c.pass);
    rows += fmt::format("<tr class=\"{}\"><td>{}</td><td class=\"num\">{}</td><td>{} {}</td><td>{}</td></tr>\n", cls,
                        xml_escape(c.name), xml_escape(shown_measured(c)), xml_escape(std::string(op_symbol(c.op))),
                        xml_escape(shown_threshold(c)), text);
  }
  for (const auto& c : sc.step_checks) {
    const auto [cls, text] = verdict_of(c.pass);
    rows += fmt::format("<tr class=\"{}\"><td>{}</td><td colspan=\"2\">{}</td><td>{}</td></tr>\n", cls,
                        xml_escape(c.name), xml_escape(c.message), text);
  }

  // Scores, each rounded to what it means: counts whole, rates to 3 significant digits, times to 0.1 s.
  auto num = [](double v) { return format_value(Criterion::Kind::Number, v); };
  std::string scores;
  auto score = [&](const char* what, const std::string& html) {
    scores += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", what, html);
  };
  score("blocks finalized", fmt::format("{} (target {})", sc.blocks_finalized, r.rig.target_blocks));
  score("witness rounds", fmt::format("{}, {} coherent (coherence rate {})", sc.rounds, sc.coherent_rounds,
                                      format_value(Criterion::Kind::Rate, sc.coherence_rate)));
  score("ledger", r.ledger.valid ? fmt::format("valid ({} blocks, {} attestations checked)", r.ledger.blocks_checked,
                                               r.ledger.attestations_checked)
                                 : fmt::format("INVALID: {} error(s); first: {}", r.ledger.errors.size(),
                                               xml_escape(r.ledger.errors.empty() ? "-" : r.ledger.errors.front())));
  std::string blacklisted;
  for (const auto& name : sc.blacklisted) {
    std::string detail;
    if (auto why = sc.blacklist_reason.find(name); why != sc.blacklist_reason.end()) detail = why->second;
    if (auto t = sc.time_to_blacklist_ms.find(name); t != sc.time_to_blacklist_ms.end() && t->second)
      detail += fmt::format("{}after {:.1f} s", detail.empty() ? "" : ", ", static_cast<double>(*t->second) / 1000);
    blacklisted += fmt::format("{}{}{}", blacklisted.empty() ? "" : "; ", xml_escape(name),
                               detail.empty() ? "" : " (" + xml_escape(detail) + ")");
  }
  score("blacklisted", blacklisted.empty() ? "none" : fmt::format("{}: {}", sc.blacklisted.size(), blacklisted));
  score("honest devices blacklisted", fmt::format("{} ({} of them targets of a link fault)", sc.false_blacklist,
                                                  sc.false_blacklist_faulted));
  score("byzantine rounds detected", fmt::format("{}", sc.byzantine_rounds_detected));
  const bool faults = std::any_of(r.rig.steps.begin(), r.rig.steps.end(),
                                  [](const Step& st) { return st.action == Step::Action::Fault; });
  score("liveness", fmt::format("{} blocks/min", num(sc.liveness_blocks_per_min)) +
                        (faults ? fmt::format("; before the first fault {}, from it on {} (ratio {})",
                                              num(sc.baseline_blocks_per_min), num(sc.faulted_blocks_per_min),
                                              num(sc.liveness_ratio))
                                : ""));
  score("acknowledged transactions lost", fmt::format("{}", sc.acked_tx_lost));
  if (!sc.failovers_ms.empty())
    score("failover", std::isfinite(sc.failover_ms)
                          ? fmt::format("{} ms at most from a trust-node kill to the next block", num(sc.failover_ms))
                          : std::string("no block finalized after a trust-node kill"));
  if (!r.rig.steps.empty()) score("recoveries failed", fmt::format("{}", sc.recoveries_failed));
  if (sc.collusion.rounds_with_colluder > 0)
    score("collusion", fmt::format("{} captured round(s), undetected-collusion rate {}", sc.collusion_captured_rounds,
                                   format_value(Criterion::Kind::Rate, sc.undetected_collusion_rate)));
  if (sc.usage.reports_accepted > 0)
    score("usage data", fmt::format("{} report(s) accepted, {} finalized, {} mWh, {} IOTW base units to {} device(s)",
                                    sc.usage.reports_accepted, sc.usage.reports_finalized, sc.usage.energy_mwh_total,
                                    sc.usage.rewards_total, sc.usage.rewarded_devices()));
  score("frame errors / malformed events", fmt::format("{} / {}", sc.frame_errors, sc.malformed_events));
  std::string counts;
  for (const auto& [kind, n] : sc.event_counts)
    counts += fmt::format("{}<span class=\"count\">{}&nbsp;{}</span>", counts.empty() ? "" : "&nbsp;&middot; ",
                          xml_escape(kind), n);
  score("events", counts.empty() ? "none" : counts);

  // Console actions (docs/console.md): what a person (or a script) did on harness.sock during the run.
  std::string actions;
  for (const json& a : sc.console_actions) {
    if (!a.is_object()) continue;
    const std::string what = a.contains("ends") ? "end action " + str(a, "ends") : str(a, "step");
    const double at = a.contains("at_s") && a["at_s"].is_number() ? a["at_s"].get<double>() : 0.0;
    actions += fmt::format("<tr><td class=\"num\">{}</td><td class=\"num\">{:.1f}</td><td>{}</td><td>{}</td>"
                           "<td><code>{}</code></td></tr>\n",
                           xml_escape(str(a, "action")), at, xml_escape(a.value("key", std::string())),
                           xml_escape(a.value("device", std::string())), xml_escape(what));
  }
  if (!actions.empty())
    actions = "<h2 id=\"console-actions\">Console actions</h2>\n<table><tr><th>action</th><th>at (s)</th><th>key</th>"
              "<th>device</th><th>step</th></tr>\n" + actions + "</table>\n";

  const RunContext& ctx = r.context;
  std::string facts;
  auto fact = [&](const char* what, const std::string& html) {
    facts += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", what, html);
  };
  if (!r.rig.description.empty()) fact("description", xml_escape(r.rig.description));
  fact("date", xml_escape(utc_timestamp(ctx.started).replace(10, 1, " ")) + " UTC");
  fact("duration", duration_text(ctx.duration_s));
  fact("host", xml_escape(ctx.hostname));
  fact("iotw version", xml_escape(ctx.tool_version));
  fact("seed", std::to_string(r.seed));
  std::string unseeded;
  for (const std::string& what : not_seeded(r.rig)) unseeded += (unseeded.empty() ? "" : "<br>") + xml_escape(what);
  fact("not under the seed", unseeded);
  const RunOutcome& o = r.outcome;
  fact("ended", xml_escape(o.message.empty()                  ? stop_reason_text(r, o.reason)
                           : o.message.rfind(o.reason, 0) == 0 ? o.message
                                                               : o.reason + ": " + o.message));
  fact("reproduce", "<code>" + xml_escape(ctx.command) + "</code>");
  fact("run folder", "<code>" + xml_escape(r.run_dir.string()) + "</code>");
  std::string files;
  for (const auto& [label, name] : ctx.files)
    files += fmt::format("{}<a class=\"count\" href=\"{}\">{}</a>", files.empty() ? "" : "&nbsp;&middot; ",
                         xml_escape(name), xml_escape(label));
  if (!files.empty()) fact("files", files);

  const bool pass = completed && r.evaluation.pass;
  const std::string verdict = !completed ? "NOT JUDGED: " + r.outcome.reason : pass ? "PASS" : "FAIL";
  return fmt::format(R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>IOTW rig {0}: {1}</title>
<style>
body{{font-family:sans-serif;margin:1.5em auto;max-width:1040px;padding:0 1em;line-height:1.35}}
table{{border-collapse:collapse;max-width:100%}}td,th{{border:1px solid #cbd5e0;padding:2px 8px;text-align:left;
vertical-align:top;overflow-wrap:break-word}}th{{background:#edf2f7}}td.num{{text-align:right}}
tr.fail td{{background:#fed7d7}}tr.ok td:last-child{{color:#276749}}tr.nj td:last-child{{color:#718096}}
table.facts,table.scores{{width:100%}}table.facts th,table.scores th{{width:11em;font-weight:normal}}
code{{overflow-wrap:anywhere;white-space:pre-wrap}}
svg{{width:100%;height:auto;max-width:1000px;display:block}}svg.collusion{{max-width:760px}}
.verdict{{font-size:1.4em;font-weight:bold;color:{2}}}.count{{white-space:nowrap}}
ul.legend{{list-style:none;padding:0;margin:.3em 0 1em;display:flex;flex-wrap:wrap;gap:.4em 1.4em;font-size:.9em}}
ul.legend span{{display:inline-block;width:.9em;height:.9em;margin-right:.35em;vertical-align:-.1em}}
</style></head><body>
<h1>Rig {0}</h1>
<p class="verdict">{1}</p>
<table class="facts">
{3}</table>
<h2>Timeline</h2>
{4}<ul class="legend">
<li><span style="background:#2b6cb0"></span>block finalized</li>
<li><span style="background:#38a169"></span>witness round coherent</li>
<li><span style="background:#e53e3e"></span>witness round incoherent</li>
<li><span style="background:#dd6b20;opacity:.6"></span>fault (start to end)</li>
<li><span style="background:#9b2c2c"></span>device blacklisted</li>
<li><span style="background:#38a169"></span>/ <span style="background:#1a202c"></span>trust node started / exited</li>
</ul>
<p>Seconds from the rig's start; hover a mark for its details.</p>
<h2>Criteria and step checks</h2>
<table><tr><th>check</th><th>measured</th><th>required</th><th>result</th></tr>
{5}</table>
{8}<h2>Scores</h2><table class="scores">
{6}</table>
{7}</body></html>
)",
                     xml_escape(r.rig.name), xml_escape(verdict), pass ? "#276749" : "#c53030", facts, svg, rows,
                     scores, collusion_section(r.rig, report_json(r).value("collusion", json::object())), actions);
}

}  // namespace iotw::harness
