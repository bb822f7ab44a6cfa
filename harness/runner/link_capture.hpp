// links.pcapng: every frame on every link, with its timestamp and direction, written as pcapng
// (IETF draft-ietf-opsawg-pcapng: SHB, one IDB per link, one EPB per frame) for tshark/Wireshark.
// Link type LINKTYPE_USER0 (147); each packet is 1 direction byte (0 = trust node -> device,
// 1 = device -> trust node) followed by the frame as it crossed the link: COBS bytes and the 0x00 delimiter
// (docs/protocol.md §2). The EPB flags carry the direction too (outbound = node -> device).
// tools/wireshark/iotw.lua dissects it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "link_fabric.hpp"

namespace iotw::harness {

/// Minimal pcapng writer (little-endian, microsecond timestamps).
class PcapngWriter {
 public:
  /// Creates/truncates `file` and writes the Section Header Block. Throws std::runtime_error on I/O errors.
  explicit PcapngWriter(const std::filesystem::path& file);
  /// Adds an Interface Description Block (LINKTYPE_USER0, if_name = `name`); returns its interface id.
  std::uint32_t add_interface(const std::string& name);
  /// Writes an Enhanced Packet Block; `unix_us` = capture time in µs since the Unix epoch.
  void write_packet(std::uint32_t interface, std::uint64_t unix_us, Direction dir,
                    const std::vector<std::uint8_t>& data);
  /// Flushes; returns false when a write failed.
  bool flush();

 private:
  void block(std::uint32_t type, const std::vector<std::uint8_t>& body);
  std::ofstream out_;
  std::uint32_t interfaces_ = 0;
};

/// A LinkFabric tap that splits each direction's byte stream at 0x00 and writes one packet per frame.
/// Bytes of an unfinished frame at close() are written as a last packet. Thread-safe.
class LinkCapture {
 public:
  LinkCapture(const std::filesystem::path& file, const std::vector<std::string>& link_names);
  void on_bytes(std::size_t link, Direction dir, const std::vector<std::uint8_t>& bytes);
  /// Frames written so far.
  std::uint64_t frames() const;
  /// Writes pending partial frames and flushes; returns false when a write failed.
  bool close();

 private:
  void emit(std::size_t link, Direction dir, std::vector<std::uint8_t>& frame);
  mutable std::mutex mutex_;
  PcapngWriter writer_;
  std::map<std::pair<std::size_t, int>, std::vector<std::uint8_t>> partial_;
  std::uint64_t frames_ = 0;
};

}  // namespace iotw::harness
