#include "iotw/certify/dut_spec.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>
#include <vector>

namespace iotw::certify {
namespace {

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument("--dut: " + what); }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

bool to_int(const std::string& s, long long lo, long long hi, long long& v) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && v >= lo && v <= hi;
}

/// "HOST:PORT" (IPv4, port 1..65535) into host and port; throws std::invalid_argument prefixed with `option`.
void host_port(const std::string& option, const std::string& text, std::string& host, std::uint16_t& port) {
  const auto c = text.rfind(':');
  if (c == std::string::npos || c == 0) throw std::invalid_argument(option + ": needs HOST:PORT, got '" + text + "'");
  host = text.substr(0, c);
  in_addr a{};
  if (::inet_pton(AF_INET, host.c_str(), &a) != 1)
    throw std::invalid_argument(option + ": HOST must be an IPv4 address (dotted quad), got '" + host + "'");
  long long p = 0;
  if (!to_int(text.substr(c + 1), 1, 65535, p))
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
  const auto parts = split(spec.substr(colon + 1), ',');
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
      if (!to_int(v, 1, 247, n)) throw std::invalid_argument(opt + ": slave must be 1..247, got '" + v + "'");
      t.slave = static_cast<int>(n);
    } else if (k == "baud" && t.kind == ModbusTarget::Kind::Rtu) {
      if (!to_int(v, 300, 4'000'000, n)) throw std::invalid_argument(opt + ": baud must be 300..4000000, got '" + v + "'");
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
  const auto parts = split(spec, ',');
  host_port(opt, parts[0], t.host, t.port);
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto eq = parts[i].find('=');
    if (eq == std::string::npos || parts[i].substr(0, eq) != "discovery")
      throw std::invalid_argument(opt + ": unknown option '" + parts[i] + "'; allowed: discovery=HOST:PORT");
    host_port(opt + " discovery", parts[i].substr(eq + 1), t.discovery_host, t.discovery_port);
  }
  return t;
}

bool DutSpec::is_pty() const { return kind == Kind::Serial && path.rfind("/dev/pts/", 0) == 0; }

std::string DutSpec::canonical() const {
  switch (kind) {
    case Kind::Udp: return "udp:" + host + ":" + std::to_string(port);
    case Kind::Tcp: return "tcp:" + host + ":" + std::to_string(port);
    case Kind::Serial: break;
  }
  const char* par = parity == Parity::None ? "none" : parity == Parity::Even ? "even" : "odd";
  const char* fl = flow == Flow::None ? "none" : flow == Flow::RtsCts ? "rtscts" : "xonxoff";
  return "serial:" + path + ",baud=" + std::to_string(baud) + ",parity=" + par + ",flow=" + fl +
         ",reset=" + (reset == Reset::Esp ? "esp" : "none");
}

DutSpec parse_dut_spec(const std::string& spec) {
  DutSpec d;
  const auto colon = spec.find(':');
  if (colon == std::string::npos) bad("'" + spec + "' is not serial:PATH, udp:HOST:PORT or tcp:HOST:PORT");
  const std::string scheme = spec.substr(0, colon), rest = spec.substr(colon + 1);
  if (scheme == "serial") {
    const auto parts = split(rest, ',');
    d.path = parts[0];
    if (d.path.empty() || d.path.front() != '/') bad("'serial:' needs an absolute device path, e.g. serial:/dev/ttyUSB0");
    for (std::size_t i = 1; i < parts.size(); ++i) {
      const auto eq = parts[i].find('=');
      if (eq == std::string::npos) bad("serial option '" + parts[i] + "' is not KEY=VALUE");
      const std::string k = parts[i].substr(0, eq), v = parts[i].substr(eq + 1);
      if (k == "baud") {
        long long b = 0;
        if (!to_int(v, 300, 4'000'000, b)) bad("baud must be a whole number in 300..4000000, got '" + v + "'");
        d.baud = static_cast<int>(b);
      } else if (k == "parity") {
        if (v == "none") d.parity = DutSpec::Parity::None;
        else if (v == "even") d.parity = DutSpec::Parity::Even;
        else if (v == "odd") d.parity = DutSpec::Parity::Odd;
        else bad("parity must be none, even or odd, got '" + v + "'");
      } else if (k == "flow") {
        if (v == "none") d.flow = DutSpec::Flow::None;
        else if (v == "rtscts") d.flow = DutSpec::Flow::RtsCts;
        else if (v == "xonxoff") d.flow = DutSpec::Flow::XonXoff;
        else bad("flow must be none, rtscts or xonxoff, got '" + v + "'");
      } else if (k == "reset") {
        if (v == "none") d.reset = DutSpec::Reset::None;
        else if (v == "esp") d.reset = DutSpec::Reset::Esp;
        else bad("reset must be none or esp, got '" + v + "'");
      } else {
        bad("unknown serial option '" + k + "'; allowed: baud, parity, flow, reset");
      }
    }
    if (d.is_pty() && (d.reset == DutSpec::Reset::Esp || d.flow == DutSpec::Flow::RtsCts))
      bad("a PTY (" + d.path + ") has no DTR/RTS lines: reset=esp and flow=rtscts need a real serial port");
    return d;
  }
  if (scheme == "udp" || scheme == "tcp") {
    d.kind = scheme == "udp" ? DutSpec::Kind::Udp : DutSpec::Kind::Tcp;
    const auto c = rest.rfind(':');
    if (c == std::string::npos || c == 0) bad("'" + scheme + ":' needs HOST:PORT, got '" + spec + "'");
    d.host = rest.substr(0, c);
    in_addr a{};
    if (::inet_pton(AF_INET, d.host.c_str(), &a) != 1) bad("HOST must be an IPv4 address (dotted quad), got '" + d.host + "'");
    long long p = 0;
    // udp:HOST:0 = any source port of HOST (its first datagram fixes it); tcp:HOST:0 = the certifier listens on a
    // free port (printed)
    if (!to_int(rest.substr(c + 1), 0, 65535, p)) bad("PORT must be 0..65535, got '" + rest.substr(c + 1) + "'");
    d.port = static_cast<std::uint16_t>(p);
    return d;
  }
  bad("unknown DUT kind '" + scheme + "'; allowed: serial, udp, tcp");
}

}  // namespace iotw::certify
