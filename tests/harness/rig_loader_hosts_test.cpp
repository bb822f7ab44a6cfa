// [hosts] and a group's `host` (docs/rig-format.md "Hosts"), host_partition (docs/faults.md "Host faults"): accepted
// keys, defaults, where each device runs and file:line errors.
#include <gtest/gtest.h>

#include <string>

#include "iotw/harness/rig_loader.hpp"
#include "rig_error_of.hpp"

using iotw::harness::load_rig;
using iotw::harness::parse_rig;

namespace {

/// Lines 1..9: [rig], [hosts] (names lab, remote + `hosts_extra`), then groups: 3 AT devices "l" on lab (no host key,
/// the default), then a group "r" with `remote_group` keys (line 10 on: [[devices]] at line 10 when hosts_extra is "").
std::string hosts_rig(const std::string& hosts_extra = "", const std::string& remote_group =
                                                                "model = \"rtl8710\"\nlink = \"at\"\ncount = 3\nhost = \"remote\"\n",
                      const std::string& extra = "") {
  return "[rig]\nname = \"h\"\n[hosts]\nnames = [\"lab\", \"remote\"]\n" + hosts_extra +
         "[[devices]]\nname_prefix = \"l\"\nmodel = \"esp8266\"\nlink = \"at\"\ncount = 3\n"
         "[[devices]]\nname_prefix = \"r\"\n" + remote_group + "[pass]\nledger_valid = true\n" + extra;
}

}  // namespace

TEST(RigLoaderHosts, TwoHostsRig) {
  const auto rig = load_rig(std::string(IOTW_RIGS_DIR) + "/two_hosts.toml");
  ASSERT_TRUE(rig.hosts);
  EXPECT_EQ(rig.hosts->names, (std::vector<std::string>{"lab", "remote"}));
  EXPECT_EQ(rig.hosts->trust_node, "lab");
  EXPECT_EQ(rig.hosts->far_host(), "remote");
  EXPECT_EQ(rig.hosts->latency_ms, 40);
  EXPECT_EQ(rig.hosts->jitter_ms, 5);
  EXPECT_EQ(rig.hosts->subnet, "10.78.0.0/24");
  int far = 0;
  for (const auto& d : rig.instances()) {
    EXPECT_EQ(d.host, d.name.rfind("remote", 0) == 0 ? "remote" : "lab") << d.name;
    far += d.host == "remote";
  }
  EXPECT_EQ(far, 3);
  ASSERT_GE(rig.steps.size(), 3u);
  EXPECT_EQ(rig.steps[2].fault.kind, "host_partition");
  EXPECT_TRUE(rig.steps[2].fault.devices.empty());  // every far-host device, chosen at run time
}

TEST(RigLoaderHosts, DefaultsAndWithoutHosts) {
  const auto rig = parse_rig(hosts_rig(), "x.toml");
  ASSERT_TRUE(rig.hosts);
  EXPECT_EQ(rig.hosts->trust_node, "lab");  // the first name
  EXPECT_EQ(rig.hosts->latency_ms, 0);
  EXPECT_EQ(rig.hosts->jitter_ms, 0);
  EXPECT_EQ(rig.hosts->subnet, "10.78.0.0/24");
  EXPECT_EQ(rig.hosts->line, 3);
  EXPECT_EQ(rig.instances().front().host, "lab");  // no `host`: the trust node's host
  EXPECT_EQ(rig.instances().back().host, "remote");
  const auto other = parse_rig(hosts_rig("trust_node = \"remote\"\n", "model = \"esp32\"\ncount = 3\n"), "x.toml");
  EXPECT_EQ(other.instances().back().host, "remote");  // a PTY group on the trust node's host (the default)
  EXPECT_EQ(other.instances().front().host, "remote");
  const auto plain = parse_rig("[rig]\nname = \"p\"\n[[devices]]\ncount = 5\n[pass]\nledger_valid = true\n", "x.toml");
  EXPECT_FALSE(plain.hosts);
  for (const auto& d : plain.instances()) EXPECT_EQ(d.host, "");
}

TEST(RigLoaderHosts, Errors) {
  // a device naming an unknown host: its line, the rig's hosts
  EXPECT_EQ(error_of(hosts_rig("", "model = \"rtl8710\"\nlink = \"at\"\ncount = 3\nhost = \"moon\"\n")),
            "x.toml:15:8: unknown host 'moon' in [[devices]]; the rig's hosts: lab, remote");
  EXPECT_EQ(error_of("[rig]\nname = \"p\"\n[[devices]]\ncount = 5\nhost = \"lab\"\n[pass]\nledger_valid = true\n"),
            "x.toml:5:8: 'host' in [[devices]] needs a [hosts] table naming the rig's hosts");
  // off the trust node's host: AT modules on UDP only
  EXPECT_EQ(error_of(hosts_rig("", "model = \"esp32\"\ncount = 3\nhost = \"remote\"\n")),
            "x.toml:14:8: host 'remote' in [[devices]] is not the trust node's host ('lab'): only link = \"at\" modules on "
            "UDP reach the trust node across the host link (this group: link 'pty')");
  EXPECT_EQ(error_of(hosts_rig("", "model = \"esp32\"\nlink = \"at\"\nat_transport = \"tcp\"\ncount = 3\nhost = \"remote\"\n")),
            "x.toml:16:8: host 'remote' in [[devices]] is not the trust node's host ('lab'): only link = \"at\" modules on "
            "UDP reach the trust node across the host link (this group: link 'at', at_transport 'tcp')");
  // [hosts] itself
  EXPECT_EQ(error_of("[rig]\nname = \"h\"\n[hosts]\nnames = [\"a\"]\n[[devices]]\ncount = 5\n[pass]\nledger_valid = true\n"),
            "x.toml:4:9: 'names' in [hosts] must be an array of exactly two host names (one host link joins them)");
  EXPECT_EQ(error_of("[rig]\nname = \"h\"\n[hosts]\nnames = [\"a\", \"a\"]\n[[devices]]\ncount = 5\n[pass]\nledger_valid = true\n"),
            "x.toml:4:15: host 'a' in [hosts] is named twice");
  EXPECT_EQ(error_of("[rig]\nname = \"h\"\n[hosts]\nnames = [\"a\", \"B_2\"]\n[[devices]]\ncount = 5\n[pass]\nledger_valid = true\n"),
            "x.toml:4:15: a host name in [hosts] must be 1..12 characters of a-z 0-9 -");
  EXPECT_EQ(error_of(hosts_rig("trust_node = \"moon\"\n")),
            "x.toml:5:14: unknown host 'moon' for 'trust_node' in [hosts]; the rig's hosts: lab, remote");
  EXPECT_EQ(error_of(hosts_rig("latency_ms = 20000\n")), "x.toml:5:14: 'latency_ms' in [hosts] is 20000; allowed range 0..10000");
  EXPECT_EQ(error_of(hosts_rig("subnet = \"10.78.0.0/31\"\n")),
            "x.toml:5:10: subnet '10.78.0.0/31' in [hosts]: prefix /31; allowed 8..30");
  EXPECT_EQ(error_of(hosts_rig("mtu = 1500\n")),
            "x.toml:5:1: unknown key 'mtu' in [hosts]; allowed: names, trust_node, latency_ms, jitter_ms, subnet");
  EXPECT_EQ(error_of(hosts_rig("", "model = \"rtl8710\"\nlink = \"at\"\ncount = 3\nhost = \"remote\"\n",
                               "[[devices]]\nexternal = \"udp\"\nname = \"ext\"\n")),
            "x.toml:18:1: external = \"udp\" in [[devices]] does not combine with [hosts] (line 3): the harness would "
            "listen inside the trust node's host, a network namespace nothing outside reaches");
  EXPECT_EQ(error_of(hosts_rig("", "model = \"esp32\"\nlink = \"tap\"\ncount = 3\n")),
            "x.toml:10:1: link \"tap\" in [[devices]] does not combine with [hosts] (line 3): TAP modules run in the TAP "
            "rig's own namespace");
}

TEST(RigLoaderHosts, HostPartition) {
  EXPECT_EQ(error_of(hosts_rig("", "model = \"rtl8710\"\nlink = \"at\"\ncount = 3\nhost = \"remote\"\n",
                               "[[steps]]\nfault = \"host_partition\"\nduration_s = 2\n")),
            "");
  // it must heal, takes no devices, and needs [hosts]
  EXPECT_EQ(error_of(hosts_rig("", "model = \"rtl8710\"\nlink = \"at\"\ncount = 3\nhost = \"remote\"\n",
                               "[[steps]]\nfault = \"host_partition\"\n")),
            "x.toml:18:1: fault 'host_partition' in [[steps]] #1 needs 'duration_s' (it must heal)");
  EXPECT_EQ(error_of(hosts_rig("", "model = \"rtl8710\"\nlink = \"at\"\ncount = 3\nhost = \"remote\"\n",
                               "[[steps]]\nfault = \"host_partition\"\nduration_s = 2\ndevices = [\"r-01\"]\n")),
            "x.toml:21:11: 'devices' in [[steps]] #1: fault 'host_partition' acts on the host link (every device of the "
            "far host), not on devices");
  EXPECT_EQ(error_of("[rig]\nname = \"p\"\n[[devices]]\ncount = 5\n[pass]\nledger_valid = true\n"
                     "[[steps]]\nfault = \"host_partition\"\nduration_s = 2\n"),
            "x.toml:8:9: fault 'host_partition' in [[steps]] #1 needs a [hosts] rig (devices on two hosts joined by a host "
            "link; docs/rig-format.md \"Hosts\")");
}
