// rigs/esp_at_tcp.toml through the real binaries: appliance MCUs drive ESP8266 (AT+CIPSTART="TCP") and RTL8710
// (ATPC=0) modules inside iotw-emu whose TCP connections reach the trust node's [tcp] port on 127.0.0.1 through the
// harness's TCP relay (the serial fault proxy, captured), framed as serial links; the devices register on
// "tcp:127.0.0.1:<port>" and finish 30 blocks with a valid ledger. The rig kills the trust node after block 10: every
// connection closes, each driver reconnects and its device registers again over a new TCP link.
// A second rig puts serial link faults on TCP AT links: drop_frames and a partition, counted in report.json
// harness.links, captured in links.pcapng, and recovered from.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <string>

#include "clean_rig_run.hpp"
#include "iotw_process.hpp"
#include "light_verification.hpp"
#include "tshark_fields.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

TEST(RigAtTcp, AppliancesDrivingEsp8266AndRtl8710ModulesFinishTheirBlocksOverTcp) {
  const CleanRigRun r = run_clean_rig("esp_at_tcp.toml", "11", 30);
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  const auto& run = r.run;
  const json& report = r.report;

  const std::set<std::string> devices{"esp8266-tcp-01", "esp8266-tcp-02", "esp8266-tcp-03",
                                      "rtl8710-tcp-01", "rtl8710-tcp-02", "rtl8710-tcp-03"};
  std::map<std::string, std::string> registered_link, transport;
  std::map<std::string, int> tcp_opens, registered_after_crash;
  bool crashed = false, recovered = false;
  std::set<std::string> tcp_sockets, link_up, active;
  std::string node_tcp;  // the trust node's [tcp] port (tcp_listening)
  std::map<std::string, std::string> relay;  // device -> the harness's relay endpoint (link_created tcp_relay)
  std::vector<json> events;
  for (const std::string& line : lines_of(run / "events.jsonl")) {
    events.push_back(json::parse(line));
    const json& e = events.back();
    const json& f = e["fields"];
    const std::string kind = e["kind"], source = e.value("source", "");
    const std::string emu_name = source.rfind("emu:", 0) == 0 ? source.substr(4) : "";
    if (kind == "fault_started" && f["fault"] == "trust_node_kill") {
      crashed = true;
    } else if (kind == "recovery_checked") {
      recovered = f["pass"].get<bool>();
    } else if (kind == "link_created") {
      relay[f["device"]] = f.value("tcp_relay", "");
      EXPECT_EQ(f["trust_node_tcp"], f["node_side"].get<std::string>().substr(4)) << e.dump();
    } else if (kind == "tcp_listening") {
      node_tcp = "127.0.0.1:" + std::to_string(f["port"].get<int>());
    } else if (kind == "device_registered") {
      registered_link[f["name"]] = f["link"];
      if (crashed) registered_after_crash[f["name"]]++;
    } else if (kind == "at_started") {
      transport[emu_name] = f["transport"];
    } else if (kind == "at_socket" && f["proto"] == "tcp") {
      EXPECT_EQ(f["remote"], relay[emu_name]) << emu_name << ": the module connects to its relay in the harness";
      EXPECT_NE(f["remote"], node_tcp) << emu_name << ": not straight to the node's [tcp] port";
      tcp_sockets.insert(emu_name);
      tcp_opens[emu_name]++;
    } else if (kind == "at_link" && f["event"] == "link_up") {
      link_up.insert(emu_name);
    } else if (kind == "assignment_sent") {
      active.insert(f["miner_name"].get<std::string>());
    } else if (kind == "attestation") {
      active.insert(f["witness_name"].get<std::string>());
    } else if (kind == "frame_error") {
      ADD_FAILURE() << "frame error on a TCP link: " << e.dump();
    }
  }
  ASSERT_FALSE(node_tcp.empty()) << "the trust node listened on [tcp]";
  EXPECT_TRUE(crashed);
  EXPECT_TRUE(recovered) << "all devices attached again after the trust node's restart";
  for (const std::string& d : devices) {
    EXPECT_EQ(transport[d], "tcp") << d;
    EXPECT_TRUE(tcp_sockets.count(d)) << d << ": the module opened a TCP connection";
    EXPECT_TRUE(link_up.count(d)) << d << ": the AT driver's link came up";
    ASSERT_TRUE(registered_link.count(d)) << d << " never registered";
    EXPECT_EQ(registered_link[d].rfind("tcp:127.0.0.1:", 0), 0u)
        << d << " registered over " << registered_link[d] << ", expected a TCP link on loopback";
    EXPECT_GE(tcp_opens[d], 2) << d << ": reconnected after the node closed its connection";
    EXPECT_GE(registered_after_crash[d], 1) << d << ": registered again over its new connection";
  }
  bool esp_worked = false, rtl_worked = false;
  for (const std::string& d : active) {
    esp_worked = esp_worked || d.rfind("esp8266-tcp-", 0) == 0;
    rtl_worked = rtl_worked || d.rfind("rtl8710-tcp-", 0) == 0;
  }
  EXPECT_TRUE(esp_worked);
  EXPECT_TRUE(rtl_worked);
  EXPECT_EQ(expect_light_verification(events, report).adopters, devices);  // checkpoints over the stream too

  const std::string node_config = slurp(run / "trust_node.toml");
  EXPECT_NE(node_config.find("[tcp]"), std::string::npos);
  const std::string emu_config = slurp(run / "emu.toml");
  for (const std::string& d : devices)
    EXPECT_NE(emu_config.find("trust_node_tcp = '" + relay[d] + "'"), std::string::npos) << d << ": " << emu_config;
  // Each TCP link is a serial link of the harness: its counters in harness.links, its frames in links.pcapng.
  std::set<std::string> counted;
  for (const json& l : report["harness"]["links"]) {
    EXPECT_EQ(l["kind"], "at-tcp") << l.dump();
    EXPECT_EQ(l["node_side"], "tcp:" + node_tcp) << l.dump();
    EXPECT_GT(l["device_to_node"]["delivered_bytes"].get<std::uint64_t>(), 0u) << l.dump();
    counted.insert(l["device"].get<std::string>());
  }
  EXPECT_EQ(counted, devices);
  std::set<std::string> hellos;
  for (const auto& row : tshark_fields(run / "links.pcapng", {"frame.interface_name", "pbf.iotw.v1.Hello.name"}))
    if (!row[1].empty()) hellos.insert(row[0] + "=" + row[1]);
  for (const std::string& d : devices) EXPECT_TRUE(hellos.count(d + "=" + d)) << d << ": its Hello is captured";
}

/// A rig of TCP AT links with serial link faults: drop_frames on one module, a partition of another.
std::string tcp_faults_rig() {
  return R"([rig]
name = "at_tcp_faults"
deadline_s = 120
[trust_node]
witnesses = 2
block_interval_ms = 50
[[devices]]
name_prefix = "esp8266-tcp"
model = "esp8266"
link = "at"
at_transport = "tcp"
count = 2
[[devices]]
name_prefix = "rtl8710-tcp"
model = "rtl8710"
link = "at"
at_transport = "tcp"
count = 2
[traffic]
tx_per_s = 20
[target]
blocks = 30
[[steps]]
name = "drop frames"
after_block = 5
fault = "drop_frames"
rate = 0.3
devices = ["esp8266-tcp-01"]
duration_s = 2
recover_within_s = 20
[[steps]]
name = "partition"
fault = "partition"
devices = ["rtl8710-tcp-02"]
duration_s = 2
recover_within_s = 20
[pass]
blocks_finalized_min = 30
ledger_valid = true
false_blacklist_max = 0
recoveries_failed_max = 0
)";
}

TEST(RigAtTcp, SerialLinkFaultsOnTcpLinksAreAppliedCountedCapturedAndRecoveredFrom) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  {
    std::ofstream out(dir / "at_tcp_faults.toml");
    out << tcp_faults_rig();
  }
  const IotwResult r = run_iotw({"rig", "run", (dir / "at_tcp_faults.toml").string(), "--out", run.string(), "--seed",
                                 "12"}, dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_EQ(report["pass"], true);
  EXPECT_EQ(report["ledger_valid"], true);
  std::map<std::string, json> links;
  for (const json& l : report["harness"]["links"]) links[l["device"]] = l;
  ASSERT_EQ(links.size(), 4u) << report["harness"]["links"].dump();
  EXPECT_GT(links["esp8266-tcp-01"]["faults"]["dropped_frames"].get<std::uint64_t>(), 0u) << links["esp8266-tcp-01"];
  EXPECT_GT(links["rtl8710-tcp-02"]["faults"]["stalled_bytes"].get<std::uint64_t>(), 0u) << links["rtl8710-tcp-02"];
  EXPECT_EQ(links["esp8266-tcp-02"]["faults"]["dropped_frames"], 0) << "a fault acts on the devices it names only";

  std::map<std::string, bool> recovered;  // fault -> its recovery check passed
  std::map<std::string, std::string> detail;
  for (const std::string& line : lines_of(run / "events.jsonl")) {
    const json e = json::parse(line);
    if (e["kind"] == "recovery_checked") {
      recovered[e["fields"]["check"]] = e["fields"]["pass"];
      detail[e["fields"]["check"]] = e["fields"]["detail"];
    }
  }
  ASSERT_EQ(recovered.size(), 2u);
  for (const auto& [check, pass] : recovered) EXPECT_TRUE(pass) << check << ": " << detail[check];
  for (const auto& [check, text] : detail)  // judged by frames delivered on the link, like a PTY link
    EXPECT_NE(text.find("recovered"), std::string::npos) << check << ": " << text;

  // Captured: the faulted modules' frames on their own interfaces, each way.
  std::map<std::string, std::set<std::string>> directions;
  for (const auto& row : tshark_fields(run / "links.pcapng", {"frame.interface_name", "iotw.direction"}))
    directions[row[0]].insert(row[1]);
  for (const char* d : {"esp8266-tcp-01", "rtl8710-tcp-02"})
    EXPECT_EQ(directions[d], (std::set<std::string>{"0", "1"})) << d;
}

}  // namespace
}  // namespace iotw::test
