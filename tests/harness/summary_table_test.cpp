// The terminal summary of `iotw rig run`: rows, true/false scores, why the run stopped, wrapping.
#include "iotw/harness/summary_table.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "iotw/harness/rig_loader.hpp"

using namespace iotw::harness;

namespace {

struct Fixture {
  RigSpec rig = parse_rig(R"([rig]
name = "r"
deadline_s = 90
[[devices]]
name_prefix = "h"
count = 3
[[devices]]
name_prefix = "b"
model = "esp8266"
behaviour = "wrong_hash"
[trust_node]
witnesses = 2
[target]
blocks = 20
[pass]
blocks_finalized_min = 20
ledger_valid = true
byzantine_blacklisted = true
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
    scores.byzantine_blacklisted = true;
    ledger.errors = {"height 3: 'hash' is not SHA-256(header)"};
    ledger.blocks_checked = 21;
    scores.ledger_valid = ledger.valid = false;
    evaluation = evaluate(rig, scores);  // blocks ok, byzantine_blacklisted ok; ledger_valid, blacklisted_max fail
  }
  RunReport report() const { return {rig, 42, scores, ledger, evaluation, "/tmp/run-1"}; }
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(SummaryTable, RowsAndResult) {
  Fixture f;
  const std::string t = summary_table(f.report(), "target_reached");
  EXPECT_EQ(t.rfind("rig         r\nseed        42\nstopped     target reached (20 blocks)\n", 0), 0u) << t;
  EXPECT_NE(t.find("blocks      20 finalized (target 20)\n"), std::string::npos) << t;
  EXPECT_NE(t.find("rounds      22 (21 coherent)\n"), std::string::npos) << t;
  EXPECT_NE(t.find("coherence   0.955\n"), std::string::npos) << t;
  EXPECT_NE(t.find("blacklist   1: b-01 (0 honest)\n"), std::string::npos) << t;
  EXPECT_NE(t.find("ledger      INVALID (1 errors; first: height 3:"), std::string::npos) << t;
  EXPECT_NE(t.find("  blocks_finalized_min                    20 >= 20        ok\n"), std::string::npos) << t;
  EXPECT_EQ(t.substr(t.size() - 17), "result      FAIL\n");
}

TEST(SummaryTable, BooleanScoresPrintAsTrueFalse) {
  Fixture f;
  const std::string t = summary_table(f.report(), "target_reached");
  EXPECT_NE(t.find("  ledger_valid                         false == true      FAIL\n"), std::string::npos) << t;
  EXPECT_NE(t.find("  byzantine_blacklisted                 true == true      ok\n"), std::string::npos) << t;
  EXPECT_NE(t.find("  blacklisted_max                          1 <= 0         FAIL\n"), std::string::npos) << t;
}

TEST(SummaryTable, ListsExternalDevicesOnlyWhenTheRigHasThem) {
  Fixture f;
  EXPECT_EQ(summary_table(f.report(), "target_reached").find("external"), std::string::npos);
  f.rig = parse_rig(R"([rig]
name = "r"
[[devices]]
count = 4
[[devices]]
name = "partner"
external = "serial:/dev/ttyUSB0,baud=9600"
[[devices]]
name = "indep"
external = "udp"
[pass]
ledger_valid = true
)", "r.toml");
  const std::string t = summary_table(f.report(), "target_reached");
  EXPECT_NE(t.find("\nexternal    partner (serial:/dev/ttyUSB0,baud=9600), indep (udp)\n"), std::string::npos) << t;
}

TEST(SummaryTable, SaysWhyTheRunStopped) {
  Fixture f;
  EXPECT_NE(summary_table(f.report(), "deadline").find("\nstopped     deadline (90 s)\n"), std::string::npos);
  EXPECT_NE(summary_table(f.report(), "stopped")
                .find("\nstopped     stop request (harness.sock), or SIGINT/SIGTERM while held\n"),
            std::string::npos);
  EXPECT_NE(summary_table(f.report(), "interrupted").find("\nstopped     interrupted (SIGINT/SIGTERM); partial report\n"),
            std::string::npos);
  EXPECT_NE(summary_table(f.report(), "error").find("\nstopped     error (see the messages above); partial report\n"),
            std::string::npos);
}

TEST(SummaryTable, LongRowsWrapUnderTheValue) {
  Fixture f;
  f.scores.blacklisted.clear();
  for (int i = 1; i <= 48; ++i) f.scores.blacklisted.push_back(fmt::format("esp-{:02}", i));
  f.scores.step_checks = {{"cut (line 9): partition recovered", false,
                           std::string(30, 'x') + " " + std::string(40, 'y') + " " + std::string(50, 'z')}};
  const std::string t = summary_table(f.report(), "target_reached", 80);
  std::string names;  // the blacklist row and its continuation lines, joined again
  bool in_blacklist = false;
  for (const std::string& l : lines(t)) {
    EXPECT_LE(l.size(), 80u) << l;
    if (l.rfind("blacklist   ", 0) == 0) {
      in_blacklist = true;
      names = l.substr(12);
    } else if (in_blacklist && l.rfind("            ", 0) == 0) {
      names += " " + l.substr(12);
    } else {
      in_blacklist = false;
    }
  }
  std::string expected = "48:";
  for (const std::string& n : f.scores.blacklisted) expected += " " + n;
  EXPECT_EQ(names, expected + " (0 honest)") << t;
  EXPECT_NE(t.find(" FAIL:\n    " + std::string(30, 'x') + " " + std::string(40, 'y') + "\n    " + std::string(50, 'z') +
                   "\n"),
            std::string::npos)
      << t;
}

}  // namespace
