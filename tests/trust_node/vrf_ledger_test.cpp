// The VRF selection is part of the ledger (docs/protocol.md §8 "vrf", rules 12-14): blocks mined under
// selection = "vrf" carry the winning claim {suite, pi, beta} and every claim of the round with the miner's rank,
// bound by the node's finalization record; the store keeps them; both independent verifiers re-check every
// proof and the lowest-beta rule from the ledger alone and reject a tampered proof or a re-ranked round.

#include <sodium.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "iotw/harness/ledger_verifier.hpp"
#include "iotw/support/process.hpp"
#include "iotw/trust_node/sqlite_ledger.hpp"
#include "sim.hpp"

namespace iotw::tn::test {
namespace {

std::vector<nlohmann::json> ledger_json(const std::vector<Block> &chain) {
  std::vector<nlohmann::json> out;
  for (const Block &b : chain) out.push_back(block_to_json(b));
  return out;
}

/** The export of a node with a node key: the blocks and the signed tip line. */
std::vector<nlohmann::json> exported(const Rig &rig) {
  auto out = ledger_json(rig.mem.chain);
  out.push_back(tip_to_json(*rig.core.signed_tip()));
  return out;
}

ConsensusConfig keyed(ConsensusConfig cfg) {
  cfg.node_key_seed = std::array<uint8_t, 32>{7, 7, 7};
  return cfg;
}

std::string errors(const harness::LedgerVerdict &v) {
  std::string s;
  for (const std::string &e : v.errors) s += e + "\n";
  return s;
}

void mine(Rig &rig, int blocks) {
  for (int i = 0; i < 6; ++i) rig.add();
  for (int i = 0; i < blocks; ++i) rig.submit("vrf ledger tx " + std::to_string(i)), rig.advance(rig.cfg.block_interval_ms);
}

TEST(VrfLedger, WinningClaimIsInTheBlockAndReverifiesFromTheLedgerAlone) {
  for (const VrfSuite suite : {VrfSuite::tai, VrfSuite::ell2}) {
    ConsensusConfig cfg;
    cfg.selection = Selection::vrf;
    cfg.vrf_suite = suite;
    Rig rig(keyed(cfg));
    mine(rig, 4);
    const std::vector<Block> &chain = rig.mem.chain;
    ASSERT_EQ(chain.size(), 5u);
    EXPECT_FALSE(chain[0].vrf.has_value());
    for (size_t h = 1; h < chain.size(); ++h) {
      ASSERT_TRUE(chain[h].vrf.has_value()) << h;
      EXPECT_EQ(chain[h].vrf->suite, static_cast<uint32_t>(suite));
      // The same claim the miner_selected event names.
      Event sel = rig.sink.of("miner_selected").at(h - 1);
      EXPECT_EQ(sel.fields["pi"], to_hex(chain[h].vrf->pi));
      EXPECT_EQ(sel.fields["beta"], to_hex(chain[h].vrf->beta));
    }
    auto lines = exported(rig);
    EXPECT_EQ(lines[1]["vrf"]["suite"], suite == VrfSuite::tai ? "tai" : "ell2");
    EXPECT_EQ(lines[1]["finalization"]["selection"], "vrf");
    EXPECT_EQ(lines[1]["vrf"]["claims"].size(), 6u);  // every device claimed; the winner ranks first
    EXPECT_EQ(lines[1]["vrf"]["rank"], 0);
    EXPECT_EQ(lines[1]["vrf"]["claims"][0]["pi"], lines[1]["vrf"]["pi"]);
    const auto ok = harness::verify_ledger(lines);
    EXPECT_TRUE(ok.valid) << errors(ok);

    auto tampered = lines;  // one bit of the proof
    std::string pi = tampered[2]["vrf"]["pi"];
    pi[70] = pi[70] == '0' ? '1' : '0';
    tampered[2]["vrf"]["pi"] = pi;
    auto bad = harness::verify_ledger(tampered);
    EXPECT_FALSE(bad.valid);
    EXPECT_NE(errors(bad).find("height 2: 'vrf.pi' does not verify"), std::string::npos) << errors(bad);

    tampered = lines;  // another device's valid-looking output
    tampered[3]["vrf"]["beta"] = lines[1]["vrf"]["beta"];
    bad = harness::verify_ledger(tampered);
    EXPECT_NE(errors(bad).find("height 3: 'vrf.beta' is not the output of 'vrf.pi'"), std::string::npos) << errors(bad);

    tampered = lines;  // a proof moved to another height (other alpha)
    tampered[4]["vrf"] = lines[1]["vrf"];
    EXPECT_FALSE(harness::verify_ledger(tampered).valid);

    tampered = lines;
    tampered[1]["vrf"]["suite"] = "sha1";
    EXPECT_NE(errors(harness::verify_ledger(tampered)).find("'vrf.suite' is 'sha1'"), std::string::npos);

    tampered = lines;  // the node claims a higher-beta claimant won: rule 13 from the ledger alone
    std::swap(tampered[2]["vrf"]["claims"][0], tampered[2]["vrf"]["claims"][1]);
    bad = harness::verify_ledger(tampered);
    ASSERT_TRUE(bad.first);
    EXPECT_EQ(bad.first->rule, 13) << errors(bad);

    tampered = lines;  // the losing claims dropped: the node's record no longer matches
    tampered[3]["vrf"]["claims"] = nlohmann::json::array({lines[3]["vrf"]["claims"][0]});
    bad = harness::verify_ledger(tampered);
    ASSERT_TRUE(bad.first);
    EXPECT_EQ(bad.first->rule, 14) << errors(bad);
  }
}

/** Exit code of tools/verify_ledger.py (independent: PyNaCl + its own ECVRF TAI and ELL2) on these lines; its stderr
 *  in err. */
int python_verify(const std::vector<nlohmann::json> &lines, std::string &err) {
  char tmpl[] = "/tmp/iotw-vrf-ledger-py-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  {
    std::ofstream out(dir + "/ledger.jsonl");
    for (const auto &l : lines) out << l.dump() << "\n";
  }
  const int rc = run_to_end("/usr/bin/python3", {IOTW_VERIFY_LEDGER_PY, dir + "/ledger.jsonl"},
                            {.stdout_file = dir + "/out.txt", .stderr_file = dir + "/err.txt"});
  std::ifstream e(dir + "/err.txt");
  err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(dir);
  return rc;
}

TEST(VrfLedger, IndependentPythonVerifierChecksBothSuites) {
  for (const VrfSuite suite : {VrfSuite::tai, VrfSuite::ell2}) {
    ConsensusConfig cfg;
    cfg.selection = Selection::vrf;
    cfg.vrf_suite = suite;
    Rig rig(keyed(cfg));
    mine(rig, 3);
    ASSERT_EQ(rig.mem.chain.size(), 4u);
    const auto lines = exported(rig);
    std::string err;
    EXPECT_EQ(python_verify(lines, err), 0) << err;
    auto tampered = lines;
    std::string pi = tampered[2]["vrf"]["pi"];
    pi[100] = pi[100] == '0' ? '1' : '0';
    tampered[2]["vrf"]["pi"] = pi;
    EXPECT_EQ(python_verify(tampered, err), 1);
    EXPECT_NE(err.find("height 2: rule 12: 'vrf.pi' does not verify"), std::string::npos) << err;
    tampered = lines;
    tampered[3]["vrf"]["beta"] = lines[1]["vrf"]["beta"];
    EXPECT_EQ(python_verify(tampered, err), 1);
    EXPECT_NE(err.find("height 3: rule 12: 'vrf.beta' is not the output of 'vrf.pi'"), std::string::npos) << err;
    tampered = lines;  // the suite relabelled: no proof verifies under the other suite
    tampered[1]["vrf"]["suite"] = suite == VrfSuite::tai ? "ell2" : "tai";
    EXPECT_EQ(python_verify(tampered, err), 1);
    EXPECT_NE(err.find("height 1: rule 12: 'vrf.pi' does not verify"), std::string::npos) << err;
  }
}

TEST(VrfLedger, UniformLedgersHaveNoVrfAndStayValid) {
  Rig rig(keyed({}));
  mine(rig, 2);
  ASSERT_EQ(rig.mem.chain.size(), 3u);
  for (const auto &j : ledger_json(rig.mem.chain)) EXPECT_FALSE(j.contains("vrf"));
  auto v = harness::verify_ledger(exported(rig));
  EXPECT_TRUE(v.valid) << errors(v);
  auto lines = exported(rig);  // a vrf object where uniform selection was signed
  lines[1]["vrf"] = {{"suite", "tai"}, {"rank", 0}, {"claims", nlohmann::json::array()}};
  v = harness::verify_ledger(lines);
  ASSERT_TRUE(v.first);
  EXPECT_EQ(v.first->rule, 13);
}

TEST(VrfLedger, ThresholdPolicyAndReputationSelectionAreSignedAndVerify) {
  ConsensusConfig cfg;
  cfg.policy = WitnessPolicy::threshold;
  cfg.threshold = 2;
  cfg.selection = Selection::reputation;
  Rig rig(keyed(cfg));
  mine(rig, 3);
  ASSERT_EQ(rig.mem.chain.size(), 4u);
  auto lines = exported(rig);
  EXPECT_EQ(lines[1]["finalization"], nlohmann::json({{"policy", "threshold"},
                                                      {"n", 3},
                                                      {"t", 2},
                                                      {"selection", "reputation"},
                                                      {"signature", lines[1]["finalization"]["signature"]}}));
  auto v = harness::verify_ledger(lines);
  EXPECT_TRUE(v.valid) << errors(v);
  lines[2]["attestations"] = nlohmann::json::array({lines[2]["attestations"][0]});  // 1 < t
  v = harness::verify_ledger(lines);
  ASSERT_TRUE(v.first);
  EXPECT_EQ(v.first->rule, 11);
  EXPECT_EQ(v.first->height, 2u);
}

TEST(VrfLedger, NodeWithoutKeyWritesUnboundBlocks) {
  Rig rig;
  mine(rig, 2);
  EXPECT_FALSE(rig.core.signed_tip().has_value());
  for (size_t h = 1; h < rig.mem.chain.size(); ++h) EXPECT_FALSE(rig.mem.chain[h].finalization.has_value());
  const auto v = harness::verify_ledger(ledger_json(rig.mem.chain));
  EXPECT_EQ(v.status, harness::LedgerStatus::unbound) << errors(v);
}

TEST(VrfLedger, SqliteStoreKeepsTheClaim) {
  char tmpl[] = "/tmp/iotw-vrf-ledger-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  {
    SqliteLedger store(dir + "/l.sqlite");
    ConsensusConfig cfg;
    cfg.selection = Selection::vrf;
    Rig rig(keyed(cfg), &store);
    mine(rig, 3);
  }
  SqliteLedger store(dir + "/l.sqlite");
  const auto chain = store.blocks(0, 100);
  ASSERT_EQ(chain.size(), 4u);
  for (size_t h = 1; h < chain.size(); ++h) {
    EXPECT_TRUE(chain[h].vrf.has_value()) << h;
    ASSERT_TRUE(chain[h].vrf_round.has_value()) << h;
    EXPECT_EQ(chain[h].vrf_round->claims.size(), 6u) << h;
    ASSERT_TRUE(chain[h].finalization.has_value()) << h;
  }
  auto lines = ledger_json(chain);
  Key pk{};
  std::array<uint8_t, 64> sk{};
  crypto_sign_seed_keypair(pk.data(), sk.data(), keyed({}).node_key_seed->data());
  lines.push_back(tip_to_json(sign_tip(chain.back(), uint64_t{1} << 62, pk, sk)));
  const auto v = harness::verify_ledger(lines, {pk});
  EXPECT_TRUE(v.valid) << errors(v);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iotw::tn::test
