// rigs/udp_faults.toml through the real binaries: AT-mode appliances reach the trust node through the harness's
// UDP fault proxy; 10 % loss + 5 % duplication + 5 % reordering on every UDP link, then a partition of one device
// that heals. No honest device is blacklisted, the ledger re-verifies, every recovery check passes, and the
// report counts what the proxy did per link.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

TEST(RigUdpFaults, LossDuplicationReorderingAndAPartitionOverUdpHoldAndHeal) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult result =
      run_iotw({"rig", "run", std::string(IOTW_RIGS_DIR) + "/udp_faults.toml", "--out", run.string(), "--seed", "7"}, dir);
  ASSERT_EQ(result.code, 0) << result.out << result.err;
  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_EQ(report["pass"], true);
  EXPECT_EQ(report["ledger_valid"], true);
  EXPECT_GE(report["blocks_finalized"].get<int>(), 40);
  EXPECT_TRUE(report["blacklisted"].empty());
  EXPECT_EQ(report["recoveries_failed"], 0);

  // Per UDP link: the proxy's counters; the noise hit every link, the partition only esp8266-at-03.
  const json& links = report["harness"]["links"];
  ASSERT_EQ(links.size(), 6u);
  std::uint64_t lost = 0, duplicated = 0, reordered = 0;
  for (const json& l : links) {
    const std::string device = l["device"];
    EXPECT_EQ(l["link"], "udp") << device;
    EXPECT_EQ(l["udp_proxy"].get<std::string>().rfind("127.0.0.1:", 0), 0u) << device;
    const json& f = l["faults"];
    lost += f["lost_datagrams"].get<std::uint64_t>();
    duplicated += f["duplicated_datagrams"].get<std::uint64_t>();
    reordered += f["reordered_datagrams"].get<std::uint64_t>();
    if (device == "esp8266-at-03")
      EXPECT_GT(f["partitioned_datagrams"].get<std::uint64_t>(), 0u);
    else
      EXPECT_EQ(f["partitioned_datagrams"], 0) << device;
    for (const char* dir_name : {"node_to_device", "device_to_node"})
      EXPECT_GT(l[dir_name]["delivered_datagrams"].get<std::uint64_t>(), 0u) << device << " " << dir_name;
  }
  EXPECT_GT(lost, 0u);
  EXPECT_GT(duplicated, 0u);
  EXPECT_GT(reordered, 0u);

  // The trust node saw each device from one UDP peer (the relay's upstream socket), not the module itself.
  std::map<std::string, std::string> proxies;
  std::set<std::string> recovered;
  for (const std::string& line : lines_of(run / "events.jsonl")) {
    const json e = json::parse(line);
    const json& f = e["fields"];
    if (e["kind"] == "link_created" && f.contains("udp_proxy")) proxies[f["device"]] = f["udp_proxy"];
    if (e["kind"] == "recovery_checked" && f["pass"] == true) recovered.insert(f["step"].get<std::string>());
  }
  EXPECT_EQ(proxies.size(), 6u);
  EXPECT_EQ(recovered, (std::set<std::string>{"lossy UDP", "duplicating UDP", "reordering UDP", "cut esp8266-at-03"}));
  const std::string emu_config = slurp(run / "emu.toml");
  for (const auto& [device, proxy] : proxies)
    EXPECT_NE(emu_config.find("'" + proxy + "'"), std::string::npos) << device << " sends to its proxy " << proxy
                                                                    << "\n" << emu_config;
}

}  // namespace
}  // namespace iotw::test
