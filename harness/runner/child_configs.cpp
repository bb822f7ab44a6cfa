#include "child_configs.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <sodium.h>
#include <toml++/toml.h>

#include "iotw/support/hex.hpp"
#include "iotw/support/seeded_random.hpp"

namespace iotw::harness {
namespace {

void write_toml(const std::filesystem::path& file, const toml::table& table) {
  std::ofstream out(file, std::ios::trunc);
  out << table << '\n';
  out.close();
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

}  // namespace

std::string device_seed_hex(std::uint64_t seed, const std::string& device) {
  return to_hex(component_seed(seed, device));
}

std::string write_node_key(const RunLayout& layout, std::uint64_t seed) {
  // the component "trust_node:key" (a ':' no device name has, so no device shares it)
  Seed key_seed = component_seed(seed, "trust_node:key");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, key_seed.data());
  sodium_memzero(sk, sizeof sk);
  const std::string file = layout.node_key().string();
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const bool ok = fd >= 0 && ::write(fd, key_seed.data(), key_seed.size()) == static_cast<ssize_t>(key_seed.size());
  const int err = errno;
  if (fd >= 0) ::close(fd);
  sodium_memzero(key_seed.data(), key_seed.size());
  if (!ok) throw std::runtime_error("cannot write " + file + ": " + std::strerror(err));
  return to_hex(pk, sizeof pk);
}

std::uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) throw std::runtime_error(std::string("cannot bind a UDP socket on 127.0.0.1: ") + std::strerror(err));
  return ntohs(a.sin_port);
}

const LinkKindInfo& link_of(const WiredDevice& d) { return link_kind_info(d.device.link_kind()); }

bool has_tap_devices(const std::vector<WiredDevice>& devices) {
  return std::any_of(devices.begin(), devices.end(), [](const WiredDevice& d) { return link_of(d).needs_root; });
}

bool has_at_devices(const std::vector<WiredDevice>& devices) {
  return std::any_of(devices.begin(), devices.end(), [](const WiredDevice& d) { return link_of(d).at_module; });
}

/// Some device's link ends at the trust node's `listener`.
bool node_listens(const std::vector<WiredDevice>& devices, NodeListener listener) {
  return std::any_of(devices.begin(), devices.end(),
                     [&](const WiredDevice& d) { return link_of(d).node_listener == listener; });
}

void write_trust_node_config(const RigSpec& spec, std::uint64_t seed, const std::vector<WiredDevice>& devices,
                             const RunLayout& layout, std::uint16_t udp_port, std::uint16_t tcp_port, int node,
                             const std::vector<std::string>& etcd_endpoints) {
  if (seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw std::runtime_error("seed " + std::to_string(seed) + " does not fit a TOML integer (max 2^63-1)");
  const NodeLayout files = layout.node(spec, node);
  std::filesystem::create_directories(files.dir);
  toml::array serial;
  for (const auto& d : devices)
    if (link_of(d).node_listener == NodeListener::Serial) {
      const std::size_t i = std::min<std::size_t>(static_cast<std::size_t>(node), d.links.size() - 1);
      serial.push_back(toml::table{{"path", d.links.at(i).node_side}, {"baud", 115200}});
    }
  const TrustNodeSpec& c = spec.trust_node;
  toml::table config{
      {"node", toml::table{{"db", files.ledger_db().string()},
                           {"seed", static_cast<std::int64_t>(seed)},
                           {"events", files.events().string()},
                           {"key", layout.node_key().string()}}},
      {"http", toml::table{{"listen", "127.0.0.1:0"}, {"port_file", files.http_port_file().string()}}},
      {"serial", std::move(serial)},
      {"consensus", toml::table{{"witnesses", c.witnesses},
                                {"block_interval_ms", c.block_interval_ms},
                                {"max_txs_per_block", c.max_txs_per_block},
                                {"assignment_timeout_ms", c.assignment_timeout_ms},
                                {"witness_timeout_ms", c.witness_timeout_ms},
                                {"device_timeout_ms", c.device_timeout_ms},
                                {"selection", c.selection}}},
  };
  if (config["serial"].as_array()->empty()) config.erase("serial");  // only AT-mode devices: no serial links
  // AT-mode modules send the firmware's datagrams here (through the UDP fault proxy, on loopback); TAP modules
  // from the namespace's bridge, so then the node listens on every address of the run's own network namespace.
  if (node_listens(devices, NodeListener::Udp))
    config.insert("udp", toml::table{{"listen", (has_tap_devices(devices) || spec.hosts ? "0.0.0.0:" : "127.0.0.1:") +
                                                    std::to_string(udp_port)},
                                     {"port_file", files.udp_port_file().string()}});
  // AT modules with at_transport = "tcp": the harness's relays connect to [tcp] on loopback (serial framing).
  if (node_listens(devices, NodeListener::Tcp))
    config.insert("tcp", toml::table{{"listen", "127.0.0.1:" + std::to_string(tcp_port)},
                                     {"port_file", files.tcp_port_file().string()}});
  if (c.selection == "vrf") config["consensus"].as_table()->insert("vrf_suite", c.vrf_suite);
  if (spec.mesh) {  // one ledger in etcd (no SQLite file), reached through the harness's relays; the node's place
    config["node"].as_table()->erase("db");
    toml::array endpoints;
    for (const std::string& e : etcd_endpoints) endpoints.push_back(e);
    config.insert("store", toml::table{{"kind", "etcd"}, {"endpoints", std::move(endpoints)},
                                       {"prefix", "/iotw/" + spec.name + "/"}});
    config.insert("mesh", toml::table{{"node_id", spec.trust_node_name(node)}, {"lease_ttl_s", spec.mesh->lease_ttl_s}});
  }
  write_toml(files.config(), config);
}

void write_emu_config(const std::vector<WiredDevice>& devices, const RunLayout& layout, std::uint16_t udp_port,
                      const std::string& node_pubkey, std::uint32_t collusion_witnesses, std::uint16_t tcp_port,
                      const std::string& host) {
  const PoolLayout files = layout.pool(host);
  std::vector<WiredDevice> mine;  // the pool's devices: those of its host
  for (const auto& d : devices)
    if (d.device.host == host) mine.push_back(d);
  toml::array list;
  for (const auto& d : mine) {
    const LinkKindInfo& link = link_of(d);
    if (!link.emulated) continue;  // relayed by the harness, not run by the pool
    const auto nvs = layout.nvs_dir(d.device.name);
    std::filesystem::create_directories(nvs);
    toml::table entry{{"name", d.device.name},
                      {"model", d.device.model},
                      {"nvs_dir", nvs.string()},
                      {"behaviour", d.device.behaviour}};
    switch (link.emu_fragment) {
      case EmuLinkFragment::AtTcp: {  // the harness's TCP relay ("tcp:127.0.0.1:PORT"), else the node's [tcp] port
        const std::string relay = d.links.empty() ? "" : d.links.at(0).device_side;
        entry.insert("mode", "at");
        entry.insert("trust_node_tcp", relay.rfind("tcp:", 0) == 0 ? relay.substr(4)
                                                                  : "127.0.0.1:" + std::to_string(tcp_port));
        break;
      }
      case EmuLinkFragment::AtUdp:
        entry.insert("mode", "at");
        entry.insert("trust_node_udp", "127.0.0.1:" + std::to_string(d.udp_proxy_port ? d.udp_proxy_port : udp_port));
        break;
      case EmuLinkFragment::Tap:  // SoC mode over TAP: its own lwIP process in iotw-emu
        entry.insert("tap", d.tap);
        entry.insert("ip", d.tap_ip);
        entry.insert("mac", d.tap_mac);
        entry.insert("trust_node_udp", d.tap_trust_node_udp);
        break;
      case EmuLinkFragment::SerialLink:
        if (d.links.size() > 1) {  // a [mesh] rig: one link per trust node, in node order (failover)
          toml::array links;
          for (const LinkInfo& l : d.links) links.push_back(l.device_side);
          entry.insert("links", std::move(links));
        } else {
          entry.insert("link", d.links.at(0).device_side);
        }
        break;
      case EmuLinkFragment::None:
        break;
    }
    if (!d.qemu_image.empty()) entry.insert("image", d.qemu_image);  // qemu-cortex-m3: the image QEMU runs
    if (!d.seed.empty()) entry.insert("seed", d.seed);  // the device's identity follows from it (docs/rig-format.md)
    if (d.device.ram_budget_kib > 0) entry.insert("ram_budget_kib", d.device.ram_budget_kib);
    const PoweredSettings& p = d.device.powered;
    if (p.usage_period_ms) entry.insert("usage_period_ms", *p.usage_period_ms);
    if (!d.modbus_tcp.empty()) entry.insert("modbus_tcp", d.modbus_tcp);
    if (p.load_ohm) entry.insert("load_ohm", *p.load_ohm);
    if (!p.power.empty()) {
      toml::array steps;
      for (const PowerStep& s : p.power)
        steps.push_back(toml::table{{"at_ms", s.at_ms}, {"vin", s.vin}, {"ramp_v_per_s", s.ramp_v_per_s}});
      entry.insert("power", std::move(steps));
    }
    list.push_back(std::move(entry));
  }
  toml::table pool{{"events", files.events().string()}, {"device", std::move(list)}};
  if (!node_pubkey.empty()) pool.insert("node_pubkey", node_pubkey);
  const bool all_slots_group = std::any_of(mine.begin(), mine.end(),
                                           [](const WiredDevice& d) { return d.device.behaviour == "collude_all_slots"; });
  if (all_slots_group && collusion_witnesses > 0)  // the group knows n out of band (docs/faults.md)
    pool.insert("collusion", toml::table{{"witnesses", static_cast<int64_t>(collusion_witnesses)}});
  pool.insert("control", files.control().string());  // run-time device faults (reboot, hang, clock_skew, ap)
  if (has_at_devices(mine)) pool.insert("access_point", toml::table{{"ssid", kRigApSsid}, {"password", kRigApPassword}});
  write_toml(files.config(), pool);
}

}  // namespace iotw::harness
