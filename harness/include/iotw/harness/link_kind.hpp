// The kinds of link a rig device has to the trust node, and one table of what each kind is: how the harness wires it,
// which fault proxy it crosses, how it is captured, what it needs of the host and what emu.toml says about it. Code
// asks the table (link_kind_info) instead of comparing the rig file's `link` / `at_transport` / `external` strings.
// The rig file's syntax (docs/rig-format.md) is unchanged: DeviceInstance::link_kind() reads it once.
#pragma once
#include <span>
#include <string_view>

#include "iotw/harness/device_spec.hpp"
#include "iotw/harness/fault_registry.hpp"

namespace iotw::harness {

/// Every link a rig device can have, named as the rig file writes it.
enum class LinkKind {
  Pty,             ///< link = "pty": an emulated device on a PTY pair through the serial fault proxy
  AtUdp,           ///< link = "at" (at_transport = "udp"): an AT module's UDP through the UDP fault proxy
  AtTcp,           ///< link = "at", at_transport = "tcp": an AT module's TCP connection, relayed through the harness
                   ///< (serial framing, the serial fault proxy)
  Tap,             ///< link = "tap": a TAP module's lwIP UDP across the run's network namespace, the UDP fault proxy
  ExternalSerial,  ///< external = "serial:PATH": a device the harness does not run, on its serial port
  ExternalUdp,     ///< external = "udp": a device the harness does not run, sending UDP to its proxy endpoint
  ExternalTcp,     ///< external = "tcp": a device the harness does not run, connecting over TCP (serial framing)
};

/// The fault proxy family a link's traffic crosses: a byte stream of COBS + CRC-32 frames (FaultPolicy: serial link
/// faults) or datagrams (UdpFaultPolicy: udp_* faults). Partition and stall act on both.
enum class LinkProxy { Serial, Datagram };

/// How the harness reaches the link's device end (the runner's wiring).
enum class LinkWiring {
  PtyPair,      ///< a second PTY, whose slave the emulator pool opens (one pair per trust node in a [mesh] rig)
  UdpEndpoint,  ///< an endpoint of the UDP fault proxy the device sends to
  TcpRelay,     ///< a TCP listener on 127.0.0.1 the module connects to, relayed upstream to the node's [tcp] port
  SerialPort,   ///< the device's serial port (or PTY), opened as `iotw certify` opens it
  TcpListener,  ///< a TCP listener at the rig's `listen` address, relayed to a PTY of the trust node
};

/// What emu.toml's `[[device]]` entry says about the link (docs/emulators.md).
enum class EmuLinkFragment {
  None,          ///< an external device: the pool does not run it, no entry
  SerialLink,    ///< `link = "<PTY slave>"` (a [mesh] rig: `links = [...]`, one per trust node)
  AtUdp,         ///< `mode = "at"`, `trust_node_udp = "127.0.0.1:<its UDP fault proxy port>"`
  AtTcp,         ///< `mode = "at"`, `trust_node_tcp = "127.0.0.1:<its relay's port>"`
  Tap,           ///< `tap`, `ip`, `mac`, `trust_node_udp` (the node's endpoint on the namespace's bridge)
};

/// The trust node's listener a kind of link ends at (trust_node.toml).
enum class NodeListener { Serial, Udp, Tcp };

/// One row of the link kind table.
struct LinkKindInfo {
  LinkKind kind;
  std::string_view name;       ///< unique, as events and messages print it: "pty", "at-udp", "at-tcp", "tap",
                               ///< "external-serial", "external-udp", "external-tcp"
  std::string_view link;       ///< the rig file's `link` value: "pty", "at", "tap" or "external" (report.json devices)
  std::string_view rig_text;   ///< how a rig file selects it, for messages: e.g. `link = "at", at_transport = "tcp"`
  LinkProxy proxy;             ///< the fault proxy family its traffic crosses
  bool captured;               ///< its traffic is written to links.pcapng (Serial: a USER0 interface; Datagram: IPv4)
  bool needs_root;             ///< needs CAP_NET_ADMIN + CAP_SYS_ADMIN (a network namespace of its own)
  bool emulated;               ///< the emulator pool runs the device (false: an external device)
  bool at_module;              ///< an AT-mode module: joins the rig's access point, takes `uart` steps
  bool per_trust_node;         ///< one link per trust node in a [mesh] rig (else one link)
  LinkWiring wiring;
  EmuLinkFragment emu_fragment;
  NodeListener node_listener;
  /// The fault registry's LinkBit of its proxy family (kSerialLinks or kUdpLinks): a link fault applies to the link
  /// when `FaultDef::links & fault_links()`.
  unsigned fault_links() const { return proxy == LinkProxy::Serial ? kSerialLinks : kUdpLinks; }
};

/// Every link kind, in LinkKind order.
std::span<const LinkKindInfo> link_kind_table();
/// The table's row of `kind` (every LinkKind has one).
const LinkKindInfo& link_kind_info(LinkKind kind);
/// The row's name (LinkKindInfo::name).
std::string_view link_kind_name(LinkKind kind);

/// The kind a rig file's device selects: `link` ("pty", "at", "tap", "external"), `at_transport` ("udp", "tcp"; read
/// for link = "at" only) and, for link = "external", the external port's kind. Throws std::invalid_argument naming
/// the value for a `link` or `at_transport` outside those (the loader has validated them before).
LinkKind link_kind_of(std::string_view link, std::string_view at_transport, DeviceSpec::Kind external_kind);

}  // namespace iotw::harness
