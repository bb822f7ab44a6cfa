// issue 6's Byzantine witnesses through the real binaries: rigs/byzantine_mix.toml (verdict_other_hash,
// replay_attestation, wrong_key among honest devices) and rigs/collusion_all_slots.toml (a colluding group that
// lies only when it holds every witness slot), and rigs/usage_inflation.toml (a meter that reports twice what it
// measured: the scorer shows the rewards paid for energy never measured).
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

TEST(RigByzantineMix, OnlyAttributableFaultsBlacklistAndNoHonestDevice) {
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
  // Only the verdict over another hash is the device's own provable fault.
  std::set<std::string> blacklisted(report["blacklisted"].begin(), report["blacklisted"].end());
  EXPECT_EQ(blacklisted, (std::set<std::string>{"bad-hash-01"}));
  EXPECT_EQ(report["blacklist_reasons"]["bad-hash-01"], "attestation_wrong_hash");
  EXPECT_TRUE(report["time_to_blacklist_ms"]["bad-hash-01"].is_number());
  // The trust node's side: one faulty rejection for bad-hash-01; the replays and the other-key signatures are
  // counted and dropped (attestations_dropped names the device and the reason), never answered or blacklisted.
  int faulty = 0;
  std::map<std::string, std::string> dropped;  // name -> reason
  bool replayed_logged = false;
  for (const json& e : events_of(run)) {
    if (!e.is_object()) continue;
    if (e["kind"] == "attestation_rejected" && e["fields"].value("faulty", false)) {
      EXPECT_EQ(e["fields"]["witness_name"], "bad-hash-01") << e;
      EXPECT_EQ(e["fields"]["reason"], "wrong_hash") << e;
      ++faulty;
    }
    if (e["kind"] == "attestations_dropped")
      for (const json& d : e["fields"]["by_device"]) dropped[d["name"]] = d["reason"];
    if (e["kind"] == "log" && e["source"] == "emu:bad-replay-01" && e["fields"]["event"] == "attestation_replayed")
      replayed_logged = true;
  }
  EXPECT_EQ(faulty, 1);
  EXPECT_EQ(dropped, (std::map<std::string, std::string>{{"bad-key-01", "bad_signature"}, {"bad-replay-01", "replay"}}));
  EXPECT_TRUE(replayed_logged);
  std::filesystem::remove_all(dir);
}

TEST(RigUsageInflation, InflatedUsageShowsItsUnearnedRewards) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult r = run_iotw(
      {"rig", "run", std::string(IOTW_RIGS_DIR) + "/usage_inflation.toml", "--out", run.string(), "--seed", "7"}, dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json report = json::parse(slurp(run / "report.json"));
  const json& u = report["usage"];
  // The inflating meter was paid for energy its own DPS model never measured; the honest one was not.
  ASSERT_TRUE(u["unearned_by_device"].contains("dps-inflate-01")) << u;
  EXPECT_FALSE(u["unearned_by_device"].contains("dps-honest-01")) << u;
  EXPECT_GT(u["rewards_unearned"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(u["rewards_unearned"], u["unearned_by_device"]["dps-inflate-01"]);
  EXPECT_GT(u["energy_mwh_unmeasured"].get<std::uint64_t>(), 0u);
  // Twice the measured energy: the unmeasured half is what it reported beyond its meter, report by report.
  std::map<std::uint64_t, std::uint64_t> measured, reported;  // seq -> mWh, for dps-inflate-01
  for (const json& e : events_of(run)) {
    if (!e.is_object()) continue;
    if (e["kind"] == "usage_report" && e["source"] == "emu:dps-inflate-01")
      measured[e["fields"]["seq"]] = e["fields"]["energy_mwh"];
    if (e["kind"] == "usage_accepted" && e["fields"]["name"] == "dps-inflate-01")
      reported[e["fields"]["seq"]] = e["fields"]["energy_mwh"];
  }
  ASSERT_FALSE(reported.empty());
  for (const auto& [seq, mwh] : reported) {
    ASSERT_TRUE(measured.count(seq)) << seq;
    EXPECT_EQ(mwh, 2 * measured[seq]) << seq;
  }
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
