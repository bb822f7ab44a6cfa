// rigs/qemu_cortex_m.toml through the real binaries: two qemu-cortex-m3 devices (the firmware's Cortex-M3 image in
// qemu-system-arm) among emulated ESP devices register with the trust node, mine blocks and witness rounds; one of
// them is reset over QMP halfway and registers again under the same identity, the other's link is delayed by the
// serial fault proxy. Built only when the main build makes the
// image (tests/integration/CMakeLists.txt); needs qemu-system-arm (scripts/setup.sh).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "clean_rig_run.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

TEST(RigQemu, CortexM3ImagesMineAndWitnessAndKeepTheirIdentityThroughAReboot) {
  const CleanRigRun r = run_clean_rig("qemu_cortex_m.toml", "11", 30, {"--require-all"});
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  EXPECT_EQ(r.report["recoveries_failed"], 0);

  const std::vector<std::string> qemu{"qemu-m3-01", "qemu-m3-02"};
  std::map<std::string, std::vector<json>> registered;  // name -> its device_registered events, in order
  std::map<std::string, std::vector<json>> resets;      // name -> the pool's "reset" events
  std::map<std::string, int> boots;                     // name -> the image's `boot` log lines
  std::set<std::string> recovered;
  for (const std::string& line : lines_of(r.run / "events.jsonl")) {
    const json e = json::parse(line);
    const json& f = e["fields"];
    const std::string src = e.value("source", "");
    if (e["kind"] == "device_registered") registered[f["name"].get<std::string>()].push_back(f);
    if (e["kind"] == "reset" && src.rfind("emu:", 0) == 0) resets[src.substr(4)].push_back(f);
    if (e["kind"] == "log" && f["event"] == "boot" && f["detail"].get<std::string>().rfind("reset_reason=", 0) == 0 &&
        src.rfind("emu:", 0) == 0)
      ++boots[src.substr(4)];  // the board's line after each reset (the core's `boot boot_count=...` follows it)
    if (e["kind"] == "recovery_checked" && f["pass"] == true) recovered.insert(f["step"].get<std::string>());
  }
  std::map<std::string, std::string> key_of;  // name -> its Ed25519 public key (hex)
  for (const std::string& d : qemu) {
    ASSERT_FALSE(registered[d].empty()) << d << " never registered";
    EXPECT_EQ(registered[d].front()["model"], "qemu-cortex-m3") << d;
    key_of[d] = registered[d].front()["device"].get<std::string>();
    EXPECT_GE(boots[d], 1) << d << ": no `boot` line on its log UART";
  }
  EXPECT_NE(key_of["qemu-m3-01"], key_of["qemu-m3-02"]);  // each device's seed gives it its own identity

  // The reboot: a software reset reported by the image, then a second registration under the same key.
  EXPECT_EQ(recovered.count("reboot qemu-m3-01"), 1u);
  ASSERT_EQ(resets["qemu-m3-01"].size(), 1u);
  EXPECT_EQ(resets["qemu-m3-01"][0]["reset_reason"], 3);
  EXPECT_EQ(resets["qemu-m3-01"][0]["cause"], "software");
  EXPECT_EQ(boots["qemu-m3-01"], 2);
  ASSERT_GE(registered["qemu-m3-01"].size(), 2u);
  for (const json& reg : registered["qemu-m3-01"]) EXPECT_EQ(reg["device"], key_of["qemu-m3-01"]);
  EXPECT_EQ(registered["qemu-m3-01"].back()["new"], false);  // known to the node: the same device came back

  // The serial fault proxy sits on a QEMU device's link like on any PTY link: the delay step delayed its chunks.
  bool delayed = false;
  for (const json& l : r.report["harness"]["links"])
    if (l["device"] == "qemu-m3-02") delayed = l["faults"]["delayed_chunks"].get<int>() > 0;
  EXPECT_TRUE(delayed) << r.report["harness"]["links"].dump();

  // Mining and witnessing, from the exported ledger: blocks mined by the QEMU devices, attestations they signed.
  std::map<std::string, int> mined, witnessed;  // pubkey -> count
  for (const std::string& line : lines_of(r.run / "ledger.jsonl")) {
    const json b = json::parse(line);
    if (!b.contains("miner")) continue;  // the closing {"tip": ...} line (docs/protocol.md §8)
    ++mined[b["miner"].get<std::string>()];
    for (const json& a : b["attestations"]) ++witnessed[a["witness"].get<std::string>()];
  }
  for (const std::string& d : qemu) {
    EXPECT_GE(mined[key_of[d]], 1) << d << " mined no finalized block";
    EXPECT_GE(witnessed[key_of[d]], 1) << d << " signed no attestation in a finalized block";
  }
}

}  // namespace
}  // namespace iotw::test
