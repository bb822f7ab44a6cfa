#include "serial_link.hpp"

#include <fcntl.h>
#include <pty.h>
#include <libserialport.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace iotw::emu {
namespace {

speed_t to_speed(int baud) {
  switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 921600: return B921600;
    default: throw std::runtime_error("unsupported baud rate " + std::to_string(baud));
  }
}

bool is_pty(const std::string& path) {
  std::error_code ec;
  auto real = std::filesystem::weakly_canonical(path, ec).string();
  return real.rfind("/dev/pts/", 0) == 0;
}

int open_pty(const std::string& path, int baud) {
  int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  termios t{};
  if (tcgetattr(fd, &t) != 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(path + " is not a terminal: " + std::strerror(e));
  }
  cfmakeraw(&t);
  cfsetispeed(&t, to_speed(baud));
  cfsetospeed(&t, to_speed(baud));
  tcsetattr(fd, TCSANOW, &t);
  return fd;
}

speed_t speed_or_zero(int baud) {
  try {
    return baud > 0 ? to_speed(baud) : B0;
  } catch (const std::runtime_error&) {
    return B0;
  }
}

int open_uart(const std::string& path, int baud) {
  sp_port* port = nullptr;
  auto fail = [&](const std::string& what) {
    std::string msg = path + ": " + what + ": " + (sp_last_error_message() ? sp_last_error_message() : "?");
    if (port) sp_free_port(port);
    throw std::runtime_error(msg);
  };
  if (sp_get_port_by_name(path.c_str(), &port) != SP_OK) fail("no such serial port");
  if (sp_open(port, SP_MODE_READ_WRITE) != SP_OK) fail("cannot open");
  if (sp_set_baudrate(port, baud) != SP_OK || sp_set_bits(port, 8) != SP_OK ||
      sp_set_parity(port, SP_PARITY_NONE) != SP_OK || sp_set_stopbits(port, 1) != SP_OK ||
      sp_set_flowcontrol(port, SP_FLOWCONTROL_NONE) != SP_OK)
    fail("cannot configure 8N1");
  int fd = -1;
  sp_get_port_handle(port, &fd);
  // The sp_port stays open for the life of the process: sp_close would close fd with it.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace

int open_serial_link(const std::string& path, int baud) {
  return is_pty(path) ? open_pty(path, baud) : open_uart(path, baud);
}

PtyPair open_pty_pair(int baud) {
  PtyPair p;
  char name[128];
  if (::openpty(&p.master, &p.slave, name, nullptr, nullptr) != 0)
    throw std::runtime_error(std::string("cannot create a PTY: ") + std::strerror(errno));
  termios t{};
  ::tcgetattr(p.slave, &t);
  ::cfmakeraw(&t);  // no echo or line editing before a peer configures the port
  if (const speed_t s = speed_or_zero(baud); s != B0) {
    ::cfsetispeed(&t, s);
    ::cfsetospeed(&t, s);
  }
  ::tcsetattr(p.slave, TCSANOW, &t);
  ::fcntl(p.master, F_SETFD, FD_CLOEXEC);
  ::fcntl(p.slave, F_SETFD, FD_CLOEXEC);
  p.path = name;
  return p;
}

}  // namespace iotw::emu
