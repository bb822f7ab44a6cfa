// The collusion model: binomial p^n, hypergeometric C(m,n)/C(N,n), Wilson score interval, against values
// worked by hand (and, for Wilson, Newcombe 1998, Table I: 1/10 -> 0.0179..0.4042, 0/10 -> 0..0.2775).
#include "iotw/harness/collusion_model.hpp"

#include <gtest/gtest.h>

namespace h = iotw::harness;

TEST(CollusionModel, BinomialIsPToTheN) {
  EXPECT_DOUBLE_EQ(h::collusion_binomial(0.5, 3), 0.125);
  EXPECT_DOUBLE_EQ(h::collusion_binomial(0.1, 2), 0.01);
  EXPECT_DOUBLE_EQ(h::collusion_binomial(0.25, 2), 0.0625);
  EXPECT_DOUBLE_EQ(h::collusion_binomial(1.0 / 3.0, 1), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(h::collusion_binomial(0.3, 0), 1.0);  // no witness: nothing to compromise
  EXPECT_DOUBLE_EQ(h::collusion_binomial(0.0, 3), 0.0);
  EXPECT_DOUBLE_EQ(h::collusion_binomial(1.0, 3), 1.0);
  EXPECT_DOUBLE_EQ(h::collusion_binomial(1.5, 2), 1.0);  // clamped to a probability
}

TEST(CollusionModel, HypergeometricIsTheExactFinitePoolForm) {
  // 10 devices, 4 compromised, 2 witnesses: (4/10)(3/9) = 12/90.
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(10, 4, 2), 12.0 / 90.0);
  // 4 devices, 2 compromised, 2 witnesses: one pair of the C(4,2) = 6.
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(4, 2, 2), 1.0 / 6.0);
  // 48 devices, 16 compromised, 2 witnesses: C(16,2)/C(48,2) = 120/1128.
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(48, 16, 2), 120.0 / 1128.0);
  // 20 devices, 5 compromised, 3 witnesses: C(5,3)/C(20,3) = 10/1140.
  EXPECT_NEAR(h::collusion_hypergeometric(20, 5, 3), 10.0 / 1140.0, 1e-15);
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(5, 5, 3), 1.0);
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(10, 2, 3), 0.0);  // fewer colluders than witnesses
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(10, 0, 1), 0.0);
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(10, 3, 0), 1.0);
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(2, 3, 1), 0.0);  // impossible pool
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(2, 2, 3), 0.0);
  // n = 1 is the fraction itself.
  EXPECT_DOUBLE_EQ(h::collusion_hypergeometric(7, 3, 1), 3.0 / 7.0);
}

TEST(CollusionModel, HypergeometricTendsToBinomialForLargePools) {
  // Same fraction p = 1/4, n = 3: the finite pool is below p^n and approaches it.
  const double p3 = h::collusion_binomial(0.25, 3);
  const double small = h::collusion_hypergeometric(8, 2 * 1, 3);  // 2 of 8 < 3 witnesses: 0
  EXPECT_DOUBLE_EQ(small, 0.0);
  const double mid = h::collusion_hypergeometric(40, 10, 3);
  const double big = h::collusion_hypergeometric(400000, 100000, 3);
  EXPECT_LT(mid, big);
  EXPECT_LT(big, p3);
  EXPECT_NEAR(big, p3, 1e-5);
  EXPECT_DOUBLE_EQ(mid, (10.0 * 9 * 8) / (40.0 * 39 * 38));
}

TEST(CollusionModel, WilsonIntervalKnownValues) {
  auto i = h::wilson_interval(1, 10);
  EXPECT_NEAR(i.low, 0.0179, 5e-5);
  EXPECT_NEAR(i.high, 0.4042, 5e-5);
  i = h::wilson_interval(0, 10);
  EXPECT_DOUBLE_EQ(i.low, 0.0);
  const double z2 = 1.959963984540054 * 1.959963984540054;
  EXPECT_NEAR(i.high, z2 / (10 + z2), 1e-12);  // 0 successes: upper end is z^2 / (n + z^2)
  i = h::wilson_interval(5, 10);
  EXPECT_NEAR(i.low, 0.236593, 1e-6);
  EXPECT_NEAR(i.high, 0.763407, 1e-6);
  i = h::wilson_interval(10, 10);
  EXPECT_DOUBLE_EQ(i.high, 1.0);
  EXPECT_NEAR(i.low, 1.0 - z2 / (10 + z2), 1e-12);
  i = h::wilson_interval(0, 500);
  EXPECT_DOUBLE_EQ(i.low, 0.0);
  EXPECT_NEAR(i.high, 0.0076243, 1e-7);
}

TEST(CollusionModel, WilsonIntervalEdges) {
  auto i = h::wilson_interval(0, 0);  // no trials: nothing known
  EXPECT_DOUBLE_EQ(i.low, 0.0);
  EXPECT_DOUBLE_EQ(i.high, 1.0);
  i = h::wilson_interval(3, 1000);
  EXPECT_LT(i.low, 0.003);
  EXPECT_GT(i.high, 0.003);
  // A wider z gives a wider interval.
  const auto narrow = h::wilson_interval(30, 100, 1.0);
  const auto wide = h::wilson_interval(30, 100, 2.576);
  EXPECT_LT(wide.low, narrow.low);
  EXPECT_GT(wide.high, narrow.high);
}

// ---- score_collusion: the group's won/lost rounds and the per-round model, from events only ----------

#include "iotw/harness/rig_loader.hpp"

namespace {

using json = nlohmann::json;

json ev(std::int64_t t, const std::string& kind, json fields) {
  return {{"time_ms", t}, {"source", "trust-node"}, {"kind", kind}, {"fields", std::move(fields)}};
}

json closed(std::uint64_t id, std::uint64_t height, bool coherent, const std::vector<std::string>& names) {
  json verdicts = json::array();
  for (const auto& n : names)
    verdicts.push_back({{"witness", "key-" + n}, {"name", n}, {"verdict", n[0] == 'c' ? "invalid" : "valid"}});
  return ev(static_cast<std::int64_t>(id) * 10, "round_closed",
            {{"round_id", id}, {"height", height}, {"coherent", coherent}, {"expected", "valid"}, {"verdicts", verdicts}});
}

/// 3 honest h-01..03 and 3 colluders c-01..03, n = 2.
h::RigSpec six() {
  return h::parse_rig(R"([rig]
name = "c"
[trust_node]
witnesses = 2
[[devices]]
name_prefix = "h"
count = 3
[[devices]]
name_prefix = "c"
behaviour = "collude"
count = 3
[pass]
ledger_valid = true
)",
                      "c.toml");
}

}  // namespace

TEST(CollusionScore, WonLostRoundsAndThePerRoundModel) {
  std::vector<json> e;
  for (const char* n : {"h-01", "h-02", "h-03", "c-01", "c-02", "c-03"})
    e.push_back(ev(0, "device_registered", {{"device", std::string("key-") + n}, {"name", n}}));
  // Height 1, miner h-01: pool {h-02, h-03, c-01, c-02, c-03} -> C(3,2)/C(5,2) = 3/10.
  e.push_back(ev(1, "assignment_sent", {{"height", 1}, {"miner_name", "h-01"}}));
  e.push_back(closed(1, 1, false, {"c-01", "c-02"}));  // captured, detected
  e.push_back(ev(11, "blacklisted", {{"name", "c-01"}, {"round_id", 1}}));
  e.push_back(ev(11, "blacklisted", {{"name", "c-02"}, {"round_id", 1}}));
  // Re-witnessed: pool {h-02, h-03, c-03} -> one colluder, 0.
  e.push_back(closed(2, 1, true, {"h-02", "h-03"}));
  // Height 2, miner c-03: pool {h-01, h-02, h-03} -> 0.
  e.push_back(ev(21, "assignment_sent", {{"height", 2}, {"miner_name", "c-03"}}));
  e.push_back(closed(3, 2, true, {"h-01", "h-02"}));
  // An operator lifts c-01; a captured round closes coherent with its false verdict and nobody is
  // blacklisted: won (what a node without its own check would do). Pool {h-01..03, c-01, c-03}: 1/10.
  e.push_back(ev(31, "blacklist_lifted", {{"name", "c-01"}}));
  e.push_back(closed(4, 3, true, {"c-01", "c-03"}));
  // Round 5: the witnesses are drawn (witness_requested) while c-02 is still blacklisted; it is lifted
  // before the round closes. The model uses the pool at the draw: {h-01..03, c-01, c-03}: 1/10, not 3/15.
  e.push_back(ev(41, "witness_requested", {{"round_id", 5}, {"height", 4}, {"witness_name", "h-01"}}));
  e.push_back(ev(42, "blacklist_lifted", {{"name", "c-02"}}));
  e.push_back(ev(43, "witness_requested", {{"round_id", 5}, {"height", 4}, {"witness_name", "h-02"}}));
  e.push_back(closed(5, 4, true, {"h-01", "h-02"}));

  const h::CollusionScores c = h::score_collusion(six(), e);
  EXPECT_EQ(c.group, (std::vector<std::string>{"c-01", "c-02", "c-03"}));
  EXPECT_EQ(c.pool, 6u);
  EXPECT_EQ(c.witnesses, 2u);
  EXPECT_DOUBLE_EQ(c.p, 0.5);
  EXPECT_DOUBLE_EQ(c.model_hypergeometric, 3.0 / 15.0);  // C(3,2)/C(6,2)
  EXPECT_DOUBLE_EQ(c.model_binomial, 0.25);
  EXPECT_EQ(c.rounds, 5u);
  EXPECT_EQ(c.rounds_with_colluder, 2u);
  EXPECT_EQ(c.captured, 2u);
  EXPECT_EQ(c.lost, 1u);
  EXPECT_EQ(c.won, 1u);
  ASSERT_EQ(c.captured_rounds.size(), 2u);
  EXPECT_EQ(c.captured_rounds[0].outcome, "lost");
  EXPECT_EQ(c.captured_rounds[0].verdict, "invalid");
  EXPECT_TRUE(c.captured_rounds[0].false_verdict);
  EXPECT_EQ(c.captured_rounds[1].outcome, "won");
  EXPECT_DOUBLE_EQ(c.undetected_rate, 0.2);
  EXPECT_DOUBLE_EQ(c.captured_rate, 0.4);
  EXPECT_DOUBLE_EQ(c.model_expected_captured, 0.3 + 0.1 + 0.1);
  EXPECT_DOUBLE_EQ(c.model_per_round_mean, 0.1);

  const json j = h::collusion_json(c);
  EXPECT_EQ(j["rounds_won"], json::array({4}));
  EXPECT_EQ(j["rounds_lost"], json::array({1}));
  EXPECT_EQ(j["model"]["form"], "hypergeometric");
  EXPECT_EQ(j["comparison"], "consistent with the model");  // 1 of 5 won: the CI holds 0.2
  EXPECT_NE(j["summary"].get<std::string>().find("won 1, lost 1"), std::string::npos) << j["summary"];
  EXPECT_DOUBLE_EQ(j["model"]["value"].get<double>(), 0.2);
  EXPECT_EQ(j["undetected_collusion_ci"]["level"], 0.95);
  EXPECT_EQ(j["captured"].size(), 2u);
  EXPECT_EQ(j["captured"][0]["witnesses"], json::array({"c-01", "c-02"}));
  // Both attacks were in captured rounds: no honest co-witness could contradict them; what the group would
  // have won without the node's own check is the false captured rounds, 2 of 5.
  EXPECT_EQ(c.attacked, 2u);
  EXPECT_EQ(c.caught_by_witness, 0u);
  EXPECT_DOUBLE_EQ(c.witness_undetected_rate, 0.4);
  EXPECT_EQ(j["attacked_rounds"], 2);
  EXPECT_EQ(j["caught_by_witness"], 0);
  EXPECT_TRUE(j["model_in_witness_undetected_ci"].get<bool>());
}

TEST(CollusionScore, AlwaysLyingGroupIsCaughtByHonestWitnessesAllSlotsGroupIsNot) {
  // "collude" lies in a mixed round too (an honest witness contradicts it); "collude_all_slots" only lies
  // when it holds every slot, so its attacks are exactly its captured rounds.
  std::vector<json> e;
  e.push_back(closed(1, 1, false, {"h-01", "c-01"}));  // c-01 says invalid, h-01 valid: caught by a witness
  e.push_back(closed(2, 1, false, {"c-02", "c-03"}));  // captured, false: caught only by the node
  e.push_back(closed(3, 2, true, {"h-01", "h-02"}));
  const h::CollusionScores c = h::score_collusion(six(), e);
  EXPECT_EQ(c.attacked, 2u);
  EXPECT_EQ(c.caught_by_witness, 1u);
  EXPECT_EQ(c.captured, 1u);
  EXPECT_DOUBLE_EQ(c.witness_undetected_rate, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(c.undetected_rate, 0.0);
  // An all-slots member in a mixed round answers valid (the truth): not an attack.
  std::vector<json> e2;
  e2.push_back(ev(10, "round_closed", {{"round_id", 1}, {"height", 1}, {"coherent", true}, {"expected", "valid"},
                                       {"verdicts", {{{"witness", "k1"}, {"name", "h-01"}, {"verdict", "valid"}},
                                                     {{"witness", "k2"}, {"name", "c-01"}, {"verdict", "valid"}}}}}));
  const h::CollusionScores c2 = h::score_collusion(six(), e2);
  EXPECT_EQ(c2.rounds_with_colluder, 1u);
  EXPECT_EQ(c2.attacked, 0u);
  EXPECT_EQ(c2.caught_by_witness, 0u);
}

TEST(CollusionScore, HonestRigHasNoGroupAndNoModel) {
  const h::RigSpec r = h::parse_rig("[rig]\nname = \"x\"\n[[devices]]\ncount = 5\n[pass]\nledger_valid = true\n", "x.toml");
  const h::CollusionScores c = h::score_collusion(r, {closed(1, 1, true, {"esp-01", "esp-02", "esp-03"}), json("junk")});
  EXPECT_TRUE(c.group.empty());
  EXPECT_EQ(c.rounds, 1u);
  EXPECT_EQ(c.captured, 0u);
  EXPECT_DOUBLE_EQ(c.undetected_rate, 0.0);
  EXPECT_DOUBLE_EQ(c.model_hypergeometric, 0.0);
  EXPECT_DOUBLE_EQ(c.undetected_ci.low, 0.0);
  EXPECT_GT(c.undetected_ci.high, 0.0);
}
