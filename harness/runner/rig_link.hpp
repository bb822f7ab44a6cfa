// One device's link in a rig run (docs/architecture.md "A rig run" step 2), made by make_rig_link from the device's
// LinkKind (iotw/harness/link_kind.hpp): it owns its wiring (a PTY pair, a TCP relay or an external device's port in
// the LinkFabric; an endpoint of the UdpRelay), its fault policy (the seeded serial FaultPolicy, one per trust node
// for a [mesh] rig's PTY device, or the UdpFaultPolicy), its capture interface in links.pcapng, its statistics (report
// .json harness.links) and its part of the children's configs (WiredDevice). The runner keeps one per device, in rig
// order, and asks them instead of the device's kind.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_configs.hpp"
#include "fault_policy.hpp"
#include "iotw/harness/link_kind.hpp"
#include "iotw/harness/rig_spec.hpp"
#include "link_capture.hpp"
#include "link_fabric.hpp"
#include "udp_proxy.hpp"

namespace iotw::harness {

class HostNetwork;
struct TapPlan;

/// What a run's links are wired into: the relays, the capture and the trust node's ports, owned by the runner and
/// outliving every RigLink made with it.
struct LinkPlant {
  const RigSpec& spec;
  std::uint64_t rig_seed = 0;
  LinkFabric& fabric;               ///< serial links (PTY pairs, TCP relays, external serial/tcp devices)
  LinkCapture& capture;             ///< links.pcapng
  UdpRelay* udp_relay = nullptr;    ///< datagram links; null when the rig has none
  std::uint16_t node_udp_port = 0;  ///< the trust node's [udp] port on 127.0.0.1 (fixed for the run); 0 = none
  std::uint16_t node_tcp_port = 0;  ///< the trust node's [tcp] port on 127.0.0.1 (fixed for the run); 0 = none
  const TapPlan* tap = nullptr;     ///< link = "tap" devices' addresses (tap_network.hpp); null without them
  HostNetwork* host_net = nullptr;  ///< a [hosts] rig's namespaces: a far-host AT module's endpoint is opened there
  /// An external serial device's port, opened as `iotw certify` opens it: a non-blocking descriptor the fabric owns.
  /// Throws std::runtime_error naming the device when it cannot be opened.
  std::function<int(const DeviceInstance&)> open_serial_port;
};

/// The fault-proxy stream seed of link `name` ("<device>", or "<device>@tn-<k>" in a [mesh] rig): from the rig seed
/// and "link:<name>" (docs/architecture.md "Determinism"), so another device shifts nothing.
std::uint64_t link_seed(std::uint64_t rig_seed, const std::string& name);

/// One device's link (or, for a [mesh] rig's PTY device, its links: one per trust node, in node order).
class RigLink {
 public:
  virtual ~RigLink() = default;
  RigLink(const RigLink&) = delete;
  RigLink& operator=(const RigLink&) = delete;

  const DeviceInstance& device() const { return device_; }
  LinkKind kind() const { return kind_; }
  const LinkKindInfo& info() const { return link_kind_info(kind_); }

  /// Serial links: the serial fault proxy of each of its links, in node order (RigScript's `links`); else empty.
  virtual std::vector<FaultPolicy*> serial_policies() const { return {}; }
  /// Datagram links: its UDP fault proxy (RigScript's `udp_links`); else null.
  virtual UdpFaultPolicy* udp_policy() const { return nullptr; }
  /// Fills the link's part of `w` (links, udp_proxy_port, the TAP fields) for trust_node.toml and emu.toml.
  virtual void wire(WiredDevice& w) const = 0;
  /// The fields of its `link_created` events (docs/events.md), one per link.
  virtual std::vector<nlohmann::ordered_json> created_events() const = 0;
  /// Its entries of report.json harness.links (docs/rig-format.md "Reports"), one per link, read now.
  virtual std::vector<nlohmann::ordered_json> stats_json() const = 0;
  /// An external device: where it must be (its port's path, or the address it sends to / connects to); else "".
  virtual std::string external_address() const { return {}; }

 protected:
  explicit RigLink(DeviceInstance device) : device_(std::move(device)), kind_(device_.link_kind()) {}
  DeviceInstance device_;
  LinkKind kind_;
};

/// Makes `device`'s link by its kind: a serial link in plant.fabric (PTY pair per trust node, TCP relay to the node's
/// [tcp] port, external serial port or TCP listener) or a datagram link in plant.udp_relay (an AT module's endpoint on
/// 127.0.0.1 or on a [hosts] rig's far host, a TAP module's on the bridge, an external device's at its `listen`
/// address), each with its seeded fault policy and its capture interface. Throws std::runtime_error (FabricError)
/// when its wiring cannot be made (no PTY, a port in use, an external port that does not open); std::logic_error
/// when the plant lacks what the kind needs (a datagram link without a UdpRelay, a TAP device without a TapPlan).
std::unique_ptr<RigLink> make_rig_link(const DeviceInstance& device, LinkPlant& plant);

/// report.json harness.links entry of one serial (byte stream) link: {device, kind (LinkKindInfo::name), faults (the
/// serial fault proxy's counts), node_side, device_side, node_to_device, device_to_node ({bytes, chunks,
/// delivered_bytes})}. A real-time RigLink's and a simulated link's (harness/sim) entries are made here.
nlohmann::ordered_json serial_link_json(const std::string& device, std::string_view kind, const FaultCounts& faults,
                                        const std::string& node_side, const std::string& device_side,
                                        const DirectionCounts& node_to_device, const DirectionCounts& device_to_node);

}  // namespace iotw::harness
