// [mesh] (docs/rig-format.md "Mesh") and the mesh faults (docs/faults.md "Trust-node mesh faults"): accepted keys,
// defaults and file:line errors.
#include <gtest/gtest.h>

#include <string>

#include "iotw/harness/rig_loader.hpp"
#include "rig_error_of.hpp"

using iotw::harness::load_rig;
using iotw::harness::parse_rig;

namespace {

/// A rig of six esp32 PTY devices with `mesh` (TOML, "" = none) before them and `extra` appended.
std::string mesh_rig(const std::string& mesh = "[mesh]\ntrust_nodes = 3\netcd_members = 3\n",
                     const std::string& extra = "") {
  return "[rig]\nname = \"m\"\n" + mesh + "[[devices]]\ncount = 6\n[pass]\nledger_valid = true\n" + extra;
}

}  // namespace

TEST(RigLoaderMesh, KeysAndDefaults) {
  const auto rig = parse_rig(mesh_rig(), "x.toml");
  ASSERT_TRUE(rig.mesh);
  EXPECT_EQ(rig.mesh->trust_nodes, 3);
  EXPECT_EQ(rig.mesh->etcd_members, 3);
  EXPECT_EQ(rig.mesh->lease_ttl_s, 2);
  EXPECT_EQ(rig.mesh->line, 3);
  EXPECT_EQ(rig.trust_nodes(), 3);
  const auto lease = parse_rig(mesh_rig("[mesh]\ntrust_nodes = 7\netcd_members = 1\nlease_ttl_s = 5\n"), "x.toml");
  EXPECT_EQ(lease.mesh->lease_ttl_s, 5);
  EXPECT_EQ(lease.trust_nodes(), 7);
  // Without [mesh]: one trust node, as ever.
  const auto single = parse_rig(mesh_rig(""), "x.toml");
  EXPECT_FALSE(single.mesh);
  EXPECT_EQ(single.trust_nodes(), 1);
}

TEST(RigLoaderMesh, MeshErrors) {
  EXPECT_EQ(error_of(mesh_rig("[mesh]\ntrust_nodes = 3\n")),
            "x.toml:3:1: missing required key 'etcd_members' in [mesh] (an integer in 1..7)");
  EXPECT_EQ(error_of(mesh_rig("[mesh]\ntrust_nodes = 8\netcd_members = 3\n")),
            "x.toml:4:15: 'trust_nodes' in [mesh] is 8; allowed range 1..7");
  EXPECT_EQ(error_of(mesh_rig("[mesh]\ntrust_nodes = 3\netcd_members = 0\n")),
            "x.toml:5:16: 'etcd_members' in [mesh] is 0; allowed range 1..7");
  EXPECT_EQ(error_of(mesh_rig("[mesh]\ntrust_nodes = 3\netcd_members = 3\nlease_ttl_s = 0\n")),
            "x.toml:6:15: 'lease_ttl_s' in [mesh] is 0; allowed range 1..60");
  EXPECT_EQ(error_of(mesh_rig("[mesh]\ntrust_nodes = 3\netcd_members = 3\nleader = \"tn-0\"\n")),
            "x.toml:6:1: unknown key 'leader' in [mesh]; allowed: trust_nodes, etcd_members, lease_ttl_s");
}

TEST(RigLoaderMesh, OnlyEmulatedPtyDevices) {
  const std::string mesh = "[mesh]\ntrust_nodes = 2\netcd_members = 1\n";
  const std::string why = "in [[devices]]: a [mesh] rig (line 3) runs only emulated devices with link = \"pty\" (one "
                          "PTY link per trust node; the device moves to the next node's link on failover)";
  EXPECT_EQ(error_of("[rig]\nname = \"m\"\n" + mesh + "[[devices]]\ncount = 6\nlink = \"at\"\n[pass]\nledger_valid = true\n"),
            "x.toml:8:8: link 'at' " + why);
  EXPECT_EQ(error_of("[rig]\nname = \"m\"\n" + mesh + "[[devices]]\ncount = 6\n[[devices]]\nexternal = \"udp\"\n"
                     "name = \"dut\"\n[pass]\nledger_valid = true\n"),
            "x.toml:9:12: external device 'dut' " + why);
  EXPECT_EQ(error_of("[rig]\nname = \"m\"\n" + mesh + "[[devices]]\ncount = 6\nmodel = \"qemu-cortex-m3\"\n"
                     "[pass]\nledger_valid = true\n"),
            "x.toml:8:9: model 'qemu-cortex-m3' (its UART0 is one PTY link) " + why);
  // dps and bulb devices run the firmware on a PTY link: accepted.
  EXPECT_EQ(error_of("[rig]\nname = \"m\"\n" + mesh + "[[devices]]\ncount = 5\n[[devices]]\nname_prefix = \"d\"\n"
                     "model = \"dps\"\n[pass]\nledger_valid = true\n"),
            "");
}

TEST(RigLoaderMesh, NodeFaults) {
  const auto rig = parse_rig(mesh_rig("[mesh]\ntrust_nodes = 3\netcd_members = 3\n",
                                      "[[steps]]\nfault = \"trust_node_kill\"\nnode = \"leader\"\n"
                                      "[[steps]]\nfault = \"trust_node_stop\"\nnode = 2\nduration_s = 1\n"
                                      "[[steps]]\nfault = \"etcd_kill\"\nmember = 1\n"
                                      "[[steps]]\nfault = \"etcd_stop\"\nduration_s = 2\n"
                                      "[[steps]]\nfault = \"partition_node\"\nnode = 1\nfrom = \"devices\"\nduration_s = 3\n"
                                      "[[steps]]\nfault = \"partition_node\"\nfrom = \"etcd\"\nduration_s = 3\n"),
                             "x.toml");
  ASSERT_EQ(rig.steps.size(), 6u);
  EXPECT_TRUE(rig.steps[0].fault.node.leader);
  EXPECT_EQ(rig.steps[0].fault.node.text(), "leader");
  EXPECT_FALSE(rig.steps[1].fault.node.leader);
  EXPECT_EQ(rig.steps[1].fault.node.index, 2);
  EXPECT_EQ(rig.steps[2].fault.member, 1);
  EXPECT_EQ(rig.steps[3].fault.member, 0);
  EXPECT_TRUE(rig.steps[4].fault.from_devices);
  EXPECT_EQ(rig.steps[4].fault.node.index, 1);
  EXPECT_FALSE(rig.steps[5].fault.from_devices);
  EXPECT_EQ(rig.steps[5].fault.node.index, 0);
  for (const auto& s : rig.steps) EXPECT_FALSE(s.fault.device_fault()) << s.fault.kind;
  // A rig without [mesh] has node 0 only; "leader" is that node.
  EXPECT_EQ(error_of(mesh_rig("", "[[steps]]\nfault = \"trust_node_kill\"\nnode = \"leader\"\n")), "");
  EXPECT_EQ(error_of(mesh_rig("", "[[steps]]\nfault = \"trust_node_kill\"\nnode = 0\n")), "");
}

TEST(RigLoaderMesh, NodeFaultErrors) {
  const std::string mesh = "[mesh]\ntrust_nodes = 3\netcd_members = 2\n";
  EXPECT_EQ(error_of(mesh_rig("", "[[steps]]\nfault = \"trust_node_kill\"\nnode = 1\n")),
            "x.toml:9:8: 'node' in [[steps]] #1 is 1; allowed range 0..0");
  EXPECT_EQ(error_of(mesh_rig(mesh, "[[steps]]\nfault = \"trust_node_kill\"\nnode = 3\n")),
            "x.toml:12:8: 'node' in [[steps]] #1 is 3; allowed range 0..2");
  EXPECT_EQ(error_of(mesh_rig(mesh, "[[steps]]\nfault = \"trust_node_kill\"\nnode = \"tn-1\"\n")),
            "x.toml:12:8: 'node' in [[steps]] #1 must be an integer in 0..2 or \"leader\", got 'tn-1'");
  EXPECT_EQ(error_of(mesh_rig(mesh, "[[steps]]\nfault = \"etcd_kill\"\nmember = 2\n")),
            "x.toml:12:10: 'member' in [[steps]] #1 is 2; allowed range 0..1");
  EXPECT_EQ(error_of(mesh_rig(mesh, "[[steps]]\nfault = \"etcd_kill\"\nnode = 1\n")),
            "x.toml:12:8: 'node' in [[steps]] #1 applies only to trust_node_kill, trust_node_stop, partition_node faults");
  EXPECT_EQ(error_of(mesh_rig(mesh, "[[steps]]\nfault = \"partition_node\"\nduration_s = 2\n")),
            "x.toml:10:1: fault 'partition_node' in [[steps]] #1 needs 'from' (\"etcd\" or \"devices\")");
  EXPECT_EQ(error_of(mesh_rig(mesh, "[[steps]]\nfault = \"partition_node\"\nfrom = \"dns\"\nduration_s = 2\n")),
            "x.toml:12:8: unknown from 'dns' in [[steps]] #1; allowed: etcd, devices");
  EXPECT_EQ(error_of(mesh_rig(mesh, "[[steps]]\nfault = \"etcd_stop\"\nmember = 1\n")),
            "x.toml:10:1: fault 'etcd_stop' in [[steps]] #1 needs 'duration_s' (it must heal)");
  EXPECT_EQ(error_of(mesh_rig(mesh, "[[steps]]\nfault = \"etcd_kill\"\ndevices = [\"esp-01\"]\n")),
            "x.toml:12:11: 'devices' in [[steps]] #1: fault 'etcd_kill' acts on an etcd member, not on devices");
  // The mesh faults need a [mesh] rig.
  EXPECT_EQ(error_of(mesh_rig("", "[[steps]]\nfault = \"etcd_kill\"\n")),
            "x.toml:8:9: fault 'etcd_kill' in [[steps]] #1 needs a [mesh] rig (trust nodes on an etcd cluster; "
            "docs/rig-format.md \"Mesh\")");
  EXPECT_EQ(error_of(mesh_rig("", "[[steps]]\nfault = \"partition_node\"\nfrom = \"etcd\"\nduration_s = 1\n")),
            "x.toml:8:9: fault 'partition_node' in [[steps]] #1 needs a [mesh] rig (trust nodes on an etcd cluster; "
            "docs/rig-format.md \"Mesh\")");
}

TEST(RigLoaderMesh, MeshFailoverRig) {
  const auto rig = load_rig(std::string(IOTW_RIGS_DIR) + "/mesh_failover.toml");
  ASSERT_TRUE(rig.mesh);
  EXPECT_EQ(rig.mesh->trust_nodes, 3);
  EXPECT_EQ(rig.mesh->etcd_members, 3);
  bool leader_kill = false, etcd_kill = false;
  for (const auto& s : rig.steps) {
    leader_kill = leader_kill || (s.fault.kind == "trust_node_kill" && s.fault.node.leader);
    etcd_kill = etcd_kill || s.fault.kind == "etcd_kill";
  }
  EXPECT_TRUE(leader_kill);
  EXPECT_TRUE(etcd_kill);
}
