// links.pcapng: serial links are LINKTYPE_USER0 interfaces with a direction byte per frame; UDP links are
// LINKTYPE_IPV4 interfaces whose packets carry a valid IPv4 header (checksum) and a UDP header with the ports.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "link_capture.hpp"

namespace iotw::harness {
namespace {
using Bytes = std::vector<std::uint8_t>;

std::uint32_t le32(const Bytes& b, std::size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<std::uint32_t>(b[at + 3]) << 24;
}
std::uint16_t be16(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]); }

TEST(Ipv4UdpPacket, HeaderChecksumLengthsAndPortsAreValid) {
  const Bytes payload{0x0a, 0x02, 0x08, 0x01, 1, 2, 3, 4};
  UdpFlow flow;
  flow.src_ip = {10, 77, 0, 1};
  flow.src_port = 40001;
  flow.dst_port = 5683;
  const Bytes p = ipv4_udp_packet(flow, payload, 7);
  ASSERT_EQ(p.size(), 20u + 8u + payload.size());
  EXPECT_EQ(p[0], 0x45);
  EXPECT_EQ(be16(p, 2), p.size());
  EXPECT_EQ(be16(p, 4), 7);
  EXPECT_EQ(p[9], 17) << "protocol UDP";
  std::uint32_t sum = 0;  // a valid header sums to 0xFFFF in ones' complement
  for (std::size_t i = 0; i < 20; i += 2) sum += be16(p, i);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  EXPECT_EQ(sum, 0xFFFFu);
  EXPECT_EQ(Bytes(p.begin() + 12, p.begin() + 20), (Bytes{10, 77, 0, 1, 127, 0, 0, 1}));
  EXPECT_EQ(be16(p, 20), 40001);
  EXPECT_EQ(be16(p, 22), 5683);
  EXPECT_EQ(be16(p, 24), 8 + payload.size());
  EXPECT_EQ(Bytes(p.begin() + 28, p.end()), payload);
}

TEST(LinkCapture, SerialAndUdpLinksGetTheirOwnLinkTypes) {
  const auto file = std::filesystem::temp_directory_path() / ("iotw-capture-" + std::to_string(::getpid()) + ".pcapng");
  {
    LinkCapture cap(file, {"pty-01"});
    cap.add_udp_link("at-01");
    cap.on_bytes(0, Direction::DeviceToNode, {0x03, 0x11, 0x22, 0x00, 0x02});  // one frame + a partial one
    cap.on_datagram(0, Direction::NodeToDevice, UdpFlow{.src_port = 5683, .dst_port = 40001}, {0xAA, 0xBB});
    cap.on_datagram(3, Direction::NodeToDevice, UdpFlow{.src_port = 1, .dst_port = 2}, {0xCC});  // no such link
    ASSERT_TRUE(cap.close());
    EXPECT_EQ(cap.frames(), 3u);
  }
  std::ifstream in(file, std::ios::binary);
  const Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(file);
  std::vector<std::uint16_t> linktypes;
  std::vector<std::pair<std::uint32_t, Bytes>> packets;  // interface, data
  for (std::size_t at = 0; at + 12 <= b.size();) {
    const std::uint32_t type = le32(b, at), len = le32(b, at + 4);
    ASSERT_GE(len, 12u);
    if (type == 1) linktypes.push_back(static_cast<std::uint16_t>(b[at + 8] | b[at + 9] << 8));
    if (type == 6) {
      const std::uint32_t caplen = le32(b, at + 20);
      packets.emplace_back(le32(b, at + 8), Bytes(b.begin() + at + 28, b.begin() + at + 28 + caplen));
    }
    at += len;
  }
  EXPECT_EQ(linktypes, (std::vector<std::uint16_t>{147, 228}));
  ASSERT_EQ(packets.size(), 3u);
  EXPECT_EQ(packets[0], (std::pair<std::uint32_t, Bytes>{0, {1, 0x03, 0x11, 0x22, 0x00}})) << "direction byte first";
  EXPECT_EQ(packets[1].first, 1u);
  EXPECT_EQ(packets[1].second, ipv4_udp_packet(UdpFlow{.src_port = 5683, .dst_port = 40001}, {0xAA, 0xBB}, 0));
  EXPECT_EQ(packets[2], (std::pair<std::uint32_t, Bytes>{0, {1, 0x02}})) << "the partial frame at close()";
}

}  // namespace
}  // namespace iotw::harness
