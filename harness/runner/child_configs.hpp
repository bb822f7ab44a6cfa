// The config files the harness writes into a run folder for its children: trust_node.toml
// (docs/trust-node.md) and emu.toml (docs/emulators.md). All paths in them are absolute.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include <fmt/format.h>

#include "iotw/harness/rig_spec.hpp"
#include "link_fabric.hpp"

namespace iotw::harness {

/// A device and the links the fabric made for it.
struct WiredDevice {
  DeviceInstance device;
  /// A PTY device: one link per trust node, in node order (a rig without [mesh]: one); any other device: one entry
  /// naming it (its node_side and device_side as the fabric or proxy has them, possibly empty).
  std::vector<LinkInfo> links;
  std::string modbus_tcp;  ///< dps: "127.0.0.1:PORT" its Modbus TCP server listens on ("" = none)
  std::uint16_t udp_proxy_port = 0;  ///< link = "at": the harness's UDP fault proxy port the module sends to (0 = the node's)
  // link = "tap" (tap_network.hpp): the module's TAP interface in the run's namespace, its "A.B.C.D/P" and MAC, and
  // the trust node's [udp] endpoint on the namespace's bridge ("A.B.C.D:PORT") it sends to.
  std::string tap = {}, tap_ip = {}, tap_mac = {}, tap_trust_node_udp = {};
  /// model qemu-cortex-m3: the firmware image QEMU runs (absolute).
  std::string qemu_image = {};
  /// The device's seed, 64 lowercase hex (device_seed_hex), or "" when the rig gives it the OS's randomness
  /// (seed = "os"). emu.toml's `seed`; external devices ignore it.
  std::string seed = {};
};

/// The files of one trust node: in the run folder itself for the one node of a rig without [mesh] (the layout as ever),
/// in `<run>/tn-<i>/` for node i of a [mesh] rig.
struct NodeLayout {
  std::filesystem::path dir;  ///< the run folder, or <run>/tn-<i>
  std::string name;           ///< RigSpec::trust_node_name: "trust_node" or "tn-<i>" (the process name, the node_id)
  std::filesystem::path config() const { return dir / "trust_node.toml"; }
  std::filesystem::path ledger_db() const { return dir / "ledger.sqlite"; }
  std::filesystem::path events() const { return dir / "trust_node.events.jsonl"; }
  std::filesystem::path http_port_file() const { return dir / "http.port"; }
  std::filesystem::path udp_port_file() const { return dir / "udp.port"; }
  std::filesystem::path tcp_port_file() const { return dir / "tcp.port"; }
  std::filesystem::path stdout_log() const { return dir / "trust_node.stdout.log"; }
  std::filesystem::path stderr_log() const { return dir / "trust_node.stderr.log"; }
};

/// The files of one emulator pool, in the run folder, named after the pool: the run's one pool "emu" (emu.toml,
/// emu.events.jsonl, emu.sock), or in a [hosts] rig host H's pool "emu-H" (emu-H.toml, emu-H.events.jsonl, emu-H.sock).
struct PoolLayout {
  std::filesystem::path dir;  ///< the run folder
  std::string name;           ///< "emu" or "emu-<host>": the process name too
  std::string host;           ///< the [hosts] host whose devices it runs; "" without [hosts]
  std::filesystem::path config() const { return dir / (name + ".toml"); }
  std::filesystem::path events() const { return dir / (name + ".events.jsonl"); }
  /// The control channel (a UNIX-domain socket; docs/emulators.md "Control channel"): `<name>.sock` in the run folder,
  /// or, when that path is too long for a socket address (107 bytes), /tmp/iotw-<name>-<hash>.sock.
  std::filesystem::path control() const {
    const std::filesystem::path p = dir / (name + ".sock");
    if (p.string().size() < 100) return p;
    return std::filesystem::path("/tmp") / (fmt::format("iotw-{}-{}.sock", name, std::hash<std::string>{}(dir.string())));
  }
};

/// Fixed file names inside a run folder.
struct RunLayout {
  std::filesystem::path dir;  ///< the run folder (absolute)
  /// Trust node `i` of `spec` (its folder is not created here).
  NodeLayout node(const RigSpec& spec, int i) const {
    return {spec.mesh ? dir / spec.trust_node_name(i) : dir, spec.trust_node_name(i)};
  }
  /// The one node of a rig without [mesh] (node 0's files in the run folder).
  NodeLayout single_node() const { return {dir, "trust_node"}; }
  std::filesystem::path trust_node_config() const { return single_node().config(); }
  /// The emulator pool of `host` (a [hosts] rig's host name), or the run's one pool ("").
  PoolLayout pool(const std::string& host = "") const {
    return {dir, host.empty() ? "emu" : "emu-" + host, host};
  }
  std::filesystem::path emu_config() const { return pool().config(); }
  std::filesystem::path ledger_db() const { return single_node().ledger_db(); }
  /// The trust nodes' Ed25519 seed (32 bytes); a [mesh] rig's nodes share it (one ledger authority).
  std::filesystem::path node_key() const { return dir / "node.key"; }
  std::filesystem::path trust_node_events() const { return single_node().events(); }
  std::filesystem::path emu_events() const { return pool().events(); }
  std::filesystem::path http_port_file() const { return single_node().http_port_file(); }
  std::filesystem::path udp_port_file() const { return single_node().udp_port_file(); }
  std::filesystem::path tcp_port_file() const { return single_node().tcp_port_file(); }
  std::filesystem::path etcd_dir() const { return dir / "etcd"; }  ///< a [mesh] rig's etcd members' data and logs
  std::filesystem::path nvs_dir(const std::string& device) const { return dir / "nvs" / device; }
  std::filesystem::path stdout_log(const std::string& child) const { return dir / (child + ".stdout.log"); }
  std::filesystem::path stderr_log(const std::string& child) const { return dir / (child + ".stderr.log"); }
  std::filesystem::path ledger() const { return dir / "ledger.jsonl"; }
  std::filesystem::path events() const { return dir / "events.jsonl"; }
  /// iotw-emu's control channel of the run's one pool (PoolLayout::control).
  std::filesystem::path emu_control() const { return pool().control(); }
};

/// Writes layout.node_key(): the trust node's key file (32 raw bytes, mode 0600; docs/trust-node.md "Node key"),
/// the component seed of "trust_node:key" (support/seeded_random.hpp component_seed), so a run is reproduced by its seed.
/// Returns the Ed25519 public key of that seed (crypto_sign_seed_keypair), lowercase hex (64 characters), for the
/// emulator pool's node_pubkey. Throws std::runtime_error when the file cannot be written.
std::string write_node_key(const RunLayout& layout, std::uint64_t seed);

/// The seed of the rig's device `device`: support/seeded_random.hpp component_seed(seed, device) in lowercase hex (64
/// characters). The same rig seed gives the same devices; another device in the rig changes nothing here.
std::string device_seed_hex(std::uint64_t seed, const std::string& device);

/// Writes trust node `node`'s config (layout.node(spec, node).config(), its folder created): [node] db/seed/events/key
/// (key = layout.node_key(), shared by every node), [http] on 127.0.0.1:0 with the node's port file, one [[serial]] per
/// serial-linked device (PTY devices, external serial and tcp devices) on its node-side PTY of this node's link
/// (115200 baud), [consensus] from spec.trust_node. An external = "udp" device needs [udp] like an AT device.
/// A [mesh] rig's node also gets [store] kind = "etcd", endpoints = `etcd_endpoints` (the node's relays, member order),
/// prefix = "/iotw/<rig name>/", and [mesh] node_id = "tn-<node>", lease_ttl_s; its [node] has no db.
/// Throws std::runtime_error when the file cannot be written or seed > INT64_MAX (TOML integers are i64).
/// Devices with link = "at" get no [[serial]]; when there is one, [udp] listens on 127.0.0.1:udp_port (0.0.0.0 in a
/// TAP or [hosts] rig, whose namespaces are the run's own) (port file
/// layout.udp_port_file()). When a device has at_transport = "tcp", [tcp] listens on 127.0.0.1:tcp_port (port file
/// layout.tcp_port_file()).
void write_trust_node_config(const RigSpec& spec, std::uint64_t seed, const std::vector<WiredDevice>& devices,
                             const RunLayout& layout, std::uint16_t udp_port = 0, std::uint16_t tcp_port = 0,
                             int node = 0, const std::vector<std::string>& etcd_endpoints = {});

/// Writes layout.pool(host).config(): the events file and one [[device]] per emulated device whose
/// DeviceInstance::host is `host` (external ones are left out)
/// (name, model, behaviour,
/// link = device-side PTY, or links = [...] (every device-side PTY, in trust-node order) for a device with more than one
/// link (a [mesh] rig), nvs_dir = layout.nvs_dir(name), created here). Throws std::runtime_error on I/O errors.
/// Devices with link = "at" become mode = "at" entries with trust_node_udp = "127.0.0.1:<udp_port>" (no link), and
/// the file gets [access_point] (kRigApSsid / kRigApPassword). A non-empty node_pubkey (hex, from write_node_key)
/// becomes the top-level node_pubkey: every device's firmware does light verification against it.
/// When a device has behaviour "collude_all_slots" and collusion_witnesses > 0 (the rig's [trust_node] witnesses),
/// the file gets [collusion] witnesses = n: what the colluding group knows out of band (docs/faults.md).
/// qemu-cortex-m3 devices also get image = WiredDevice::qemu_image; every device with a WiredDevice::seed gets seed.
/// AT devices with at_transport = "tcp" get trust_node_tcp = "127.0.0.1:<tcp_port>" (the node's [tcp], no proxy).
void write_emu_config(const std::vector<WiredDevice>& devices, const RunLayout& layout, std::uint16_t udp_port = 0,
                      const std::string& node_pubkey = "", std::uint32_t collusion_witnesses = 0,
                      std::uint16_t tcp_port = 0, const std::string& host = "");

/// The simulated access point the AT-mode devices of a rig join (docs/rig-format.md, link = "at").
inline constexpr const char* kRigApSsid = "iotw-rig";
inline constexpr const char* kRigApPassword = "iotw-rig-pass";

/// A free UDP port on 127.0.0.1 (bound, read, released): the trust node's [udp] port of a rig with AT-mode
/// devices, fixed for the whole run so a restarted trust node listens where the modules send.
/// Throws std::runtime_error when no socket can be bound.
std::uint16_t free_udp_port();

/// True when any device of the list has link = "tap".
bool has_tap_devices(const std::vector<WiredDevice>& devices);

/// True when any device of the list has link = "at".
bool has_at_devices(const std::vector<WiredDevice>& devices);

}  // namespace iotw::harness
