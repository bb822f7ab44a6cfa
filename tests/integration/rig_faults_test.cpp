// The fault rigs through the real binaries, and links.pcapng read back by the real tshark with
// tools/wireshark/iotw.lua.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <fstream>
#include <sstream>

#include "iotw_process.hpp"
#include "light_verification.hpp"
#include "tshark_fields.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

const std::string kRigs = IOTW_RIGS_DIR;

struct RigRunResult {
  std::filesystem::path dir, run;
  IotwResult result;
  json report;
};

RigRunResult run_rig(const std::string& rig) {
  RigRunResult r;
  r.dir = scratch_dir();
  r.run = r.dir / "run";
  r.result = run_iotw({"rig", "run", kRigs + "/" + rig, "--out", r.run.string(), "--seed", "11"}, r.dir);
  if (std::filesystem::exists(r.run / "report.json")) r.report = json::parse(slurp(r.run / "report.json"));
  return r;
}

std::map<std::string, bool> step_checks(const json& report) {
  std::map<std::string, bool> out;
  for (const auto& c : report["step_checks"]) out[c["name"]] = c["pass"];
  return out;
}

TEST(RigFaults, LinkNoiseKeepsHonestDevicesAndHalfTheBaseline) {
  const RigRunResult r = run_rig("link_noise.toml");
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  EXPECT_EQ(r.report["false_blacklist"], 0);
  EXPECT_EQ(r.report["ledger_valid"], true);
  EXPECT_GE(r.report["liveness_ratio"].get<double>(), 0.5);  // rigs/link_noise.toml
  std::uint64_t corrupted = 0, dropped = 0;
  for (const auto& l : r.report["harness"]["links"]) {
    corrupted += l["faults"]["corrupted_bytes"].get<std::uint64_t>();
    dropped += l["faults"]["dropped_frames"].get<std::uint64_t>();
  }
  EXPECT_GT(corrupted, 0u) << "the noise really ran";
  EXPECT_GT(dropped, 0u);
  // The capture decodes: CRC-valid Hello frames carry the device names, broken frames are flagged.
  // The Envelope's fields come from Wireshark's protobuf dissector on iotw.proto; framing fields from iotw.lua.
  const auto rows = tshark_fields(r.run / "links.pcapng",
                                  {"frame.interface_name", "iotw.direction", "protobuf.message.name",
                                   "pbf.iotw.v1.Hello.name", "iotw.crc_ok", "pbf.iotw.v1.Attestation.round_id",
                                   "pbf.iotw.v1.Attestation.verdict", "iotw.error", "_ws.col.Source",
                                   "_ws.col.Destination"});
  ASSERT_EQ(rows.size(), r.report["harness"]["captured_frames"].get<std::size_t>());
  std::set<std::string> hello_names, messages;
  std::size_t valid_attestations = 0, broken = 0;
  for (const auto& row : rows) {
    broken += row[7].empty() ? 0 : 1;
    const std::string msg = envelope_member(row[2]);
    EXPECT_EQ(msg.empty(), !row[7].empty()) << "a frame decodes unless the dissector flags it: " << row[2];
    messages.insert(msg);
    // Serial links have no addresses: the columns name the device (the interface) and the trust node.
    EXPECT_EQ(row[8], row[1] == "1" ? row[0] : "trust-node");
    EXPECT_EQ(row[9], row[1] == "1" ? "trust-node" : row[0]);
    if (msg == "Hello") {
      EXPECT_EQ(row[0], row[3]) << "a device's Hello travels on its own link";
      EXPECT_EQ(row[1], "1");
      hello_names.insert(row[3]);
    }
    if (msg == "Attestation" && row[6] == "1" && !row[5].empty()) ++valid_attestations;
  }
  EXPECT_EQ(hello_names.size(), 8u);
  EXPECT_GT(broken, 0u) << "the dissector flags the corrupted frames (bad CRC-32 or COBS)";
  EXPECT_GE(valid_attestations, 240u) << "3 valid attestations per block at least";
  for (const char* m : {"Challenge", "Prove", "Welcome", "Assignment", "Result", "WitnessRequest", "Heartbeat"})
    EXPECT_TRUE(messages.count(m)) << m;
  std::filesystem::remove_all(r.dir);
}

TEST(RigFaults, TrustNodeCrashLosesNoAcknowledgedTransaction) {
  const RigRunResult r = run_rig("trust_node_crash.toml");
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  EXPECT_EQ(r.report["acked_tx_lost"], 0);
  EXPECT_EQ(r.report["ledger_valid"], true);
  EXPECT_EQ(step_checks(r.report),
            (std::map<std::string, bool>{{"crash the trust node (line 33): trust_node_kill recovered", true},
                                         {"chain grows again (line 40): wait height >= 15", true}}));
  const std::string junit = slurp(r.run / "junit.xml");
  EXPECT_NE(junit.find("<testcase name=\"crash the trust node (line 33): trust_node_kill recovered\""),
            std::string::npos);
  int node_starts = 0;
  std::vector<json> events;
  std::set<std::string> node_pubkeys;  // node_started: the restarted node reloads the harness's key file
  for (const auto& l : lines_of(r.run / "events.jsonl")) {
    events.push_back(json::parse(l));
    const json& e = events.back();
    if (e["kind"] == "process_started" && e["fields"]["name"] == "trust_node") ++node_starts;
    if (e["kind"] == "node_started") node_pubkeys.insert(e["fields"]["node_pubkey"].get<std::string>());
  }
  EXPECT_EQ(node_starts, 2);
  ASSERT_EQ(node_pubkeys.size(), 1u);
  EXPECT_NE(slurp(r.run / "emu.toml").find(*node_pubkeys.begin()), std::string::npos)
      << "the devices are provisioned with the node's key";
  // Checkpoints signed before and after the crash verify; the restarted chain still links to them.
  expect_light_verification(events, r.report);
  std::filesystem::remove_all(r.dir);
}

TEST(RigFaults, PartitionedDevicesAreNotBlacklistedAndRejoin) {
  const RigRunResult r = run_rig("partition.toml");
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  EXPECT_EQ(r.report["false_blacklist_faulted"], 0);
  EXPECT_TRUE(r.report["blacklisted"].empty());
  const auto checks = step_checks(r.report);
  EXPECT_TRUE(checks.at("cut esp32-01..03 (line 34): partition recovered"));
  EXPECT_TRUE(checks.at("the cut devices were detached (line 42): wait devices_attached <= 5"));
  EXPECT_TRUE(checks.at("esp32-01 re-attaches (line 47): expect false_blacklist == 0"));
  const std::string html = slurp(r.run / "report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("<rect class=\"fault\""), std::string::npos);
  std::filesystem::remove_all(r.dir);
}

TEST(RigFaults, AFailedExpectationNamesTheStepAndLineAndFailsTheRun) {
  const auto dir = scratch_dir();
  const auto rig = dir / "bad_expect.toml";
  {
    std::ofstream out(rig);
    out << slurp(kRigs + "/smoke.toml")
        << "\n[[steps]]\nname = \"impossible\"\nafter_block = 3\nexpect = \"blocks_finalized >= 1000\"\n";
  }
  const std::string text = slurp(rig);
  const auto line = std::count(text.begin(), text.end(), '\n') - 3;  // the [[steps]] header
  const auto r = run_iotw({"rig", "run", rig.string(), "--out", (dir / "run").string(), "--seed", "5"}, dir);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  pugi::xml_document junit;
  ASSERT_TRUE(junit.load_file((dir / "run" / "junit.xml").c_str()));
  const std::string name = "impossible (line " + std::to_string(line) + "): expect blocks_finalized >= 1000";
  const pugi::xml_node step = junit.child("testsuites").child("testsuite").find_child_by_attribute("testcase", "name",
                                                                                                  name.c_str());
  ASSERT_TRUE(step) << slurp(dir / "run" / "junit.xml");
  EXPECT_STREQ(step.attribute("classname").value(), "rig.smoke.steps");
  EXPECT_EQ(std::string(step.child("failure").attribute("message").value()).rfind(name + ": measured blocks_finalized = ", 0),
            0u)
      << slurp(dir / "run" / "junit.xml");
  std::filesystem::remove_all(dir);
}

TEST(RigFaults, DissectorNamesVrfRoundSeedsAndClaims) {
  // rigs/vrf_selection.toml: every round seed and claim in links.pcapng decodes with its fields, and each seed's
  // prev_hash is the ledger's hash of the block below it.
  const RigRunResult r = run_rig("vrf_selection.toml");
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  std::map<uint64_t, std::string> hash_at;
  for (const auto& l : lines_of(r.run / "ledger.jsonl")) {
    const json b = json::parse(l);
    if (b.contains("tip")) continue;  // the signed tip ends the export
    hash_at[b["height"].get<uint64_t>()] = b["hash"];
  }
  const auto rows = tshark_fields(r.run / "links.pcapng",
                                  {"iotw.direction", "protobuf.message.name", "pbf.iotw.v1.VrfRoundSeed.height",
                                   "pbf.iotw.v1.VrfRoundSeed.prev_hash", "pbf.iotw.v1.VrfRoundSeed.suite",
                                   "pbf.iotw.v1.VrfRoundSeed.claim_window_ms", "pbf.iotw.v1.VrfClaim.pi",
                                   "pbf.iotw.v1.VrfClaim.height"});
  std::size_t seeds = 0, claims = 0;
  std::set<uint64_t> seed_heights;
  for (auto row : rows) {
    row[1] = envelope_member(row[1]);
    if (row[1] == "VrfClaim") row[2] = row[7];  // the height column of either message
    if (row[1] == "VrfRoundSeed") {
      ++seeds;
      EXPECT_EQ(row[0], "0");
      const uint64_t h = std::stoull(row[2]);
      seed_heights.insert(h);
      if (hash_at.count(h - 1)) {
        EXPECT_EQ(row[3], hash_at[h - 1]) << "height " << h;
      }
      EXPECT_EQ(row[4], "3");
      EXPECT_EQ(row[5], "200");
    } else if (row[1] == "VrfClaim") {
      ++claims;
      EXPECT_EQ(row[0], "1");
      EXPECT_EQ(row[6].size(), 160u) << "pi is 80 bytes";
      EXPECT_TRUE(seed_heights.count(std::stoull(row[2]))) << "a claim answers a seed already on the wire";
    }
  }
  EXPECT_GE(seed_heights.size(), 20u);
  EXPECT_GE(seeds, seed_heights.size());
  EXPECT_GE(claims, 20u) << "at least one claim per mined block";
  std::filesystem::remove_all(r.dir);
}

}  // namespace
}  // namespace iotw::test
