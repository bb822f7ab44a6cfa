// VRF miner selection (docs/vrf.md "Miner selection", docs/protocol.md §7): the node publishes the round seed,
// devices claim with an RFC 9381 proof under their identity key, the lowest beta among valid claims mines.
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

ConsensusConfig vrf_config(VrfSuite suite = VrfSuite::tai) {
  ConsensusConfig c;
  c.selection = Selection::vrf;
  c.vrf_suite = suite;
  c.claim_window_ms = 200;
  return c;
}

/** beta of d's honest proof for the block at height on top of prev (computed here, independently of the core). */
std::array<uint8_t, 64> beta_of(const SimDevice &d, uint64_t height, const Hash &prev, iotw_ecvrf_suite suite) {
  uint8_t alpha[IOTW_VRF_ALPHA_SIZE], pi[IOTW_ECVRF_PROOF_BYTES];
  const size_t n = iotw_vrf_alpha(height, prev.data(), alpha);
  EXPECT_EQ(iotw_ecvrf_prove(suite, pi, d.seed.data(), alpha, n), IOTW_ECVRF_OK);
  std::array<uint8_t, 64> beta{};
  EXPECT_EQ(iotw_ecvrf_verify(suite, beta.data(), d.pk.data(), pi, alpha, n), IOTW_ECVRF_OK);
  return beta;
}

/** The honest devices' lowest-beta claimant (ties: lowest key) for the next block. */
const SimDevice *expected_winner(Rig &rig, iotw_ecvrf_suite suite) {
  const Block &tip = rig.mem.chain.back();
  const SimDevice *best = nullptr;
  std::array<uint8_t, 64> best_beta{};
  for (auto &[link, d] : rig.devices) {
    if (d.behaviour != Behaviour::honest && d.behaviour != Behaviour::wrong_hash) continue;
    const auto b = beta_of(d, tip.height + 1, tip.hash, suite);
    if (!best || b < best_beta || (b == best_beta && d.pk < best->pk)) best = &d, best_beta = b;
  }
  return best;
}

size_t count_events(Rig &rig, const std::string &kind, const std::string &key, const std::string &value) {
  size_t n = 0;
  for (const Event &e : rig.sink.of(kind))
    if (e.fields.contains(key) && e.fields[key] == value) ++n;
  return n;
}

TEST(VrfSelection, AlphaIsTagHeightPrevHash) {
  Hash prev{};
  for (size_t i = 0; i < prev.size(); ++i) prev[i] = static_cast<uint8_t>(i);
  uint8_t alpha[IOTW_VRF_ALPHA_SIZE];
  ASSERT_EQ(iotw_vrf_alpha(0x0102030405060708ull, prev.data(), alpha), 51u);
  EXPECT_EQ(to_hex(alpha, 51), to_hex(reinterpret_cast<const uint8_t *>("IOTW/1/VRF\0"), 11) + "0807060504030201" +
                                   to_hex(prev));
}

TEST(VrfSelection, LowestBetaAmongValidClaimsMinesEveryBlock) {
  Rig rig(vrf_config());
  for (int i = 0; i < 6; ++i) rig.add();
  for (int blk = 0; blk < 8; ++blk) {
    const SimDevice *want = expected_winner(rig, IOTW_ECVRF_TAI);
    ASSERT_NE(want, nullptr);
    const size_t before = rig.mem.chain.size();
    rig.submit("vrf-tx-" + std::to_string(blk));  // seeds, claims, assignment, witness round: one pump
    ASSERT_EQ(rig.mem.chain.size(), before + 1) << "block " << blk;
    const Block &b = rig.mem.chain.back();
    EXPECT_EQ(b.miner, want->pk) << "block " << blk;
    expect_verifies(b, rig.mem.chain[before - 1]);
    const Event sel = rig.sink.of("miner_selected").back();
    EXPECT_EQ(sel.fields["fallback"], false);
    EXPECT_EQ(sel.fields["miner"], want->hex());
    EXPECT_EQ(sel.fields["claims_valid"], 6);
    EXPECT_EQ(sel.fields["claims_rejected"], 0);
    EXPECT_EQ(sel.fields["rank"], 0);
    // The event carries what anyone needs to re-check the selection: alpha, pi, beta under the miner's key.
    const auto alpha = from_hex<51>(sel.fields["alpha"].get<std::string>()).value();
    const auto pi = from_hex<80>(sel.fields["pi"].get<std::string>()).value();
    uint8_t expect_alpha[51];
    iotw_vrf_alpha(b.height, rig.mem.chain[before - 1].hash.data(), expect_alpha);
    EXPECT_EQ(0, std::memcmp(alpha.data(), expect_alpha, 51));
    uint8_t beta[64];
    ASSERT_EQ(iotw_ecvrf_verify(IOTW_ECVRF_TAI, beta, b.miner.data(), pi.data(), alpha.data(), alpha.size()),
              IOTW_ECVRF_OK);
    EXPECT_EQ(sel.fields["beta"], to_hex(beta, 64));
    rig.advance(rig.cfg.block_interval_ms);
  }
  EXPECT_EQ(rig.core.counters().vrf_claims_accepted, 8u * 6u);
  EXPECT_EQ(rig.core.counters().vrf_claims_rejected, 0u);
  EXPECT_EQ(rig.core.counters().vrf_fallbacks, 0u);
  // Every attached device got the seed of every round, as a VrfRoundSeed with the configured suite.
  for (auto &[link, d] : rig.devices) {
    size_t seeds = 0;
    for (const auto &m : d.received)
      if (m.which_body == iotw_v1_Envelope_vrf_round_seed_tag) {
        ++seeds;
        EXPECT_EQ(m.body.vrf_round_seed.suite, 3u);
        EXPECT_EQ(m.body.vrf_round_seed.claim_window_ms, 200u);
      }
    EXPECT_EQ(seeds, 8u);
  }
}

TEST(VrfSelection, Ell2SuiteSelectsLowestBetaToo) {
  Rig rig(vrf_config(VrfSuite::ell2));
  for (int i = 0; i < 5; ++i) rig.add();
  for (int blk = 0; blk < 3; ++blk) {
    const SimDevice *want = expected_winner(rig, IOTW_ECVRF_ELL2);
    rig.submit("ell2-" + std::to_string(blk));
    ASSERT_EQ(rig.mem.chain.back().height, static_cast<uint64_t>(blk + 1));
    EXPECT_EQ(rig.mem.chain.back().miner, want->pk);
    EXPECT_EQ(rig.sink.of("vrf_round_opened").back().fields["suite"], "ell2");
    rig.advance(rig.cfg.block_interval_ms);
  }
  EXPECT_EQ(rig.core.counters().vrf_claims_rejected, 0u);
}

TEST(VrfSelection, ForgedProofIsRejectedAndNeverMines) {
  Rig rig(vrf_config());
  for (int i = 0; i < 4; ++i) rig.add();
  SimDevice &forger = rig.add(Behaviour::forge_vrf, "forger");
  for (int blk = 0; blk < 6; ++blk) {
    const SimDevice *want = expected_winner(rig, IOTW_ECVRF_TAI);
    rig.submit("forge-" + std::to_string(blk));
    ASSERT_EQ(rig.mem.chain.back().height, static_cast<uint64_t>(blk + 1));
    EXPECT_EQ(rig.mem.chain.back().miner, want->pk);
    EXPECT_NE(rig.mem.chain.back().miner, forger.pk);
    EXPECT_EQ(rig.sink.of("miner_selected").back().fields["claims_rejected"], 1);
    rig.advance(rig.cfg.block_interval_ms);
  }
  EXPECT_EQ(rig.core.counters().vrf_claims_rejected, 6u);
  EXPECT_EQ(count_events(rig, "vrf_claim_rejected", "reason", "bad_proof"), 6u);
  const Event rej = rig.sink.of("vrf_claim_rejected").back();
  EXPECT_EQ(rej.fields["device"], forger.hex());
  EXPECT_EQ(rej.fields["detail"], iotw_ecvrf_status_str(IOTW_ECVRF_INVALID));
  size_t errors = 0;  // each bad claim is answered with Error 2 (bad signature/proof)
  for (const auto &m : forger.received)
    if (m.which_body == iotw_v1_Envelope_error_tag) {
      EXPECT_EQ(m.body.error.code, 2u);
      ++errors;
    }
  EXPECT_EQ(errors, 6u);
  EXPECT_TRUE(forger.attached);  // not detached, not blacklisted: the claim is just not counted
  EXPECT_EQ(rig.core.blacklisted_count(), 0u);
}

TEST(VrfSelection, ProofUnderAnotherKeyIsRejected) {
  Rig rig(vrf_config());
  for (int i = 0; i < 4; ++i) rig.add();
  SimDevice &thief = rig.add(Behaviour::wrong_key_vrf, "thief");
  rig.submit("wrong-key");
  ASSERT_EQ(rig.mem.chain.size(), 2u);
  EXPECT_NE(rig.mem.chain.back().miner, thief.pk);
  ASSERT_EQ(rig.sink.of("vrf_claim_rejected").size(), 1u);
  EXPECT_EQ(rig.sink.of("vrf_claim_rejected")[0].fields["reason"], "bad_proof");
  EXPECT_EQ(rig.sink.of("vrf_claim_rejected")[0].fields["device"], thief.hex());
  EXPECT_EQ(rig.core.counters().vrf_claims_accepted, 4u);
  EXPECT_EQ(rig.core.counters().vrf_claims_rejected, 1u);
}

TEST(VrfSelection, ReplayedClaimOfAnotherDeviceIsRejected) {
  // A device replays the winner's (valid) proof on its own session: it does not verify under its key.
  Rig rig(vrf_config());
  for (int i = 0; i < 4; ++i) rig.add(Behaviour::silent_vrf);
  SimDevice &honest = rig.add(Behaviour::honest, "honest");
  rig.core.submit_tx(Bytes{'r'});  // opens the round; do not pump, claims are sent by hand
  const Block &tip = rig.mem.chain.back();
  const iotw_v1_VrfClaim stolen = honest.vrf_claim(1, tip.hash.data(), IOTW_ECVRF_TAI);
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_vrf_claim_tag;
  env.body.vrf_claim = stolen;
  rig.sink.out.clear();
  rig.core.on_message(rig.devices.begin()->first, env);  // dev-1 sends honest's proof
  ASSERT_EQ(rig.sink.of("vrf_claim_rejected").size(), 1u);
  EXPECT_EQ(rig.sink.of("vrf_claim_rejected")[0].fields["reason"], "bad_proof");
  rig.core.on_message(honest.link, env);  // the owner's claim is fine
  EXPECT_EQ(rig.core.counters().vrf_claims_accepted, 1u);
  rig.advance(rig.cfg.claim_window_ms);
  ASSERT_EQ(rig.mem.chain.size(), 2u);
  EXPECT_EQ(rig.mem.chain.back().miner, honest.pk);
}

TEST(VrfSelection, NoClaimsFallsBackToSeededUniformPick) {
  auto run = [](uint64_t seed) {
    Rig rig(vrf_config(), nullptr, seed);
    for (int i = 0; i < 5; ++i) rig.add(Behaviour::silent_vrf);
    rig.submit("nobody-claims");
    EXPECT_EQ(rig.mem.chain.size(), 1u);  // waiting for the claim window
    EXPECT_TRUE(rig.sink.of("miner_selected").empty());
    rig.advance(rig.cfg.claim_window_ms - 1);
    EXPECT_TRUE(rig.sink.of("miner_selected").empty());
    rig.advance(1);  // window closed: uniform pick from the seeded RNG, the block goes on as before
    EXPECT_EQ(rig.mem.chain.size(), 2u);
    const Event sel = rig.sink.of("miner_selected").at(0);
    EXPECT_EQ(sel.fields["fallback"], true);
    EXPECT_EQ(sel.fields["claims_valid"], 0);
    EXPECT_EQ(rig.core.counters().vrf_fallbacks, 1u);
    expect_verifies(rig.mem.chain[1], rig.mem.chain[0]);
    return rig.mem.chain[1].miner;
  };
  EXPECT_EQ(run(7), run(7));  // repeatable per seed
}

TEST(VrfSelection, OnlyClaimsFromSomeDevicesStillSelectAClaimant) {
  Rig rig(vrf_config());
  SimDevice &a = rig.add(Behaviour::honest, "claimer");
  for (int i = 0; i < 4; ++i) rig.add(Behaviour::silent_vrf);
  rig.submit("one-claim");
  EXPECT_EQ(rig.mem.chain.size(), 1u);  // silent devices keep the window open
  rig.advance(rig.cfg.claim_window_ms);
  ASSERT_EQ(rig.mem.chain.size(), 2u);
  EXPECT_EQ(rig.mem.chain.back().miner, a.pk);
  EXPECT_EQ(rig.sink.of("miner_selected").back().fields["fallback"], false);
}

TEST(VrfSelection, FailedWinnerPassesToNextLowestBeta) {
  Rig rig(vrf_config());
  for (int i = 0; i < 5; ++i) rig.add();
  // Make the expected winner a miner that returns a wrong hash; the next-lowest beta must mine.
  const SimDevice *first = expected_winner(rig, IOTW_ECVRF_TAI);
  rig.devices.at(first->link).behaviour = Behaviour::wrong_hash;
  rig.submit("fail-over");
  ASSERT_EQ(rig.mem.chain.size(), 2u);
  EXPECT_NE(rig.mem.chain.back().miner, first->pk);
  const auto sel = rig.sink.of("miner_selected");
  ASSERT_EQ(sel.size(), 2u);
  EXPECT_EQ(sel[0].fields["miner"], first->hex());
  EXPECT_EQ(sel[1].fields["rank"], 1);
  EXPECT_EQ(count_events(rig, "result_rejected", "reason", "wrong_hash"), 1u);
}

TEST(VrfSelection, ClaimsOutsideAnOpenRoundAreRejected) {
  Rig rig(vrf_config());
  for (int i = 0; i < 4; ++i) rig.add(Behaviour::silent_vrf);
  SimDevice &d = rig.devices.begin()->second;
  const Hash prev = rig.mem.chain.back().hash;
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_vrf_claim_tag;
  env.body.vrf_claim = d.vrf_claim(1, prev.data(), IOTW_ECVRF_TAI);  // silent_vrf proves with its own key
  rig.from(d, env);  // no round open
  rig.submit("open");
  env.body.vrf_claim = d.vrf_claim(7, prev.data(), IOTW_ECVRF_TAI);
  rig.from(d, env);  // wrong height
  env.body.vrf_claim = d.vrf_claim(1, prev.data(), IOTW_ECVRF_TAI);
  rig.from(d, env);  // valid
  rig.from(d, env);  // duplicate
  SimDevice &late = rig.add(Behaviour::honest, "late");  // attached after the seed went out
  env.body.vrf_claim = late.vrf_claim(1, prev.data(), IOTW_ECVRF_TAI);
  rig.from(late, env);
  EXPECT_EQ(count_events(rig, "vrf_claim_rejected", "reason", "unknown_round"), 2u);
  EXPECT_EQ(count_events(rig, "vrf_claim_rejected", "reason", "duplicate"), 1u);
  EXPECT_EQ(count_events(rig, "vrf_claim_rejected", "reason", "not_eligible"), 1u);
  EXPECT_EQ(rig.core.counters().vrf_claims_accepted, 1u);
  EXPECT_EQ(rig.core.counters().vrf_claims_rejected, 4u);
  rig.advance(rig.cfg.claim_window_ms);
  ASSERT_EQ(rig.mem.chain.size(), 2u);
  EXPECT_EQ(rig.mem.chain.back().miner, d.pk);
}

TEST(VrfSelection, UniformNodeRejectsClaimsWithoutCrashing) {
  Rig rig;  // selection = uniform
  for (int i = 0; i < 4; ++i) rig.add();
  SimDevice &d = rig.devices.begin()->second;
  iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
  env.which_body = iotw_v1_Envelope_vrf_claim_tag;
  env.body.vrf_claim.height = 1;  // all-zero pi: Gamma = 0 is the identity, not even checked here
  rig.from(d, env);
  EXPECT_EQ(rig.core.counters().vrf_claims_rejected, 1u);
  // A device may not send the node's VrfRoundSeed.
  env.which_body = iotw_v1_Envelope_vrf_round_seed_tag;
  env.body.vrf_round_seed = iotw_v1_VrfRoundSeed_init_zero;
  const uint64_t before = rig.core.counters().messages_rejected;
  rig.from(d, env);
  EXPECT_EQ(rig.core.counters().messages_rejected, before + 1);
  rig.submit("still-works");
  EXPECT_EQ(rig.mem.chain.size(), 2u);
}

TEST(VrfSelection, GarbageProofsNeverCrashTheNode) {
  Rig rig(vrf_config());
  for (int i = 0; i < 4; ++i) rig.add(Behaviour::silent_vrf);
  rig.submit("garbage");
  std::mt19937_64 gen(3);
  int k = 0;
  for (auto &[link, d] : rig.devices) {
    iotw_v1_Envelope env = iotw_v1_Envelope_init_zero;
    env.which_body = iotw_v1_Envelope_vrf_claim_tag;
    env.body.vrf_claim.height = 1;
    for (auto &b : env.body.vrf_claim.pi) b = static_cast<uint8_t>(gen());
    if (k == 1) std::memset(env.body.vrf_claim.pi, 0xff, 80);  // non-canonical Gamma, s >= q
    if (k == 2) std::memset(env.body.vrf_claim.pi, 0, 80);     // identity Gamma
    ++k;
    rig.from(d, env);
  }
  EXPECT_EQ(rig.core.counters().vrf_claims_rejected, 4u);
  EXPECT_EQ(count_events(rig, "vrf_claim_rejected", "reason", "bad_proof"), 4u);
  // everyone answered (badly): the window closes at once with the fallback
  ASSERT_EQ(rig.mem.chain.size(), 2u);
  EXPECT_EQ(rig.sink.of("miner_selected").back().fields["fallback"], true);
}

}  // namespace
}  // namespace iotw::tn::test
