// Opens the device side of a serial link: a PTY (termios raw mode; libserialport cannot open PTYs because
// they have no /sys/class/tty entry) or a real UART (libserialport: 8N1, no flow control).
#pragma once
#include <string>

namespace iotw::emu {

/// Opens path non-blocking in raw 8N1 at baud (bits/s). Returns the fd (caller owns it).
/// Throws std::runtime_error naming the path and the OS error when it cannot be opened or configured.
int open_serial_link(const std::string& path, int baud);

}  // namespace iotw::emu
