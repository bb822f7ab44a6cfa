// rigs/two_hosts.toml through the real binaries (issue 17, "Beyond one machine"): pools on two hosts reach one trust
// node over UDP. The harness makes a network namespace per host joined by the host link (a TAP interface in each, its
// relay between them), runs the trust node and the "lab" pool in one and the "remote" pool in the other, delays every
// frame on the host link 40 ms (+ 0..5 ms) each way, and cuts the link for 4 s. Asserted: devices of both hosts
// attached and mined; the far host's datagrams reached the trust node from the far host's address (they crossed the
// host link); a far-host miner's round trip (the trust node's assignment_sent -> result_accepted) is at least 2 x 40
// ms; the partition detached every far-host device and none of the lab's, and they re-attached (the recovery check);
// the relay's counters in report.json; the ledger is valid; both namespaces are gone afterwards. Ping across the host
// link: host_link_test.cpp.
// Needs CAP_NET_ADMIN and CAP_SYS_ADMIN (CI runs as root); it runs with --require-all, so without them the run is an
// error (exit 3), not a skip, and the test fails.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <cstdint>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

constexpr std::int64_t kLatencyMs = 40;  // rigs/two_hosts.toml [hosts] latency_ms

TEST(RigTwoHosts, PoolsOnTwoHostsReachOneTrustNodeAcrossTheHostLinkAndSurviveItsPartition) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult result = run_iotw({"rig", "run", std::string(IOTW_RIGS_DIR) + "/two_hosts.toml", "--out",
                                      run.string(), "--seed", "17", "--require-all"},
                                     dir);
  ASSERT_EQ(result.code, 0) << result.out << result.err;
  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_EQ(report["pass"], true);
  EXPECT_EQ(report["ledger_valid"], true);
  EXPECT_GE(report["blocks_finalized"].get<int>(), 60);
  EXPECT_TRUE(report["blacklisted"].empty()) << report["blacklisted"];

  // The two namespaces the harness made (printed on stdout) are gone.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(result.out, m, std::regex("hosts: lab in network namespace (iotw-[0-9]+-[0-9]+) "
                                                          "\\(10\\.78\\.0\\.1/24, the trust node\\), remote in "
                                                          "(iotw-[0-9]+-[0-9]+) \\(10\\.78\\.0\\.2/24\\); host link 40 ms")))
      << result.out;
  EXPECT_NE(m[1].str(), m[2].str());
  for (int i : {1, 2}) EXPECT_FALSE(std::filesystem::exists("/run/netns/" + m[i].str())) << m[i] << " was not deleted";
  const std::string commands = slurp(run / "host_link.ip");
  EXPECT_NE(commands.find("ip -n " + m[1].str() + " tuntap add dev hl-remote mode tap"), std::string::npos) << commands;
  EXPECT_NE(commands.find("ip -n " + m[2].str() + " tuntap add dev hl-lab mode tap"), std::string::npos) << commands;

  // The relay carried frames both ways, dropped some while cut, none for a full queue.
  const json& link = report["harness"]["host_link"];
  EXPECT_EQ(link["latency_ms"], kLatencyMs);
  for (const char* dir : {"trust_node_to_far", "far_to_trust_node"}) {
    EXPECT_GT(link[dir]["delivered_frames"].get<int>(), 0) << dir;
    EXPECT_EQ(link[dir]["overflow_frames"], 0) << dir;
  }
  EXPECT_GT(link["far_to_trust_node"]["partitioned_frames"].get<int>(), 0) << "the far devices kept sending while cut";

  // One pool per host, each with its own devices only.
  const std::vector<std::string> lab{"lab-at-01", "lab-at-02", "lab-at-03"};
  const std::vector<std::string> remote{"remote-at-01", "remote-at-02", "remote-at-03"};
  for (const auto& [pool, names] : {std::pair{"emu-lab", lab}, {"emu-remote", remote}}) {
    const toml::table t = toml::parse_file((run / (std::string(pool) + ".toml")).string());
    std::set<std::string> listed;
    for (const auto& d : *t["device"].as_array()) listed.insert(d.as_table()->get("name")->value<std::string>().value());
    EXPECT_EQ(listed, std::set<std::string>(names.begin(), names.end())) << pool;
  }

  std::map<std::string, std::string> registered_link;
  std::set<std::string> attached, pools_started;
  std::map<std::int64_t, std::pair<std::string, std::int64_t>> sent;  // assignment_id -> (miner, time_ms)
  std::map<std::string, std::int64_t> min_rtt;                        // miner -> least assignment round trip
  std::int64_t cut_at = -1, healed_at = -1;
  std::map<std::string, std::int64_t> detached_at;  // device -> its first device_detached after the cut
  std::vector<bool> link_up;
  json fault_started, recovery;
  for (const std::string& line : lines_of(run / "events.jsonl")) {
    const json e = json::parse(line);
    const json& f = e["fields"];
    const std::string kind = e["kind"], source = e.value("source", "");
    const std::int64_t t = e["time_ms"];
    if (kind == "device_registered") registered_link.emplace(f["name"], f["link"]);
    else if (kind == "state" && f["state"] == "attached" && source.rfind("emu:", 0) == 0) attached.insert(source.substr(4));
    else if (kind == "process_started") pools_started.insert(f["name"].get<std::string>());
    else if (kind == "assignment_sent") sent[f["assignment_id"]] = {f["miner_name"], t};
    else if (kind == "result_accepted" && sent.count(f["assignment_id"])) {
      const auto& [miner, at] = sent[f["assignment_id"]];
      const std::int64_t rtt = t - at;
      if (!min_rtt.count(miner) || rtt < min_rtt[miner]) min_rtt[miner] = rtt;
    } else if (kind == "fault_started" && f["fault"] == "host_partition") {
      fault_started = f;
      cut_at = t;
    } else if (kind == "fault_ended" && f["fault"] == "host_partition") healed_at = t;
    else if (kind == "host_link_changed") link_up.push_back(f["up"]);
    else if (kind == "device_detached" && cut_at >= 0 && healed_at < 0) detached_at.emplace(f["name"], t);
    else if (kind == "recovery_checked" && f["step"] == "cut the host link") recovery = f;
  }
  EXPECT_TRUE(pools_started.count("emu-lab") && pools_started.count("emu-remote"));
  for (const auto& d : lab) {
    EXPECT_TRUE(attached.count(d)) << d;
    EXPECT_EQ(registered_link[d].rfind("udp:127.0.0.1:", 0), 0u) << d << ": on the trust node's host, " << registered_link[d];
    EXPECT_FALSE(detached_at.count(d)) << d << " was detached by the partition of the other host";
  }
  for (const auto& d : remote) {
    EXPECT_TRUE(attached.count(d)) << d;
    EXPECT_EQ(registered_link[d].rfind("udp:10.78.0.2:", 0), 0u)
        << d << ": its datagrams reach the trust node from the far host's address, " << registered_link[d];
    EXPECT_TRUE(detached_at.count(d)) << d << " was not detached while the host link was down";
  }
  // Mining across the host link: a far-host miner's round trip covers the link's delay both ways.
  int remote_miners = 0;
  for (const auto& d : remote)
    if (min_rtt.count(d)) {
      ++remote_miners;
      EXPECT_GE(min_rtt[d], 2 * kLatencyMs) << d;
    }
  EXPECT_GE(remote_miners, 1) << "no far-host device mined";
  // The partition: both ends down, then up; every far-host device its target; recovered.
  ASSERT_GE(cut_at, 0) << "host_partition never started";
  ASSERT_GT(healed_at, cut_at);
  EXPECT_EQ(fault_started["devices"], json(remote));
  EXPECT_EQ(fault_started["hosts"], json({"lab", "remote"}));
  EXPECT_EQ(link_up, (std::vector<bool>{false, true}));
  EXPECT_EQ(recovery.value("pass", false), true) << recovery.dump();
}

}  // namespace
}  // namespace iotw::test
