// issue 6's Byzantine witnesses through the real binaries: rigs/byzantine_mix.toml (verdict_other_hash,
// replay_attestation, wrong_key among honest devices) and rigs/collusion_all_slots.toml (a colluding group that
// lies only when it holds every witness slot).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <set>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

std::vector<json> events_of(const std::filesystem::path& run) {
  std::vector<json> out;
  for (const std::string& line : lines_of(run / "events.jsonl")) out.push_back(json::parse(line, nullptr, false));
  return out;
}

TEST(RigByzantineMix, EveryFaultyWitnessIsBlacklistedAndNoHonestDevice) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult r =
      run_iotw({"rig", "run", std::string(IOTW_RIGS_DIR) + "/byzantine_mix.toml", "--out", run.string(), "--seed", "7"}, dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_EQ(report["pass"], true);
  EXPECT_EQ(report["ledger_valid"], true);
  EXPECT_EQ(report["false_blacklist"], 0);
  EXPECT_EQ(report["coherence_rate"], 1.0);
  EXPECT_GE(report["byzantine_rounds_detected"].get<int>(), 1);
  const std::map<std::string, std::string> expected = {{"bad-hash-01", "attestation_wrong_hash"},
                                                       {"bad-replay-01", "attestation_replay"},
                                                       {"bad-key-01", "attestation_bad_signature"}};
  std::set<std::string> blacklisted(report["blacklisted"].begin(), report["blacklisted"].end());
  EXPECT_EQ(blacklisted, (std::set<std::string>{"bad-hash-01", "bad-replay-01", "bad-key-01"}));
  for (const auto& [name, reason] : expected) {
    EXPECT_EQ(report["blacklist_reasons"][name], reason) << name;
    EXPECT_TRUE(report["time_to_blacklist_ms"][name].is_number()) << name;
  }
  // The trust node's side: one faulty rejection per device with the right reason, in the events.
  const std::map<std::string, std::string> rejected = {
      {"bad-hash-01", "wrong_hash"}, {"bad-replay-01", "replay"}, {"bad-key-01", "bad_signature"}};
  std::map<std::string, int> seen;
  bool replayed_logged = false, other_key_logged = false;
  for (const json& e : events_of(run)) {
    if (!e.is_object()) continue;
    if (e["kind"] == "attestation_rejected" && e["fields"].value("faulty", false)) {
      const std::string name = e["fields"]["witness_name"];
      ASSERT_TRUE(rejected.count(name)) << e;
      EXPECT_EQ(e["fields"]["reason"], rejected.at(name)) << e;
      ++seen[name];
    }
    if (e["kind"] == "log" && e["source"] == "emu:bad-replay-01" && e["fields"]["event"] == "attestation_replayed")
      replayed_logged = true;
    if (e["kind"] == "witness_replaced" && e["fields"]["reason"] == "faulty") other_key_logged = true;
  }
  for (const auto& [name, reason] : rejected) EXPECT_EQ(seen[name], 1) << name;
  EXPECT_TRUE(replayed_logged);
  EXPECT_TRUE(other_key_logged);
  std::filesystem::remove_all(dir);
}

TEST(RigCollusionAllSlots, GroupLiesOnlyInCapturedRoundsWhichTrackTheModel) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult r =
      run_iotw({"rig", "run", std::string(IOTW_RIGS_DIR) + "/collusion_all_slots.toml", "--out", run.string()}, dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json report = json::parse(slurp(run / "report.json"));
  const json& c = report["collusion"];
  EXPECT_EQ(c["group_size"], 16);
  // Never caught by an honest witness: every attack is a captured round, and every one is lost to the node's check.
  EXPECT_EQ(c["caught_by_witness"], 0);
  EXPECT_EQ(c["attacked_rounds"], c["captured_rounds"]);
  EXPECT_EQ(c["won"], 0);
  EXPECT_GT(c["lost"].get<int>(), 0);
  // The witness-only undetected rate follows the k = n model applied round by round (5 standard deviations).
  const double rounds = c["rounds"].get<double>();
  const double expected = c["model"]["expected_captured_rounds"].get<double>();
  const double lied = c["witness_undetected_rate"].get<double>() * rounds;
  EXPECT_NEAR(lied, expected, 5 * std::sqrt(expected) + 3) << c["summary"];
  EXPECT_LE(c["witness_undetected_ci"]["low"].get<double>(), c["model"]["hypergeometric"].get<double>() * 1.5);
  // report.html carries the figures.
  const std::string html = slurp(run / "report.html");
  EXPECT_NE(html.find("<h2 id=\"collusion\">Collusion</h2>"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iotw::test
