// The fault registry: every fault kind a rig can inject, one entry each (docs/faults.md).
#include "iotw/harness/fault_registry.hpp"

#include <algorithm>
#include <stdexcept>

#include "iotw/harness/rig_spec.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::json;
using P = FaultParam::Type;

const FaultParam kParams[] = {
    {"rate", P::Number, 0, 1, "", "0..1"},
    {"per", P::Choice, 0, 0, "", "\"byte\" or \"frame\""},
    {"bytes", P::Integer, 1, 4096, "bytes", "1..4096"},
    {"delay_ms", P::Integer, 0, 60000, "ms", "0..60000"},
    {"jitter_ms", P::Integer, 0, 60000, "ms", "0..60000"},
    {"vin", P::Number, 0, 60, "V", "V, 0..60"},
    {"ramp_v_per_s", P::Number, 0, 1000, "V/s", "V/s, 0..1000"},
    {"offset_ms", P::Integer, -86400000, 86400000, "ms", "ms, -86400000..86400000"},
    {"ppm", P::Number, -999999, 1000000, "ppm", "-999999..1000000"},
    {"rssi", P::Integer, -120, 0, "dBm", "dBm, -120..0"},
    {"node", P::Node, 0, 6, "", "an index 0..trust_nodes-1 or \"leader\""},
    {"member", P::Integer, 0, 6, "", "an index 0..etcd_members-1"},
    {"from", P::Choice, 0, 0, "", "\"etcd\" or \"devices\""},
};

constexpr RecoveryCheck kTraffic{.traffic = true};
constexpr RecoveryCheck kTrafficAttached{.traffic = true, .attached = true};
constexpr RecoveryCheck kNodeRecovered{.attached = true, .mesh = true};
constexpr RecoveryCheck kMeshRecovered{.mesh = true};

json reset_command(const FaultSpec& f, const std::string& d) { return {{"cmd", f.kind}, {"device", d}}; }
json clock_skew_command(const FaultSpec& f, const std::string& d) {
  return {{"device", d}, {"cmd", "clock_skew"}, {"offset_ms", f.offset_ms}, {"ppm", f.ppm}};
}
json clock_skew_end(const std::string& d) { return {{"cmd", "clock_skew"}, {"device", d}, {"offset_ms", 0}, {"ppm", 0}}; }
json ap_rssi_command(const FaultSpec& f, const std::string& d) { return {{"device", d}, {"cmd", "ap"}, {"rssi", f.rssi}}; }
json ap_rssi_end(const std::string& d) { return {{"cmd", "ap"}, {"device", d}, {"rssi", kNominalRssi}}; }
json ap_down_command(const FaultSpec&, const std::string& d) { return {{"device", d}, {"cmd", "ap"}, {"up", false}}; }
json ap_down_end(const std::string& d) { return {{"cmd", "ap"}, {"device", d}, {"up", true}}; }
json no_command(const std::string&) { return nullptr; }
bool clock_skew_set(const FaultSpec& f) { return f.offset_ms != 0 || f.ppm != 0; }

using M = FaultMechanism;
using T = FaultTargets;
using D = FaultDuration;
using K = FaultKind;

const std::vector<FaultDef>& registry() {
  static const std::vector<FaultDef> defs = {
      {K::Corrupt, "corrupt", M::LinkProxy, kSerialLinks, T::Links, D::Optional, "", {"rate", "per"}, {"rate"},
       nullptr, "", kTraffic, nullptr, nullptr, "serial: bytes (or one byte of a frame) replaced by random bytes"},
      {K::BitFlip, "bit_flip", M::LinkProxy, kSerialLinks, T::Links, D::Optional, "", {"rate"}, {"rate"}, nullptr, "",
       kTraffic, nullptr, nullptr, "serial: one random bit of a byte inverted"},
      {K::DropBytes, "drop_bytes", M::LinkProxy, kSerialLinks, T::Links, D::Optional, "", {"rate"}, {"rate"}, nullptr,
       "", kTraffic, nullptr, nullptr, "serial: bytes removed"},
      {K::DropFrames, "drop_frames", M::LinkProxy, kSerialLinks, T::Links, D::Optional, "", {"rate"}, {"rate"},
       nullptr, "", kTraffic, nullptr, nullptr, "serial: whole frames removed"},
      {K::Garbage, "garbage", M::LinkProxy, kSerialLinks, T::Links, D::Optional, "", {"rate", "bytes"}, {"rate"},
       nullptr, "", kTraffic, nullptr, nullptr, "serial: random bytes inserted before a chunk"},
      {K::Stall, "stall", M::LinkProxy, kSerialLinks | kUdpLinks, T::Links, D::Optional, "", {}, {}, nullptr, "",
       kTraffic, nullptr, nullptr, "serial or UDP: the line is dead, everything dropped"},
      {K::BaudMismatch, "baud_mismatch", M::LinkProxy, kSerialLinks, T::Links, D::Optional, "", {}, {}, nullptr, "",
       kTraffic, nullptr, nullptr, "serial: every byte arrives as a random byte"},
      {K::Delay, "delay", M::LinkProxy, kSerialLinks, T::Links, D::Optional, "", {"delay_ms", "jitter_ms"}, {},
       nullptr, "", kTraffic, nullptr, nullptr, "serial: chunks delivered later, in order"},
      {K::Partition, "partition", M::LinkProxy, kSerialLinks | kUdpLinks, T::Links, D::Required, "it must heal", {},
       {}, nullptr, "", kTrafficAttached, nullptr, nullptr, "serial or UDP: both directions cut, then healed"},
      {K::TrustNodeKill, "trust_node_kill", M::NodeKill, 0, T::TrustNode, D::Instant, "", {"node"}, {}, nullptr, "",
       kNodeRecovered, nullptr, nullptr, "SIGKILL a trust node, start it again after duration_s"},
      {K::TrustNodeStop, "trust_node_stop", M::NodeStop, 0, T::TrustNode, D::Required, "it must heal", {"node"}, {},
       nullptr, "", kNodeRecovered, nullptr, nullptr, "SIGSTOP a trust node, SIGCONT after duration_s"},
      {K::EtcdKill, "etcd_kill", M::EtcdKill, 0, T::EtcdMember, D::Instant, "", {"member"}, {}, nullptr, "",
       kMeshRecovered, nullptr, nullptr, "SIGKILL an etcd member, start it again after duration_s", false, true},
      {K::EtcdStop, "etcd_stop", M::EtcdStop, 0, T::EtcdMember, D::Required, "it must heal", {"member"}, {}, nullptr,
       "", kMeshRecovered, nullptr, nullptr, "SIGSTOP an etcd member, SIGCONT after duration_s", false, true},
      {K::PartitionNode, "partition_node", M::NodePartition, 0, T::TrustNode, D::Required, "it must heal",
       {"node", "from"}, {"from"}, nullptr, "", kNodeRecovered, nullptr, nullptr,
       "cut a trust node from etcd or from every device, then heal", false, true},
      {K::Brownout, "brownout", M::Supply, 0, T::DpsDevices, D::Required, "it must heal", {"vin", "ramp_v_per_s"}, {},
       nullptr, "", {.attached = true, .not_registered = "(has not registered again since its supply came back)"},
       nullptr, nullptr, "dps supply drops to vin, then returns"},
      {K::PowerLoss, "power_loss", M::Supply, 0, T::DpsDevices, D::Required, "it must heal", {"ramp_v_per_s"}, {},
       nullptr, "", {.attached = true, .not_registered = "(has not registered again since its supply came back)"},
       nullptr, nullptr, "dps supply drops to 0 V, then returns"},
      {K::UdpLoss, "udp_loss", M::LinkProxy, kUdpLinks, T::Links, D::Optional, "", {"rate"}, {"rate"}, nullptr, "",
       kTraffic, nullptr, nullptr, "UDP: datagrams dropped"},
      {K::UdpDuplicate, "udp_duplicate", M::LinkProxy, kUdpLinks, T::Links, D::Optional, "", {"rate"}, {"rate"},
       nullptr, "", kTraffic, nullptr, nullptr, "UDP: datagrams delivered twice"},
      {K::UdpReorder, "udp_reorder", M::LinkProxy, kUdpLinks, T::Links, D::Optional, "", {"rate"}, {"rate"}, nullptr,
       "", kTraffic, nullptr, nullptr, "UDP: a datagram swapped with the next"},
      {K::UdpDelay, "udp_delay", M::LinkProxy, kUdpLinks, T::Links, D::Optional, "", {"delay_ms", "jitter_ms"}, {},
       nullptr, "", kTraffic, nullptr, nullptr, "UDP: datagrams delivered later, each on its own timer"},
      {K::Reboot, "reboot", M::ControlChannel, 0, T::OwnChip, D::Forbidden, "", {}, {}, nullptr, "",
       {.attached = true, .not_registered = "(has not registered again since its reboot)"}, reset_command, no_command,
       "software reset of the device's chip", true},
      {K::Hang, "hang", M::ControlChannel, 0, T::OwnChip, D::Forbidden, "", {}, {}, nullptr, "",
       {.attached = true, .not_registered = "(has not registered again since it hung: no watchdog reset?)"},
       reset_command, no_command, "the firmware stops until the chip's watchdog resets it"},
      {K::ClockSkew, "clock_skew", M::ControlChannel, 0, T::OwnChip, D::Optional, "", {"offset_ms", "ppm"}, {},
       clock_skew_set, "a non-zero 'offset_ms' (ms) and/or 'ppm'", kTrafficAttached, clock_skew_command,
       clock_skew_end, "the device's clock steps by offset_ms and runs at (1 + ppm/1e6) x true rate"},
      {K::ApRssi, "ap_rssi", M::ControlChannel, kUdpLinks, T::AtModules, D::Optional, "", {"rssi"}, {"rssi"}, nullptr,
       "", kTrafficAttached, ap_rssi_command, ap_rssi_end, "AT modules see the access point at rssi dBm (and lose datagrams)"},
      {K::ApDown, "ap_down", M::ControlChannel, 0, T::AtModules, D::Required, "the access point must come back", {},
       {}, nullptr, "", kTrafficAttached, ap_down_command, ap_down_end, "the access point disappears for AT modules"},
      {K::HostPartition, "host_partition", M::HostLink, 0, T::FarHost, D::Required, "it must heal", {}, {}, nullptr,
       "", kTrafficAttached, nullptr, nullptr, "the link between a [hosts] rig's two hosts goes down, then up",
       false, false, true},
  };
  return defs;
}

}  // namespace

bool FaultDef::takes(std::string_view param) const {
  return std::find(params.begin(), params.end(), param) != params.end();
}
bool FaultDef::needs(std::string_view param) const {
  return std::find(required.begin(), required.end(), param) != required.end();
}

std::span<const FaultDef> fault_registry() { return registry(); }

const FaultDef* find_fault(std::string_view name) {
  for (const FaultDef& d : registry())
    if (d.name == name) return &d;
  return nullptr;
}

const FaultDef& fault_def(std::string_view name) {
  if (const FaultDef* d = find_fault(name)) return *d;
  throw std::invalid_argument("unknown fault '" + std::string(name) + "'; allowed: " + fault_names());
}

std::span<const FaultParam> fault_params() { return kParams; }

std::string faults_taking(std::string_view param) {
  std::vector<std::string_view> names;
  for (const FaultDef& d : registry())
    if (d.takes(param)) names.push_back(d.name);
  if (names.size() == 2) return std::string(names[0]) + " and " + std::string(names[1]);
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

std::string fault_names() {
  std::string out;
  for (const FaultDef& d : registry()) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

double rssi_loss_rate(int rssi_dbm) { return std::clamp((-70.0 - rssi_dbm) * 0.025, 0.0, 0.5); }

}  // namespace iotw::harness
