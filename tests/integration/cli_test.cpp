// `iotw` command-line behaviour that needs no trust node: help, rig check, rig errors, missing pieces, and the
// exit codes of docs/cli.md.
#include <gtest/gtest.h>

#include <regex>

#include "iotw/harness/fault_registry.hpp"
#include "iotw/harness/score_registry.hpp"
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

TEST(IotwCli, HoldNeedsOneRigFileNotAFolder) {
  const auto dir = scratch_dir();
  const auto r = run_iotw({"rig", "run", "--hold", kRigs}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "error: --hold needs one rig file; " + kRigs + " is a folder\n");
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

TEST(IotwCli, MissingRigFileIsAnErrorWithTheOsReason) {
  const auto dir = scratch_dir();
  const auto missing = (dir / "nope.toml").string();
  const auto r = run_iotw({"rig", "check", missing}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, missing + ": cannot read the rig file: No such file or directory\n");  // no made-up line:column
  const auto run = run_iotw({"rig", "run", missing, "--out", (dir / "run").string()}, dir);
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(run.err, missing + ": cannot read the rig file: No such file or directory\n");
  std::filesystem::create_directories(dir / "folder.toml");
  const auto folder = run_iotw({"rig", "check", (dir / "folder.toml").string()}, dir);
  EXPECT_EQ(folder.code, 2);
  EXPECT_EQ(folder.err, (dir / "folder.toml").string() + ": cannot read the rig file: Is a directory\n");
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, VersionPrintsTheVersionAndTheGitRevision) {
  const auto dir = scratch_dir();
  const auto r = run_iotw({"--version"}, dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::regex_match(r.out, std::regex(R"(iotw [0-9]+\.[0-9]+\.[0-9]+ \(git [0-9A-Za-z.+_-]+\)\n)"))) << r.out;
  EXPECT_EQ(r.err, "");
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, UnknownSubcommandIsNamed) {
  const auto dir = scratch_dir();
  const auto r = run_iotw({"rig", "rnu"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("iotw: error: unknown subcommand 'rnu' of 'iotw rig'; expected one of: run, check"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, UnknownOptionIsNamedNotTheFileBesideIt) {
  const auto dir = scratch_dir();
  const std::string smoke = kRigs + "/smoke.toml";
  for (const auto& args : {std::vector<std::string>{"rig", "run", "--output", "x", smoke},
                           std::vector<std::string>{"rig", "run", smoke, "--output", "x"}}) {
    const auto r = run_iotw(args, dir);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("iotw: error: unknown option '--output' for 'iotw rig run'"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("smoke.toml"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << "nothing ran";
  }
  const auto level = run_iotw({"--log-level", "loud", "rig", "check", smoke}, dir);
  EXPECT_EQ(level.code, 2);
  EXPECT_NE(level.err.find("--log-level"), std::string::npos) << level.err;
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, ShortOIsOut) {
  const auto dir = scratch_dir();
  std::ofstream(dir / "leftover") << "x";
  const auto r = run_iotw({"rig", "run", kRigs + "/smoke.toml", "-o", dir.string(), "--seed", "7"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: run folder " + dir.string() + " is not empty"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, RunHelpDescribesWhatARunWrites) {
  const auto dir = scratch_dir();
  const auto r = run_iotw({"rig", "run", "--help"}, dir);
  EXPECT_EQ(r.code, 0);
  for (const char* what : {"report.html", "links.pcapng", "junit.xml", "report.json", "events.jsonl", "TAP", "UDP",
                           "TCP", "PTY", "-o,--out", "--log-level"})
    EXPECT_NE(r.out.find(what), std::string::npos) << what << " in:\n" << r.out;
  // Every fault and every [pass] key, listed from their registries.
  for (const iotw::harness::FaultDef& d : iotw::harness::fault_registry())
    EXPECT_NE(r.out.find("\n  " + std::string(d.name)), std::string::npos) << d.name << " in:\n" << r.out;
  for (const iotw::harness::PassKeyDef& k : iotw::harness::pass_keys())
    EXPECT_NE(r.out.find("\n  " + k.key + ": "), std::string::npos) << k.key << " in:\n" << r.out;
  EXPECT_NE(r.out.find("\n  clock_skew (offset_ms, ppm): "), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(IotwCli, MissingChildBinaryCouldNotRun) {
  const auto dir = scratch_dir();
  std::filesystem::copy_file(IOTW_EXE, dir / "iotw");  // alone: no iotw-trust-node or iotw-emu beside it
  const auto r = run_program((dir / "iotw").string(),
                             {"rig", "run", kRigs + "/smoke.toml", "--out", (dir / "run").string(), "--seed", "3"}, dir);
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("iotw-trust-node not found next to iotw"), std::string::npos) << r.err;
  // Nothing started, but the run folder holds a junit.xml whose testcase "run" is an <error> saying why.
  EXPECT_EQ(lines_of(dir / "run" / "junit.xml").empty(), false);
  EXPECT_NE(slurp(dir / "run" / "junit.xml").find("<error message=\"iotw-trust-node not found next to iotw"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "run" / "events.jsonl"));
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
