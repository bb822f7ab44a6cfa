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

}  // namespace iotw::certify
