// Where a device the harness does not emulate is reached: the one parser of `iotw certify --dut SPEC`
// (docs/certification.md "The DUT") and of a rig's `[[devices]] external = "serial:..."` (docs/rig-format.md
// "External devices"):
//   serial:PATH[,baud=N][,parity=none|even|odd][,flow=none|rtscts|xonxoff][,reset=none|esp]
//   udp:HOST:PORT      a device that reaches the trust node over UDP from HOST:PORT (PORT 0: any port of HOST,
//                      fixed by its first datagram)
//   tcp:HOST:PORT      a device on HOST that connects to the certifier's TCP port PORT (0: a free port, printed)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace iotw::harness {

struct DeviceSpec {
  enum class Kind { Serial, Udp, Tcp };
  enum class Parity { None, Even, Odd };
  enum class Flow { None, RtsCts, XonXoff };
  enum class Reset { None, Esp };  ///< Esp: DTR/RTS pulse as esptool's "hard reset" (EN low, IO0 high, run)
  Kind kind = Kind::Serial;
  std::string path;           ///< Serial: /dev/ttyUSB0, /dev/ttyS1, /dev/pts/N
  int baud = 115200;          ///< Serial: 300..4,000,000 bit/s, 8 data bits, 1 stop bit
  Parity parity = Parity::None;
  Flow flow = Flow::None;
  Reset reset = Reset::None;
  std::string host;           ///< Udp/Tcp: an IPv4 address (dotted quad)
  std::uint16_t port = 0;     ///< Udp/Tcp: 0..65535; what it means is the caller's (certify: the DUT's source port
                              ///< for udp, the certifier's listening port for tcp)

  /// True for a PTY slave (/dev/pts/N): opened with termios, since libserialport looks ports up in sysfs.
  bool is_pty() const;
  /// The spec written back in canonical form (every serial option spelled out), for reports.
  std::string canonical() const;
};

/// Parses SPEC. Throws std::invalid_argument naming the part that is wrong and what is allowed, without a prefix
/// (the caller adds where the spec came from), e.g. "unknown serial option 'bauds'; allowed: baud, parity, flow,
/// reset" or "'udp:' needs HOST:PORT, got 'udp:10.0.0.5'".
DeviceSpec parse_device_spec(const std::string& spec);

/// Parses "HOST:PORT" (HOST an IPv4 dotted quad, PORT 0..65535) into spec.host and spec.port. Throws
/// std::invalid_argument as parse_device_spec ("needs HOST:PORT, got '...'", "HOST must be an IPv4 address ...",
/// "PORT must be 0..65535 ...").
void parse_host_port(const std::string& text, DeviceSpec& spec);

/// The spec grammar's pieces, shared with the other "KIND:VALUE,key=value" options (certify's --modbus, --lan):
/// `s` cut at every `sep` (an empty piece stays); and a whole decimal integer in [lo, hi] into v (false otherwise).
std::vector<std::string> split_spec(const std::string& s, char sep);
bool spec_int(const std::string& s, long long lo, long long hi, long long& v);

}  // namespace iotw::harness
