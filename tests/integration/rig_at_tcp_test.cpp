// rigs/esp_at_tcp.toml through the real binaries: appliance MCUs drive ESP8266 (AT+CIPSTART="TCP") and RTL8710
// (ATPC=0) modules inside iotw-emu whose TCP connections reach the trust node's [tcp] port on 127.0.0.1, framed
// as serial links; the devices register on "tcp:127.0.0.1:<port>" and finish 30 blocks with a valid ledger. The
// rig kills the trust node after block 10: every connection closes, each driver reconnects and its device
// registers again over a new TCP link.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>

#include "clean_rig_run.hpp"
#include "iotw_process.hpp"
#include "light_verification.hpp"

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
    } else if (kind == "tcp_listening") {
      node_tcp = "127.0.0.1:" + std::to_string(f["port"].get<int>());
    } else if (kind == "device_registered") {
      registered_link[f["name"]] = f["link"];
      if (crashed) registered_after_crash[f["name"]]++;
    } else if (kind == "at_started") {
      transport[emu_name] = f["transport"];
    } else if (kind == "at_socket" && f["proto"] == "tcp") {
      EXPECT_EQ(f["remote"], node_tcp) << emu_name << ": the module connects straight to the node's [tcp] port";
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
  EXPECT_NE(emu_config.find("trust_node_tcp = '" + node_tcp + "'"), std::string::npos) << emu_config;
}

}  // namespace
}  // namespace iotw::test
