// rigs/esp_tap.toml through the real binaries (issue 4, TAP mode): the harness creates a network namespace of its
// own with a bridge and one TAP interface per module, runs the trust node and iotw-emu in it (one lwIP process per
// ESP32 / RTL8710 module in SoC mode), and deletes it afterwards. The modules, with the vendors' MACs, send from
// their own IPv4 addresses to their UDP fault proxy endpoints on the bridge (a udp_loss step hits one), finish
// their blocks with a valid ledger, appear in links.pcapng, and nothing of the namespace remains.
// Needs CAP_NET_ADMIN and CAP_SYS_ADMIN (CI runs as root); without them the run exits 3 (could not run) and the test fails.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <set>
#include <string>

#include "clean_rig_run.hpp"
#include "iotw_process.hpp"
#include "light_verification.hpp"
#include "tshark_fields.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

TEST(RigTap, Esp32AndRtl8710ModulesOverTapFinishTheirBlocksInTheirOwnNamespace) {
  const CleanRigRun r = run_clean_rig("esp_tap.toml", "21", 20);
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  const auto& run = r.run;
  const json& report = r.report;
  const IotwResult& result = r.result;

  // The namespace the harness made (printed on stdout) is gone.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(result.out, m, std::regex("network namespace (iotw-[0-9]+-[0-9]+): bridge iotwbr0 "
                                                          "10\\.77\\.0\\.1/24, 6 TAP interface")))
      << result.out;
  EXPECT_FALSE(std::filesystem::exists("/run/netns/" + m[1].str())) << m[1] << " was not deleted";
  EXPECT_TRUE(std::filesystem::exists(run / "tap_network.ip"));

  const std::vector<std::string> devices{"esp32-tap-01", "esp32-tap-02", "esp32-tap-03",
                                         "rtl8710-tap-01", "rtl8710-tap-02", "rtl8710-tap-03"};
  std::map<std::string, json> tap_started, link_created;
  std::map<std::string, std::string> registered_link;
  std::set<std::string> attached, active, stopped;
  std::vector<json> events;
  for (const std::string& line : lines_of(run / "events.jsonl")) {
    events.push_back(json::parse(line));
    const json& e = events.back();
    const json& f = e["fields"];
    const std::string kind = e["kind"], source = e.value("source", "");
    const std::string emu_name = source.rfind("emu:", 0) == 0 ? source.substr(4) : "";
    if (kind == "tap_started") tap_started[emu_name] = f;
    else if (kind == "tap_stopped") stopped.insert(emu_name);
    else if (kind == "link_created" && f.value("link", "") == "tap") link_created[f["device"]] = f;
    else if (kind == "device_registered") registered_link[f["name"]] = f["link"];
    else if (kind == "state" && f["state"] == "attached") attached.insert(emu_name);
    else if (kind == "assignment_sent") active.insert(f["miner_name"].get<std::string>());
    else if (kind == "attestation") active.insert(f["witness_name"].get<std::string>());
  }
  std::map<std::string, std::string> proxy_port, module_ip, module_port;
  for (std::size_t k = 0; k < devices.size(); ++k) {
    const std::string& d = devices[k];
    const std::string ip = "10.77.0." + std::to_string(2 + k);
    ASSERT_TRUE(tap_started.count(d)) << d << ": no tap_started";
    const json& t = tap_started[d];
    EXPECT_EQ(t["tap"], "tap" + std::to_string(k));
    EXPECT_EQ(t["ip"], ip + "/24");
    EXPECT_EQ(t["mode"], "soc");
    EXPECT_EQ(t["stack"], "lwip 2.1.3");
    const std::string oui = k < 3 ? "24:0a:c4:" : "00:e0:4c:";  // Espressif / Realtek
    EXPECT_EQ(t["mac"].get<std::string>().rfind(oui, 0), 0u) << d << " " << t["mac"];
    EXPECT_EQ(t["model"], k < 3 ? "esp32" : "rtl8710");
    EXPECT_EQ(link_created[d]["mac"], t["mac"]);
    EXPECT_EQ(t["trust_node_udp"], link_created[d]["udp_proxy"]) << d << ": the module sends to its fault proxy";
    EXPECT_EQ(t["trust_node_udp"].get<std::string>().rfind("10.77.0.1:", 0), 0u) << "on the bridge";
    EXPECT_EQ(registered_link[d].rfind("udp:127.0.0.1:", 0), 0u)
        << d << ": the trust node sees the proxy's upstream socket for the device, " << registered_link[d];
    proxy_port[d] = t["trust_node_udp"].get<std::string>().substr(10);
    module_ip[d] = ip;
    module_port[d] = std::to_string(t["local_port"].get<int>());
    EXPECT_TRUE(attached.count(d)) << d;
    EXPECT_TRUE(stopped.count(d)) << d << ": its lwIP process stopped on SIGTERM";
  }
  bool esp = false, rtl = false;
  for (const std::string& d : active) {
    esp = esp || d.rfind("esp32-tap-", 0) == 0;
    rtl = rtl || d.rfind("rtl8710-tap-", 0) == 0;
  }
  EXPECT_TRUE(esp);
  EXPECT_TRUE(rtl);
  EXPECT_EQ(expect_light_verification(events, report).adopters, std::set<std::string>(devices.begin(), devices.end()));

  // The UDP fault step on esp32-tap-01 dropped datagrams and the link recovered.
  EXPECT_EQ(report["step_checks"].size(), 1u);
  for (const json& c : report["step_checks"]) EXPECT_EQ(c["pass"], true) << c.dump();
  std::uint64_t lost = 0;
  for (const json& l : report["harness"]["links"])
    if (l["device"] == "esp32-tap-01") lost = l["faults"]["lost_datagrams"].get<std::uint64_t>();
  EXPECT_GT(lost, 0u);
  // links.pcapng: each module's datagrams on its own interface, from its own IPv4 address and lwIP port to its
  // proxy endpoint on the bridge, decoded by the Lua dissector.
  const auto rows = tshark_fields(run / "links.pcapng", {"frame.interface_name", "ip.src", "ip.dst", "udp.srcport",
                                                         "udp.dstport", "iotw.direction", "iotw.msg", "iotw.name"});
  ASSERT_EQ(rows.size(), report["harness"]["captured_frames"].get<std::size_t>());
  std::set<std::string> hello_names;
  for (const auto& row : rows) {
    ASSERT_TRUE(module_ip.count(row[0])) << "interface " << row[0];
    const bool up = row[5] == "1";
    EXPECT_EQ(up ? row[1] : row[2], module_ip[row[0]]) << row[6];
    EXPECT_EQ(up ? row[2] : row[1], "10.77.0.1") << row[6];
    EXPECT_EQ(up ? row[3] : row[4], module_port[row[0]]) << row[6];
    EXPECT_EQ(up ? row[4] : row[3], proxy_port[row[0]]) << row[6];
    if (row[6] == "Hello") hello_names.insert(row[7]);
  }
  EXPECT_EQ(hello_names, std::set<std::string>(devices.begin(), devices.end()));

  const std::string node_config = slurp(run / "trust_node.toml");
  EXPECT_NE(node_config.find("listen = '0.0.0.0:"), std::string::npos) << node_config;
  EXPECT_EQ(node_config.find("[[serial]]"), std::string::npos);
}

}  // namespace
}  // namespace iotw::test
