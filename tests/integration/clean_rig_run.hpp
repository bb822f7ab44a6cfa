// Test helper: runs one rig of rigs/ through the real `iotw` binary into a scratch folder and checks the
// verdict every fault-free end-to-end rig must reach (pass, ledger valid, at least `min_blocks` blocks, every
// round coherent, nobody blacklisted). Uses IOTW_EXE and IOTW_RIGS_DIR from tests/test_paths.hpp.
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "iotw_process.hpp"

namespace iotw::test {

struct CleanRigRun {
  std::filesystem::path run;  ///< the run folder (report.json, events.jsonl, links.pcapng, ...)
  IotwResult result;          ///< iotw's exit code, stdout and stderr
  nlohmann::json report;      ///< report.json; null when the run wrote none
};

/// `iotw rig run rigs/<rig_file> --seed <seed> [extra...]`; the clean-pass expectations are EXPECTs (a failed
/// one fails the test); the caller ASSERTs `result.code == 0` before reading `report`.
inline CleanRigRun run_clean_rig(const std::string& rig_file, const std::string& seed, int min_blocks,
                                 const std::vector<std::string>& extra = {}) {
  const auto dir = scratch_dir();
  CleanRigRun r;
  r.run = dir / "run";
  std::vector<std::string> args = {"rig", "run", std::string(IOTW_RIGS_DIR) + "/" + rig_file, "--out", r.run.string(),
                                   "--seed", seed};
  args.insert(args.end(), extra.begin(), extra.end());
  r.result = run_iotw(args, dir);
  if (r.result.code != 0 || !std::filesystem::exists(r.run / "report.json")) return r;
  r.report = nlohmann::json::parse(slurp(r.run / "report.json"));
  EXPECT_EQ(r.report["pass"], true);
  EXPECT_EQ(r.report["ledger_valid"], true);
  EXPECT_GE(r.report["blocks_finalized"].get<int>(), min_blocks);
  EXPECT_EQ(r.report["coherence_rate"].get<double>(), 1.0);
  EXPECT_TRUE(r.report["blacklisted"].empty());
  return r;
}

}  // namespace iotw::test
