// rigs/collusion.toml through the real binaries: a colluding group in Monte Carlo mode; report.json's
// `collusion` section checked against the rig, against events.jsonl, and against the model.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <set>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

bool colluder(const std::string& name) { return name.rfind("coll-", 0) == 0; }

TEST(RigCollusion, GroupLosesEveryCapturedRoundAndTheCaptureRateFollowsTheModel) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult r = run_iotw({"rig", "run", std::string(IOTW_RIGS_DIR) + "/collusion.toml", "--out", run.string()}, dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json report = json::parse(slurp(run / "report.json"));
  ASSERT_TRUE(report.contains("collusion")) << report.dump();
  const json& c = report["collusion"];

  // The rig: 48 devices, 16 colluders, n = 2; the model in its finite-pool exact form.
  EXPECT_EQ(c["pool"], 48);
  EXPECT_EQ(c["group_size"], 16);
  EXPECT_EQ(c["witnesses"], 2);
  EXPECT_EQ(c["model"]["form"], "hypergeometric");
  EXPECT_NEAR(c["model"]["value"].get<double>(), 16.0 * 15.0 / (48.0 * 47.0), 1e-12);
  EXPECT_NEAR(c["model"]["binomial"].get<double>(), 1.0 / 9.0, 1e-12);

  // Monte Carlo: many rounds, many of them captured; the trust node's own check catches every one.
  const auto rounds = c["rounds"].get<std::uint64_t>();
  const auto captured = c["captured_rounds"].get<std::uint64_t>();
  EXPECT_GE(rounds, 800u);
  EXPECT_GT(captured, 0u);
  EXPECT_EQ(c["won"], 0);
  EXPECT_EQ(c["lost"].get<std::uint64_t>(), captured);
  EXPECT_TRUE(c["rounds_won"].empty());
  EXPECT_EQ(c["rounds_lost"].size(), captured);
  EXPECT_EQ(c["undetected_collusion_rate"], 0.0);
  EXPECT_EQ(report["undetected_collusion_rate"], 0.0);
  EXPECT_EQ(c["undetected_collusion_ci"]["low"], 0.0);
  const double z2 = 1.959963984540054 * 1.959963984540054;
  EXPECT_NEAR(c["undetected_collusion_ci"]["high"].get<double>(), z2 / (static_cast<double>(rounds) + z2), 1e-9);
  EXPECT_EQ(c["model_in_undetected_ci"], false);
  EXPECT_EQ(c["comparison"], "below the model");
  for (const json& round : c["captured"]) {
    for (const json& w : round["witnesses"]) EXPECT_TRUE(colluder(w.get<std::string>())) << round;
    EXPECT_EQ(round["verdict"], "invalid");  // the group's one false verdict
    EXPECT_EQ(round["false_verdict"], true);
    EXPECT_EQ(round["detected"], true);
    EXPECT_EQ(round["outcome"], "lost");
  }

  // The capture count against the per-round model (a Poisson-binomial sum: variance <= mean). Five
  // standard deviations: a false alarm about once in a million runs.
  const double expected = c["model"]["expected_captured_rounds"].get<double>();
  EXPECT_GT(expected, 10.0);
  EXPECT_LE(std::fabs(static_cast<double>(captured) - expected), 5.0 * std::sqrt(expected) + 3.0)
      << "captured " << captured << ", model expects " << expected;

  // Black box: events.jsonl shows the same rounds, and every lost round's witnesses were blacklisted for it.
  std::uint64_t all_colluder_rounds = 0, rounds_seen = 0;
  std::map<std::uint64_t, std::set<std::string>> blacklisted_for;
  std::set<std::uint64_t> lost_ids;
  for (const json& id : c["rounds_lost"]) lost_ids.insert(id.get<std::uint64_t>());
  std::map<std::uint64_t, std::vector<std::string>> witnesses_of;
  for (const std::string& line : lines_of(run / "events.jsonl")) {
    const json e = json::parse(line, nullptr, false);
    if (!e.is_object() || !e.contains("kind")) continue;
    if (e["kind"] == "round_closed") {
      ++rounds_seen;
      const auto& v = e["fields"]["verdicts"];
      bool all = !v.empty();
      for (const json& w : v) all = all && colluder(w["name"].get<std::string>());
      if (!all) continue;
      ++all_colluder_rounds;
      const auto id = e["fields"]["round_id"].get<std::uint64_t>();
      EXPECT_TRUE(lost_ids.count(id)) << "round " << id << " captured but not reported lost";
      for (const json& w : v) witnesses_of[id].push_back(w["name"]);
    } else if (e["kind"] == "blacklisted") {
      blacklisted_for[e["fields"]["round_id"].get<std::uint64_t>()].insert(e["fields"]["name"].get<std::string>());
    }
  }
  EXPECT_EQ(rounds_seen, rounds);
  EXPECT_EQ(all_colluder_rounds, captured);
  for (const auto& [id, names] : witnesses_of)
    for (const auto& n : names) EXPECT_TRUE(blacklisted_for[id].count(n)) << n << " not blacklisted for round " << id;
  // Monte Carlo mode lifted the entries again (the operator API), so the pool stayed up.
  EXPECT_GT(report["event_counts"].value("blacklist_lifted", 0), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iotw::test
