#include "iotw/harness/scorer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "iotw/harness/rig_loader.hpp"
#include "iotw/harness/score_registry.hpp"

using namespace iotw::harness;
using json = nlohmann::json;

namespace {

/// 4 honest devices h-01..h-04 and one byzantine b-01; criteria exercise every op.
RigSpec rig() {
  return parse_rig(R"([rig]
name = "s"
[[devices]]
name_prefix = "h"
count = 4
[[devices]]
name_prefix = "b"
behaviour = "invert_verdict"
[pass]
blocks_finalized_min = 3
coherence_rate_min = 0.9
false_blacklist_max = 2
byzantine_blacklisted = true
blacklisted_max = 3
liveness_blocks_per_min_min = 6
)",
                   "s.toml");
}

json ev(std::int64_t t, const std::string& kind, json fields = json::object()) {
  return {{"time_ms", t}, {"source", "trust-node"}, {"kind", kind}, {"fields", fields}};
}

json round(int id, bool coherent, std::vector<std::string> names) {
  json verdicts = json::array();
  for (const auto& n : names)
    verdicts.push_back({{"witness", "key-" + n}, {"name", n}, {"verdict", n[0] == 'b' ? "invalid" : "valid"}});
  return {{"round_id", id}, {"height", 1}, {"block_hash", "00"}, {"coherent", coherent}, {"expected", "valid"},
          {"verdicts", verdicts}};
}

json blacklist(const std::string& name) {
  return {{"device", "key-" + name}, {"name", name}, {"round_id", 2}, {"reason", "incoherent_round"}};
}

/// rig start at t=1000; round 1 coherent, round 2 incoherent (h-01, h-02, b-01 all blacklisted at 4000),
/// rounds 3 and 4 coherent; three blocks, the last finalized at 31000; two frame errors; one junk line.
std::vector<json> events() {
  return {
      {{"time_ms", 1000}, {"source", "harness"}, {"kind", "rig_started"}, {"fields", {{"rig", "s"}, {"seed", 1}}}},
      ev(2000, "round_closed", round(1, true, {"h-01", "h-02", "h-03"})),
      ev(2500, "block_finalized", {{"height", 1}}),
      ev(3000, "round_closed", round(2, false, {"h-01", "h-02", "b-01"})),
      ev(4000, "blacklisted", blacklist("h-01")),
      ev(4000, "blacklisted", blacklist("b-01")),
      ev(4001, "blacklisted", blacklist("h-02")),
      ev(4002, "blacklisted", blacklist("h-02")),  // repeated: counted once
      ev(5000, "round_closed", round(3, true, {"h-03", "h-04"})),
      ev(6000, "frame_error", {{"link", "serial:/dev/pts/3"}, {"error", "bad_crc"}}),
      ev(6001, "frame_error", {{"link", "serial:/dev/pts/3"}, {"error", "decode"}}),
      ev(6900, "frame_error", {{"link", "serial:/dev/pts/3"}, {"error", "decode"}, {"count", 5}}),  // aggregated
      "not an event",
      ev(20000, "round_closed", round(4, true, {"h-03", "h-04"})),
      ev(31000, "block_finalized", {{"height", 3}}),
  };
}

const std::vector<json> kLedger(4, json::object());  // genesis + 3 blocks

LedgerVerdict valid() {
  LedgerVerdict v;
  v.valid = true;
  return v;
}

}  // namespace

TEST(Scorer, ScoresASyntheticRun) {
  const Scores s = score_run(rig(), events(), kLedger, valid());
  EXPECT_EQ(s.blocks_finalized, 3u);
  EXPECT_EQ(s.rounds, 4u);
  EXPECT_EQ(s.coherent_rounds, 3u);
  EXPECT_DOUBLE_EQ(s.coherence_rate, 0.75);
  EXPECT_EQ(s.blacklisted, (std::vector<std::string>{"h-01", "b-01", "h-02"}));
  EXPECT_EQ(s.byzantine_rounds_detected, 1u);
  EXPECT_TRUE(s.incoherent_rounds_blacklisted);
  EXPECT_EQ(s.false_blacklist, 2u);
  EXPECT_TRUE(s.byzantine_blacklisted);
  ASSERT_EQ(s.time_to_blacklist_ms.size(), 1u);
  EXPECT_EQ(s.time_to_blacklist_ms.at("b-01"), 3000);
  EXPECT_TRUE(s.ledger_valid);
  EXPECT_DOUBLE_EQ(s.liveness_blocks_per_min, 6.0);  // 3 blocks in 30 s
  EXPECT_EQ(s.frame_errors, 7u) << "an aggregated line counts its count (docs/events.md)";
  EXPECT_EQ(s.malformed_events, 1u);
  EXPECT_EQ(s.event_counts.at("round_closed"), 4u);
  EXPECT_EQ(s.event_counts.at("blacklisted"), 4u);
  EXPECT_EQ(s.event_counts.at("rig_started"), 1u);
}

TEST(Scorer, IncoherentRoundWithUnblacklistedWitness) {
  auto e = events();
  e.push_back(ev(32000, "round_closed", round(5, false, {"h-03", "h-04"})));
  e.push_back(ev(32001, "blacklisted", blacklist("h-03")));
  const Scores s = score_run(rig(), e, kLedger, valid());
  EXPECT_FALSE(s.incoherent_rounds_blacklisted);  // h-04 never blacklisted
  EXPECT_EQ(s.byzantine_rounds_detected, 1u);     // round 5 had no byzantine witness
  EXPECT_EQ(s.false_blacklist, 3u);
}

TEST(Scorer, WitnessBlacklistedByKeyOnlyCounts) {
  auto e = events();
  e.push_back(ev(32000, "round_closed", round(5, false, {"h-03"})));
  e.push_back(ev(32001, "blacklisted", {{"device", "key-h-03"}}));  // no name field
  EXPECT_TRUE(score_run(rig(), e, kLedger, valid()).incoherent_rounds_blacklisted);
}

TEST(Scorer, ByzantineNeverBlacklisted) {
  std::vector<json> e = {ev(1000, "rig_started"), ev(2000, "round_closed", round(1, true, {"h-01"}))};
  const Scores s = score_run(rig(), e, {json::object()}, LedgerVerdict{});
  EXPECT_FALSE(s.byzantine_blacklisted);
  EXPECT_FALSE(s.time_to_blacklist_ms.at("b-01").has_value());
  EXPECT_EQ(s.blocks_finalized, 0u);
  EXPECT_EQ(s.liveness_blocks_per_min, 0);  // no block_finalized
  EXPECT_FALSE(s.ledger_valid);
}

TEST(Scorer, NoRoundsMeansZeroCoherence) {
  const Scores s = score_run(rig(), {}, {}, LedgerVerdict{});
  EXPECT_EQ(s.rounds, 0u);
  EXPECT_EQ(s.coherence_rate, 0);
  EXPECT_TRUE(s.incoherent_rounds_blacklisted);
}

TEST(Scorer, EvaluatesEveryCriterion) {
  const Scores s = score_run(rig(), events(), kLedger, valid());
  const Evaluation ev = evaluate(rig(), s);
  ASSERT_EQ(ev.criteria.size(), 6u);
  auto at = [&](const std::string& n) {
    for (const auto& c : ev.criteria)
      if (c.name == n) return c;
    ADD_FAILURE() << n;
    return CriterionResult{};
  };
  EXPECT_TRUE(at("blocks_finalized_min").pass);
  EXPECT_FALSE(at("coherence_rate_min").pass);
  EXPECT_DOUBLE_EQ(at("coherence_rate_min").measured, 0.75);
  EXPECT_EQ(at("coherence_rate_min").threshold, 0.9);
  EXPECT_TRUE(at("false_blacklist_max").pass);  // 2 <= 2
  EXPECT_EQ(at("byzantine_blacklisted").measured, 1.0);
  EXPECT_TRUE(at("byzantine_blacklisted").pass);
  EXPECT_TRUE(at("blacklisted_max").pass);  // 3 <= 3
  EXPECT_TRUE(at("liveness_blocks_per_min_min").pass);  // 6 >= 6
  EXPECT_FALSE(ev.pass);

  Scores better = s;
  better.coherence_rate = 0.95;
  EXPECT_TRUE(evaluate(rig(), better).pass);
  better.blacklisted.push_back("h-04");
  EXPECT_FALSE(evaluate(rig(), better).pass);  // 4 > 3
}

TEST(Scorer, ScoreValueNamesEveryCriterionScore) {
  const Scores s;
  for (const char* n : {"blocks_finalized", "coherence_rate", "ledger_valid", "false_blacklist",
                        "byzantine_blacklisted", "incoherent_rounds_blacklisted", "byzantine_rounds_detected",
                        "blacklisted", "liveness_blocks_per_min"})
    EXPECT_TRUE(score_value(s, n).has_value()) << n;
  EXPECT_FALSE(score_value(s, "nope").has_value());
}

TEST(Scorer, ReadJsonLinesKeepsBadLines) {
  const auto file = std::filesystem::temp_directory_path() / "iotw_scorer_lines.jsonl";
  {
    std::ofstream out(file);
    out << "{\"a\":1}\n\n{broken\n[2]\n";
  }
  const auto lines = read_json_lines(file);
  std::filesystem::remove(file);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["a"], 1);
  EXPECT_TRUE(lines[1].is_discarded());
  EXPECT_TRUE(lines[2].is_array());
  EXPECT_THROW(read_json_lines("/nonexistent/x.jsonl"), std::runtime_error);
}

TEST(ScorerFaults, LivenessRatioAgainstTheFaultFreePrefix) {
  const RigSpec r = rig();
  // blocks every 1 s before the fault at t=4000, then every 2 s: ratio 0.5.
  std::vector<json> e = {ev(0, "rig_started")};
  for (int i = 1; i <= 4; ++i) e.push_back(ev(i * 1000 - 500, "block_finalized"));
  e.push_back({{"time_ms", 4000}, {"source", "harness"}, {"kind", "fault_started"},
               {"fields", {{"step", "x"}, {"fault", "corrupt"}, {"devices", {"h-01"}}}}});
  for (int i = 1; i <= 4; ++i) e.push_back(ev(4000 + i * 2000, "block_finalized"));
  const Scores s = score_run(r, e, std::vector<json>(9, json::object()), valid());
  EXPECT_DOUBLE_EQ(s.baseline_blocks_per_min, 60.0);  // 3 intervals of 1 s between the 4 prefix blocks
  EXPECT_DOUBLE_EQ(s.faulted_blocks_per_min, 30.0);   // 4 blocks in the 8 s after the fault started
  EXPECT_DOUBLE_EQ(s.liveness_ratio, 0.5);
  RigSpec given = r;
  given.baseline_blocks_per_min = 120;
  EXPECT_DOUBLE_EQ(score_run(given, e, std::vector<json>(9, json::object()), valid()).liveness_ratio, 0.25);
}

TEST(ScorerFaults, FaultedHonestBlacklistAckedTxLossAndStepChecks) {
  std::vector<json> e = events();
  e.push_back({{"time_ms", 39000}, {"source", "harness"}, {"kind", "fault_started"},
               {"fields", {{"step", "cut"}, {"fault", "partition"}, {"devices", {"h-02", "h-03"}}}}});
  e.push_back({{"time_ms", 40000}, {"source", "harness"}, {"kind", "tx_audit"},
               {"fields", {{"acked", 10}, {"in_ledger", 7}, {"pending", 1}, {"lost", 2}}}});
  e.push_back({{"time_ms", 40001}, {"source", "harness"}, {"kind", "recovery_checked"},
               {"fields", {{"check", "cut (line 9): partition recovered"}, {"pass", false}, {"detail", "h-02 (not attached)"}}}});
  const Scores s = score_run(rig(), e, kLedger, valid());
  EXPECT_EQ(s.false_blacklist, 2u);          // h-01, h-02
  EXPECT_EQ(s.false_blacklist_faulted, 1u);  // only h-02 was a fault target
  EXPECT_EQ(s.acked_tx_lost, 2u);
  EXPECT_EQ(s.recoveries_failed, 1u);
  ASSERT_EQ(s.step_checks.size(), 1u);
  EXPECT_EQ(s.step_checks[0].message, "h-02 (not attached)");
  EXPECT_FALSE(evaluate(rig(), s).pass) << "a failed recovery fails the run";
}

TEST(ScorerFaults, CollusionCapturedAndUndetectedRounds) {
  // Round 1: b-01 alone, its false verdict "invalid", incoherent: captured and lost (detected).
  // Round 2: b-01 with an honest witness: not captured (the honest one contradicts it).
  // Round 5: b-01 alone and the round closed coherent with its false verdict, nobody blacklisted: won.
  const std::vector<json> e = {ev(0, "rig_started"), ev(1, "round_closed", round(1, false, {"b-01"})),
                               ev(2, "round_closed", round(2, true, {"b-01", "h-01"})),
                               ev(3, "round_closed", round(3, true, {"h-01", "h-02"})),
                               ev(4, "round_closed", round(4, true, {"h-03", "h-02"})),
                               ev(5, "round_closed", round(5, true, {"b-01"}))};
  const Scores s = score_run(rig(), e, kLedger, valid());
  EXPECT_EQ(s.collusion_captured_rounds, 2u);
  EXPECT_EQ(s.collusion.captured, 2u);
  EXPECT_EQ(s.collusion.lost, 1u);
  EXPECT_EQ(s.collusion.won, 1u);
  EXPECT_DOUBLE_EQ(s.undetected_collusion_rate, 0.2);  // 1 won of 5 rounds
  EXPECT_EQ(score_value(s, "undetected_collusion_rate"), 0.2);
  EXPECT_LT(s.collusion.undetected_ci.low, 0.2);
  EXPECT_GT(s.collusion.undetected_ci.high, 0.2);
}

TEST(ScorerUsage, OnlyUsageTxsInTheLedgerAreRewarded) {
  auto usage = [](const std::string& name, const std::string& hash, std::uint64_t mwh) {
    return ev(10, "usage_accepted", {{"name", name}, {"device", "00"}, {"seq", 1}, {"energy_mwh", mwh},
                                     {"on_seconds", 1}, {"reward", 5}, {"hash", hash}});
  };
  const std::vector<json> events = {usage("h-01", "aa", 7), usage("h-01", "bb", 3), usage("h-02", "cc", 11),
                                    usage("h-03", "dd", 13),  // never finalized
                                    ev(11, "usage_accepted", json::object())};  // malformed: counted, not credited
  const std::vector<json> ledger = {
      {{"height", 0}, {"transactions", json::array()}},
      {{"height", 1}, {"transactions", {{{"hash", "aa"}}, {{"hash", "cc"}}}}},
      {{"height", 2}, {"transactions", {{{"hash", "bb"}}, {{"hash", "ee"}}}}}};
  const Scores s = score_run(rig(), events, ledger, LedgerVerdict{});
  EXPECT_EQ(s.usage.reports_accepted, 5u);
  EXPECT_EQ(s.usage.reports_finalized, 3u);
  EXPECT_EQ(s.usage.energy_mwh_total, 21u);
  EXPECT_EQ(s.usage.rewards_total, 15u);
  EXPECT_EQ(s.usage.rewarded_devices(), 2u);
  EXPECT_EQ(s.usage.rewards_by_device.at("h-01"), 10u);
  EXPECT_EQ(score_value(s, "usage_rewarded_devices"), 2.0);
  EXPECT_EQ(score_value(s, "usage_reports_finalized"), 3.0);
}

TEST(ScorerFaults, FaultyWitnessBlacklistingsAreDetectedByzantineRounds) {
  // The new Byzantine witnesses (docs/faults.md): blacklisted as faulty in a round that stays coherent.
  const RigSpec r = parse_rig(R"([rig]
name = "m"
[[devices]]
name_prefix = "h"
count = 4
[[devices]]
name_prefix = "oh"
behaviour = "verdict_other_hash"
[[devices]]
name_prefix = "rp"
behaviour = "replay_attestation"
[[devices]]
name_prefix = "wk"
behaviour = "wrong_key"
[pass]
byzantine_blacklisted = true
false_blacklist_max = 0
)",
                              "m.toml");
  auto faulty = [](const std::string& name, int round_id, const char* reason) {
    return json{{"device", "key-" + name}, {"name", name}, {"round_id", round_id}, {"reason", reason}};
  };
  const std::vector<json> e = {
      {{"time_ms", 1000}, {"source", "harness"}, {"kind", "rig_started"}, {"fields", json::object()}},
      ev(1500, "blacklisted", faulty("oh-01", 1, "attestation_wrong_hash")),
      ev(1600, "round_closed", round(1, true, {"h-01", "h-02", "h-03"})),
      ev(2000, "round_closed", round(2, true, {"rp-01", "h-02", "h-03"})),  // the replayer's first, honest answer
      ev(3000, "blacklisted", faulty("rp-01", 3, "attestation_replay")),
      ev(3500, "blacklisted", faulty("wk-01", 3, "attestation_bad_signature")),  // same round: counted once
      ev(3600, "round_closed", round(3, true, {"h-01", "h-02", "h-04"})),
      ev(4000, "blacklisted", faulty("h-04", 9, "incoherent_round")),  // an honest device: not a detection
  };
  const Scores s = score_run(r, e, kLedger, valid());
  EXPECT_EQ(s.byzantine_rounds_detected, 2u);
  EXPECT_TRUE(s.byzantine_blacklisted);
  EXPECT_EQ(s.false_blacklist, 1u);
  EXPECT_EQ(s.time_to_blacklist_ms.at("oh-01"), 500);
  EXPECT_EQ(s.time_to_blacklist_ms.at("rp-01"), 2000);
  EXPECT_EQ(s.time_to_blacklist_ms.at("wk-01"), 2500);
  EXPECT_EQ(s.blacklist_reason.at("rp-01"), "attestation_replay");
  EXPECT_EQ(s.blacklist_reason.at("wk-01"), "attestation_bad_signature");
  EXPECT_DOUBLE_EQ(s.coherence_rate, 1.0);
}

// failover_ms: from each trust_node_kill's fault_started to the next block_finalized; the largest counts, a kill
// with no block after it is +infinity (fails any failover_ms_max), other faults start no failover.
TEST(ScorerFaults, FailoverFromAKillToTheNextBlock) {
  std::vector<json> e = {ev(0, "rig_started"), ev(500, "block_finalized"),
                         ev(1000, "fault_started", {{"fault", "trust_node_kill"}, {"node", "tn-0"}}),
                         ev(1200, "fault_started", {{"fault", "etcd_kill"}, {"member", 2}}),
                         ev(3500, "block_finalized"), ev(3600, "block_finalized"),
                         ev(5000, "fault_started", {{"fault", "trust_node_kill"}, {"node", "tn-1"}}),
                         ev(5800, "block_finalized")};
  Scores s = score_run(rig(), e, {}, {});
  ASSERT_EQ(s.failovers_ms.size(), 2u);
  EXPECT_EQ(s.failovers_ms[0], 2500);
  EXPECT_EQ(s.failovers_ms[1], 800);
  EXPECT_EQ(s.failover_ms, 2500.0);
  EXPECT_EQ(score_value(s, "failover_ms"), 2500.0);
  e.push_back(ev(7000, "fault_started", {{"fault", "trust_node_kill"}, {"node", "tn-2"}}));  // no block after it
  s = score_run(rig(), e, {}, {});
  ASSERT_EQ(s.failovers_ms.size(), 3u);
  EXPECT_FALSE(s.failovers_ms[2]);
  EXPECT_TRUE(std::isinf(s.failover_ms));
  EXPECT_FALSE(holds(Criterion::Op::AtMost, s.failover_ms, 1e9));
  EXPECT_EQ(score_run(rig(), {ev(0, "rig_started"), ev(500, "block_finalized")}, {}, {}).failover_ms, 0.0);
}
