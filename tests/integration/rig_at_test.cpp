// rigs/esp_at.toml through the real binaries: appliance MCUs running the firmware core over the AT-driver
// port drive ESP8266 (ESP-AT) and RTL8710 (Realtek AT v2) modules inside iotw-emu; the modules' UDP sockets
// reach the trust node's [udp] port on 127.0.0.1; the devices finish 20 blocks with a valid ledger, and
// links.pcapng holds every relayed datagram as IPv4/UDP that tshark and tools/wireshark/iotw.lua (framing)
// and Wireshark's protobuf dissector (the Envelope, from protocol/proto/iotw.proto) decode.
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

TEST(RigAt, AppliancesDrivingEsp8266AndRtl8710ModulesFinishTheirBlocksOverUdp) {
  const CleanRigRun r = run_clean_rig("esp_at.toml", "11", 20);
  ASSERT_EQ(r.result.code, 0) << r.result.out << r.result.err;
  const auto& run = r.run;
  const json& report = r.report;

  const std::set<std::string> devices{"esp8266-at-01", "esp8266-at-02", "esp8266-at-03",
                                      "rtl8710-at-01", "rtl8710-at-02", "rtl8710-at-03"};
  std::map<std::string, std::string> registered_link, registered_model;  // trust node: device_registered
  std::map<std::string, std::string> at_model;                          // emu: at_started
  std::set<std::string> link_up, attached, active;                      // emu: at_link link_up, state attached
  std::vector<json> events;
  for (const std::string& line : lines_of(run / "events.jsonl")) {
    events.push_back(json::parse(line));
    const json& e = events.back();
    const json& f = e["fields"];
    const std::string kind = e["kind"], source = e.value("source", "");
    const std::string emu_name = source.rfind("emu:", 0) == 0 ? source.substr(4) : "";
    if (kind == "device_registered") {
      registered_link[f["name"]] = f["link"];
      registered_model[f["name"]] = f["model"];
    } else if (kind == "at_started") {
      EXPECT_EQ(f["mode"], "at");
      at_model[emu_name] = f["model"];
    } else if (kind == "at_link" && f["event"] == "link_up") {
      link_up.insert(emu_name);
    } else if (kind == "state" && f["state"] == "attached") {
      attached.insert(emu_name);
    } else if (kind == "assignment_sent") {
      active.insert(f["miner_name"].get<std::string>());
    } else if (kind == "attestation") {
      active.insert(f["witness_name"].get<std::string>());
    }
  }
  for (const std::string& d : devices) {
    const std::string model = d.substr(0, 7);
    EXPECT_EQ(at_model[d], model) << d << ": runs as an AT-mode appliance in iotw-emu";
    EXPECT_TRUE(link_up.count(d)) << d << ": the AT driver opened its UDP link through the module";
    EXPECT_TRUE(attached.count(d)) << d << ": the firmware core attached";
    ASSERT_TRUE(registered_link.count(d)) << d << " never registered";
    EXPECT_EQ(registered_link[d].rfind("udp:127.0.0.1:", 0), 0u)
        << d << " registered over " << registered_link[d] << ", expected the module's UDP socket on loopback";
    EXPECT_EQ(registered_model[d], model);
  }
  bool esp_worked = false, rtl_worked = false;  // both module families carried mining or witnessing traffic
  for (const std::string& d : active) {
    esp_worked = esp_worked || d.rfind("esp8266-at-", 0) == 0;
    rtl_worked = rtl_worked || d.rfind("rtl8710-at-", 0) == 0;
  }
  EXPECT_TRUE(esp_worked);
  EXPECT_TRUE(rtl_worked);
  // Light verification over UDP: every appliance adopted a signed checkpoint (docs/protocol.md §6).
  EXPECT_EQ(expect_light_verification(events, report).adopters, devices);

  // links.pcapng: one IPv4/UDP packet per relayed datagram on the device's own interface, as on the device's
  // leg of the proxy (module <-> its proxy endpoint); the Lua dissector claims each by its CRC-32 trailer.
  const auto rows = tshark_fields(run / "links.pcapng", {"frame.interface_name", "ip.src", "ip.dst", "udp.srcport",
                                                         "udp.dstport", "iotw.crc_ok", "iotw.direction",
                                                         "protobuf.message.name", "pbf.iotw.v1.Hello.name"});
  ASSERT_EQ(rows.size(), report["harness"]["captured_frames"].get<std::size_t>());
  ASSERT_GT(rows.size(), 0u);
  std::string node_udp;  // harness: link_created names the trust node's [udp] endpoint and each proxy endpoint
  std::map<std::string, std::string> proxy_port;
  for (const json& e : events)
    if (e["kind"] == "link_created" && e["fields"].contains("trust_node_udp")) {
      node_udp = e["fields"]["trust_node_udp"].get<std::string>().substr(10);  // after "127.0.0.1:"
      proxy_port[e["fields"]["device"]] = e["fields"]["udp_proxy"].get<std::string>().substr(10);
    }
  ASSERT_FALSE(node_udp.empty()) << "link_created names the trust node's UDP port";
  std::set<std::string> hello_names, messages;
  for (auto row : rows) {
    row[7] = envelope_member(row[7]);
    EXPECT_TRUE(devices.count(row[0])) << "interface " << row[0];
    EXPECT_EQ(row[1], "127.0.0.1");
    EXPECT_EQ(row[2], "127.0.0.1");
    EXPECT_EQ(row[5], "1") << "every relayed datagram is a CRC-valid IOTW datagram";
    messages.insert(row[7]);
    if (row[6] == "1") {
      EXPECT_EQ(row[4], proxy_port[row[0]]) << row[7] << ": device -> trust node goes to the device's proxy port";
    } else {
      EXPECT_EQ(row[6], "0") << row[7];
      EXPECT_EQ(row[3], proxy_port[row[0]]) << row[7] << ": trust node -> device comes from the device's proxy port";
    }
    if (row[7] == "Hello") {
      EXPECT_EQ(row[0], row[8]) << "a device's Hello travels on its own link";
      hello_names.insert(row[8]);
    }
  }
  EXPECT_EQ(hello_names, devices);
  for (const char* m : {"Challenge", "Prove", "Welcome", "Assignment", "Result", "WitnessRequest", "Attestation"})
    EXPECT_TRUE(messages.count(m)) << m;

  const std::string node_config = slurp(run / "trust_node.toml");
  EXPECT_NE(node_config.find("[udp]"), std::string::npos);
  EXPECT_EQ(node_config.find("[[serial]]"), std::string::npos) << "AT devices have no PTY link";
}

}  // namespace
}  // namespace iotw::test
