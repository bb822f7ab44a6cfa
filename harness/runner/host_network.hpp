// [hosts] rigs (docs/rig-format.md "Hosts"): two hosts, each a network namespace of the harness's own
// (`iotw-<pid>-<n>`), joined by the host link: in host H's namespace a TAP interface `hl-<other host>`, with the
// subnet's first host address on the trust node's host and the second on the other, and the harness's
// HostLinkRelay between the two TAP interfaces, which carries every Ethernet frame across after the link's delay
// (latency + seeded jitter; the kernels this runs on have no sch_netem). The harness's thread enters the trust node's
// host (the trust node, that host's emulator pool, the HTTP client and the UDP fault proxy endpoints of its devices
// live there) and visits the far host to start its emulator pool and to make its devices' UDP fault proxy sockets
// there, so their datagrams cross the host link. The relay stops and the namespaces (and the TAP interfaces with
// them) are deleted when the run ends, also on errors and SIGINT/SIGTERM; a SIGKILLed harness leaves
// /run/netns/iotw-<pid>-<n> behind (`ip netns del` them).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "host_link_relay.hpp"
#include "iotw/harness/rig_spec.hpp"

namespace iotw::harness {

/// One host of the rig's network.
struct HostAddress {
  std::string host;    ///< the rig's host name
  std::string ip;      ///< its address on the host link, "A.B.C.D"
  std::string ifname;  ///< its TAP interface of the host link: "hl-<other host>"
};

/// The rig's two hosts, deterministic from [hosts]: the trust node's host first.
struct HostPlan {
  std::vector<HostAddress> hosts;  ///< [0] the trust node's host, [1] the far host
  int prefix = 24;                 ///< the subnet's prefix length
  int latency_ms = 0;              ///< the host link's delay each way ([hosts] latency_ms)
  int jitter_ms = 0;               ///< plus uniform 0..jitter_ms per frame ([hosts] jitter_ms)
  const HostAddress& trust_node() const { return hosts.at(0); }
  const HostAddress& far() const { return hosts.at(1); }
  const HostAddress& of(const std::string& host) const { return host == hosts.at(0).host ? hosts.at(0) : hosts.at(1); }
};

/// Plans spec.hosts (as validated by load_rig); no hosts when the rig has no [hosts].
HostPlan plan_hosts(const RigSpec& spec);

/// The two namespaces and their host link. Not copyable; one per run.
class HostNetwork {
 public:
  /// Creates a namespace per host with its TAP interface of the host link (`ip tuntap add`, address, link up,
  /// loopback up), writes the `ip` commands to `commands_file` (kept in the run folder for reference), attaches to
  /// both TAP interfaces from inside their namespaces and starts the HostLinkRelay between them (its streams from
  /// `seed`, the rig seed), then moves the calling thread into the trust node's host. Throws std::runtime_error with
  /// ip's own message when a command fails, or the relay's when a TAP interface cannot be attached (whatever was
  /// created is deleted again).
  HostNetwork(const HostPlan& plan, std::uint64_t seed, const std::filesystem::path& commands_file);
  /// Stops the relay, moves the thread back to its own namespace and deletes both namespaces.
  ~HostNetwork();
  HostNetwork(const HostNetwork&) = delete;
  HostNetwork& operator=(const HostNetwork&) = delete;

  /// The network namespace of `host` ("iotw-<pid>-<n>").
  const std::string& netns(const std::string& host) const { return names_.at(host); }

  /// While it lives, the constructing thread is in `host`'s namespace (sockets it opens and processes it starts
  /// are there); then back in the trust node's host. Only on the thread that made the HostNetwork.
  class Visit {
   public:
    Visit(const HostNetwork& net, const std::string& host);
    ~Visit();
    Visit(const Visit&) = delete;
    Visit& operator=(const Visit&) = delete;

   private:
    const HostNetwork& net_;
  };

  /// host_partition: false: the relay drops every frame both ways (those on their way too); true: it carries them
  /// again. The TAP interfaces stay up (a cut further along the cable: no carrier change).
  void set_link_up(bool up);
  /// Sees every frame the host link hands on (HostLinkRelay::set_tap): Direction::NodeToDevice = from the trust
  /// node's host to the far host. nullptr: none.
  void set_tap(HostLinkRelay::Tap tap);
  /// What the host link did in `dir` so far.
  HostLinkCounts link_counts(Direction dir) const;

 private:
  void enter(const std::string& host) const;
  void teardown() noexcept;
  HostPlan plan_;
  std::map<std::string, std::string> names_;  // host -> namespace
  std::map<std::string, int> fds_;            // host -> open /run/netns/<name>
  int home_fd_ = -1;
  bool entered_ = false;
  std::unique_ptr<HostLinkRelay> relay_;
};

}  // namespace iotw::harness
