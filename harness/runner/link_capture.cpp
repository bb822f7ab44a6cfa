#include "link_capture.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace iotw::harness {
namespace {

void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x));
  v.push_back(static_cast<std::uint8_t>(x >> 8));
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  put16(v, static_cast<std::uint16_t>(x));
  put16(v, static_cast<std::uint16_t>(x >> 16));
}
void pad4(std::vector<std::uint8_t>& v) {
  while (v.size() % 4) v.push_back(0);
}
void option(std::vector<std::uint8_t>& v, std::uint16_t code, const std::vector<std::uint8_t>& value) {
  put16(v, code);
  put16(v, static_cast<std::uint16_t>(value.size()));
  v.insert(v.end(), value.begin(), value.end());
  pad4(v);
}


}  // namespace

PcapngWriter::PcapngWriter(const std::filesystem::path& file) : out_(file, std::ios::binary | std::ios::trunc) {
  if (!out_) throw std::runtime_error("cannot create " + file.string());
  std::vector<std::uint8_t> b;
  put32(b, 0x1A2B3C4D);  // byte-order magic
  put16(b, 1);           // major
  put16(b, 0);           // minor
  put32(b, 0xFFFFFFFF);  // section length: unknown
  put32(b, 0xFFFFFFFF);
  block(0x0A0D0D0A, b);
}

void PcapngWriter::block(std::uint32_t type, const std::vector<std::uint8_t>& body) {
  std::vector<std::uint8_t> b;
  const auto total = static_cast<std::uint32_t>(12 + body.size());
  put32(b, type);
  put32(b, total);
  b.insert(b.end(), body.begin(), body.end());
  put32(b, total);
  out_.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::uint32_t PcapngWriter::add_interface(const std::string& name, std::uint16_t linktype) {
  std::vector<std::uint8_t> b;
  put16(b, linktype);
  put16(b, 0);      // reserved
  put32(b, 65535);  // snaplen
  option(b, 2, std::vector<std::uint8_t>(name.begin(), name.end()));  // if_name
  option(b, 9, {6});                                                  // if_tsresol: 10^-6 s
  put32(b, 0);                                                        // opt_endofopt
  block(0x00000001, b);
  return interfaces_++;
}

void PcapngWriter::write_packet(std::uint32_t interface, std::uint64_t unix_us, Direction dir,
                                std::span<const std::uint8_t> data, int prefix) {
  // One Enhanced Packet Block: type, length, interface, timestamp (high, low), captured and original length, the
  // packet padded to 4 bytes, the epb_flags option, end of options, length again.
  const auto len = static_cast<std::uint32_t>(data.size() + (prefix >= 0 ? 1 : 0));
  const std::uint32_t padded = (len + 3) & ~3u;
  const std::uint32_t total = 12 + 20 + padded + 8 + 4;
  std::vector<std::uint8_t>& b = packet_;
  b.clear();
  put32(b, 0x00000006);
  put32(b, total);
  put32(b, interface);
  put32(b, static_cast<std::uint32_t>(unix_us >> 32));
  put32(b, static_cast<std::uint32_t>(unix_us));
  put32(b, len);
  put32(b, len);
  if (prefix >= 0) b.push_back(static_cast<std::uint8_t>(prefix));
  b.insert(b.end(), data.begin(), data.end());
  pad4(b);
  put16(b, 2);  // epb_flags
  put16(b, 4);
  put32(b, dir == Direction::NodeToDevice ? 2u : 1u);  // bits 0-1: 1 inbound, 2 outbound
  put32(b, 0);  // opt_endofopt
  put32(b, total);
  out_.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

bool PcapngWriter::flush() { return static_cast<bool>(out_.flush()); }

LinkCapture::LinkCapture(const std::filesystem::path& file, const std::vector<std::string>& link_names,
                         const Clock* clock)
    : writer_(file), clock_(clock ? *clock : system_clock_) {
  for (const auto& n : link_names) serial_interfaces_.push_back(writer_.add_interface(n));
}

void LinkCapture::add_serial_link(const std::string& name) {
  std::lock_guard lock(mutex_);
  serial_interfaces_.push_back(writer_.add_interface(name));
}

void LinkCapture::emit(std::size_t link, Direction dir, std::span<const std::uint8_t> frame) {
  writer_.write_packet(serial_interfaces_[link], clock_.now_ns() / 1000, dir, frame,
                       dir == Direction::NodeToDevice ? 0 : 1);
  ++frames_;
}

void LinkCapture::on_bytes(std::size_t link, Direction dir, const std::vector<std::uint8_t>& bytes) {
  std::lock_guard lock(mutex_);
  if (link >= serial_interfaces_.size()) return;
  const std::pair<std::size_t, int> key{link, static_cast<int>(dir)};
  auto cur = partial_.find(key);
  const std::uint8_t* p = bytes.data();
  const std::uint8_t* const end = p + bytes.size();
  while (p != end) {
    const auto* zero = static_cast<const std::uint8_t*>(std::memchr(p, 0, static_cast<std::size_t>(end - p)));
    if (!zero) {
      if (cur == partial_.end()) cur = partial_.emplace(key, std::vector<std::uint8_t>()).first;
      cur->second.insert(cur->second.end(), p, end);
      return;
    }
    if (cur == partial_.end()) {  // a whole frame in this chunk: written from it, not copied
      emit(link, dir, {p, static_cast<std::size_t>(zero + 1 - p)});
    } else {
      cur->second.insert(cur->second.end(), p, zero + 1);
      emit(link, dir, cur->second);
      partial_.erase(cur);
      cur = partial_.end();
    }
    p = zero + 1;
  }
}

std::vector<std::uint8_t> ipv4_udp_packet(const UdpFlow& flow, const std::vector<std::uint8_t>& payload,
                                          std::uint16_t ip_id) {
  constexpr std::size_t kMaxPayload = 65535 - 20 - 8;
  const std::size_t n = std::min(payload.size(), kMaxPayload);
  const auto total = static_cast<std::uint16_t>(20 + 8 + n);
  std::vector<std::uint8_t> p;
  p.reserve(total);
  auto be16 = [&p](std::uint16_t x) {
    p.push_back(static_cast<std::uint8_t>(x >> 8));
    p.push_back(static_cast<std::uint8_t>(x));
  };
  p.push_back(0x45);  // version 4, IHL 5
  p.push_back(0);     // DSCP/ECN
  be16(total);
  be16(ip_id);
  be16(0x4000);  // DF
  p.push_back(64);  // TTL
  p.push_back(17);  // UDP
  be16(0);          // header checksum, below
  p.insert(p.end(), flow.src_ip.begin(), flow.src_ip.end());
  p.insert(p.end(), flow.dst_ip.begin(), flow.dst_ip.end());
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < 20; i += 2) sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  const auto csum = static_cast<std::uint16_t>(~sum);
  p[10] = static_cast<std::uint8_t>(csum >> 8);
  p[11] = static_cast<std::uint8_t>(csum);
  be16(flow.src_port);
  be16(flow.dst_port);
  be16(static_cast<std::uint16_t>(8 + n));
  be16(0);  // no UDP checksum
  p.insert(p.end(), payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(n));
  return p;
}

void LinkCapture::add_udp_link(const std::string& name) {
  std::lock_guard lock(mutex_);
  udp_interfaces_.push_back(writer_.add_interface(name, PcapngWriter::kLinktypeIpv4));
}

void LinkCapture::on_datagram(std::size_t udp_link, Direction dir, const UdpFlow& flow,
                              const std::vector<std::uint8_t>& datagram) {
  std::lock_guard lock(mutex_);
  if (udp_link >= udp_interfaces_.size()) return;
  writer_.write_packet(udp_interfaces_[udp_link], clock_.now_ns() / 1000, dir, ipv4_udp_packet(flow, datagram, ip_id_++));
  ++frames_;
}

std::uint32_t LinkCapture::add_ethernet_link(const std::string& name) {
  std::lock_guard lock(mutex_);
  return writer_.add_interface(name, PcapngWriter::kLinktypeEthernet);
}

void LinkCapture::on_ethernet_frame(std::uint32_t interface, Direction dir, const std::vector<std::uint8_t>& frame) {
  std::lock_guard lock(mutex_);
  writer_.write_packet(interface, clock_.now_ns() / 1000, dir, frame);
  ++frames_;
}

std::uint64_t LinkCapture::frames() const {
  std::lock_guard lock(mutex_);
  return frames_;
}

bool LinkCapture::close() {
  std::lock_guard lock(mutex_);
  for (const auto& [key, cur] : partial_) emit(key.first, static_cast<Direction>(key.second), cur);
  partial_.clear();
  return writer_.flush();
}

}  // namespace iotw::harness
