#include "iotw/harness/link_kind.hpp"

#include <array>
#include <stdexcept>
#include <string>

namespace iotw::harness {
namespace {

using K = LinkKind;
using P = LinkProxy;
using W = LinkWiring;
using E = EmuLinkFragment;
using N = NodeListener;

// kind, name, link, rig_text, proxy, captured, needs_root, emulated, at_module, per_trust_node, wiring, emu, node
constexpr std::array<LinkKindInfo, 7> kTable{{
    {K::Pty, "pty", "pty", "link = \"pty\"", P::Serial, true, false, true, false, true, W::PtyPair, E::SerialLink,
     N::Serial},
    {K::AtUdp, "at-udp", "at", "link = \"at\"", P::Datagram, true, false, true, true, false, W::UdpEndpoint, E::AtUdp,
     N::Udp},
    {K::AtTcp, "at-tcp", "at", "link = \"at\", at_transport = \"tcp\"", P::Serial, true, false, true, true, false,
     W::TcpRelay, E::AtTcp, N::Tcp},
    {K::Tap, "tap", "tap", "link = \"tap\"", P::Datagram, true, true, true, false, false, W::UdpEndpoint, E::Tap,
     N::Udp},
    {K::ExternalSerial, "external-serial", "external", "external = \"serial:PATH\"", P::Serial, true, false, false,
     false, false, W::SerialPort, E::None, N::Serial},
    {K::ExternalUdp, "external-udp", "external", "external = \"udp\"", P::Datagram, true, false, false, false, false,
     W::UdpEndpoint, E::None, N::Udp},
    {K::ExternalTcp, "external-tcp", "external", "external = \"tcp\"", P::Serial, true, false, false, false, false,
     W::TcpListener, E::None, N::Serial},
}};

}  // namespace

std::span<const LinkKindInfo> link_kind_table() { return kTable; }

const LinkKindInfo& link_kind_info(LinkKind kind) { return kTable.at(static_cast<std::size_t>(kind)); }

std::string_view link_kind_name(LinkKind kind) { return link_kind_info(kind).name; }

LinkKind link_kind_of(std::string_view link, std::string_view at_transport, DeviceSpec::Kind external_kind) {
  if (link == "pty") return K::Pty;
  if (link == "tap") return K::Tap;
  if (link == "at") {
    if (at_transport == "udp") return K::AtUdp;
    if (at_transport == "tcp") return K::AtTcp;
    throw std::invalid_argument("unknown at_transport '" + std::string(at_transport) + "'; allowed: udp, tcp");
  }
  if (link == "external")
    return external_kind == DeviceSpec::Kind::Serial ? K::ExternalSerial
           : external_kind == DeviceSpec::Kind::Udp  ? K::ExternalUdp
                                                     : K::ExternalTcp;
  throw std::invalid_argument("unknown link '" + std::string(link) + "'; allowed: pty, at, tap, external");
}

}  // namespace iotw::harness
