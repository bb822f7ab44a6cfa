// The winning VRF claim is part of the ledger (docs/protocol.md §8 "vrf"): blocks mined under selection = "vrf"
// carry {suite, pi, beta}; the store keeps it; the harness's independent ledger verifier re-checks pi under the
// miner's key on alpha = VRF(height, prev_hash) and rejects a tampered proof; non-VRF ledgers are unchanged.

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
    Rig rig(cfg);
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
    auto lines = ledger_json(chain);
    EXPECT_EQ(lines[1]["vrf"]["suite"], suite == VrfSuite::tai ? "tai" : "ell2");
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
  }
}

/** Exit code of tools/verify_ledger.py (independent: PyNaCl + its own ECVRF-TAI) on these lines; its stderr in err. */
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

TEST(VrfLedger, IndependentPythonVerifierChecksTheTaiProof) {
  ConsensusConfig cfg;
  cfg.selection = Selection::vrf;
  Rig rig(cfg);
  mine(rig, 3);
  ASSERT_EQ(rig.mem.chain.size(), 4u);
  const auto lines = ledger_json(rig.mem.chain);
  std::string err;
  EXPECT_EQ(python_verify(lines, err), 0) << err;
  auto tampered = lines;
  std::string pi = tampered[2]["vrf"]["pi"];
  pi[100] = pi[100] == '0' ? '1' : '0';
  tampered[2]["vrf"]["pi"] = pi;
  EXPECT_EQ(python_verify(tampered, err), 1);
  EXPECT_NE(err.find("height 2: vrf proof does not verify"), std::string::npos) << err;
  tampered = lines;
  tampered[3]["vrf"]["beta"] = lines[1]["vrf"]["beta"];
  EXPECT_EQ(python_verify(tampered, err), 1);
  EXPECT_NE(err.find("height 3: vrf beta is not the output of the proof"), std::string::npos) << err;
}

TEST(VrfLedger, UniformLedgersHaveNoVrfAndStayValid) {
  Rig rig;
  mine(rig, 2);
  ASSERT_EQ(rig.mem.chain.size(), 3u);
  for (const auto &j : ledger_json(rig.mem.chain)) EXPECT_FALSE(j.contains("vrf"));
  const auto v = harness::verify_ledger(ledger_json(rig.mem.chain));
  EXPECT_TRUE(v.valid) << errors(v);
}

TEST(VrfLedger, SqliteStoreKeepsTheClaim) {
  char tmpl[] = "/tmp/iotw-vrf-ledger-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  {
    SqliteLedger store(dir + "/l.sqlite");
    ConsensusConfig cfg;
    cfg.selection = Selection::vrf;
    Rig rig(cfg, &store);
    mine(rig, 3);
  }
  SqliteLedger store(dir + "/l.sqlite");
  const auto chain = store.blocks(0, 100);
  ASSERT_EQ(chain.size(), 4u);
  for (size_t h = 1; h < chain.size(); ++h) EXPECT_TRUE(chain[h].vrf.has_value()) << h;
  const auto v = harness::verify_ledger(ledger_json(chain));
  EXPECT_TRUE(v.valid) << errors(v);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iotw::tn::test
