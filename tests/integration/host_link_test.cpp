// The host link of a [hosts] rig (harness/runner/host_network.hpp, host_link_relay.hpp) between two network
// namespaces it creates and deletes: real `ping` from the far host to the trust node's host sees every echo request
// and reply wait the link's latency (so a round trip of at least 2 x latency_ms, ARP included, in the kernel path of
// every packet); while the link is cut nothing crosses (ping gets no answer; the relay counts the dropped frames),
// and afterwards the link carries again; both namespaces are gone when the HostNetwork is. Needs CAP_NET_ADMIN and
// CAP_SYS_ADMIN (CI runs as root); without them the test fails.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>

#include "host_network.hpp"
#include "iotw/support/process.hpp"
#include "tap_network.hpp"

namespace iotw::harness {
namespace {

constexpr int kLatencyMs = 30;

struct Ping {
  int code = -1;
  std::string output;
  double min_ms = -1;  ///< rtt min, -1 when ping printed none
};

/// `ping -c <count>` from inside `netns` to `ip` (ip netns exec).
Ping ping_from(const std::string& netns, const std::string& ip, int count) {
  const CapturedRun r = run_captured(ip_tool(), {"netns", "exec", netns, "ping", "-n", "-c", std::to_string(count),
                                                 "-i", "0.2", "-W", "2", ip},
                                     Stderr::merge);
  Ping p{r.code, r.output};
  std::smatch m;
  if (std::regex_search(r.output, m, std::regex(R"(min/avg/max/mdev = ([0-9.]+)/)"))) p.min_ms = std::stod(m[1].str());
  return p;
}

TEST(TwoHostsHostLink, PingAcrossTheHostLinkSeesItsDelayBothWaysAndNothingWhileItIsCut) {
  if (const auto why = tap_network_unavailable()) FAIL() << "the host link needs namespaces and TAP: " << *why;
  const auto dir = std::filesystem::temp_directory_path() / ("iotw-host-link-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  HostPlan plan;
  plan.hosts = {{"lab", "10.78.9.1", "hl-remote"}, {"remote", "10.78.9.2", "hl-lab"}};
  plan.latency_ms = kLatencyMs;
  plan.jitter_ms = 4;
  std::string ns_lab, ns_remote;
  {
    HostNetwork net(plan, 3, dir / "host_link.ip");
    ns_lab = net.netns("lab");
    ns_remote = net.netns("remote");
    EXPECT_TRUE(std::filesystem::exists("/run/netns/" + ns_remote));

    const Ping across = ping_from(ns_remote, "10.78.9.1", 5);
    ASSERT_EQ(across.code, 0) << across.output;
    EXPECT_GE(across.min_ms, 2.0 * kLatencyMs) << "every echo request and reply waits the latency\n" << across.output;
    const HostLinkCounts to_far = net.link_counts(Direction::NodeToDevice);
    const HostLinkCounts to_lab = net.link_counts(Direction::DeviceToNode);
    EXPECT_GE(to_lab.delivered_frames, 6u) << "ARP + 5 echo requests";
    EXPECT_GE(to_far.delivered_frames, 6u) << "ARP + 5 echo replies";
    EXPECT_EQ(to_far.overflow_frames + to_lab.overflow_frames, 0u);

    net.set_link_up(false);  // host_partition
    const Ping cut = ping_from(ns_remote, "10.78.9.1", 3);
    EXPECT_NE(cut.code, 0) << "no echo crosses a cut link\n" << cut.output;
    EXPECT_GE(net.link_counts(Direction::DeviceToNode).partitioned_frames, 3u);
    EXPECT_EQ(net.link_counts(Direction::NodeToDevice).delivered_frames, to_far.delivered_frames)
        << "nothing was handed on while cut";

    net.set_link_up(true);
    const Ping healed = ping_from(ns_lab, "10.78.9.2", 3);  // and the other way
    EXPECT_EQ(healed.code, 0) << healed.output;
    EXPECT_GE(healed.min_ms, 2.0 * kLatencyMs) << healed.output;
  }
  for (const std::string& ns : {ns_lab, ns_remote})
    EXPECT_FALSE(std::filesystem::exists("/run/netns/" + ns)) << ns << " was not deleted";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iotw::harness
