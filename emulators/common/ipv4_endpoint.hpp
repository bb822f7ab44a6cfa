// "A.B.C.D:PORT" endpoints of the emulators' network servers (Modbus TCP, Yeelight).
#pragma once
#include <cstdint>
#include <string>
#include <utility>

namespace iotw::emu {

/// Splits "A.B.C.D:PORT" (PORT 0..65535; 0 = ephemeral). Throws std::invalid_argument naming the text.
std::pair<std::string, uint16_t> parse_host_port(const std::string& text);

}  // namespace iotw::emu
