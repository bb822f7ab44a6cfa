// TAP links (docs/rig-format.md "TAP links"): the network namespace a rig with link = "tap" devices runs in.
// The harness creates a namespace of its own (`iotw-<pid>-<n>`), a bridge with the subnet's first host address
// and one persistent TAP interface per device on it, then moves its own thread into the namespace, so the trust
// node, iotw-emu (one lwIP process per TAP module), the UDP fault proxy and the harness's HTTP client all live
// there. Nothing outside the namespace is touched; it is deleted when the run ends (also on errors and
// SIGINT/SIGTERM; a SIGKILLed harness leaves /run/netns/iotw-<pid>-<n> behind: `ip netns del` it).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "iotw/harness/rig_spec.hpp"

namespace iotw::harness {

/// One link = "tap" device's place in the rig's network.
struct TapAddress {
  std::string device;  ///< rig device name
  std::string ifname;  ///< its TAP interface in the namespace: "tap0", "tap1", ... (file order)
  std::string ip;      ///< "A.B.C.D" (the bridge's address + 1 + k for the k-th TAP device, k from 0)
  std::string mac;     ///< "aa:bb:cc:dd:ee:ff": the model's vendor OUI, then (S + k) mod 2^24 big-endian
                       ///< (S = low 24 bits of splitmix64(seed)); OUIs: esp8266 5c:cf:7f, esp32 24:0a:c4,
                       ///< rtl8710 / rtl8195 00:e0:4c
  std::string model;
};

/// The rig's TAP network: deterministic from the rig and the seed.
struct TapPlan {
  std::string bridge = "iotwbr0";  ///< the bridge in the namespace
  std::string bridge_ip;           ///< the subnet's first host address: the trust node's side ("A.B.C.D")
  int prefix = 24;                 ///< the subnet's prefix length
  std::vector<TapAddress> devices; ///< the link = "tap" devices, in file order
};

/// Plans spec's TAP network (spec.tap.subnet as validated by load_rig). Empty devices when the rig has none.
TapPlan plan_tap_network(const RigSpec& spec, std::uint64_t seed);

/// Nothing when this process can create network namespaces and TAP interfaces (effective CAP_NET_ADMIN and
/// CAP_SYS_ADMIN, /dev/net/tun, the `ip` tool of iproute2); else what is missing, as a sentence.
std::optional<std::string> tap_network_unavailable();

/// Nothing when this process can create and enter network namespaces (effective CAP_NET_ADMIN and CAP_SYS_ADMIN,
/// the `ip` tool of iproute2); else what is missing, as a sentence.
std::optional<std::string> netns_unavailable();

/// A network namespace name of the harness's own, not in use: `iotw-<pid>-<n>`, n from 0 counting up in the process.
std::string new_netns_name();

/// Runs `ip args...` (ip_tool()); returns its exit code and its stdout + stderr (127 when ip cannot be started).
std::pair<int, std::string> run_ip(const std::vector<std::string>& args);

/// The `ip` tool (iproute2): the first of /usr/sbin/ip, /sbin/ip, /usr/bin/ip, /bin/ip that is executable; empty
/// when none is.
std::string ip_tool();

/// A network namespace of the harness's own with the plan's bridge and TAP interfaces; the calling thread is
/// moved into it (threads and processes it starts afterwards inherit it). The destructor moves the thread back
/// and deletes the namespace (and with it every interface in it).
class TapNamespace {
 public:
  /// Creates `iotw-<pid>-<n>` (the first n >= 0 not in use), writes the `ip -batch` commands to `batch_file`
  /// (kept in the run folder for reference) and runs them in it, then enters it. Throws std::runtime_error with
  /// ip's own message when a command fails (whatever was created is deleted again).
  TapNamespace(const TapPlan& plan, const std::filesystem::path& batch_file);
  ~TapNamespace();
  TapNamespace(const TapNamespace&) = delete;
  TapNamespace& operator=(const TapNamespace&) = delete;

  const std::string& name() const { return name_; }

 private:
  void leave() noexcept;
  std::string name_;
  int home_fd_ = -1;  ///< the thread's original network namespace
  bool entered_ = false;
};

}  // namespace iotw::harness
