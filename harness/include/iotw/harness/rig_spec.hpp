// A validated rig: what `iotw rig run` needs to set up, drive and judge one scenario.
// Produced by load_rig() (rig_loader.hpp) from a TOML file; every key is documented in docs/rig-format.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "iotw/harness/device_spec.hpp"
#include "iotw/harness/fault_registry.hpp"
#include "iotw/harness/link_kind.hpp"

namespace iotw::harness {

/// A device the harness does not emulate (`[[devices]] external = ...`, docs/rig-format.md "External devices"):
/// the harness opens its port (serial) or listens for it (udp, tcp) and relays it to the trust node through the
/// same link fault proxies and capture as an emulated device's link.
struct ExternalDevice {
  /// Serial: path and line options (the DUT spec's serial form). Udp/Tcp: host and port the harness listens on
  /// (`listen`, default 127.0.0.1:0; port 0 = a free port picked at run time).
  DeviceSpec port;
  std::string text;             ///< `external` as written: "serial:PATH[,options]", "udp" or "tcp"
  double attach_timeout_s = 30; ///< how long after the trust node first answered the device may take to attach, s
  /// "serial:<path>", "udp" or "tcp": the link column of device tables and the events' `external`.
  std::string kind_name() const {
    return port.kind == DeviceSpec::Kind::Serial ? "serial" : port.kind == DeviceSpec::Kind::Udp ? "udp" : "tcp";
  }
};

/// One step of a powered device's input supply (dps, bulb): from at_ms on, Vin moves to `vin`
/// (at once, or at ramp_v_per_s V/s when > 0). docs/emulators.md describes the rail model.
struct PowerStep {
  int at_ms = 0;             ///< ms after the emulator pool started, 0..86,400,000
  double vin = 0;            ///< target input voltage, V, 0..60
  double ramp_v_per_s = 0;   ///< 0 = a step; else the slew rate, V/s
};

/// Settings only the powered models (dps, bulb) take; absent = the emulator's default.
struct PoweredSettings {
  std::optional<int> usage_period_ms;  ///< UsageReport period, ms (100..86,400,000)
  std::optional<double> load_ohm;      ///< dps only: resistive load on the output, ohm (0.1..6553.5)
  std::vector<PowerStep> power;        ///< supply schedule, in at_ms order
};

/// A group of identical devices: [[devices]] in the rig file.
struct DeviceGroup {
  std::string name_prefix = "esp";  ///< devices are named "<prefix>-01", "<prefix>-02", ...; unique per rig
  std::string model = "esp32";      ///< "esp8266" | "esp32" | "dps" (DPS power chip) | "bulb" (smart bulb) |
                                    ///< "rtl8710" | "rtl8195" (Realtek Ameba; link = "at" only)
  std::string link = "pty";         ///< "pty" (a PTY pair per device, through the harness's link proxy) | "at"
                                    ///< | "external" (set by `external`: a device the harness does not run)
                                    ///< (an appliance MCU drives the module in AT mode; UDP to the trust node) |
                                    ///< "tap" (SoC mode over TAP: lwIP on a TAP interface in the run's network
                                    ///< namespace; esp8266, esp32, rtl8710, rtl8195)
  std::string behaviour = "honest"; ///< "honest" | "invert_verdict" | "wrong_hash" | "collude" | "verdict_other_hash"
                                    ///< | "replay_attestation" | "wrong_key" | "collude_all_slots" (docs/faults.md)
  int count = 1;                    ///< 1..256
  PoweredSettings powered;          ///< dps/bulb only; an error on esp models
  int line = 0;                     ///< line of the [[devices]] table in the rig file
  /// What-if knob: the chip's application RAM budget, KiB (1..65536), that the firmware's static RAM is checked
  /// against (docs/emulators.md "Chip profiles"); 0 = the chip profile's. Not with link = "at".
  int ram_budget_kib = 0;
  /// link = "at" only: the module's link to the trust node, "udp" (through the UDP fault proxy) or "tcp" (a TCP
  /// connection relayed by the harness to the node's [tcp] port, serial framing; the serial fault proxy).
  std::string at_transport = "udp";
  /// An external device (count 1, named `name` exactly; link = "external"); absent for emulated groups.
  std::optional<ExternalDevice> external;
  /// `seed = "os"`: the group's devices draw their randomness (identity) from the OS instead of their seed derived
  /// from the rig seed and the device name (docs/rig-format.md "Seed"); not for qemu-cortex-m3 or external devices.
  bool seed_from_os = false;
  /// A [hosts] rig: the name of the host (network namespace) whose emulator pool runs the group; "" = the trust
  /// node's host (and the only value without [hosts]).
  std::string host = {};
  /// The group's kind of link, from `link`, `at_transport` and `external` (link_kind.hpp).
  LinkKind link_kind() const {
    return link_kind_of(link, at_transport, external ? external->port.kind : DeviceSpec::Kind::Serial);
  }
};

/// One expanded device.
struct DeviceInstance {
  std::string name;  ///< unique in the rig, e.g. "esp-03"
  std::string model;
  std::string link;
  std::string behaviour;
  PoweredSettings powered;
  int ram_budget_kib = 0;  ///< DeviceGroup::ram_budget_kib
  std::string at_transport = "udp";  ///< DeviceGroup::at_transport ("udp" | "tcp"; link = "at" only)
  std::optional<ExternalDevice> external;  ///< DeviceGroup::external (link = "external")
  bool seed_from_os = false;  ///< DeviceGroup::seed_from_os
  std::string host = {};      ///< DeviceGroup::host, resolved: a [hosts] rig's host name, "" without [hosts]
  /// True for a device the harness relays but does not run (link = "external").
  bool is_external() const { return external.has_value(); }
  /// The device's kind of link, from `link`, `at_transport` and `external` (link_kind.hpp); code asks
  /// link_kind_info(d.link_kind()) instead of comparing those strings.
  LinkKind link_kind() const {
    return link_kind_of(link, at_transport, external ? external->port.kind : DeviceSpec::Kind::Serial);
  }
  /// A link through the serial fault proxy: an emulated PTY device, an AT module on TCP, an external serial or TCP
  /// device.
  bool serial_linked() const { return link_kind_info(link_kind()).proxy == LinkProxy::Serial; }
  bool byzantine() const { return behaviour != "honest"; }
};

/// A pass criterion from [pass]: measured score <op> threshold.
struct Criterion {
  enum class Op { AtLeast, AtMost, Equals };
  /// What the score's numbers are: how the threshold is typed in the rig file and how reports show it.
  enum class Kind {
    Count,   ///< a whole number (blocks, devices, rounds)
    Rate,    ///< a fraction in 0..1
    Number,  ///< any non-negative number (blocks per minute, a ratio)
    Bool,    ///< true / false, held as 1.0 / 0.0
  };
  std::string name;   ///< the [pass] key, e.g. "coherence_rate_min"
  std::string score;  ///< the score it reads, e.g. "coherence_rate" (docs/rig-format.md lists them)
  Op op = Op::AtLeast;
  double threshold = 0;  ///< booleans are 1.0 / 0.0
  int line = 0;
  Kind kind = Kind::Number;
};

struct TrustNodeSpec {
  int witnesses = 3;
  int block_interval_ms = 50;
  int max_txs_per_block = 64;
  int assignment_timeout_ms = 1500;
  int witness_timeout_ms = 1500;
  int device_timeout_ms = 5000;
  std::string selection = "uniform";  ///< miner selection: "uniform" | "reputation" | "vrf" (docs/trust-node.md)
  std::string vrf_suite = "tai";      ///< "tai" | "ell2"; passed on only with selection = "vrf"
};

struct TrafficSpec {
  double tx_per_s = 50;    ///< transactions submitted per second over HTTP
  int payload_bytes = 48;  ///< 1..4096
};

/// `score <op> value` as written in a step's `wait` or `expect` (e.g. "height >= 10").
struct Condition {
  std::string text;   ///< as written
  std::string name;   ///< a live value (wait) or a score (expect)
  Criterion::Op op = Criterion::Op::AtLeast;  ///< ">=", "<=" or "=="
  double value = 0;   ///< true/false are 1/0
};

/// Which trust node a node fault acts on (`node` of trust_node_kill, trust_node_stop, partition_node): an index
/// 0..trust_nodes-1 into the rig's trust nodes, or "leader": the node whose GET /v1/health says role "assigning"
/// when the step starts (a rig without [mesh]: its one node).
struct NodeRef {
  bool leader = false;
  int index = 0;  ///< when !leader
  /// "leader" or the index, as a rig file writes it.
  std::string text() const { return leader ? "leader" : std::to_string(index); }
};

/// A fault a step injects (docs/faults.md). Serial faults act on the devices' byte-stream links (PTY, AT over TCP,
/// external serial/tcp) through the serial fault proxy, udp_* faults on datagram links through the UDP fault proxy; partition and stall cut both
/// directions of either kind of link; trust_node_* act on the process.
struct FaultSpec {
  std::string kind;                  ///< a FaultDef::name of fault_registry() (the rig file's `fault`)
  std::vector<std::string> devices;  ///< link faults: the targets (empty = every device)
  double rate = 0;                   ///< corrupt/bit_flip/drop_bytes (per byte), drop_frames (per frame), garbage (per chunk),
                                     ///< udp_loss/udp_duplicate/udp_reorder (per datagram)
  int bytes = 8;                     ///< garbage: bytes inserted each time
  bool per_frame = false;            ///< corrupt: `rate` per frame (one byte of the frame) instead of per byte
  int delay_ms = 0, jitter_ms = 0;   ///< delay, udp_delay
  std::optional<double> duration_s;  ///< how long it lasts, s; absent: link faults to the end of the run
                                     ///< (no recovery check), trust_node_kill restarts at once
  double recover_within_s = 15;      ///< recovery check deadline after the fault ends, s
  double vin = 4.0;                  ///< brownout: the supply during the fault, V (power_loss: 0 V)
  double ramp_v_per_s = 0;           ///< power faults: how the supply comes back (0 = a step), V/s
  // Faults the harness drives through the emulator pool's control channel (docs/faults.md "Device faults"):
  // reboot | hang | clock_skew (devices that run the firmware on their own chip), ap_rssi | ap_down (AT devices).
  std::int64_t offset_ms = 0;        ///< clock_skew: the step the device's clock makes at the start, ms
  double ppm = 0;                    ///< clock_skew: the device's clock runs at (1 + ppm/1e6) x true rate
  int rssi = -45;                    ///< ap_rssi: the access point's RSSI the modules see, dBm
  // Mesh faults (docs/faults.md "Trust-node mesh faults").
  NodeRef node;                      ///< trust_node_kill, trust_node_stop, partition_node: the trust node (default 0)
  int member = 0;                    ///< etcd_kill, etcd_stop: the etcd member, 0..etcd_members-1
  bool from_devices = false;         ///< partition_node: from = "devices" (its PTY links) instead of "etcd" (its relays)
  /// The fault's registry entry (fault_registry.hpp); throws std::invalid_argument for an unknown kind.
  const FaultDef& def() const { return fault_def(kind); }
  bool power_fault() const { return def().mechanism == FaultMechanism::Supply; }
  /// A fault sent to iotw-emu over its control channel.
  bool control_fault() const { return def().mechanism == FaultMechanism::ControlChannel; }
  /// ap_rssi, ap_down: AT devices only.
  bool ap_fault() const { return def().targets == FaultTargets::AtModules; }
  /// reboot, hang: one event, no duration; the device recovers by itself (registers again).
  bool reset_fault() const { return def().duration == FaultDuration::Forbidden; }
  /// A fault of the link fault proxies (serial and/or UDP).
  bool link_fault() const { return def().mechanism == FaultMechanism::LinkProxy; }
  bool device_fault() const {
    return def().targets != FaultTargets::TrustNode && def().targets != FaultTargets::EtcdMember;
  }
  /// A fault of UDP links only.
  bool udp_fault() const { return link_fault() && def().links == kUdpLinks; }
  /// A fault of serial links only (the serial fault proxy).
  bool serial_fault() const { return link_fault() && def().links == kSerialLinks; }
  /// A link fault of both kinds of link (partition, stall).
  bool any_link_fault() const { return link_fault() && def().links == (kSerialLinks | kUdpLinks); }
};

/// One [[steps]] entry: when it starts (its trigger) and what it does (its action).
struct Step {
  enum class Trigger { AfterPrevious, AtTime, AfterBlock, DeviceState, Incoherent };
  enum class Action {
    Fault,    ///< `fault`: inject a fault (FaultSpec)
    Wait,     ///< `wait`: until a live value meets `condition`
    Expect,   ///< `expect`: check a score so far
    Traffic,  ///< `traffic = "pause" | "resume"`: the harness stops or resumes submitting transactions
    Uart,     ///< `uart = "..."` with `device`: text typed into an AT-mode module's UART (docs/console.md)
  };
  int index = 0;     ///< 1-based position in the file
  int line = 0;      ///< line of the [[steps]] table
  std::string label; ///< `name`, or "step N"
  Trigger trigger = Trigger::AfterPrevious;
  double at_s = 0;              ///< AtTime: seconds after the trust node first answered
  std::uint64_t after_block = 0;  ///< AfterBlock: once height >= this
  std::string device, state;    ///< DeviceState: device `device` emitted state `state`
  Action action = Action::Fault;
  FaultSpec fault;              ///< Action::Fault
  Condition condition;          ///< Wait (live value) or Expect (score so far)
  double deadline_s = 30;       ///< Wait: give up (and fail) after this long, s
  bool traffic_paused = false;  ///< Traffic: true for "pause", false for "resume"
  std::string uart_device;      ///< Uart: the link = "at" device whose UART is typed into (`device`)
  std::string uart_data;        ///< Uart: the text (`uart`); "\r\n" is appended unless it ends in "\n"
};

/// [tap]: the network of the rig's link = "tap" devices (docs/rig-format.md "TAP links").
struct TapNetSpec {
  std::string subnet = "10.77.0.0/24";  ///< "A.B.C.D/P", host bits zero, P 8..29: the bridge is the first host
                                        ///< address, the TAP devices take the next ones in file order
  int line = 0;                         ///< line of the [tap] table (0 = absent: defaults)
};

/// [mesh] (docs/rig-format.md "Mesh"): several trust nodes sharing one replicated ledger on an etcd cluster the
/// harness starts; devices fail over between the nodes. Absent: one trust node on its SQLite ledger.
struct MeshSpec {
  int trust_nodes = 3;   ///< 1..7 trust nodes (tn-0, tn-1, ...), each with its own PTY link to every device
  int etcd_members = 3;  ///< 1..7 etcd members on 127.0.0.1
  int lease_ttl_s = 2;   ///< 1..60: the leadership lease of the assigning node, s (the daemon's [mesh] lease_ttl_s)
  int line = 0;          ///< line of the [mesh] table
};

/// [hosts] (docs/rig-format.md "Hosts"): the rig's devices on two hosts, each a network namespace of its own joined
/// by the host link (a TAP interface in each, the harness relaying frames between them); the trust node runs on one
/// of them, every host runs its own emulator pool.
struct HostsSpec {
  std::vector<std::string> names;    ///< exactly two host names, 1..12 characters of a-z 0-9 -
  std::string trust_node;            ///< the host the trust node runs on (default: the first name)
  int latency_ms = 0;                ///< the host link's one-way delay, each direction, ms (0..10000)
  int jitter_ms = 0;                 ///< plus a uniform 0..jitter_ms per frame, ms (0..10000)
  std::string subnet = "10.78.0.0/24";  ///< the host link's network (prefix 8..30); its first host address is on the trust
                                        ///< node's host, the second on the other
  int line = 0;                      ///< line of the [hosts] table
  /// The host that is not the trust node's.
  const std::string& far_host() const { return names[0] == trust_node ? names[1] : names[0]; }
};

struct RigSpec {
  std::filesystem::path file;
  std::string name;
  std::string description;
  std::optional<std::uint64_t> seed;  ///< --seed overrides; absent = random, printed
  double deadline_s = 120;            ///< wall-clock limit of the run, seconds
  /// Monte Carlo mode: the harness lifts every blacklist entry as soon as it sees it (operator API), so the
  /// pool and the colluding fraction p stay near constant over many rounds (docs/rig-format.md).
  bool monte_carlo = false;
  TrustNodeSpec trust_node;
  std::vector<DeviceGroup> devices;
  TrafficSpec traffic;
  int target_blocks = 20;             ///< [target] blocks: stop once this many blocks are finalized
  std::vector<Criterion> pass;
  std::optional<double> baseline_blocks_per_min;  ///< [pass] baseline_blocks_per_min: liveness_ratio's denominator
  std::vector<Step> steps;            ///< [[steps]], in file order
  TapNetSpec tap;                     ///< [tap] (used only when a group has link = "tap")
  std::optional<MeshSpec> mesh;       ///< [mesh]; absent = one trust node on SQLite
  std::optional<HostsSpec> hosts;     ///< [hosts]; absent = everything on this host (one emulator pool)

  /// How many trust nodes the rig runs: [mesh] trust_nodes, else 1.
  int trust_nodes() const { return mesh ? mesh->trust_nodes : 1; }
  /// Trust node `i`'s name: its process name and, in a [mesh] rig, its node_id: "tn-<i>"; without [mesh]
  /// "trust_node" (the one node).
  std::string trust_node_name(int i) const { return mesh ? "tn-" + std::to_string(i) : "trust_node"; }

  /// Devices in file order, groups expanded: "<prefix>-NN", NN from 01 (at least two digits) per group.
  std::vector<DeviceInstance> instances() const;
};

}  // namespace iotw::harness
