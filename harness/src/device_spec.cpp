#include "iotw/harness/device_spec.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>
#include <vector>

namespace iotw::harness {
namespace {

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

}  // namespace

std::vector<std::string> split_spec(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

bool spec_int(const std::string& s, long long lo, long long hi, long long& v) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && v >= lo && v <= hi;
}

bool DeviceSpec::is_pty() const { return kind == Kind::Serial && path.rfind("/dev/pts/", 0) == 0; }

std::string DeviceSpec::canonical() const {
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

void parse_host_port(const std::string& text, DeviceSpec& d) {
  const auto c = text.rfind(':');
  if (c == std::string::npos || c == 0) bad("needs HOST:PORT, got '" + text + "'");
  d.host = text.substr(0, c);
  in_addr a{};
  if (::inet_pton(AF_INET, d.host.c_str(), &a) != 1) bad("HOST must be an IPv4 address (dotted quad), got '" + d.host + "'");
  long long p = 0;
  if (!spec_int(text.substr(c + 1), 0, 65535, p)) bad("PORT must be 0..65535, got '" + text.substr(c + 1) + "'");
  d.port = static_cast<std::uint16_t>(p);
}

DeviceSpec parse_device_spec(const std::string& spec) {
  DeviceSpec d;
  const auto colon = spec.find(':');
  if (colon == std::string::npos) bad("'" + spec + "' is not serial:PATH, udp:HOST:PORT or tcp:HOST:PORT");
  const std::string scheme = spec.substr(0, colon), rest = spec.substr(colon + 1);
  if (scheme == "serial") {
    const auto parts = split_spec(rest, ',');
    d.path = parts[0];
    if (d.path.empty() || d.path.front() != '/') bad("'serial:' needs an absolute device path, e.g. serial:/dev/ttyUSB0");
    for (std::size_t i = 1; i < parts.size(); ++i) {
      const auto eq = parts[i].find('=');
      if (eq == std::string::npos) bad("serial option '" + parts[i] + "' is not KEY=VALUE");
      const std::string k = parts[i].substr(0, eq), v = parts[i].substr(eq + 1);
      if (k == "baud") {
        long long b = 0;
        if (!spec_int(v, 300, 4'000'000, b)) bad("baud must be a whole number in 300..4000000, got '" + v + "'");
        d.baud = static_cast<int>(b);
      } else if (k == "parity") {
        if (v == "none") d.parity = DeviceSpec::Parity::None;
        else if (v == "even") d.parity = DeviceSpec::Parity::Even;
        else if (v == "odd") d.parity = DeviceSpec::Parity::Odd;
        else bad("parity must be none, even or odd, got '" + v + "'");
      } else if (k == "flow") {
        if (v == "none") d.flow = DeviceSpec::Flow::None;
        else if (v == "rtscts") d.flow = DeviceSpec::Flow::RtsCts;
        else if (v == "xonxoff") d.flow = DeviceSpec::Flow::XonXoff;
        else bad("flow must be none, rtscts or xonxoff, got '" + v + "'");
      } else if (k == "reset") {
        if (v == "none") d.reset = DeviceSpec::Reset::None;
        else if (v == "esp") d.reset = DeviceSpec::Reset::Esp;
        else bad("reset must be none or esp, got '" + v + "'");
      } else {
        bad("unknown serial option '" + k + "'; allowed: baud, parity, flow, reset");
      }
    }
    if (d.is_pty() && (d.reset == DeviceSpec::Reset::Esp || d.flow == DeviceSpec::Flow::RtsCts))
      bad("a PTY (" + d.path + ") has no DTR/RTS lines: reset=esp and flow=rtscts need a real serial port");
    return d;
  }
  if (scheme == "udp" || scheme == "tcp") {
    d.kind = scheme == "udp" ? DeviceSpec::Kind::Udp : DeviceSpec::Kind::Tcp;
    if (rest.rfind(':') == std::string::npos || rest.rfind(':') == 0)
      bad("'" + scheme + ":' needs HOST:PORT, got '" + spec + "'");
    parse_host_port(rest, d);
    return d;
  }
  bad("unknown DUT kind '" + scheme + "'; allowed: serial, udp, tcp");
}

}  // namespace iotw::harness
