// The device under test as `iotw certify --dut SPEC` names it (docs/certification.md "The DUT"):
//   serial:PATH[,baud=N][,parity=none|even|odd][,flow=none|rtscts|xonxoff][,reset=none|esp]
//   udp:HOST:PORT      a device that reaches the trust node over UDP from HOST:PORT (PORT 0: any port of HOST,
//                      fixed by its first datagram)
//   tcp:HOST:PORT      a device on HOST that connects to the certifier's TCP port PORT (0: a free port, printed)
// The parser is the harness's one device-spec parser (iotw/harness/device_spec.hpp), shared with rig files'
// external devices.
#pragma once
#include <string>

#include "iotw/harness/device_spec.hpp"

namespace iotw::certify {

using DutSpec = iotw::harness::DeviceSpec;

/// Parses SPEC. Throws std::invalid_argument naming the part that is wrong and what is allowed, e.g.
/// "--dut: unknown serial option 'bauds'; allowed: baud, parity, flow, reset" or
/// "--dut: 'udp:' needs HOST:PORT, got 'udp:10.0.0.5'".
DutSpec parse_dut_spec(const std::string& spec);

/// The DUT's Modbus side (`iotw certify --modbus`, dps profile: CERT-081, CERT-082), a libmodbus client target:
///   tcp:HOST:PORT                                       Modbus TCP (IPv4), unit id = slave
///   rtu:PATH[,baud=N][,parity=none|even|odd][,slave=N]   Modbus RTU, 8 data bits, 1 stop bit;
///                                                       defaults baud=9600, parity=none, slave=1
struct ModbusTarget {
  enum class Kind { Tcp, Rtu };
  Kind kind = Kind::Tcp;
  std::string host;          ///< Tcp: IPv4 dotted quad
  std::uint16_t port = 502;  ///< Tcp: 1..65535
  std::string path;          ///< Rtu: the serial port (a PTY works: libmodbus opens it with termios)
  int baud = 9600;           ///< Rtu: 300..4,000,000
  char parity = 'N';         ///< Rtu: 'N', 'E' or 'O' (libmodbus' letters)
  int slave = 1;             ///< 1..247 (TCP: the unit id)
  std::string canonical() const;
};
/// Throws std::invalid_argument naming the part that is wrong: "--modbus: ...".
ModbusTarget parse_modbus_target(const std::string& spec);

/// The DUT's LAN control side (`iotw certify --lan`, bulb profile: CERT-085): HOST:PORT[,discovery=HOST:PORT].
/// HOST:PORT is the Yeelight control port (TCP); discovery is where the M-SEARCH goes (UDP, unicast); without it the
/// M-SEARCH goes to the SSDP group 239.255.255.250:1982 as the Yeelight spec says.
struct LanTarget {
  std::string host;                     ///< IPv4 dotted quad
  std::uint16_t port = 55443;           ///< 1..65535
  std::string discovery_host = "239.255.255.250";
  std::uint16_t discovery_port = 1982;
  std::string canonical() const;
};
/// Throws std::invalid_argument naming the part that is wrong: "--lan: ...".
LanTarget parse_lan_target(const std::string& spec);

}  // namespace iotw::certify
