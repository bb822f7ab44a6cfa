#include "rig_link.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "host_network.hpp"
#include "iotw/support/seeded_random.hpp"
#include "tap_network.hpp"

namespace iotw::harness {
namespace {

using json = nlohmann::ordered_json;

json counts_json(const DirectionCounts& c) {
  return {{"bytes", c.bytes}, {"chunks", c.chunks}, {"delivered_bytes", c.delivered_bytes}};
}

json fault_counts_json(const FaultCounts& c) {
  return {{"corrupted_bytes", c.corrupted_bytes}, {"bit_flips", c.bit_flips}, {"dropped_bytes", c.dropped_bytes},
          {"dropped_frames", c.dropped_frames}, {"garbage_bytes", c.garbage_bytes},
          {"stalled_bytes", c.stalled_bytes}, {"baud_garbled_bytes", c.baud_garbled_bytes},
          {"delayed_chunks", c.delayed_chunks}};
}

std::string loopback(std::uint16_t port) { return fmt::format("127.0.0.1:{}", port); }

/// The common part of a link's events and stats entries.
class BaseLink : public RigLink {
 public:
  std::vector<json> created_events() const override { return events_; }

 protected:
  using RigLink::RigLink;
  /// An external device's entries say so (docs/rig-format.md "External devices").
  json& mark_external(json& j) const {
    if (device_.external) j["external"] = device_.external->text;
    return j;
  }
  std::vector<json> events_;
};

/// A byte-stream link in the LinkFabric through the serial fault proxy: PTY pairs (one per trust node in a [mesh]
/// rig), an AT module's TCP relay, an external device's serial port or TCP listener.
class SerialLink final : public BaseLink {
 public:
  SerialLink(const DeviceInstance& d, LinkPlant& p) : BaseLink(d), fabric_(p.fabric) {
    const int count = info().per_trust_node ? p.spec.trust_nodes() : 1;
    first_ = p.fabric.stats().size();
    for (int k = 0; k < count; ++k) {
      // a [mesh] rig's PTY device: "<device>@tn-<k>", each with its own stream
      const std::string name = p.spec.mesh && info().per_trust_node ? d.name + "@" + p.spec.trust_node_name(k) : d.name;
      auto policy = std::make_unique<FaultPolicy>(link_seed(p.rig_seed, name));
      policies_.push_back(policy.get());
      p.capture.add_serial_link(name);  // interface of fabric link first_ + k
      links_.push_back(add(p, name, std::move(policy)));
      json e{{"device", d.name}};
      if (kind_ == LinkKind::AtTcp)
        e.update({{"link", "at"}, {"at_transport", "tcp"}, {"tcp_relay", links_.back().device_side.substr(4)},
                  {"trust_node_tcp", loopback(p.node_tcp_port)}});
      else if (!info().emulated)
        e.update({{"link", "external"}, {"external", d.external->text}});
      e.update({{"node_side", links_.back().node_side}, {"device_side", links_.back().device_side}});
      if (p.spec.mesh && info().per_trust_node) e["node"] = p.spec.trust_node_name(k);
      events_.push_back(std::move(e));
    }
  }

  std::vector<FaultPolicy*> serial_policies() const override { return policies_; }
  void wire(WiredDevice& w) const override { w.links = links_; }

  std::vector<json> stats_json() const override {
    const std::vector<LinkStats> all = fabric_.stats();
    std::vector<json> out;
    for (std::size_t k = 0; k < links_.size() && first_ + k < all.size(); ++k) {
      const LinkStats& s = all[first_ + k];
      json j = serial_link_json(s.info.device, info().name, policies_[k]->counts(), s.info.node_side,
                                s.info.device_side, s.node_to_device, s.device_to_node);
      out.push_back(std::move(mark_external(j)));
    }
    return out;
  }

  std::string external_address() const override {
    if (info().emulated) return {};
    const std::string& where = links_.at(0).device_side;  // a port's path, or "tcp:IP:PORT"
    return info().wiring == LinkWiring::TcpListener ? where.substr(4) : where;
  }

 private:
  LinkInfo add(LinkPlant& p, const std::string& name, std::unique_ptr<FaultPolicy> policy) {
    switch (info().wiring) {
      case LinkWiring::PtyPair:
        try {
          return p.fabric.add_link(name, std::move(policy));
        } catch (const std::exception& e) {  // e.g. the host's PTYs ran out since `rig check`
          throw std::runtime_error(fmt::format("cannot create the PTY link of device {} ({} serial links made so far): {}",
                                               name, first_ + links_.size(), e.what()));
        }
      case LinkWiring::TcpRelay:
        return p.fabric.add_tcp_relay(name, p.node_tcp_port, std::move(policy));
      case LinkWiring::SerialPort:
        return p.fabric.add_external_link(name, p.open_serial_port(device_), device_.external->port.path,
                                          std::move(policy));
      case LinkWiring::TcpListener:
        return p.fabric.add_tcp_link(name, device_.external->port.host, device_.external->port.port, std::move(policy));
      case LinkWiring::UdpEndpoint:
        break;
    }
    throw std::logic_error("link kind " + std::string(info().name) + " is not a serial link");
  }

  const LinkFabric& fabric_;
  std::size_t first_ = 0;  // the fabric index of its first link
  std::vector<FaultPolicy*> policies_;  // owned by the fabric's links
  std::vector<LinkInfo> links_;
};

/// A datagram link: the device's endpoint of the UDP fault proxy (an AT module's on 127.0.0.1 or on a [hosts] rig's
/// far host, a TAP module's on the bridge, an external device's at its `listen` address).
class DatagramLink final : public BaseLink {
 public:
  DatagramLink(const DeviceInstance& d, LinkPlant& p) : BaseLink(d), relay_(p.udp_relay) {
    if (!relay_) throw std::logic_error("no UDP fault proxy for device " + d.name);
    auto policy = std::make_unique<UdpFaultPolicy>(link_seed(p.rig_seed, d.name));
    policy_ = policy.get();
    index_ = relay_->stats().size();
    p.capture.add_udp_link(d.name);  // before add_link: the relay may tap its first datagram at once
    json e{{"device", d.name}, {"link", info().link}};
    std::string trust_node_udp = loopback(p.node_udp_port);
    if (kind_ == LinkKind::Tap) {  // SoC mode over TAP: lwIP on its TAP interface, UDP to the fault proxy on the bridge
      if (!p.tap) throw std::logic_error("no TAP plan for device " + d.name);
      const auto t = std::find_if(p.tap->devices.begin(), p.tap->devices.end(),
                                  [&](const TapAddress& a) { return a.device == d.name; });
      if (t == p.tap->devices.end()) throw std::logic_error("no TAP address for device " + d.name);
      const std::uint16_t proxy = p.udp_relay->add_link(d.name, std::move(policy), p.tap->bridge_ip);
      tap_ = t->ifname;
      tap_ip_ = fmt::format("{}/{}", t->ip, p.tap->prefix);
      tap_mac_ = t->mac;
      tap_trust_node_udp_ = fmt::format("{}:{}", p.tap->bridge_ip, proxy);
      e.update({{"tap", tap_}, {"ip", tap_ip_}, {"mac", tap_mac_}, {"udp_proxy", tap_trust_node_udp_}});
    } else if (!info().emulated) {  // external = "udp": its own endpoint at the rig's `listen` address
      const DeviceSpec& at = d.external->port;
      proxy_port_ = p.udp_relay->add_link(d.name, std::move(policy), at.host, at.port);
      listen_ = fmt::format("{}:{}", at.host, proxy_port_);
      e.update({{"external", d.external->text}, {"udp_proxy", listen_}});
    } else if (p.spec.hosts && d.host != p.spec.hosts->trust_node) {  // [hosts]: across the host link
      if (!p.host_net) throw std::logic_error("no host network for device " + d.name);
      const HostPlan plan = plan_hosts(p.spec);  // the host link's relay delays, not the proxy
      {
        const HostNetwork::Visit there(*p.host_net, d.host);  // both sockets in the far host's namespace
        proxy_port_ = p.udp_relay->add_link(d.name, std::move(policy), "127.0.0.1", 0, plan.trust_node().ip);
      }
      trust_node_udp = fmt::format("{}:{}", plan.trust_node().ip, p.node_udp_port);
      e.update({{"host", d.host}, {"udp_proxy", loopback(proxy_port_)}});
    } else {  // AT mode: the module's UDP socket reaches the trust node through the UDP fault proxy
      proxy_port_ = p.udp_relay->add_link(d.name, std::move(policy));
      e["udp_proxy"] = loopback(proxy_port_);
    }
    e["trust_node_udp"] = trust_node_udp;
    events_.push_back(std::move(e));
  }

  UdpFaultPolicy* udp_policy() const override { return policy_; }

  void wire(WiredDevice& w) const override {
    w.links = {LinkInfo{device_.name, "", listen_.empty() ? "" : "udp:" + listen_}};
    w.udp_proxy_port = proxy_port_;
    w.tap = tap_;
    w.tap_ip = tap_ip_;
    w.tap_mac = tap_mac_;
    w.tap_trust_node_udp = tap_trust_node_udp_;
  }

  std::vector<json> stats_json() const override {
    const std::vector<UdpLinkStats> all = relay_->stats();
    if (index_ >= all.size()) return {};
    const UdpLinkStats& s = all[index_];
    json j = udp_link_json(s, info().name);
    return {std::move(mark_external(j))};
  }

  std::string external_address() const override { return listen_; }

 private:
  const UdpRelay* relay_;
  UdpFaultPolicy* policy_ = nullptr;  // owned by the relay
  std::size_t index_ = 0;             // its UdpRelay link index
  std::uint16_t proxy_port_ = 0;      // AT modules and external devices: where they send (TAP: 0, see tap_trust_node_udp_)
  std::string listen_;                // an external device's "HOST:PORT"
  std::string tap_, tap_ip_, tap_mac_, tap_trust_node_udp_;
};

}  // namespace

std::uint64_t link_seed(std::uint64_t rig_seed, const std::string& name) {
  return SeededStream(component_seed(rig_seed, "link:" + name))();
}

std::unique_ptr<RigLink> make_rig_link(const DeviceInstance& device, LinkPlant& plant) {
  if (link_kind_info(device.link_kind()).proxy == LinkProxy::Serial)
    return std::make_unique<SerialLink>(device, plant);
  return std::make_unique<DatagramLink>(device, plant);
}

nlohmann::ordered_json serial_link_json(const std::string& device, std::string_view kind, const FaultCounts& faults,
                                        const std::string& node_side, const std::string& device_side,
                                        const DirectionCounts& node_to_device, const DirectionCounts& device_to_node) {
  return {{"device", device},
          {"kind", kind},
          {"faults", fault_counts_json(faults)},
          {"node_side", node_side},
          {"device_side", device_side},
          {"node_to_device", counts_json(node_to_device)},
          {"device_to_node", counts_json(device_to_node)}};
}

}  // namespace iotw::harness
