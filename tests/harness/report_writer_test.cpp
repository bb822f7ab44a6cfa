#include "iotw/harness/report_writer.hpp"
#include "iotw/harness/summary_table.hpp"
#include "iotw/support/process.hpp"

#include <gtest/gtest.h>

#include "iotw/harness/xml_escape.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <pugixml.hpp>

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
  RunReport report() const {
    RunReport r{rig, 42, scores, ledger, evaluation, "/tmp/run-1"};
    r.context.started = std::chrono::system_clock::time_point(std::chrono::seconds(1780000000));  // 2026-05-28T20:26:40Z
    r.context.duration_s = 42.34567;
    r.context.hostname = "rig-host";
    r.context.tool_version = "9.8.7";
    r.context.command = "iotw rig run rigs/r.toml --seed 42";
    r.outcome = {RunEnd::Completed, "target_reached", ""};
    return r;
  }
};

/// The parsed junit.xml (pugixml); fails the test when it is not well-formed.
struct Junit {
  pugi::xml_document doc;
  explicit Junit(const std::string& xml) {
    const auto parsed = doc.load_string(xml.c_str());
    EXPECT_TRUE(parsed) << parsed.description() << "\n" << xml;
  }
  pugi::xml_node root() const { return doc.child("testsuites"); }
  pugi::xml_node suite() const { return root().child("testsuite"); }
  pugi::xml_node testcase(const char* name) const { return suite().find_child_by_attribute("testcase", "name", name); }
};

/// xmllint's verdict on `xml` against tests/data/junit.xsd ("" when valid, else its messages).
std::string schema_errors(const std::string& xml) {
  const auto dir = std::filesystem::temp_directory_path() / ("iotw_junit_xsd_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "junit.xml") << xml;
  const iotw::CapturedRun r =
      iotw::run_captured("xmllint", {"--noout", "--schema", std::string(IOTW_TEST_DATA_DIR) + "/junit.xsd",
                                     (dir / "junit.xml").string()},
                         iotw::Stderr::merge);
  std::filesystem::remove_all(dir);
  return r.code == 0 ? "" : "xmllint exit " + std::to_string(r.code) + ": " + r.output;
}

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
                "false_blacklist_faulted", "acked_tx_lost", "failover_ms", "failovers_ms", "collusion_captured_rounds", "undetected_collusion_rate", "collusion", "blacklist_reasons",
                "recoveries_failed", "step_checks", "usage", "reason", "started", "duration_s", "hostname",
                "iotw_version", "command", "console_actions", "not_seeded"}));
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
  EXPECT_EQ(j["reason"], "target_reached");
  EXPECT_EQ(j["started"], "2026-05-28T20:26:40Z");
  EXPECT_EQ(j["duration_s"], 42.346);
  EXPECT_EQ(j["hostname"], "rig-host");
  EXPECT_EQ(j["iotw_version"], "9.8.7");
  EXPECT_EQ(j["command"], "iotw rig run rigs/r.toml --seed 42");
}

TEST(ReportWriter, JunitHasARunTestcaseAndOneTestcasePerCriterionAndEscapes) {
  Fixture f;
  const std::string x = junit_xml(f.report());
  EXPECT_TRUE(well_formed(x)) << x;
  EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0), 0u);
  EXPECT_EQ(schema_errors(x), "");
  const Junit j(x);
  EXPECT_EQ(std::distance(j.root().children("testsuite").begin(), j.root().children("testsuite").end()), 1);
  EXPECT_STREQ(j.suite().attribute("name").value(), "r<&\"'>");
  EXPECT_EQ(j.suite().attribute("tests").as_int(), 4);  // run + 3 criteria
  EXPECT_EQ(j.suite().attribute("failures").as_int(), 2);
  EXPECT_EQ(j.suite().attribute("errors").as_int(), 0);
  EXPECT_EQ(j.suite().attribute("skipped").as_int(), 0);
  for (const char* a : {"tests", "failures", "errors", "skipped", "time", "timestamp"})
    EXPECT_STREQ(j.root().attribute(a).value(), j.suite().attribute(a).value()) << a;
  std::vector<std::string> names;
  for (pugi::xml_node tc : j.suite().children("testcase")) {
    names.push_back(tc.attribute("name").value());
    EXPECT_STREQ(tc.attribute("classname").value(), "rig.r<&\"'>");
  }
  EXPECT_EQ(names, (std::vector<std::string>{"run", "blocks_finalized_min", "ledger_valid", "blacklisted_max"}));
  EXPECT_FALSE(j.testcase("run").child("error"));
  EXPECT_FALSE(j.testcase("run").child("skipped"));
  EXPECT_FALSE(j.testcase("blocks_finalized_min").child("failure"));
  EXPECT_STREQ(j.testcase("ledger_valid").child("failure").attribute("message").value(),
               "ledger_valid: measured ledger_valid = false, required == true");
  EXPECT_STREQ(j.testcase("blacklisted_max").child("failure").attribute("message").value(),
               "blacklisted_max: measured blacklisted = 1, required <= 0");
  EXPECT_STREQ(j.suite().child("properties").find_child_by_attribute("property", "name", "seed").attribute("value").value(),
               "42");
}

TEST(ReportWriter, JunitCarriesTimeTimestampHostnameTheSummaryAndMeasuredValues) {
  Fixture f;
  f.scores.coherence_rate = 0.9545454545;
  f.rig.pass.push_back({"coherence_rate_min", "coherence_rate", Criterion::Op::AtLeast, 0.95, 99, Criterion::Kind::Rate});
  f.evaluation = evaluate(f.rig, f.scores);
  const RunReport r = f.report();
  const Junit j(junit_xml(r));
  EXPECT_STREQ(j.suite().attribute("time").value(), "42.346");
  EXPECT_STREQ(j.suite().attribute("timestamp").value(), "2026-05-28T20:26:40");
  EXPECT_STREQ(j.suite().attribute("hostname").value(), "rig-host");
  EXPECT_STREQ(j.root().attribute("time").value(), "42.346");
  for (pugi::xml_node tc : j.suite().children("testcase")) {
    EXPECT_TRUE(tc.attribute("time")) << tc.attribute("name").value();
    EXPECT_STREQ(tc.attribute("hostname").value(), "rig-host");
    EXPECT_EQ(std::string(tc.attribute("timestamp").value()).size(), 19u);
  }
  EXPECT_STREQ(j.testcase("run").attribute("time").value(), "42.346") << "the run testcase carries the duration";
  EXPECT_STREQ(j.testcase("run").attribute("timestamp").value(), "2026-05-28T20:26:40");
  EXPECT_STREQ(j.testcase("ledger_valid").attribute("timestamp").value(), "2026-05-28T20:27:22") << "judged at the end";
  // Passing criteria carry their measured value against the threshold, rounded to what it means.
  EXPECT_STREQ(j.testcase("blocks_finalized_min").child_value("system-out"),
               "measured blocks_finalized = 20, required >= 20");
  EXPECT_STREQ(j.testcase("coherence_rate_min").child_value("system-out"),
               "measured coherence_rate = 0.955, required >= 0.95");
  EXPECT_FALSE(j.testcase("coherence_rate_min").child("failure"));
  // The run summary is the suite's system-out; the command, version and reason are properties.
  EXPECT_EQ(std::string(j.suite().child_value("system-out")), summary_table(r, r.outcome.reason));
  auto prop = [&](const char* n) {
    return std::string(j.suite().child("properties").find_child_by_attribute("property", "name", n).attribute("value").value());
  };
  EXPECT_EQ(prop("command"), "iotw rig run rigs/r.toml --seed 42");
  EXPECT_EQ(prop("iotw_version"), "9.8.7");
  EXPECT_EQ(prop("reason"), "target_reached");
  EXPECT_EQ(schema_errors(junit_xml(r)), "");
}

TEST(ReportWriter, JunitOfARunThatDidNotCompleteHasAnErrorOrSkippedRunAndUnjudgedCriteria) {
  Fixture f;
  struct Case {
    RunEnd end;
    const char* reason;
    const char* verdict;  // the run testcase's child
  };
  for (const Case c : {Case{RunEnd::Interrupted, "interrupted", "error"}, Case{RunEnd::Error, "error", "error"},
                       Case{RunEnd::NotStarted, "not_started", "error"}, Case{RunEnd::Skipped, "skipped", "skipped"}}) {
    RunReport r = f.report();
    r.outcome = {c.end, c.reason, std::string("why: ") + c.reason + " <&>"};
    const std::string x = junit_xml(r);
    EXPECT_EQ(schema_errors(x), "") << c.reason;
    const Junit j(x);
    const pugi::xml_node v = j.testcase("run").child(c.verdict);
    ASSERT_TRUE(v) << x;
    EXPECT_EQ(std::string(v.attribute("message").value()), std::string("why: ") + c.reason + " <&>");
    EXPECT_EQ(j.suite().attribute("tests").as_int(), 4) << c.reason;
    EXPECT_EQ(j.suite().attribute("failures").as_int(), 0) << "criteria of an unfinished run are not judged";
    EXPECT_EQ(j.suite().attribute("errors").as_int(), c.end == RunEnd::Skipped ? 0 : 1) << c.reason;
    EXPECT_EQ(j.suite().attribute("skipped").as_int(), c.end == RunEnd::Skipped ? 4 : 3) << c.reason;
    EXPECT_EQ(std::string(j.testcase("ledger_valid").child("skipped").attribute("message").value()),
              std::string("not judged: the run did not complete (") + c.reason + ")");
    const std::string out = j.suite().child_value("system-out");
    if (c.end == RunEnd::Skipped || c.end == RunEnd::NotStarted) {
      EXPECT_NE(out.find(c.end == RunEnd::Skipped ? "skipped: why" : "could not start: why"), std::string::npos) << out;
    } else {
      EXPECT_NE(out.find("result      NOT JUDGED (" + std::string(c.reason) + ")"), std::string::npos) << out;
      EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
      const auto line = out.find("  ledger_valid ");
      ASSERT_NE(line, std::string::npos) << out;
      const std::string row = out.substr(line, out.find('\n', line) - line);
      EXPECT_NE(row.find(" false == true "), std::string::npos) << row;
      EXPECT_EQ(row.substr(row.size() - 11), " not judged") << row;
    }
    EXPECT_EQ(report_json(r)["pass"], false);
    EXPECT_EQ(report_json(r)["reason"], c.reason);
  }
}

TEST(ReportWriter, JunitStaysWellFormedWithControlCharactersAndBrokenUtf8) {
  Fixture f;
  f.scores.step_checks = {{"step \x01 (line 3): \xff\xfe bad \xc3\xa9 ok", false, "detail \x1b[31m red"}};
  f.evaluation = evaluate(f.rig, f.scores);
  const std::string x = junit_xml(f.report());
  EXPECT_EQ(schema_errors(x), "");
  const Junit j(x);
  const pugi::xml_node step = j.suite().find_child_by_attribute("testcase", "classname", "rig.r<&\"'>.steps");
  EXPECT_STREQ(step.attribute("name").value(), "step ? (line 3): ?? bad \xc3\xa9 ok");
  EXPECT_STREQ(step.child("failure").attribute("message").value(),
               "step ? (line 3): ?? bad \xc3\xa9 ok: detail ?[31m red");
}

TEST(ReportWriter, ValuesAreRoundedToWhatTheyMeanButNeverAgainstTheVerdict) {
  EXPECT_EQ(format_value(Criterion::Kind::Count, 20), "20");
  EXPECT_EQ(format_value(Criterion::Kind::Bool, 1), "true");
  EXPECT_EQ(format_value(Criterion::Kind::Bool, 0), "false");
  EXPECT_EQ(format_value(Criterion::Kind::Rate, 21.0 / 22), "0.955");
  EXPECT_EQ(format_value(Criterion::Kind::Rate, 1), "1");
  EXPECT_EQ(format_value(Criterion::Kind::Rate, 0.000123456), "0.000123");
  EXPECT_EQ(format_value(Criterion::Kind::Number, 523.456789), "523");
  EXPECT_EQ(format_value(Criterion::Kind::Number, 12.3456), "12.3");
  EXPECT_EQ(format_value(Criterion::Kind::Number, 123456.7), "123457");
  EXPECT_EQ(format_value(Criterion::Kind::Number, 0), "0");
  // 0.99996 rounds to "1", which would read as passing "== 1" / ">= 1": more digits are shown instead.
  CriterionResult c{"coherence_rate_min", "coherence_rate", Criterion::Op::AtLeast, 1.0, 0.99996, false,
                    Criterion::Kind::Rate};
  EXPECT_EQ(criterion_text(c), "measured coherence_rate = 0.99996, required >= 1");
  c.threshold = 0.999;
  c.pass = true;
  EXPECT_EQ(criterion_text(c), "measured coherence_rate = 1, required >= 0.999");
  CriterionResult l{"liveness_ratio_min", "liveness_ratio", Criterion::Op::AtLeast, 0.8, 0.79996, false,
                    Criterion::Kind::Number};
  EXPECT_EQ(shown_measured(l), "0.79996");
  EXPECT_EQ(shown_threshold(l), "0.8");
}

TEST(ReportWriter, AllPassingJunitHasNoFailures) {
  Fixture f;
  f.scores.ledger_valid = true;
  f.scores.blacklisted.clear();
  f.evaluation = evaluate(f.rig, f.scores);
  ASSERT_TRUE(f.evaluation.pass);
  const std::string x = junit_xml(f.report());
  EXPECT_EQ(count(x, "<failure"), 0u);
  const Junit j(x);
  EXPECT_EQ(j.root().attribute("failures").as_int(), 0);
  EXPECT_EQ(j.suite().attribute("failures").as_int(), 0);
  EXPECT_STREQ(j.testcase("ledger_valid").child_value("system-out"), "measured ledger_valid = true, required == true");
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
  const Junit j(x);
  EXPECT_EQ(j.suite().attribute("tests").as_int(), 6);  // run + 3 criteria + 2 step checks
  EXPECT_EQ(j.suite().attribute("failures").as_int(), 3);
  const pugi::xml_node cut = j.testcase("cut (line 9): partition recovered");
  EXPECT_STREQ(cut.attribute("classname").value(), "rig.r<&\"'>.steps");
  EXPECT_STREQ(cut.child("failure").attribute("message").value(),
               "cut (line 9): partition recovered: esp-01 (not attached)");
  EXPECT_FALSE(j.testcase("later (line 20): expect rounds >= 1").child("failure"));
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
  EXPECT_NE(h.find("<td>ledger_valid</td><td class=\"num\">false</td><td>== true</td>"), std::string::npos) << h;
  EXPECT_NE(h.find(">FAIL<"), std::string::npos);
}

TEST(ReportWriter, HtmlHeaderSaysWhatWhenWhereAndHowToRepeatAndLinksTheFiles) {
  Fixture f;
  f.rig.description = "Eight devices & one <liar>";
  f.scores.coherence_rate = 0.954545454545;
  f.scores.liveness_blocks_per_min = 523.456789;
  f.scores.time_to_blacklist_ms["b-01"] = 1234;
  f.scores.blacklist_reason["b-01"] = "attestation_wrong_hash";
  RunReport r = f.report();
  r.context.files = {{"ledger.jsonl", "ledger.jsonl"}, {"links.pcapng", "links.pcapng"},
                     {"trust_node stderr", "trust_node.stderr.log"}};
  const std::string h = report_html(r, {});
  auto row = [&](const std::string& what, const std::string& value) {
    return h.find("<tr><th>" + what + "</th><td>" + value + "</td></tr>") != std::string::npos;
  };
  EXPECT_TRUE(row("description", "Eight devices &amp; one &lt;liar&gt;")) << h;
  EXPECT_TRUE(row("date", "2026-05-28 20:26:40 UTC")) << h;
  EXPECT_TRUE(row("duration", "42.3 s")) << h;
  EXPECT_TRUE(row("host", "rig-host")) << h;
  EXPECT_TRUE(row("iotw version", "9.8.7")) << h;
  EXPECT_TRUE(row("seed", "42")) << h;
  EXPECT_TRUE(row("ended", fmt::format("target reached ({} blocks)", f.rig.target_blocks))) << h;
  EXPECT_TRUE(row("reproduce", "<code>iotw rig run rigs/r.toml --seed 42</code>")) << h;
  EXPECT_TRUE(row("files", "<a class=\"count\" href=\"ledger.jsonl\">ledger.jsonl</a>&nbsp;&middot; <a class=\"count\" "
                           "href=\"links.pcapng\">links.pcapng</a>&nbsp;&middot; <a class=\"count\" "
                           "href=\"trust_node.stderr.log\">trust_node stderr</a>")) << h;
  EXPECT_NE(h.find("<ul class=\"legend\">"), std::string::npos);
  for (const char* item : {"block finalized", "witness round coherent", "witness round incoherent", "fault (start to end)",
                           "device blacklisted", "trust node started / exited"})
    EXPECT_NE(h.find(item), std::string::npos) << item;
  // Numbers rounded to what they mean: no long binary fractions anywhere in the text.
  EXPECT_NE(h.find("coherence rate 0.955"), std::string::npos) << h;
  EXPECT_NE(h.find("523 blocks/min"), std::string::npos) << h;
  EXPECT_NE(h.find("b-01 (attestation_wrong_hash, after 1.2 s)"), std::string::npos) << h;
  EXPECT_EQ(h.find("0.95454"), std::string::npos);
  EXPECT_EQ(h.find("523.45"), std::string::npos);
  // Nothing runs off the page: the drawings scale to the page's width and long text wraps.
  EXPECT_NE(h.find("viewBox=\"0 0 1000 "), std::string::npos);
  EXPECT_NE(h.find("svg{width:100%;height:auto"), std::string::npos);
  EXPECT_NE(h.find("overflow-wrap:anywhere"), std::string::npos);
  // A run that did not complete says so instead of a verdict.
  r.outcome = {RunEnd::Interrupted, "interrupted", "interrupted (SIGINT or SIGTERM) after 3.0 s"};
  const std::string i = report_html(r, {});
  EXPECT_NE(i.find("<p class=\"verdict\">NOT JUDGED: interrupted</p>"), std::string::npos) << i;
  EXPECT_TRUE(i.find("<tr><th>ended</th><td>interrupted (SIGINT or SIGTERM) after 3.0 s</td></tr>") != std::string::npos)
      << i;
  EXPECT_NE(i.find("<tr class=\"nj\"><td>ledger_valid</td><td class=\"num\">false</td><td>== true</td><td>not judged</td>"),
            std::string::npos) << i;
  EXPECT_EQ(i.find(">FAIL<"), std::string::npos) << "nothing is judged";
  r.outcome = {RunEnd::Error, "error", "iotw-emu exited early with code 1"};
  EXPECT_NE(report_html(r, {}).find("<tr><th>ended</th><td>error: iotw-emu exited early with code 1</td></tr>"),
            std::string::npos);
}

TEST(ReportWriter, HtmlTimelineTicksAreRoundSecondsInsideTheDrawing) {
  Fixture f;
  auto ev = [](std::int64_t t, const char* kind) {
    return json{{"time_ms", t}, {"source", "x"}, {"kind", kind}, {"fields", json::object()}};
  };
  // 2.6 s: ticks every 0.5 s (not every 0.26 s shown as 0.3, 0.5, 0.8 ...).
  std::string h = report_html(f.report(), {ev(1000, "rig_started"), ev(3600, "block_finalized")});
  for (const char* t : {">0.0s<", ">0.5s<", ">1.0s<", ">2.5s<"}) EXPECT_NE(h.find(t), std::string::npos) << t;
  EXPECT_EQ(h.find(">0.3s<"), std::string::npos);
  EXPECT_EQ(h.find(">3.0s<"), std::string::npos) << "no tick past the end";
  // 41 s: every 5 s, whole seconds.
  h = report_html(f.report(), {ev(0, "rig_started"), ev(41000, "block_finalized")});
  for (const char* t : {">0s<", ">5s<", ">40s<"}) EXPECT_NE(h.find(t), std::string::npos) << t;
  EXPECT_EQ(h.find(">41s<"), std::string::npos);
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

// Console actions (docs/console.md): console_action events -> Scores -> report.json and a report.html table.
TEST(ReportWriter, ConsoleActionsFromTheEventsInReportJsonAndHtml) {
  Fixture f;
  auto action = [](std::int64_t t, json fields) {
    return json{{"time_ms", t}, {"source", "harness"}, {"kind", "console_action"}, {"fields", std::move(fields)}};
  };
  const std::vector<json> events = {
      action(1000, {{"action", 1}, {"request", {{"cmd", "step"}, {"step", "fault reboot device=esp32-02"}}},
                    {"key", "r"}, {"device", "esp32-02"}, {"step", "fault reboot device=esp32-02"}, {"at_s", 2.5}}),
      action(2000, {{"action", 2}, {"request", {{"cmd", "step"}, {"step", "fault partition device=e<1>"}}},
                    {"step", "fault partition device=e<1>"}, {"at_s", 3.25}}),
      action(3000, {{"action", 3}, {"request", {{"cmd", "end"}, {"action", 2}}}, {"ends", 2}, {"at_s", 9.0}})};
  f.scores = iotw::harness::score_run(f.rig, events, {}, f.ledger);
  ASSERT_EQ(f.scores.console_actions.size(), 3u);
  const json j = report_json(f.report());
  ASSERT_EQ(j["console_actions"].size(), 3u);
  EXPECT_EQ(j["console_actions"][0]["key"], "r");
  EXPECT_EQ(j["console_actions"][0]["step"], "fault reboot device=esp32-02");
  EXPECT_EQ(j["console_actions"][2]["ends"], 2);
  const std::string h = report_html(f.report(), events);
  EXPECT_NE(h.find("<h2 id=\"console-actions\">Console actions</h2>"), std::string::npos);
  EXPECT_NE(h.find("<tr><td class=\"num\">1</td><td class=\"num\">2.5</td><td>r</td><td>esp32-02</td>"
                   "<td><code>fault reboot device=esp32-02</code></td></tr>"),
            std::string::npos);
  EXPECT_NE(h.find("<code>fault partition device=e&lt;1&gt;</code>"), std::string::npos);
  EXPECT_NE(h.find("<code>end action 2</code>"), std::string::npos);
  // No actions: no table.
  f.scores = iotw::harness::score_run(f.rig, {}, {}, f.ledger);
  EXPECT_EQ(report_html(f.report(), {}).find("Console actions"), std::string::npos);
}

TEST(XmlEscape, EntitiesAndForbiddenControlCharacters) {
  EXPECT_EQ(iotw::harness::xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(iotw::harness::xml_escape(std::string("x\x01y\tz\n\r\x1f", 8)), "x?y\tz\n\r?");
  EXPECT_EQ(iotw::harness::xml_escape(""), "");
}

TEST(ReportWriter, NotSeededNamesTimingAndTheDevicesOutsideTheSeed) {
  const RigSpec rig = parse_rig(R"([rig]
name = "mixed"
[[devices]]
name_prefix = "h"
count = 4
[[devices]]
name_prefix = "osr"
seed = "os"
[pass]
ledger_valid = true
)",
                                "m.toml");
  const std::vector<std::string> n = not_seeded(rig);
  ASSERT_EQ(n.size(), 3u);
  EXPECT_NE(n[0].find("OS scheduling and wall-clock timing"), std::string::npos);
  EXPECT_NE(n[1].find("PTY numbers"), std::string::npos);
  EXPECT_EQ(n[2], "identities from the OS (seed = \"os\"): osr-01");
  Fixture f;  // every device on the rig's seed: only the two host-side items
  EXPECT_EQ(report_json(f.report())["not_seeded"].size(), 2u);
  EXPECT_NE(report_html(f.report(), {}).find("not under the seed"), std::string::npos);
}
