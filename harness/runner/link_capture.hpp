// links.pcapng: every frame on every link, with its timestamp and direction, written as pcapng
// (IETF draft-ietf-opsawg-pcapng: SHB, one IDB per link, one EPB per frame) for tshark/Wireshark.
// Link type LINKTYPE_USER0 (147); each packet is 1 direction byte (0 = trust node -> device,
// 1 = device -> trust node) followed by the frame as it crossed the link: COBS bytes and the 0x00 delimiter
// (docs/protocol.md §2). The EPB flags carry the direction too (outbound = node -> device).
// Serial links are the LinkFabric's: PTY links, AT modules' TCP connections relayed by the harness (the same byte
// stream) and external serial/tcp devices.
// UDP links (AT devices through the UDP fault proxy) get interfaces of link type LINKTYPE_IPV4 (228): each
// datagram as it was relayed, inside an IPv4 + UDP header between 127.0.0.1 ports (the real ones), so any
// tool decodes it as UDP; the payload is `payload || CRC-32 LE` (docs/protocol.md §2, no COBS).
// A [hosts] rig's host link is one interface of link type LINKTYPE_ETHERNET (1): each Ethernet frame as the host
// link's relay handed it on (outbound = from the trust node's host to the far host).
// tools/wireshark/iotw.lua dissects both (USER0 by link type, UDP heuristically by the CRC-32 trailer).
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "iotw/support/clock.hpp"
#include "link_fabric.hpp"

namespace iotw::harness {

/// Minimal pcapng writer (little-endian, microsecond timestamps).
class PcapngWriter {
 public:
  /// Creates/truncates `file` and writes the Section Header Block. Throws std::runtime_error on I/O errors.
  explicit PcapngWriter(const std::filesystem::path& file);
  static constexpr std::uint16_t kLinktypeUser0 = 147;  ///< serial frames, direction byte first
  static constexpr std::uint16_t kLinktypeIpv4 = 228;   ///< raw IPv4 packets
  static constexpr std::uint16_t kLinktypeEthernet = 1;  ///< Ethernet frames (no FCS)
  /// Adds an Interface Description Block (if_name = `name`); returns its interface id.
  std::uint32_t add_interface(const std::string& name, std::uint16_t linktype = kLinktypeUser0);
  /// Writes an Enhanced Packet Block; `unix_us` = capture time in µs since the Unix epoch.
  /// `prefix` (when not negative) is one byte written before `data` in the packet (USER0's direction byte).
  void write_packet(std::uint32_t interface, std::uint64_t unix_us, Direction dir, std::span<const std::uint8_t> data,
                    int prefix = -1);
  /// Flushes; returns false when a write failed.
  bool flush();

 private:
  void block(std::uint32_t type, const std::vector<std::uint8_t>& body);
  std::ofstream out_;
  std::vector<std::uint8_t> packet_;  ///< the block being written (reused: no allocation per packet)
  std::uint32_t interfaces_ = 0;
};

/// Builds one IPv4 packet (20-byte header with its checksum, TTL 64, DF) carrying a UDP datagram
/// (8-byte header, checksum 0 = none, allowed over IPv4 by RFC 768) between the flow's addresses and ports.
/// Payloads over 65,507 bytes are truncated to that size.
std::vector<std::uint8_t> ipv4_udp_packet(const UdpFlow& flow, const std::vector<std::uint8_t>& payload,
                                          std::uint16_t ip_id);

/// A LinkFabric tap that splits each direction's byte stream at 0x00 and writes one packet per frame, and a
/// UdpRelay tap that writes one IPv4/UDP packet per relayed datagram. Bytes of an unfinished serial frame at
/// close() are written as a last packet. Thread-safe.
class LinkCapture {
 public:
  /// Serial links `link_names` become the first serial links (LinkFabric link order: the first name is link 0).
  /// Packets are stamped with `clock` (default: the system clock; a simulated run's: its Scheduler), which must
  /// outlive the capture.
  explicit LinkCapture(const std::filesystem::path& file, const std::vector<std::string>& link_names = {},
                       const Clock* clock = nullptr);
  /// Adds a USER0 interface for the next serial link (LinkFabric add order, after those of the constructor).
  void add_serial_link(const std::string& name);
  /// Bytes of serial link `link` (LinkFabric index) as delivered in `dir`; an unknown `link` is ignored.
  void on_bytes(std::size_t link, Direction dir, const std::vector<std::uint8_t>& bytes);
  /// Adds an interface for the next UDP link (UdpRelay add_link order: the first call is UDP link 0).
  void add_udp_link(const std::string& name);
  /// One relayed datagram of UDP link `udp_link`, sent along `flow`; an unknown `udp_link` is ignored.
  void on_datagram(std::size_t udp_link, Direction dir, const UdpFlow& flow, const std::vector<std::uint8_t>& datagram);
  /// Adds an Ethernet interface (a [hosts] rig's host link) named `name`; returns its id for on_ethernet_frame.
  std::uint32_t add_ethernet_link(const std::string& name);
  /// One Ethernet frame on interface `interface` (from add_ethernet_link), as handed on in direction `dir`.
  void on_ethernet_frame(std::uint32_t interface, Direction dir, const std::vector<std::uint8_t>& frame);
  /// Frames and datagrams written so far.
  std::uint64_t frames() const;
  /// Writes pending partial frames and flushes; returns false when a write failed.
  bool close();

 private:
  void emit(std::size_t link, Direction dir, std::span<const std::uint8_t> frame);
  mutable std::mutex mutex_;
  PcapngWriter writer_;
  /// The unfinished frames: (serial link, direction) -> its bytes so far; only links in the middle of a frame have
  /// an entry (a simulated million links mostly carry whole frames per chunk).
  std::map<std::pair<std::size_t, int>, std::vector<std::uint8_t>> partial_;
  std::uint64_t frames_ = 0;
  std::vector<std::uint32_t> serial_interfaces_;  // serial (LinkFabric) link index -> interface id
  std::vector<std::uint32_t> udp_interfaces_;  // UDP link index -> interface id
  std::uint16_t ip_id_ = 0;
  SystemClock system_clock_;
  const Clock& clock_;
};

}  // namespace iotw::harness
