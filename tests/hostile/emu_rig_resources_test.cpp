// Resource checks at load time (issue 15, "Rigs"): a rig of 102,400 devices passed `iotw rig check` and then
// exhausted the host's PTYs in `rig run`. It must be refused at load time, at the [[devices]] line where it
// stops fitting, with the numbers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "iotw/harness/rig_loader.hpp"
#include "iotw/harness/rig_resources.hpp"
#include "iotw/support/process.hpp"

namespace {
using namespace iotw::harness;

constexpr int kGroups = 400, kPerGroup = 256;  // 102,400 PTY devices

/// The rig's text; group_line[k] is the line of the k-th [[devices]] table.
std::string huge_rig(std::vector<int>& group_line) {
  std::string t =
      "[rig]\nname = \"huge\"\ndeadline_s = 60\n\n[trust_node]\nwitnesses = 3\n\n[pass]\nledger_valid = true\n";
  int line = 9;
  for (int g = 0; g < kGroups; g++) {
    t += "\n[[devices]]\n";
    line += 2;
    group_line.push_back(line);
    t += "name_prefix = \"esp" + std::to_string(g) + "\"\nmodel = \"esp32\"\nlink = \"pty\"\ncount = " +
         std::to_string(kPerGroup) + "\n";
    line += 4;
  }
  return t;
}

TEST(RigResources, AHundredThousandDeviceRigIsRefusedAtTheGroupWherePtysRunOut) {
  std::vector<int> lines;
  const RigSpec spec = parse_rig(huge_rig(lines), "huge.toml");
  ASSERT_EQ(spec.instances().size(), 102400u);
  HostResources host{4096, 1'000'000, std::uint64_t{1} << 40};  // the host of the finding: 4,096 PTYs
  try {
    check_rig_resources(spec, host);
    FAIL() << "a rig needing 204,800 PTYs was accepted with 4,096 free";
  } catch (const RigError& e) {
    // 2 PTYs per device: group 9 (2,304 devices, 4,608 PTYs) is the first that does not fit.
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("huge.toml:" + std::to_string(lines[8]) + ":1: ", 0), 0u) << what;
    EXPECT_NE(what.find("(2304 devices)"), std::string::npos) << what;
    EXPECT_NE(what.find("need 4608 PTYs"), std::string::npos) << what;
    EXPECT_NE(what.find("has 4096 free"), std::string::npos) << what;
  }
}

TEST(RigResources, DescriptorsAndMemoryAreCheckedWithTheirNumbers) {
  std::vector<int> lines;
  const RigSpec spec = parse_rig(huge_rig(lines), "huge.toml");
  try {
    check_rig_resources(spec, HostResources{1'000'000, 20000, std::uint64_t{1} << 40});
    FAIL() << "accepted with RLIMIT_NOFILE 20000";
  } catch (const RigError& e) {
    const std::string what = e.what();
    // 256 + 4 per device > 20000 first at 4,936 devices: group 20 (5,120 devices, 20,736 descriptors).
    EXPECT_EQ(what.rfind("huge.toml:" + std::to_string(lines[19]) + ":1: ", 0), 0u) << what;
    EXPECT_NE(what.find("about 20736 file descriptors"), std::string::npos) << what;
    EXPECT_NE(what.find("RLIMIT_NOFILE is 20000"), std::string::npos) << what;
  }
  try {
    check_rig_resources(spec, HostResources{1'000'000, 1'000'000, 1024 * 1024});  // 1 GiB available
    FAIL() << "accepted with 1 GiB of memory";
  } catch (const RigError& e) {
    const std::string what = e.what();
    // 256 MiB + 256 KiB per device > 1024 MiB first at 3,073 devices: group 13 (3,328 devices, 1088 MiB).
    EXPECT_EQ(what.rfind("huge.toml:" + std::to_string(lines[12]) + ":1: ", 0), 0u) << what;
    EXPECT_NE(what.find("about 1088 MiB"), std::string::npos) << what;
    EXPECT_NE(what.find("1024 MiB available"), std::string::npos) << what;
  }
  // A small rig fits the same host.
  const RigSpec smoke = load_rig(std::filesystem::path(iotw::test_paths::rigs_dir) / "smoke.toml");
  EXPECT_NO_THROW(check_rig_resources(smoke, HostResources{4096, 1024, std::uint64_t{4} << 20}));
}

// The command a user runs: `iotw rig check` on this host refuses it (exit 2) with FILE:LINE and the numbers, and
// `iotw rig run` refuses it before creating a run folder.
TEST(RigResources, RigCheckAndRigRunRefuseItOnThisHost) {
  if (std::string(iotw::test_paths::iotw_exe).empty()) GTEST_FAIL() << "iotw was not built";
  std::vector<int> lines;
  const auto dir = std::filesystem::temp_directory_path() / ("iotw-huge-rig-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto rig = dir / "huge.toml";
  std::ofstream(rig) << huge_rig(lines);
  const auto run = [](const std::vector<std::string>& args, std::string& out) {
    const iotw::CapturedRun r = iotw::run_captured(iotw::test_paths::iotw_exe, args, iotw::Stderr::merge);
    out = r.output;
    return r.code;
  };
  std::string out;
  EXPECT_EQ(run({"rig", "check", rig.string()}, out), 2) << out;
  EXPECT_NE(out.find(rig.string() + ":"), std::string::npos) << out;
  EXPECT_NE(out.find("; refused"), std::string::npos) << out;
  std::string run_out;
  const auto run_dir = dir / "run";
  EXPECT_EQ(run({"rig", "run", rig.string(), "--seed", "1", "--out", run_dir.string()}, run_out), 2) << run_out;
  EXPECT_NE(run_out.find("; refused"), std::string::npos) << run_out;
  EXPECT_FALSE(std::filesystem::exists(run_dir)) << "a refused rig left a run folder";
  std::filesystem::remove_all(dir);
}

TEST(RigResources, QemuDevicesCountTheirLogPtyAndTheirQemuProcess) {
  const RigSpec spec = parse_rig("[rig]\nname = \"q\"\n[[devices]]\nmodel = \"qemu-cortex-m3\"\ncount = 10\n"
                                 "[pass]\nledger_valid = true\n",
                                 "q.toml");
  try {  // 3 PTYs each: the fabric's two and the pool's log UART
    check_rig_resources(spec, HostResources{29, 1'000'000, std::uint64_t{1} << 40});
    FAIL() << "10 QEMU devices accepted with 29 free PTYs";
  } catch (const RigError& e) {
    EXPECT_NE(std::string(e.what()).find("need 30 PTYs"), std::string::npos) << e.what();
  }
  try {  // 256 MiB + 10 x (256 KiB + 48 MiB) = 738.5 MiB
    check_rig_resources(spec, HostResources{1000, 1'000'000, 700 * 1024});
    FAIL() << "10 QEMU devices accepted with 700 MiB";
  } catch (const RigError& e) {
    EXPECT_NE(std::string(e.what()).find("about 738 MiB"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(check_rig_resources(spec, HostResources{30, 1'000'000, 740 * 1024}));
}

}  // namespace
