// The device under test as `iotw certify --dut SPEC` names it (docs/certification.md "The DUT"):
//   serial:PATH[,baud=N][,parity=none|even|odd][,flow=none|rtscts|xonxoff][,reset=none|esp]
//   udp:HOST:PORT      a device that reaches the trust node over UDP from HOST:PORT (PORT 0: any port of HOST,
//                      fixed by its first datagram)
//   tcp:HOST:PORT      a device on HOST that connects to the certifier's TCP port PORT (0: a free port, printed)
#pragma once
#include <cstdint>
#include <string>

namespace iotw::certify {

struct DutSpec {
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
  std::uint16_t port = 0;     ///< Udp: the DUT's source port, 0..65535 (0 = any); Tcp: the port the certifier
                              ///< listens on for the DUT, 0..65535 (0 = a free one)

  /// True for a PTY slave (/dev/pts/N): opened with termios, since libserialport looks ports up in sysfs.
  bool is_pty() const;
  /// The spec written back in canonical form (every serial option spelled out), for reports.
  std::string canonical() const;
};

/// Parses SPEC. Throws std::invalid_argument naming the part that is wrong and what is allowed, e.g.
/// "--dut: unknown serial option 'bauds'; allowed: baud, parity, flow, reset" or
/// "--dut: 'udp:' needs HOST:PORT, got 'udp:10.0.0.5'".
DutSpec parse_dut_spec(const std::string& spec);

}  // namespace iotw::certify
