// rigs/mesh_failover.toml through the real binaries (docs/rig-format.md "Mesh"): three trust nodes on a three-member
// etcd cluster (Debian's etcd-server), six ESP32 with one PTY link per node. The assigning node is killed, later an
// etcd member: blocks keep finalizing under another node, nothing acknowledged is lost, the ledger is one chain, and
// events.jsonl tells the nodes apart.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <map>
#include <set>
#include <string>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

TEST(RigMesh, FailoverKeepsOneLedgerGrowingAndLosesNothingAcknowledged) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult r = run_iotw({"rig", "run", std::string(IOTW_RIGS_DIR) + "/mesh_failover.toml", "--out",
                                 run.string(), "--seed", "19"},
                                dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_GE(report["blocks_finalized"].get<int>(), 30);
  EXPECT_EQ(report["ledger_valid"], true);
  EXPECT_EQ(report["acked_tx_lost"], 0);
  EXPECT_EQ(report["blacklisted"].size(), 0u);
  ASSERT_TRUE(report["failover_ms"].is_number()) << "a block finalized after the kill of the assigning node";
  EXPECT_LE(report["failover_ms"].get<double>(), 10000.0);
  ASSERT_EQ(report["failovers_ms"].size(), 1u);
  std::map<std::string, bool> checks;
  for (const auto& c : report["step_checks"]) checks[c["name"]] = c["pass"];
  EXPECT_EQ(checks, (std::map<std::string, bool>{
                        {"kill the assigning node (line 34): trust_node_kill recovered", true},
                        {"kill an etcd member (line 42): etcd_kill recovered", true}}));
  EXPECT_GT(report["harness"]["tx"]["accepted"].get<int>(), 0);

  // The events: every node started (the killed one twice), each node's events tagged with its id, and the node that
  // was killed was the one finalizing blocks until then; afterwards another node finalized them.
  std::map<std::string, int> starts;
  std::set<std::string> tagged, finalizers_after;
  std::string killed, last_finalizer;
  bool after_kill = false;
  int etcd_starts = 0;
  for (const auto& line : lines_of(run / "events.jsonl")) {
    const json e = json::parse(line);
    if (e["kind"] == "process_started") {
      const std::string name = e["fields"]["name"];
      if (name.rfind("tn-", 0) == 0) ++starts[name];
      if (name.rfind("etcd-", 0) == 0) ++etcd_starts;
    }
    if (e.contains("node")) {
      EXPECT_EQ(e["source"], "trust-node") << line;
      tagged.insert(e["node"].get<std::string>());
    }
    if (e["kind"] == "block_finalized") {
      ASSERT_TRUE(e.contains("node")) << "a trust node's event without its node id: " << line;
      last_finalizer = e["node"];
      if (after_kill) finalizers_after.insert(last_finalizer);
    }
    if (e["kind"] == "fault_started" && e["fields"]["fault"] == "trust_node_kill" && !after_kill) {
      killed = e["fields"]["node"];
      EXPECT_EQ(killed, last_finalizer) << "node = \"leader\" kills the node that was appending blocks";
      after_kill = true;
    }
  }
  EXPECT_EQ(tagged, (std::set<std::string>{"tn-0", "tn-1", "tn-2"}));
  ASSERT_FALSE(killed.empty());
  EXPECT_EQ(starts[killed], 2) << "the killed node was started again";
  EXPECT_EQ(starts.size(), 3u);
  EXPECT_EQ(etcd_starts, 4) << "three members, one restarted";
  finalizers_after.erase(killed);
  EXPECT_FALSE(finalizers_after.empty()) << "another node took over while " << killed << " was down";

  // The wiring: each node has its own folder and config on the etcd store through its own relays; each device lists
  // its three PTY links in node order.
  std::set<std::string> endpoints;
  for (int i = 0; i < 3; ++i) {
    const auto node = toml::parse_file((run / ("tn-" + std::to_string(i)) / "trust_node.toml").string());
    EXPECT_EQ(node["store"]["kind"].value<std::string>(), "etcd");
    EXPECT_EQ(node["store"]["prefix"].value<std::string>(), "/iotw/mesh_failover/");
    EXPECT_EQ(node["mesh"]["node_id"].value<std::string>(), "tn-" + std::to_string(i));
    EXPECT_EQ(node["mesh"]["lease_ttl_s"].value<std::int64_t>(), 2);
    EXPECT_EQ(node["node"]["key"].value<std::string>(), (run / "node.key").string()) << "one ledger authority";
    ASSERT_EQ(node["store"]["endpoints"].as_array()->size(), 3u);
    for (const auto& ep : *node["store"]["endpoints"].as_array()) endpoints.insert(*ep.value<std::string>());
    EXPECT_EQ(node["serial"].as_array()->size(), 6u);
  }
  EXPECT_EQ(endpoints.size(), 9u) << "one relay per (node, member)";
  const auto emu = toml::parse_file((run / "emu.toml").string());
  for (const auto& d : *emu["device"].as_array()) {
    const auto* links = d.as_table()->get("links");
    ASSERT_NE(links, nullptr);
    EXPECT_EQ(links->as_array()->size(), 3u);
  }
  std::filesystem::remove_all(dir);
}

TEST(RigMesh, WithoutEtcdTheRigIsRefusedNamingThePackage) {
  // A machine without etcd: a mount namespace of its own (unshare(1), util-linux) in which an empty tmpfs hides
  // /usr/bin (and so /bin) and PATH names only that; iotw itself is run by its absolute path.
  const auto dir = scratch_dir();
  const std::string script = "mount -t tmpfs none /usr/bin && PATH=/usr/bin exec \"$0\" \"$@\"";
  const IotwResult r = run_program("unshare", {"--mount", "--propagation", "private", "/bin/sh", "-c", script, IOTW_EXE,
                                               "rig", "run", std::string(IOTW_RIGS_DIR) + "/mesh_failover.toml", "--out",
                                               (dir / "run").string()},
                                   dir);
  ASSERT_NE(r.err.find("unshare: "), 0u) << r.err;  // unshare itself worked (the tests run as root, as TAP's do)
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("install the Debian package etcd-server"), std::string::npos) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("nothing was started"), std::string::npos);
}

TEST(RigMesh, PartitionsAndFreezesOfTheLeaderAndAnEtcdMemberEachEndInAnotherLeader) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult r = run_iotw({"rig", "run", std::string(IOTW_RIGS_DIR) + "/mesh_partition.toml", "--out",
                                 run.string(), "--seed", "3"},
                                dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_GE(report["blocks_finalized"].get<int>(), 40);
  EXPECT_EQ(report["ledger_valid"], true);
  EXPECT_EQ(report["acked_tx_lost"], 0);
  EXPECT_EQ(report["blacklisted"].size(), 0u);
  std::map<std::string, bool> checks;
  for (const auto& c : report["step_checks"]) checks[c["name"]] = c["pass"];
  EXPECT_EQ(checks, (std::map<std::string, bool>{
                        {"cut the assigning node off from etcd (line 34): partition_node recovered", true},
                        {"freeze the assigning node (line 43): trust_node_stop recovered", true},
                        {"freeze an etcd member (line 51): etcd_stop recovered", true},
                        {"cut the assigning node off from its devices (line 59): partition_node recovered", true}}));

  // Each fault on the assigning node made another node assign: the partitioned one went stale (etcd) or handed the
  // leadership over (devices); the frozen one lost its lease meanwhile.
  std::string leader;
  // Each change of the assigning node, in order. A node that assigns again right after itself (it went stale on a
  // blip of its store, e.g. while an etcd member was frozen, and won the leadership back) is no change.
  std::vector<std::string> leaders;
  std::set<std::string> reasons;
  for (const auto& line : lines_of(run / "events.jsonl")) {
    const json e = json::parse(line);
    if (e["kind"] != "mesh_role") continue;
    const std::string role = e["fields"]["role"], node = e["fields"]["node_id"], why = e["fields"]["reason"];
    if (role == "assigning" && (leaders.empty() || leaders.back() != node)) leaders.push_back(node);
    if (role == "stale") reasons.insert(why.substr(0, why.find(':')));
    if (why.find("leadership handed over") != std::string::npos) reasons.insert("handed over");
  }
  ASSERT_GE(leaders.size(), 4u) << "a first leader and another one after each of the three faults on the leader";
  EXPECT_TRUE(reasons.count("store")) << "the node cut off from etcd saw its store fail";
  EXPECT_TRUE(reasons.count("handed over")) << "the node cut off from its devices handed over";
}

}  // namespace
}  // namespace iotw::test
