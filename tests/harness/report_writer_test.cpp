#include "iotw/harness/report_writer.hpp"

#include <gtest/gtest.h>

#include "iotw/harness/xml_escape.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "iotw/harness/collusion_model.hpp"
#include "iotw/harness/html_report.hpp"
#include "iotw/harness/rig_loader.hpp"

using namespace iotw::harness;
using json = nlohmann::json;

namespace {

struct Fixture {
  RigSpec rig = parse_rig(R"([rig]
name = "r<&\"'>"
[[devices]]
name_prefix = "h"
count = 3
[[devices]]
name_prefix = "b"
model = "esp8266"
behaviour = "wrong_hash"
[trust_node]
witnesses = 2
[pass]
blocks_finalized_min = 20
ledger_valid = true
blacklisted_max = 0
)",
                          "r.toml");
  Scores scores;
  LedgerVerdict ledger;
  Evaluation evaluation;

  Fixture() {
    scores.blocks_finalized = 20;
    scores.rounds = 22;
    scores.coherent_rounds = 21;
    scores.coherence_rate = 21.0 / 22;
    scores.blacklisted = {"b-01"};
    scores.time_to_blacklist_ms["b-01"] = 1234;
    scores.event_counts["round_closed"] = 22;
    ledger.errors = {"height 3: 'hash' is not SHA-256(header) <&>"};
    ledger.blocks_checked = 21;
    scores.ledger_valid = ledger.valid = false;
    evaluation = evaluate(rig, scores);  // blocks ok; ledger_valid and blacklisted_max fail
  }
  RunReport report() const { return {rig, 42, scores, ledger, evaluation, "/tmp/run-1"}; }
};

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

/// Minimal well-formedness check: tags nest and close, attribute values are quoted with no raw '<', and
/// every '&' starts one of the five predefined entities.
bool well_formed(const std::string& x) {
  std::vector<std::string> stack;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i] == '&') {
      bool ok = false;
      for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) ok = ok || x.compare(i, strlen(e), e) == 0;
      if (!ok) return false;
    }
    if (x[i] != '<') continue;
    std::size_t end = i + 1;
    bool quoted = false;
    for (; end < x.size() && (quoted || x[end] != '>'); ++end) {
      if (x[end] == '"') quoted = !quoted;
      if (quoted && x[end] == '<') return false;
    }
    if (end == x.size()) return false;
    const std::string tag = x.substr(i + 1, end - i - 1);
    if (tag[0] == '?') {
    } else if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return false;
      stack.pop_back();
    } else if (tag.back() != '/') {
      stack.push_back(tag.substr(0, tag.find(' ')));
    }
    i = end;
  }
  return stack.empty();
}

}  // namespace

TEST(ReportWriter, ReportJsonHasTheContractKeys) {
  Fixture f;
  const json j = report_json(f.report());
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{
                      "rig", "seed", "devices", "blocks_finalized", "rounds", "coherent_rounds", "coherence_rate",
                      "blacklisted", "ledger_valid", "pass", "criteria", "byzantine_rounds_detected",
                      "incoherent_rounds_blacklisted", "false_blacklist", "byzantine_blacklisted",
                      "time_to_blacklist_ms", "liveness_blocks_per_min", "frame_errors", "malformed_events",
                      "ledger_errors", "event_counts", "run_dir", "baseline_blocks_per_min", "faulted_blocks_per_min", "liveness_ratio",
                "false_blacklist_faulted", "acked_tx_lost", "collusion_captured_rounds", "undetected_collusion_rate", "collusion", "blacklist_reasons",
                "recoveries_failed", "step_checks", "usage"}));
  EXPECT_EQ(j["rig"], "r<&\"'>");
  EXPECT_EQ(j["seed"], 42u);
  ASSERT_EQ(j["devices"].size(), 4u);
  EXPECT_EQ(j["devices"][3], (json{{"name", "b-01"}, {"model", "esp8266"}, {"behaviour", "wrong_hash"}}));
  EXPECT_EQ(j["blocks_finalized"], 20);
  EXPECT_EQ(j["blacklisted"], json::array({"b-01"}));
  EXPECT_EQ(j["ledger_valid"], false);
  EXPECT_EQ(j["pass"], false);
  ASSERT_EQ(j["criteria"].size(), 3u);
  EXPECT_EQ(j["criteria"][0], (json{{"name", "blocks_finalized_min"}, {"threshold", 20.0}, {"measured", 20.0},
                                    {"pass", true}}));
  EXPECT_EQ(j["criteria"][1]["pass"], false);
  EXPECT_EQ(j["time_to_blacklist_ms"]["b-01"], 1234);
  EXPECT_EQ(j["ledger_errors"].size(), 1u);
  EXPECT_EQ(j["event_counts"]["round_closed"], 22);
  EXPECT_EQ(j["run_dir"], "/tmp/run-1");
}

TEST(ReportWriter, JunitHasOneTestcasePerCriterionAndEscapes) {
  Fixture f;
  const std::string x = junit_xml(f.report());
  EXPECT_TRUE(well_formed(x)) << x;
  EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0), 0u);
  EXPECT_EQ(count(x, "<testsuite "), 1u);
  EXPECT_NE(x.find("<testsuite name=\"r&lt;&amp;&quot;&apos;&gt;\" tests=\"3\" failures=\"2\""), std::string::npos)
      << x;
  EXPECT_EQ(count(x, "<testcase "), 3u);
  EXPECT_EQ(count(x, "classname=\"rig.r&lt;&amp;&quot;&apos;&gt;\""), 3u);
  EXPECT_EQ(count(x, "<failure "), 2u);
  EXPECT_NE(x.find("<testcase name=\"blocks_finalized_min\" classname=\"rig.r&lt;&amp;&quot;&apos;&gt;\"/>"),
            std::string::npos);
  EXPECT_NE(x.find("<failure message=\"ledger_valid: measured ledger_valid = 0, required == 1\"/>"),
            std::string::npos);
  EXPECT_NE(x.find("<failure message=\"blacklisted_max: measured blacklisted = 1, required &lt;= 0\"/>"),
            std::string::npos);
  EXPECT_NE(x.find("<property name=\"seed\" value=\"42\"/>"), std::string::npos);
}

TEST(ReportWriter, AllPassingJunitHasNoFailures) {
  Fixture f;
  f.scores.ledger_valid = true;
  f.scores.blacklisted.clear();
  f.evaluation = evaluate(f.rig, f.scores);
  ASSERT_TRUE(f.evaluation.pass);
  const std::string x = junit_xml(f.report());
  EXPECT_TRUE(well_formed(x));
  EXPECT_EQ(count(x, "<failure"), 0u);
  EXPECT_NE(x.find("failures=\"0\""), std::string::npos);
}

TEST(ReportWriter, WritesBothFiles) {
  Fixture f;
  const auto dir = std::filesystem::temp_directory_path() / "iotw_report_writer_test";
  std::filesystem::create_directories(dir);
  RunReport r = f.report();
  r.run_dir = dir;
  write_reports(r);
  std::ifstream rj(dir / "report.json"), jx(dir / "junit.xml");
  std::stringstream xml;
  xml << jx.rdbuf();
  const json j = json::parse(rj);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(j, report_json(r));
  EXPECT_EQ(xml.str(), junit_xml(r));
  EXPECT_THROW(write_reports({f.rig, 1, f.scores, f.ledger, f.evaluation, "/nonexistent/dir"}), std::runtime_error);
}

TEST(ReportWriter, StepChecksAreTestcasesToo) {
  Fixture f;
  f.scores.step_checks = {{"cut (line 9): partition recovered", false, "esp-01 (not attached)"},
                          {"later (line 20): expect rounds >= 1", true, "measured rounds = 3"}};
  f.evaluation = evaluate(f.rig, f.scores);
  const std::string x = junit_xml(f.report());
  EXPECT_TRUE(well_formed(x)) << x;
  EXPECT_NE(x.find("tests=\"5\" failures=\"3\""), std::string::npos) << x;
  EXPECT_NE(x.find("<testcase name=\"cut (line 9): partition recovered\" classname=\"rig.r&lt;&amp;&quot;&apos;&gt;.steps\">\n"
                   "      <failure message=\"cut (line 9): partition recovered: esp-01 (not attached)\"/>"),
            std::string::npos)
      << x;
  EXPECT_EQ(report_json(f.report())["step_checks"].size(), 2u);
}

TEST(ReportWriter, HtmlIsSelfContainedWithTimelineAndScores) {
  Fixture f;
  auto ev = [](std::int64_t t, const char* kind, json fields) {
    return json{{"time_ms", t}, {"source", "x"}, {"kind", kind}, {"fields", std::move(fields)}};
  };
  const std::vector<json> events = {
      ev(1000, "rig_started", json::object()),
      ev(1500, "round_closed", {{"round_id", 1}, {"coherent", true}}),
      ev(1600, "block_finalized", {{"height", 1}}),
      ev(2000, "fault_started", {{"step", "cut"}, {"fault", "partition"}, {"devices", {"h-01"}}}),
      ev(2500, "round_closed", {{"round_id", 2}, {"coherent", false}}),
      ev(2600, "blacklisted", {{"name", "b-01<script>"}}),
      ev(3000, "fault_ended", {{"step", "cut"}}),
      json("junk"),
  };
  const std::string h = report_html(f.report(), events);
  EXPECT_EQ(h.find("http"), h.find("http://www.w3.org/2000/svg")) << "no link but the SVG namespace";
  EXPECT_EQ(h.find("<script"), std::string::npos) << "names are escaped";
  EXPECT_NE(h.find("blacklisted b-01&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(count(h, "<rect class=\"rounds\""), 2u);
  EXPECT_EQ(count(h, "<rect class=\"blocks\""), 1u);
  EXPECT_EQ(count(h, "<rect class=\"fault\""), 1u);
  EXPECT_EQ(count(h, "<rect class=\"blacklisted\""), 1u);
  EXPECT_NE(h.find("#e53e3e"), std::string::npos) << "the incoherent round is red";
  EXPECT_NE(h.find("<td>ledger_valid</td><td>0</td>"), std::string::npos);
  EXPECT_NE(h.find(">FAIL<"), std::string::npos);
}

TEST(ReportWriter, HtmlShowsTheCollusionFiguresOfReportJson) {
  const RigSpec rig = parse_rig(R"([rig]
name = "coll"
[trust_node]
witnesses = 2
[[devices]]
name_prefix = "h"
count = 3
[[devices]]
name_prefix = "c"
behaviour = "collude_all_slots"
count = 3
[pass]
ledger_valid = true
)",
                                "c.toml");
  auto ev = [](std::int64_t t, const char* kind, json fields) {
    return json{{"time_ms", t}, {"source", "x"}, {"kind", kind}, {"fields", std::move(fields)}};
  };
  auto closed = [&](std::uint64_t id, bool coherent, const char* a, const char* b, const char* va, const char* vb) {
    return ev(static_cast<std::int64_t>(id) * 10, "round_closed",
              {{"round_id", id}, {"height", id}, {"coherent", coherent}, {"expected", "valid"},
               {"verdicts", {{{"witness", "k"}, {"name", a}, {"verdict", va}}, {{"witness", "l"}, {"name", b}, {"verdict", vb}}}}});
  };
  std::vector<json> events = {ev(0, "rig_started", json::object()),
                              closed(1, false, "c-01", "c-02", "invalid", "invalid"),
                              ev(11, "blacklisted", {{"name", "c-01"}, {"round_id", 1}}),
                              ev(11, "blacklisted", {{"name", "c-02"}, {"round_id", 1}}),
                              closed(2, true, "h-01", "c-03", "valid", "valid"),
                              closed(3, true, "h-01", "h-02", "valid", "valid"),
                              closed(4, true, "c-03", "c-01", "invalid", "invalid")};  // a won round (no node check)
  Scores scores;
  scores.collusion = score_collusion(rig, events);
  scores.rounds = 4;
  LedgerVerdict ledger;
  const Evaluation evaluation = evaluate(rig, scores);
  const RunReport r{rig, 7, scores, ledger, evaluation, "/tmp/run-c"};
  const json c = report_json(r)["collusion"];
  const std::string h = report_html(r, events);
  ASSERT_NE(h.find("<h2 id=\"collusion\">Collusion</h2>"), std::string::npos);
  EXPECT_EQ(h.find("http"), h.find("http://www.w3.org/2000/svg")) << "self-contained";
  EXPECT_NE(h.find("<svg class=\"collusion\""), std::string::npos);
  auto shown = [&](const char* id, const std::string& v) {
    return h.find(fmt::format("<span id=\"{}\">{}</span>", id, v)) != std::string::npos;
  };
  EXPECT_TRUE(shown("collusion-rate", fmt::format("{:.4f}", c["undetected_collusion_rate"].get<double>())));
  EXPECT_TRUE(shown("collusion-witness-rate", fmt::format("{:.4f}", c["witness_undetected_rate"].get<double>())));
  EXPECT_TRUE(shown("collusion-model", fmt::format("{:.4f}", c["model"]["hypergeometric"].get<double>())));
  EXPECT_TRUE(shown("collusion-won", c["won"].dump()));
  EXPECT_TRUE(shown("collusion-lost", c["lost"].dump()));
  EXPECT_TRUE(shown("collusion-captured", c["captured_rounds"].dump()));
  EXPECT_EQ(c["won"], 1);
  EXPECT_EQ(c["lost"], 1);
  EXPECT_NE(h.find(fmt::format("({:.4f}..{:.4f})", c["undetected_collusion_ci"]["low"].get<double>(),
                               c["undetected_collusion_ci"]["high"].get<double>())),
            std::string::npos);
  EXPECT_NE(h.find(">1</span>: 4<"), std::string::npos) << "the won round's id";
  // A rig without a colluding group has no collusion section.
  Fixture f;
  EXPECT_EQ(report_html(f.report(), events).find("id=\"collusion\""), std::string::npos);
}

TEST(XmlEscape, EntitiesAndForbiddenControlCharacters) {
  EXPECT_EQ(iotw::harness::xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(iotw::harness::xml_escape(std::string("x\x01y\tz\n\r\x1f", 8)), "x?y\tz\n\r?");
  EXPECT_EQ(iotw::harness::xml_escape(""), "");
}
