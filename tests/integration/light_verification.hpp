// Test helper: the firmware's light verification (docs/protocol.md §6) ran in a rig and never made an honest
// witness doubt an honest chain. The harness provisions every device with the trust node's key (docs/rig-format.md).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace iotw::test {

struct LightVerification {
  std::size_t adopted = 0;      ///< checkpoint_adopted lines, all devices
  std::size_t linked = 0;       ///< witness lines with linkage=linked (the header was checked against a checkpoint)
  std::size_t unlinked = 0;     ///< witness_unlinked lines of honest devices
  std::size_t rejected = 0;     ///< checkpoint_rejected lines (a forged checkpoint: never in a rig)
  std::size_t honest_invalid = 0;  ///< witness lines of honest devices with verdict=invalid
  std::set<std::string> adopters;  ///< devices that adopted at least one checkpoint
};

/// Counts the devices' light-verification log lines in a run's merged events and checks: at least one checkpoint
/// adopted and at least one witness verdict checked for linkage; no forged checkpoint; no honest witness found a
/// header that does not link or said invalid; the ledger verifies; each honest device adopted a checkpoint; and,
/// unless `honest_blacklist_allowed` (the strict policy blacklists every witness of an incoherent round, so an
/// honest one sharing a round with a byzantine witness goes too: rigs/byzantine_witness.toml), no honest device
/// was blacklisted.
inline LightVerification expect_light_verification(const std::vector<nlohmann::json>& events,
                                                   const nlohmann::json& report, bool honest_blacklist_allowed = false) {
  std::set<std::string> honest;
  for (const auto& d : report["devices"])
    if (d["behaviour"] == "honest") honest.insert(d["name"].get<std::string>());
  LightVerification lv;
  for (const auto& e : events) {
    if (e["kind"] != "log" || !e.contains("source")) continue;
    const std::string source = e["source"].get<std::string>();
    if (source.rfind("emu:", 0) != 0) continue;
    const std::string device = source.substr(4);
    const std::string event = e["fields"]["event"].get<std::string>();
    const std::string detail = e["fields"]["detail"].get<std::string>();
    if (event == "checkpoint_adopted") {
      ++lv.adopted;
      lv.adopters.insert(device);
    } else if (event == "checkpoint_rejected") {
      ++lv.rejected;
    } else if (event == "witness_unlinked" && honest.count(device)) {
      ++lv.unlinked;
      ADD_FAILURE() << device << " (honest) found a header that does not link: " << detail;
    } else if (event == "witness") {
      if (detail.find("linkage=linked") != std::string::npos) ++lv.linked;
      if (honest.count(device) && detail.find("verdict=invalid") != std::string::npos) {
        ++lv.honest_invalid;
        ADD_FAILURE() << device << " (honest) said invalid: " << detail;
      }
    }
  }
  EXPECT_GT(lv.adopted, 0u) << "no device adopted a signed checkpoint: are devices given node_pubkey?";
  EXPECT_GT(lv.linked, 0u) << "no witness verdict was checked against a checkpoint";
  EXPECT_EQ(lv.rejected, 0u);
  EXPECT_EQ(lv.unlinked, 0u);
  for (const auto& d : honest) EXPECT_TRUE(lv.adopters.count(d)) << d << " never adopted a checkpoint";
  if (!honest_blacklist_allowed) {
    for (const auto& b : report["blacklisted"]) {
      EXPECT_FALSE(honest.count(b.get<std::string>())) << "honest device " << b << " was blacklisted";
    }
  }
  EXPECT_EQ(report["ledger_valid"], true);
  return lv;
}

}  // namespace iotw::test
