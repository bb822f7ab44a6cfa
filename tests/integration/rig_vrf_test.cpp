// rigs/vrf_selection.toml through the real binaries: the trust node selects every miner by RFC 9381 VRF claims
// (docs/vrf.md) and the run passes with a valid ledger. Each block's selection is re-checked from the events:
// alpha = "IOTW/1/VRF" 00 || height || prev_hash from the ledger, and the winner's pi verifies under its key.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>

#include "iotw/ecvrf.h"
#include "iotw_process.hpp"
#include "test_hex.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

TEST(RigRun, VrfSelectionMinesEveryBlockByLowestValidClaim) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const auto r = run_iotw({"rig", "run", std::string(IOTW_RIGS_DIR) + "/vrf_selection.toml", "--out", run.string(),
                           "--seed", "7"},
                          dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_EQ(report["pass"], true);
  EXPECT_GE(report["blocks_finalized"].get<int>(), 20);
  EXPECT_EQ(report["ledger_valid"], true);
  EXPECT_TRUE(report["blacklisted"].empty());

  std::map<uint64_t, json> selected;  // height -> the last miner_selected (a failed miner is re-selected)
  std::size_t bad_proofs = 0;
  std::map<uint64_t, std::string> lowest_beta;  // height -> lowest beta among the accepted claims
  for (const auto& l : lines_of(run / "events.jsonl")) {
    const json e = json::parse(l);
    if (e["kind"] == "miner_selected") selected[e["fields"]["height"].get<uint64_t>()] = e["fields"];
    if (e["kind"] == "vrf_claim_rejected" && e["fields"]["reason"] == "bad_proof") ++bad_proofs;
    if (e["kind"] == "vrf_claim") {
      const uint64_t h = e["fields"]["height"];
      const std::string beta = e["fields"]["beta"];  // lower-case hex: string order = byte order
      if (!lowest_beta.count(h) || beta < lowest_beta[h]) lowest_beta[h] = beta;
    }
  }
  EXPECT_EQ(bad_proofs, 0u);  // all honest (a claim after the window, on a stalled host, is "unknown_round")
  std::size_t by_claim = 0;
  const auto ledger = lines_of(run / "ledger.jsonl");
  ASSERT_GE(ledger.size(), 22u);  // genesis, 20+ blocks, the signed tip
  EXPECT_TRUE(json::parse(ledger.back()).contains("tip"));
  for (std::size_t i = 1; i + 1 < ledger.size(); ++i) {
    const json b = json::parse(ledger[i]);
    const uint64_t height = b["height"];
    ASSERT_TRUE(selected.count(height)) << "height " << height;
    const json& s = selected[height];
    EXPECT_EQ(s["selection"], "vrf");
    EXPECT_EQ(s["miner"], b["miner"]);
    EXPECT_EQ(b["finalization"]["selection"], "vrf") << "height " << height;
    const json& claims = b["vrf"]["claims"];  // every valid claim of the round (docs/protocol.md §8)
    if (s["fallback"] == true) {  // no claim within the window (only if the host stalled 200 ms)
      EXPECT_FALSE(b["vrf"].contains("pi")) << "height " << height;
      EXPECT_EQ(b["vrf"]["rank"], claims.size()) << "height " << height;
      continue;
    }
    ++by_claim;
    // The ledger itself carries the winning claim, the same as the event, at its rank among all claims.
    EXPECT_EQ(b["vrf"]["suite"], "tai");
    EXPECT_EQ(b["vrf"]["pi"], s["pi"]) << "height " << height;
    EXPECT_EQ(b["vrf"]["beta"], s["beta"]) << "height " << height;
    EXPECT_EQ(b["vrf"]["rank"], s["rank"]) << "height " << height;
    EXPECT_EQ(claims.size(), s["claims_valid"]) << "height " << height;
    EXPECT_EQ(claims[s["rank"].get<std::size_t>()]["device"], b["miner"]) << "height " << height;
    std::vector<uint8_t> alpha{'I', 'O', 'T', 'W', '/', '1', '/', 'V', 'R', 'F', 0};
    for (int k = 0; k < 8; ++k) alpha.push_back(static_cast<uint8_t>(height >> (8 * k)));
    const auto prev = unhex(b["prev_hash"]);
    alpha.insert(alpha.end(), prev.begin(), prev.end());
    EXPECT_EQ(unhex(s["alpha"]), alpha);
    const auto pk = unhex(b["miner"]), pi = unhex(s["pi"]);
    ASSERT_EQ(pi.size(), 80u);
    uint8_t beta[64];
    ASSERT_EQ(iotw_ecvrf_verify(IOTW_ECVRF_TAI, beta, pk.data(), pi.data(), alpha.data(), alpha.size()),
              IOTW_ECVRF_OK)
        << "height " << height;
    EXPECT_EQ(std::vector<uint8_t>(beta, beta + 64), unhex(s["beta"]));
    EXPECT_GE(s["claims_valid"].get<int>(), 1);
    if (s["rank"] == 0) {  // rank 0 = lowest beta
      EXPECT_EQ(s["beta"], lowest_beta[height]) << "height " << height;
    }
  }
  EXPECT_GE(by_claim * 2, ledger.size() - 2);  // in practice every block; at least half even on a loaded host
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iotw::test
