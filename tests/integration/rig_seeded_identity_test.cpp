// Seeded identities (docs/rig-format.md "Seed"): through the real binaries, the same rig and seed in fresh run
// folders give the same device keys, another seed other keys, a device added to the rig leaves the others' keys
// alone, and a group with seed = "os" gets new keys every run and is named in report.json "not_seeded".
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <fstream>
#include <map>

#include "iotw/support/hex.hpp"
#include "iotw/support/seeded_random.hpp"
#include "iotw_process.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

// SoC devices on PTYs (esp32, dps) and an AT-mode module (the appliance's host port), plus one group on the OS.
constexpr char kDevices[] = R"(
[[devices]]
name_prefix = "e"
model = "esp32"
count = 3
[[devices]]
name_prefix = "d"
model = "dps"
[[devices]]
name_prefix = "a"
model = "esp8266"
link = "at"
[[devices]]
name_prefix = "o"
seed = "os"
)";

constexpr char kRest[] = R"(
[trust_node]
witnesses = 2
block_interval_ms = 100
[target]
blocks = 30              # ~3 s: long enough for the AT module to join the access point and register
[pass]
ledger_valid = true
)";

struct SeededRun {
  std::map<std::string, std::string> keys;  ///< device name -> registered public key (hex), from events.jsonl
  json report;
};

/// Runs the rig (`extra_group` first, then kDevices) with `seed` in a fresh folder.
SeededRun run_rig(const std::string& seed, const std::string& extra_group = "") {
  const auto dir = scratch_dir();
  const auto rig = dir / "seeded.toml";
  std::ofstream(rig) << "[rig]\nname = \"seeded\"\ndeadline_s = 60\n" << extra_group << kDevices << kRest;
  const auto run = dir / "run";
  const auto r = run_iotw({"rig", "run", rig.string(), "--out", run.string(), "--seed", seed}, dir);
  SeededRun out;
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  for (const auto& l : lines_of(run / "events.jsonl")) {
    const json e = json::parse(l);
    if (e["kind"] == "device_registered") out.keys[e["fields"]["name"]] = e["fields"]["device"];
  }
  if (std::filesystem::exists(run / "report.json")) out.report = json::parse(slurp(run / "report.json"));
  return out;
}

/// The key a blank device with the rig's seed gets: Ed25519 of the first block of its seed's hash DRBG.
std::string expected_key(std::uint64_t rig_seed, const std::string& device) {
  const Seed s = component_seed(rig_seed, device);
  std::uint8_t in[44] = {}, id[32], pk[32], sk[64];
  std::copy(s.begin(), s.end(), in);
  crypto_hash_sha256(id, in, sizeof in);
  crypto_sign_seed_keypair(pk, sk, id);
  return to_hex(pk, sizeof pk);
}

TEST(RigSeededIdentity, SameSeedSameKeysOtherSeedOtherKeysAnAddedDeviceShiftsNothing) {
  ASSERT_GE(sodium_init(), 0);
  const std::vector<std::string> seeded = {"e-01", "e-02", "e-03", "d-01", "a-01"};
  const SeededRun first = run_rig("5"), again = run_rig("5"), other = run_rig("6");
  const SeededRun grown = run_rig("5", "[[devices]]\nname_prefix = \"new\"\nmodel = \"esp8266\"\n");
  for (const std::string& name : seeded) {
    ASSERT_TRUE(first.keys.count(name)) << name << " never registered";
    EXPECT_EQ(first.keys.at(name), expected_key(5, name)) << name;
    EXPECT_EQ(again.keys.at(name), first.keys.at(name)) << name << ": same rig, same seed";
    EXPECT_NE(other.keys.at(name), first.keys.at(name)) << name << ": another seed";
    EXPECT_EQ(grown.keys.at(name), first.keys.at(name)) << name << ": a device added before it";
  }
  ASSERT_TRUE(first.keys.count("o-01") && again.keys.count("o-01"));
  EXPECT_NE(again.keys.at("o-01"), first.keys.at("o-01")) << "seed = \"os\": the OS's randomness";
  EXPECT_EQ(grown.keys.at("new-01"), expected_key(5, "new-01"));
  const json& not_seeded = first.report["not_seeded"];
  ASSERT_TRUE(not_seeded.is_array());
  EXPECT_NE(not_seeded.dump().find("identities from the OS (seed = \\\"os\\\"): o-01"), std::string::npos) << not_seeded;
}

}  // namespace
}  // namespace iotw::test
