// The fault and score registries (fault_registry.hpp, score_registry.hpp): their entries are consistent, and
// docs/faults.md and docs/rig-format.md describe exactly what they hold (a docs table that lacks a registered
// fault or score, or names one the registry lacks, fails here).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "iotw/harness/fault_registry.hpp"
#include "iotw/harness/rig_loader.hpp"
#include "iotw/harness/score_registry.hpp"
#include "iotw/harness/scorer.hpp"

namespace iotw::harness {
namespace {

std::string read_doc(const std::string& name) {
  std::ifstream in(std::string(IOTW_DOCS_DIR) + "/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> cells(const std::string& row) {
  std::vector<std::string> out;
  std::string cell;
  for (std::size_t i = 1; i < row.size(); ++i) {
    if (row[i] == '|' && row[i - 1] != '\\') {
      out.push_back(cell);
      cell.clear();
    } else {
      cell += row[i];
    }
  }
  return out;
}

/// The rows (cells) of every Markdown table whose header row starts with `header` ("| fault |").
std::vector<std::vector<std::string>> table_rows(const std::string& doc, const std::string& header) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(doc);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(header, 0) == 0) {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (line.rfind("|---", 0) == 0) continue;
    if (line.rfind("|", 0) != 0) {
      inside = false;
      continue;
    }
    rows.push_back(cells(line));
  }
  return rows;
}

/// `name` -> name; anything else -> "".
std::string ticked(const std::string& cell) {
  static const std::regex one(R"(^\s*`([a-z0-9_]+)`\s*$)");
  std::smatch m;
  return std::regex_match(cell, m, one) ? m[1].str() : "";
}

std::set<std::string> ticked_words(const std::string& text) {
  std::set<std::string> out;
  static const std::regex word(R"(`([a-z0-9_]+)`)");
  for (std::sregex_iterator it(text.begin(), text.end(), word), end; it != end; ++it) out.insert((*it)[1].str());
  return out;
}

TEST(FaultRegistry, EntriesAreConsistent) {
  std::set<std::string> names, params;
  for (const FaultParam& p : fault_params()) params.insert(std::string(p.key));
  for (const FaultDef& d : fault_registry()) {
    SCOPED_TRACE(std::string(d.name));
    EXPECT_TRUE(names.insert(std::string(d.name)).second) << "registered twice";
    EXPECT_EQ(find_fault(d.name), &d);
    for (auto p : d.params) EXPECT_TRUE(params.count(std::string(p))) << p;
    for (auto p : d.required) EXPECT_TRUE(d.takes(p)) << p;
    EXPECT_EQ(d.mechanism == FaultMechanism::LinkProxy, d.targets == FaultTargets::Links);
    if (d.mechanism == FaultMechanism::LinkProxy) { EXPECT_NE(d.links, 0u) << "a link fault shapes no link"; }
    EXPECT_EQ(d.mechanism == FaultMechanism::ControlChannel, d.start_command != nullptr);
    EXPECT_EQ(d.mechanism == FaultMechanism::ControlChannel, d.end_command != nullptr);
    EXPECT_EQ(d.duration == FaultDuration::Required, !d.heal_reason.empty());
    EXPECT_EQ(d.satisfied != nullptr, !d.satisfied_text.empty());
    EXPECT_TRUE(d.recovery.traffic || d.recovery.attached || d.recovery.mesh) << "a recovery check that checks nothing";
    if (d.mesh_only) { EXPECT_TRUE(d.recovery.mesh) << "a mesh fault must check the mesh"; }
    EXPECT_FALSE(d.summary.empty());
  }
  EXPECT_EQ(find_fault("melt"), nullptr);
  EXPECT_THROW(fault_def("melt"), std::invalid_argument);
  // Messages list the faults taking a parameter from the registry.
  EXPECT_EQ(faults_taking("delay_ms"), "delay and udp_delay");
  EXPECT_EQ(faults_taking("rate"), "corrupt, bit_flip, drop_bytes, drop_frames, garbage, udp_loss, udp_duplicate, udp_reorder");
  EXPECT_EQ(faults_taking("rssi"), "ap_rssi");
}

TEST(FaultRegistry, ControlCommandsStartAndEndTheFault) {
  FaultSpec skew{.kind = "clock_skew", .offset_ms = 5000, .ppm = 200};
  const FaultDef& d = skew.def();
  EXPECT_EQ(d.start_command(skew, "esp32-01"),
            (nlohmann::json{{"cmd", "clock_skew"}, {"device", "esp32-01"}, {"offset_ms", 5000}, {"ppm", 200.0}}));
  EXPECT_EQ(d.end_command("esp32-01"),
            (nlohmann::json{{"cmd", "clock_skew"}, {"device", "esp32-01"}, {"offset_ms", 0}, {"ppm", 0}}));
  FaultSpec hang{.kind = "hang"};
  EXPECT_EQ(hang.def().start_command(hang, "esp32-02"), (nlohmann::json{{"cmd", "hang"}, {"device", "esp32-02"}}));
  EXPECT_TRUE(hang.def().end_command("esp32-02").is_null());  // it ends by itself (the watchdog)
  FaultSpec weak{.kind = "ap_rssi", .rssi = -80};
  EXPECT_EQ(weak.def().start_command(weak, "m"), (nlohmann::json{{"cmd", "ap"}, {"device", "m"}, {"rssi", -80}}));
  EXPECT_EQ(weak.def().end_command("m"), (nlohmann::json{{"cmd", "ap"}, {"device", "m"}, {"rssi", kNominalRssi}}));
  EXPECT_EQ(weak.def().links, unsigned{kUdpLinks});  // a weak signal also loses datagrams
}

TEST(FaultRegistry, DocsFaultTablesListExactlyTheRegistry) {
  const std::string doc = read_doc("faults.md");
  std::map<std::string, std::vector<std::string>> rows;  // name -> parameters cell of each row naming it
  for (const auto& row : table_rows(doc, "| fault |")) {
    ASSERT_GE(row.size(), 2u) << row.front();
    const std::string name = ticked(row[0]);
    ASSERT_FALSE(name.empty()) << "a fault table row without a `name`: " << row[0];
    EXPECT_NE(find_fault(name), nullptr) << "docs/faults.md names fault '" << name << "' the registry lacks";
    rows[name].push_back(row[1]);
  }
  std::set<std::string> params;
  for (const FaultParam& p : fault_params()) params.insert(std::string(p.key));
  for (const FaultDef& d : fault_registry()) {
    SCOPED_TRACE(std::string(d.name));
    ASSERT_TRUE(rows.count(std::string(d.name))) << "docs/faults.md has no row for fault '" << d.name << "'";
    for (const std::string& cell : rows[std::string(d.name)]) {
      const auto words = ticked_words(cell);
      for (auto p : d.params) EXPECT_TRUE(words.count(std::string(p))) << "its parameter '" << p << "' is not documented";
      for (const auto& w : words)
        if (params.count(w)) { EXPECT_TRUE(d.takes(w)) << "documented parameter '" << w << "' it does not take"; }
      EXPECT_EQ(cell.find("`duration_s` (required)") != std::string::npos, d.duration == FaultDuration::Required)
          << cell;
    }
  }
}

TEST(FaultRegistry, RigFormatStepActionNamesEveryFault) {
  const std::string doc = read_doc("rig-format.md");
  for (const auto& row : table_rows(doc, "| key | type | meaning |")) {
    if (ticked(row[0]) != "fault") continue;
    const auto words = ticked_words(row[2]);
    for (const FaultDef& d : fault_registry())
      EXPECT_TRUE(words.count(std::string(d.name))) << "the fault action's row lacks '" << d.name << "'";
    for (const FaultParam& p : fault_params())
      EXPECT_TRUE(words.count(std::string(p.key))) << "the fault action's row lacks parameter '" << p.key << "'";
    return;
  }
  FAIL() << "docs/rig-format.md has no `fault` action row";
}

// The nemesis soak (tools/gen_soak_rig.py keeps its own list of kinds, in Python) injects every registered fault but
// the [mesh]-only ones (the soak runs one trust node) and the [hosts]-only ones (it runs on one host): a fault added to
// the registry but not to the generator fails here.
TEST(FaultRegistry, SoakRigInjectsEveryFault) {
  const RigSpec soak = load_rig(std::string(IOTW_RIGS_DIR) + "/soak.toml");
  std::set<std::string> injected, registered;
  for (const Step& s : soak.steps)
    if (s.action == Step::Action::Fault) injected.insert(s.fault.kind);
  for (const FaultDef& d : fault_registry())
    if (!d.mesh_only && !d.hosts_only) registered.insert(std::string(d.name));
  EXPECT_EQ(injected, registered) << "regenerate rigs/soak.toml with tools/gen_soak_rig.py after adding the kind there";
}

TEST(ScoreRegistry, EntriesAreConsistent) {
  std::set<std::string> names;
  for (const ScoreDef& d : score_registry()) {
    EXPECT_TRUE(names.insert(std::string(d.name)).second) << d.name;
    EXPECT_EQ(find_score(d.name), &d);
    if (d.equals_key) { EXPECT_EQ(d.kind, Criterion::Kind::Bool) << d.name; }
    if (d.kind == Criterion::Kind::Bool) { EXPECT_FALSE(d.min_key || d.max_key) << d.name; }
  }
  std::set<std::string> keys;
  for (const PassKeyDef& k : pass_keys()) {
    EXPECT_TRUE(keys.insert(k.key).second) << k.key;
    EXPECT_EQ(find_pass_key(k.key), &k);
  }
  EXPECT_EQ(find_pass_key("coherence_rate_min")->op, Criterion::Op::AtLeast);
  EXPECT_EQ(find_pass_key("coherence_rate_max")->op, Criterion::Op::AtMost);
  EXPECT_EQ(find_pass_key("ledger_valid")->op, Criterion::Op::Equals);
  EXPECT_EQ(find_pass_key("rounds_min"), nullptr);  // rounds is judged by `expect` only
}

TEST(ScoreRegistry, ValuesReadTheScores) {
  Scores s;
  s.blocks_finalized = 7;
  s.coherence_rate = 0.5;
  s.ledger_valid = true;
  s.blacklisted = {"a", "b"};
  s.recoveries_failed = 3;
  s.usage.rewards_by_device = {{"dps-01", 10}};
  EXPECT_EQ(score_value(s, "blocks_finalized"), 7.0);
  EXPECT_EQ(score_value(s, "coherence_rate"), 0.5);
  EXPECT_EQ(score_value(s, "ledger_valid"), 1.0);
  EXPECT_EQ(score_value(s, "blacklisted"), 2.0);
  EXPECT_EQ(score_value(s, "recoveries_failed"), 3.0);
  EXPECT_EQ(score_value(s, "usage_rewarded_devices"), 1.0);
  EXPECT_EQ(score_value(s, "no_such_score"), std::nullopt);
  EXPECT_TRUE(holds(Criterion::Op::AtMost, 3, 3));
  EXPECT_FALSE(holds(Criterion::Op::Equals, 0.9996, 1));
}

TEST(ScoreRegistry, DocsPassTableListsExactlyThePassKeys) {
  const std::string doc = read_doc("rig-format.md");
  std::vector<std::string> documented;
  for (const auto& row : table_rows(doc, "| key | type | allowed | criterion |")) {
    ASSERT_GE(row.size(), 4u);
    const std::string key = ticked(row[0]);
    ASSERT_FALSE(key.empty()) << row[0];
    documented.push_back(key);
    const PassKeyDef* k = find_pass_key(key);
    if (!k) {
      ADD_FAILURE() << "docs/rig-format.md [pass] names key '" << key << "' the registry lacks";
      continue;
    }
    const char* type = k->score->kind == Criterion::Kind::Bool    ? "boolean"
                       : k->score->kind == Criterion::Kind::Count ? "integer"
                                                                  : "number";
    EXPECT_EQ(row[1], std::string(" ") + type + " ") << key;
    EXPECT_NE(row[3].find("`" + std::string(k->score->name) + " " + std::string(op_symbol(k->op)) + " value`"),
              std::string::npos) << key << ": " << row[3];
  }
  std::vector<std::string> registered;
  for (const PassKeyDef& k : pass_keys()) registered.push_back(k.key);
  EXPECT_EQ(documented, registered) << "docs/rig-format.md [pass] rows must be the registry's keys, in its order";
}

TEST(ScoreRegistry, DocsScoresAndExpectListEveryScore) {
  const std::string doc = read_doc("rig-format.md");
  std::set<std::string> documented;
  for (const auto& row : table_rows(doc, "| score | type | definition |")) documented.insert(ticked(row[0]));
  for (const ScoreDef& d : score_registry())
    EXPECT_TRUE(documented.count(std::string(d.name))) << "docs/rig-format.md \"Scores\" lacks '" << d.name << "'";
  for (const auto& row : table_rows(doc, "| key | type | meaning |")) {
    if (ticked(row[0]) != "expect") continue;
    std::set<std::string> registered;
    for (const ScoreDef& d : score_registry()) registered.insert(std::string(d.name));
    EXPECT_EQ(ticked_words(row[2]), registered) << "the expect row must name exactly the registry's scores";
    return;
  }
  FAIL() << "docs/rig-format.md has no `expect` action row";
}

TEST(ScoreRegistry, ExpectAcceptsEveryRegisteredScore) {
  const std::string head =
      "[rig]\nname = \"x\"\n[[devices]]\nmodel = \"esp32\"\ncount = 5\n[pass]\nledger_valid = true\n";
  for (const ScoreDef& d : score_registry()) {
    const RigSpec rig = parse_rig(head + "[[steps]]\nexpect = \"" + std::string(d.name) + " >= 0\"\n", "x.toml");
    EXPECT_EQ(rig.steps.at(0).condition.name, d.name);
  }
}

}  // namespace
}  // namespace iotw::harness
