// make_rig_link (rig_link.hpp): each device's link made by its kind, with its fault policy, its capture interface, its
// part of the children's configs, its link_created events and its report.json harness.links entries.
#include "rig_link.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace iotw::harness {
namespace {
namespace fs = std::filesystem;

DeviceGroup group(const std::string& prefix, const std::string& model, const std::string& link,
                  const std::string& at_transport = "udp") {
  DeviceGroup g;
  g.name_prefix = prefix;
  g.model = model;
  g.link = link;
  g.at_transport = at_transport;
  return g;
}

class RigLinkTest : public ::testing::Test {
 protected:
  fs::path file = fs::temp_directory_path() / ("rig_link_test_" + std::to_string(::getpid()) + ".pcapng");
  LinkFabric fabric;
  LinkCapture capture{file};
  UdpRelay relay{9};  // the node's [udp] port: never answers here
  const std::uint16_t node_tcp_port = 9;  // the node's [tcp] port: the relays connect only for a module
  RigSpec spec;
  LinkPlant plant() { return {spec, 7, fabric, capture, &relay, 9, node_tcp_port, nullptr, nullptr, {}}; }
  ~RigLinkTest() override {
    fabric.stop();
    relay.stop();
    std::error_code ec;
    fs::remove(file, ec);
  }
};

TEST_F(RigLinkTest, EachKindGetsItsWiringPolicyConfigEventsAndStats) {
  spec.devices = {group("esp", "esp32", "pty"), group("atu", "esp8266", "at"), group("att", "rtl8710", "at", "tcp")};
  LinkPlant p = plant();
  const auto all = spec.instances();
  ASSERT_EQ(all.size(), 3u);

  const auto pty = make_rig_link(all[0], p);
  EXPECT_EQ(pty->kind(), LinkKind::Pty);
  EXPECT_EQ(pty->serial_policies().size(), 1u);
  EXPECT_EQ(pty->udp_policy(), nullptr);
  WiredDevice w{all[0], {}, {}};
  pty->wire(w);
  ASSERT_EQ(w.links.size(), 1u);
  EXPECT_EQ(w.links[0].node_side.rfind("/dev/pts/", 0), 0u) << w.links[0].node_side;
  EXPECT_EQ(pty->created_events().at(0)["device_side"], w.links[0].device_side);
  EXPECT_EQ(pty->stats_json().at(0)["kind"], "pty");
  EXPECT_EQ(pty->stats_json().at(0)["faults"]["dropped_frames"], 0);
  EXPECT_EQ(pty->external_address(), "");

  const auto atu = make_rig_link(all[1], p);
  EXPECT_EQ(atu->kind(), LinkKind::AtUdp);
  EXPECT_TRUE(atu->serial_policies().empty());
  EXPECT_NE(atu->udp_policy(), nullptr);
  WiredDevice u{all[1], {}, {}};
  atu->wire(u);
  EXPECT_NE(u.udp_proxy_port, 0);
  EXPECT_EQ(atu->created_events().at(0)["udp_proxy"], "127.0.0.1:" + std::to_string(u.udp_proxy_port));
  EXPECT_EQ(atu->created_events().at(0)["trust_node_udp"], "127.0.0.1:9");
  EXPECT_EQ(atu->stats_json().at(0)["link"], "udp");
  EXPECT_EQ(atu->stats_json().at(0)["kind"], "at-udp");

  const auto att = make_rig_link(all[2], p);
  EXPECT_EQ(att->kind(), LinkKind::AtTcp);
  ASSERT_EQ(att->serial_policies().size(), 1u) << "the serial fault proxy";
  EXPECT_EQ(att->udp_policy(), nullptr);
  WiredDevice t{all[2], {}, {}};
  att->wire(t);
  ASSERT_EQ(t.links.size(), 1u);
  EXPECT_EQ(t.links[0].node_side, "tcp:127.0.0.1:" + std::to_string(node_tcp_port));
  EXPECT_EQ(t.links[0].device_side.rfind("tcp:127.0.0.1:", 0), 0u);
  EXPECT_NE(t.links[0].device_side, t.links[0].node_side) << "the module connects to the relay, not the node";
  const auto event = att->created_events().at(0);
  EXPECT_EQ(event["at_transport"], "tcp");
  EXPECT_EQ("tcp:" + event["tcp_relay"].get<std::string>(), t.links[0].device_side);
  EXPECT_EQ(att->stats_json().at(0)["kind"], "at-tcp");
  EXPECT_EQ(att->stats_json().at(0)["node_side"], t.links[0].node_side);
  // Fabric links in make order: the PTY device's, then the TCP relay.
  ASSERT_EQ(fabric.stats().size(), 2u);
  EXPECT_EQ(fabric.stats()[1].info.device, "att-01");
}

TEST_F(RigLinkTest, AMeshRigsPtyDeviceGetsOneLinkPerTrustNodeEachWithItsOwnPolicy) {
  spec.devices = {group("esp", "esp32", "pty")};
  spec.mesh = MeshSpec{};
  spec.mesh->trust_nodes = 3;
  LinkPlant p = plant();
  const auto link = make_rig_link(spec.instances().at(0), p);
  const auto policies = link->serial_policies();
  ASSERT_EQ(policies.size(), 3u);
  EXPECT_NE(policies[0], policies[1]);
  const auto stats = link->stats_json();
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats[0]["device"], "esp-01@tn-0");
  EXPECT_EQ(stats[2]["device"], "esp-01@tn-2");
  EXPECT_EQ(link->created_events().at(1)["node"], "tn-1");
  EXPECT_NE(link_seed(7, "esp-01@tn-0"), link_seed(7, "esp-01@tn-1"));
  EXPECT_EQ(link_seed(7, "esp-01"), link_seed(7, "esp-01")) << "from the rig seed and the name only";
}

TEST_F(RigLinkTest, AnExternalUdpDeviceSaysWhereItMustSendAndADatagramLinkNeedsARelay) {
  DeviceGroup ext = group("partner", "external", "external");
  ext.external = ExternalDevice{};
  ext.external->port.kind = DeviceSpec::Kind::Udp;
  ext.external->port.host = "127.0.0.1";
  ext.external->text = "udp";
  spec.devices = {ext};
  LinkPlant p = plant();
  const auto link = make_rig_link(spec.instances().at(0), p);
  EXPECT_EQ(link->kind(), LinkKind::ExternalUdp);
  EXPECT_EQ(link->external_address().rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(link->stats_json().at(0)["external"], "udp");
  p.udp_relay = nullptr;
  EXPECT_THROW(make_rig_link(spec.instances().at(0), p), std::logic_error);
}

}  // namespace
}  // namespace iotw::harness
