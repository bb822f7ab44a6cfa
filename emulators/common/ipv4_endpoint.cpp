#include "ipv4_endpoint.hpp"

#include <arpa/inet.h>

#include <cstdlib>
#include <stdexcept>

namespace iotw::emu {

std::pair<std::string, uint16_t> parse_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  in_addr a{};
  if (colon == std::string::npos || ::inet_pton(AF_INET, text.substr(0, colon).c_str(), &a) != 1)
    throw std::invalid_argument("'" + text + "' is not A.B.C.D:PORT");
  const std::string port = text.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || p < 0 || p > 65535) throw std::invalid_argument("bad port in '" + text + "'");
  return {text.substr(0, colon), static_cast<uint16_t>(p)};
}

}  // namespace iotw::emu
