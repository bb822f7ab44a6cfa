// The link kind table (iotw/harness/link_kind.hpp): one row per LinkKind, in order; the rig file's link, at_transport
// and external select the kind; the proxy family decides which link faults of the registry apply.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>

#include "iotw/harness/fault_registry.hpp"
#include "iotw/harness/link_kind.hpp"
#include "iotw/harness/rig_loader.hpp"

namespace iotw::harness {
namespace {

TEST(LinkKindTable, HasOneRowPerKindInOrderWithUniqueNames) {
  const auto table = link_kind_table();
  ASSERT_EQ(table.size(), 7u);
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(table[i].kind), i) << table[i].name;
    EXPECT_EQ(&link_kind_info(table[i].kind), &table[i]);
    EXPECT_EQ(link_kind_name(table[i].kind), table[i].name);
    EXPECT_TRUE(names.insert(table[i].name).second) << "duplicate name " << table[i].name;
    EXPECT_TRUE(table[i].captured) << table[i].name << ": every link is captured in links.pcapng";
    EXPECT_EQ(table[i].emulated, table[i].link != "external") << table[i].name;
    EXPECT_EQ(table[i].emu_fragment == EmuLinkFragment::None, !table[i].emulated) << table[i].name;
  }
}

TEST(LinkKindTable, TcpLinksCrossTheSerialFaultProxyAndUdpLinksTheDatagramOne) {
  EXPECT_EQ(link_kind_info(LinkKind::Pty).proxy, LinkProxy::Serial);
  EXPECT_EQ(link_kind_info(LinkKind::AtTcp).proxy, LinkProxy::Serial) << "TCP carries the serial byte stream";
  EXPECT_EQ(link_kind_info(LinkKind::ExternalSerial).proxy, LinkProxy::Serial);
  EXPECT_EQ(link_kind_info(LinkKind::ExternalTcp).proxy, LinkProxy::Serial);
  EXPECT_EQ(link_kind_info(LinkKind::AtUdp).proxy, LinkProxy::Datagram);
  EXPECT_EQ(link_kind_info(LinkKind::Tap).proxy, LinkProxy::Datagram);
  EXPECT_EQ(link_kind_info(LinkKind::ExternalUdp).proxy, LinkProxy::Datagram);
  EXPECT_EQ(link_kind_info(LinkKind::AtTcp).fault_links(), unsigned{kSerialLinks});
  EXPECT_EQ(link_kind_info(LinkKind::AtUdp).fault_links(), unsigned{kUdpLinks});
  EXPECT_EQ(link_kind_info(LinkKind::AtTcp).wiring, LinkWiring::TcpRelay);
  EXPECT_EQ(link_kind_info(LinkKind::AtTcp).node_listener, NodeListener::Tcp);
  EXPECT_EQ(link_kind_info(LinkKind::ExternalTcp).node_listener, NodeListener::Serial) << "relayed to a node PTY";
  // Only TAP needs root; only PTY devices get a link per trust node; both AT kinds are AT modules.
  for (const LinkKindInfo& k : link_kind_table()) {
    EXPECT_EQ(k.needs_root, k.kind == LinkKind::Tap) << k.name;
    EXPECT_EQ(k.per_trust_node, k.kind == LinkKind::Pty) << k.name;
    EXPECT_EQ(k.at_module, k.kind == LinkKind::AtUdp || k.kind == LinkKind::AtTcp) << k.name;
  }
}

TEST(LinkKindTable, EveryLinkFaultActsOnSomeKindAndPartitionOnEvery) {
  for (const FaultDef& f : fault_registry()) {
    if (f.mechanism != FaultMechanism::LinkProxy) continue;
    bool some = false, all = true;
    for (const LinkKindInfo& k : link_kind_table()) {
      some = some || (f.links & k.fault_links());
      all = all && (f.links & k.fault_links());
    }
    EXPECT_TRUE(some) << f.name;
    if (f.name == "partition" || f.name == "stall") {
      EXPECT_TRUE(all) << f.name;
    }
  }
}

TEST(LinkKindOf, TheRigFilesKeysSelectTheKind) {
  using K = DeviceSpec::Kind;
  EXPECT_EQ(link_kind_of("pty", "udp", K::Serial), LinkKind::Pty);
  EXPECT_EQ(link_kind_of("at", "udp", K::Serial), LinkKind::AtUdp);
  EXPECT_EQ(link_kind_of("at", "tcp", K::Serial), LinkKind::AtTcp);
  EXPECT_EQ(link_kind_of("tap", "udp", K::Serial), LinkKind::Tap);
  EXPECT_EQ(link_kind_of("pty", "tcp", K::Tcp), LinkKind::Pty) << "at_transport and external only where they apply";
  EXPECT_EQ(link_kind_of("external", "udp", K::Serial), LinkKind::ExternalSerial);
  EXPECT_EQ(link_kind_of("external", "udp", K::Udp), LinkKind::ExternalUdp);
  EXPECT_EQ(link_kind_of("external", "udp", K::Tcp), LinkKind::ExternalTcp);
  EXPECT_THROW(link_kind_of("serial", "udp", K::Serial), std::invalid_argument);
  EXPECT_THROW(link_kind_of("at", "quic", K::Serial), std::invalid_argument);
  EXPECT_THROW(link_kind_of("", "", K::Serial), std::invalid_argument);
}

TEST(LinkKindOf, ALoadedRigsDevicesHaveTheirKinds) {
  const RigSpec spec = parse_rig(R"([rig]
name = "kinds"
[pass]
ledger_valid = true
[[devices]]
name_prefix = "pty"
[[devices]]
name_prefix = "atu"
model = "esp8266"
link = "at"
[[devices]]
name_prefix = "att"
model = "rtl8710"
link = "at"
at_transport = "tcp"
[[devices]]
name = "xs"
external = "serial:/dev/ttyUSB7"
[[devices]]
name = "xu"
external = "udp"
[[devices]]
name = "xt"
external = "tcp"
)", "x.toml");
  const auto all = spec.instances();
  ASSERT_EQ(all.size(), 6u);
  const LinkKind want[] = {LinkKind::Pty, LinkKind::AtUdp, LinkKind::AtTcp,
                           LinkKind::ExternalSerial, LinkKind::ExternalUdp, LinkKind::ExternalTcp};
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].link_kind(), want[i]) << all[i].name;
    EXPECT_EQ(spec.devices[i].link_kind(), want[i]) << spec.devices[i].name_prefix;
    EXPECT_EQ(link_kind_info(want[i]).link, all[i].link) << all[i].name;
    EXPECT_EQ(all[i].serial_linked(), link_kind_info(want[i]).proxy == LinkProxy::Serial) << all[i].name;
  }
}

}  // namespace
}  // namespace iotw::harness
