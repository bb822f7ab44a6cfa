// Opens the device side of a serial link: a PTY (termios raw mode; libserialport cannot open PTYs because
// they have no /sys/class/tty entry) or a real UART (libserialport: 8N1, no flow control).
#pragma once
#include <string>

namespace iotw::emu {

/// Opens path non-blocking in raw 8N1 at baud (bits/s). Returns the fd (caller owns it).
/// Throws std::runtime_error naming the path and the OS error when it cannot be opened or configured.
int open_serial_link(const std::string& path, int baud);

/// A new PTY for a standalone device's UART or Modbus RTU port: the device serves `master`; peers (a certifier,
/// mbpoll, socat) open `path`, the slave, which is set raw 8N1 at `baud` (a rate termios has no constant for, or 0,
/// leaves the default); `slave` stays open in this process so the master never reads EIO while no peer has the
/// path open. Both fds are close-on-exec and blocking; the caller owns them. Throws std::runtime_error with the
/// OS error when no PTY can be made.
struct PtyPair {
  int master = -1, slave = -1;
  std::string path;  ///< "/dev/pts/N"
};
PtyPair open_pty_pair(int baud);

}  // namespace iotw::emu
