// The one registry of rig faults (docs/faults.md): one entry per fault kind with its parameters, the links and
// devices it acts on, how the script starts and ends it and what its recovery check requires. The rig loader
// validates `[[steps]] fault = ...` from it, the script runner (harness/runner/rig_script.hpp) dispatches on its
// entries, and a test checks docs/faults.md and docs/rig-format.md against it.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace iotw::harness {

struct FaultSpec;

/// Every fault kind; FaultDef::name is its spelling in a rig file.
enum class FaultKind {
  Corrupt, BitFlip, DropBytes, DropFrames, Garbage, Stall, BaudMismatch, Delay, Partition,
  TrustNodeKill, TrustNodeStop, EtcdKill, EtcdStop, PartitionNode, Brownout, PowerLoss,
  UdpLoss, UdpDuplicate, UdpReorder, UdpDelay,
  Reboot, Hang, ClockSkew, ApRssi, ApDown, HostPartition,
};

/// How the script starts and ends a fault (RigScript dispatches on this).
enum class FaultMechanism {
  LinkProxy,       ///< the serial and/or UDP fault proxy of each target link (FaultDef::links), while active
  NodeKill,        ///< SIGKILL a trust node (FaultSpec::node); start it again at the end
  NodeStop,        ///< SIGSTOP a trust node; SIGCONT at the end
  EtcdKill,        ///< SIGKILL an etcd member (FaultSpec::member); start it again at the end
  EtcdStop,        ///< SIGSTOP an etcd member; SIGCONT at the end
  NodePartition,   ///< cut a trust node from etcd (its TCP relays) or from the devices (its PTY links); heal at the end
  Supply,          ///< a dps device's input supply over Modbus TCP: `vin` at the start, nominal 24 V at the end
  ControlChannel,  ///< iotw-emu's control channel: FaultDef::start_command / end_command per target device
  HostLink,        ///< a [hosts] rig's host link (the relay between the hosts' TAP interfaces): cut; carries again at the end
};

/// The links a fault shapes while active (a bit set of LinkBit).
enum LinkBit : unsigned { kSerialLinks = 1u, kUdpLinks = 2u };

/// The devices a fault may name in `devices` (and takes by default).
enum class FaultTargets {
  Links,         ///< the links of FaultDef::links by link kind (link_kind.hpp): PTY, AT over TCP and external
                 ///< serial/tcp (serial), AT over UDP, TAP and external udp (UDP)
  TrustNode,     ///< none: a trust-node process or its connections (`devices` is an error)
  EtcdMember,    ///< none: an etcd member of a [mesh] rig (`devices` is an error)
  DpsDevices,    ///< emulated model = "dps" devices (their supply); default all of them
  OwnChip,       ///< PTY devices whose firmware runs on its own emulated chip (not AT modules, TAP, external)
  AtModules,     ///< link = "at" modules on UDP (they join the rig's access point)
  FarHost,       ///< the devices of a [hosts] rig's host without the trust node (`devices` is an error)
};

/// duration_s.
enum class FaultDuration {
  Optional,   ///< absent: lasts to the end of the run, without a recovery check
  Required,   ///< the fault must heal (absent only for an inline step's open-ended fault)
  Forbidden,  ///< one event; the device recovers by itself (recover_within_s counts from the injection)
  Instant,    ///< absent = 0: ends right away (trust_node_kill restarts at once), then its recovery check
};

/// A fault parameter of a [[steps]] table (docs/faults.md). Common keys (devices, duration_s, recover_within_s)
/// are not listed here.
struct FaultParam {
  enum class Type {
    Integer, Number, Choice,
    Node,  ///< a trust node: an integer index (lo..hi) or the string "leader" (NodeRef)
  };
  std::string_view key;
  Type type;
  double lo = 0, hi = 0;         ///< inclusive range (Integer, Number)
  std::string_view unit;         ///< e.g. "ms", "V", "dBm", "" for a ratio
  std::string_view needs_hint;   ///< what "needs '<key>' (...)" says when a fault requires it and it is absent
};

/// What a recovery check requires of every target once the fault ended, within recover_within_s.
struct RecoveryCheck {
  bool traffic = false;   ///< its link carried a frame (UDP: a datagram) each way since the end (proxied links)
  bool attached = false;  ///< it is attached in GET /v1/devices (trust-node faults: every device)
  /// [mesh] rigs: exactly one trust node answers GET /v1/health with role "assigning", and the height grew since the
  /// fault ended (blocks finalize again). Ignored on a rig without [mesh].
  bool mesh = false;
  /// Non-empty: it registered again (device_registered) since the start (reset faults) or end (power faults);
  /// the text follows the device's name in the failure, e.g. "(has not registered again since its reboot)".
  std::string_view not_registered;
};

/// One fault kind.
struct FaultDef {
  FaultKind id;
  std::string_view name;            ///< the rig file's spelling, e.g. "partition"
  FaultMechanism mechanism;
  unsigned links = 0;               ///< LinkBit set shaped while active (LinkProxy faults; ap_rssi: UDP loss)
  FaultTargets targets;
  FaultDuration duration;
  std::string_view heal_reason;     ///< Required: the "(...)" of "needs 'duration_s' (...)"
  std::vector<std::string_view> params;    ///< FaultParam keys it takes
  std::vector<std::string_view> required;  ///< of those, the ones it needs
  /// A requirement across parameters (clock_skew: a non-zero offset or rate), with the text of "needs ...".
  bool (*satisfied)(const FaultSpec&) = nullptr;
  std::string_view satisfied_text;
  RecoveryCheck recovery;
  /// ControlChannel: the request that starts the fault on `device` (docs/emulators.md "Control channel").
  nlohmann::json (*start_command)(const FaultSpec&, const std::string& device) = nullptr;
  /// ControlChannel: the request that ends it on `device`; null json = none (reboot, hang end by themselves).
  nlohmann::json (*end_command)(const std::string& device) = nullptr;
  std::string_view summary;         ///< one line for `iotw rig run --help` and docs checks
  /// OwnChip faults: also taken by qemu-cortex-m3 devices (reboot: a QEMU machine reset over QMP; the machine has
  /// no watchdog to bite a hung firmware and no clock of its own to skew).
  bool on_qemu = false;
  /// Only in a rig with [mesh] (etcd_kill, etcd_stop, partition_node); elsewhere a loader error.
  bool mesh_only = false;
  /// Only in a rig with [hosts] (host_partition); elsewhere a loader error.
  bool hosts_only = false;

  /// Ends by itself (trust_node_kill's restart, reboot, hang): recover_within_s applies without duration_s.
  bool ends_by_itself() const { return duration == FaultDuration::Forbidden || duration == FaultDuration::Instant; }
  bool takes(std::string_view param) const;
  bool needs(std::string_view param) const;
};

/// Every fault, in the order docs and "allowed:" messages list them.
std::span<const FaultDef> fault_registry();
/// The entry of `name`; nullptr for an unknown name.
const FaultDef* find_fault(std::string_view name);
/// The entry of `name`; throws std::invalid_argument naming the allowed faults for an unknown name.
const FaultDef& fault_def(std::string_view name);
/// Every fault parameter (not the common keys devices, duration_s, recover_within_s).
std::span<const FaultParam> fault_params();
/// Names of the faults taking `param`, as a message lists them: "a and b" for two, "a, b, c" otherwise.
std::string faults_taking(std::string_view param);
/// Every fault name, ", "-joined (the "allowed:" list).
std::string fault_names();

/// The access point's RSSI when no ap_rssi step is active (emulators/esp_wifi AccessPoint default), dBm.
inline constexpr int kNominalRssi = -45;
/// ap_rssi: the datagram loss (each way) a module's weak signal adds on its UDP link: 0 at -70 dBm and above,
/// rising linearly by 2.5 % per dB to 50 % at -90 dBm, and 50 % below (at -96 dBm and below the module no longer
/// finds the AP at all and disconnects; docs/faults.md "Device faults").
double rssi_loss_rate(int rssi_dbm);

}  // namespace iotw::harness
