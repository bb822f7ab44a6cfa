// `iotw` command-line behaviour that needs no trust node: help, rig check, rig errors, missing pieces.
#include <gtest/gtest.h>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {

const std::string kRigs = IOTW_RIGS_DIR;

TEST(IotwCli, HelpListsTheRigCommands) {
  const auto dir = scratch_dir();
  const auto top = run_iotw({"--help"}, dir);
  EXPECT_EQ(top.code, 0);
  EXPECT_NE(top.out.find("rig"), std::string::npos);
  const auto rig = run_iotw({"rig", "--help"}, dir);
  EXPECT_EQ(rig.code, 0);
  EXPECT_NE(rig.out.find("run"), std::string::npos);
  EXPECT_NE(rig.out.find("check"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, NoCommandIsAUsageError) {
  const auto dir = scratch_dir();
  EXPECT_EQ(run_iotw({}, dir).code, 2);
  EXPECT_EQ(run_iotw({"rig", "run"}, dir).code, 2);  // FILE missing
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, CheckAcceptsTheShippedRigs) {
  const auto dir = scratch_dir();
  const auto smoke = run_iotw({"rig", "check", kRigs + "/smoke.toml"}, dir);
  EXPECT_EQ(smoke.code, 0) << smoke.err;
  EXPECT_EQ(smoke.out, "ok: smoke, 8 devices\n");
  const auto byz = run_iotw({"rig", "check", kRigs + "/byzantine_witness.toml"}, dir);
  EXPECT_EQ(byz.code, 0) << byz.err;
  EXPECT_EQ(byz.out, "ok: byzantine_witness, 8 devices\n");
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, UnknownKeyFailsCheckAndRunWithFileAndLine) {
  const auto dir = scratch_dir();
  const auto rig = dir / "bad.toml";
  std::ofstream(rig) << "[rig]\nname = \"bad\"\n\n[[devices]]\ncount = 2\ncolour = \"red\"\n";
  const std::string where = rig.string() + ":6:";

  const auto check = run_iotw({"rig", "check", rig.string()}, dir);
  EXPECT_EQ(check.code, 2);
  EXPECT_EQ(check.err.rfind(where, 0), 0u) << check.err;
  EXPECT_NE(check.err.find("colour"), std::string::npos) << check.err;

  const auto run = run_iotw({"rig", "run", rig.string(), "--out", (dir / "run").string()}, dir);
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(run.err.rfind(where, 0), 0u) << run.err;
  EXPECT_EQ(run.out, "");  // nothing ran, no seed
  EXPECT_FALSE(std::filesystem::exists(dir / "run"));
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, MissingRigFileIsAnError) {
  const auto dir = scratch_dir();
  const auto r = run_iotw({"rig", "check", (dir / "nope.toml").string()}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nope.toml"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, NonEmptyRunFolderIsRefusedBeforeAnythingStarts) {
  const auto dir = scratch_dir();
  std::ofstream(dir / "leftover") << "x";
  const auto r = run_iotw({"rig", "run", kRigs + "/smoke.toml", "--out", dir.string(), "--seed", "7"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out.rfind("seed: 7\n", 0), 0u);
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "trust_node.toml"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iotw::test
