#include "iotw/certify/dut_spec.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace iotw::certify {
namespace {

using iotw::harness::spec_int;
using iotw::harness::split_spec;

/// "HOST:PORT" (IPv4, port 1..65535) into host and port; throws std::invalid_argument prefixed with `option`.
void host_port(const std::string& option, const std::string& text, std::string& host, std::uint16_t& port) {
  const auto c = text.rfind(':');
  if (c == std::string::npos || c == 0) throw std::invalid_argument(option + ": needs HOST:PORT, got '" + text + "'");
  host = text.substr(0, c);
  in_addr a{};
  if (::inet_pton(AF_INET, host.c_str(), &a) != 1)
    throw std::invalid_argument(option + ": HOST must be an IPv4 address (dotted quad), got '" + host + "'");
  long long p = 0;
  if (!spec_int(text.substr(c + 1), 1, 65535, p))
    throw std::invalid_argument(option + ": PORT must be 1..65535, got '" + text.substr(c + 1) + "'");
  port = static_cast<std::uint16_t>(p);
}

}  // namespace

std::string ModbusTarget::canonical() const {
  if (kind == Kind::Tcp) return "tcp:" + host + ":" + std::to_string(port) + (slave != 1 ? ",slave=" + std::to_string(slave) : "");
  return "rtu:" + path + ",baud=" + std::to_string(baud) + ",parity=" +
         (parity == 'N' ? "none" : parity == 'E' ? "even" : "odd") + ",slave=" + std::to_string(slave);
}

ModbusTarget parse_modbus_target(const std::string& spec) {
  const std::string opt = "--modbus";
  ModbusTarget t;
  const auto colon = spec.find(':');
  const std::string scheme = colon == std::string::npos ? spec : spec.substr(0, colon);
  if (colon == std::string::npos || (scheme != "tcp" && scheme != "rtu"))
    throw std::invalid_argument(opt + ": '" + spec + "' is not tcp:HOST:PORT or rtu:PATH[,baud=N,parity=..,slave=N]");
  const auto parts = split_spec(spec.substr(colon + 1), ',');
  t.kind = scheme == "tcp" ? ModbusTarget::Kind::Tcp : ModbusTarget::Kind::Rtu;
  if (t.kind == ModbusTarget::Kind::Tcp) {
    host_port(opt, parts[0], t.host, t.port);
  } else {
    t.path = parts[0];
    if (t.path.empty() || t.path.front() != '/') throw std::invalid_argument(opt + ": 'rtu:' needs an absolute device path");
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto eq = parts[i].find('=');
    const std::string k = parts[i].substr(0, eq), v = eq == std::string::npos ? "" : parts[i].substr(eq + 1);
    long long n = 0;
    if (k == "slave") {
      if (!spec_int(v, 1, 247, n)) throw std::invalid_argument(opt + ": slave must be 1..247, got '" + v + "'");
      t.slave = static_cast<int>(n);
    } else if (k == "baud" && t.kind == ModbusTarget::Kind::Rtu) {
      if (!spec_int(v, 300, 4'000'000, n)) throw std::invalid_argument(opt + ": baud must be 300..4000000, got '" + v + "'");
      t.baud = static_cast<int>(n);
    } else if (k == "parity" && t.kind == ModbusTarget::Kind::Rtu) {
      if (v == "none") t.parity = 'N';
      else if (v == "even") t.parity = 'E';
      else if (v == "odd") t.parity = 'O';
      else throw std::invalid_argument(opt + ": parity must be none, even or odd, got '" + v + "'");
    } else {
      throw std::invalid_argument(opt + ": unknown option '" + k + "'; allowed: " +
                                  (t.kind == ModbusTarget::Kind::Tcp ? "slave" : "baud, parity, slave"));
    }
  }
  return t;
}

std::string LanTarget::canonical() const {
  return host + ":" + std::to_string(port) + ",discovery=" + discovery_host + ":" + std::to_string(discovery_port);
}

LanTarget parse_lan_target(const std::string& spec) {
  const std::string opt = "--lan";
  LanTarget t;
  const auto parts = split_spec(spec, ',');
  host_port(opt, parts[0], t.host, t.port);
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto eq = parts[i].find('=');
    if (eq == std::string::npos || parts[i].substr(0, eq) != "discovery")
      throw std::invalid_argument(opt + ": unknown option '" + parts[i] + "'; allowed: discovery=HOST:PORT");
    host_port(opt + " discovery", parts[i].substr(eq + 1), t.discovery_host, t.discovery_port);
  }
  return t;
}

DutSpec parse_dut_spec(const std::string& spec) {
  try {
    return iotw::harness::parse_device_spec(spec);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--dut: ") + e.what());
  }
}

}  // namespace iotw::certify
