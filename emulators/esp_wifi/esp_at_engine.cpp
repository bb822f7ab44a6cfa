#include "esp_wifi/esp_at_engine.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <stdexcept>

#include "common/chip_profile.hpp"
#include "esp_wifi/realtek_at_engine.hpp"

namespace iotw::emu {

namespace {

// ERR CODE subcategories (esp_at.md "ERROR / error codes"), printed only with AT+SYSLOG=1.
constexpr uint32_t kNoTerminator = 0x01020000, kNoAt = 0x01030000, kParaLength = 0x01040000,
                   kParaInvalid = 0x01070000, kParaParse = 0x01080000, kUnsupported = 0x01090000,
                   kExecFail = 0x010A0000;

bool parse_int(const std::string& s, long lo, long hi, long* out) {
  if (s.empty() || s.size() > 10) return false;
  size_t i = (s[0] == '-') ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); k++)
    if (s[k] < '0' || s[k] > '9') return false;
  long v = std::stol(s);
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

bool at_loopback_host(const std::string& host, std::string* ip) {
  if (host == "localhost") {
    if (ip) *ip = "127.0.0.1";
    return true;
  }
  in_addr a{};
  if (::inet_pton(AF_INET, host.c_str(), &a) != 1) return false;
  if ((ntohl(a.s_addr) >> 24) != 127) return false;
  if (ip) *ip = host;
  return true;
}

const std::vector<std::string>& at_models() {
  static const std::vector<std::string> m = {"esp8266", "esp32", "rtl8710", "rtl8195"};
  return m;
}

std::unique_ptr<AtEngine> make_at_engine(const AtModuleConfig& config) {
  std::unique_ptr<AtEngine> e;
  if (config.model == "esp8266" || config.model == "esp32") e = std::make_unique<EspAtEngine>(config);
  if (config.model == "rtl8710" || config.model == "rtl8195") e = std::make_unique<RealtekAtEngine>(config);
  if (e) {
    e->lf_only_ = config.wrong_terminator;
    return e;
  }
  throw std::invalid_argument("unknown AT module model '" + config.model + "' (esp8266, esp32, rtl8710, rtl8195)");
}

EspAtEngine::EspAtEngine(AtModuleConfig config) : cfg_(std::move(config)), esp32_(cfg_.model == "esp32") {
  if (cfg_.model != "esp8266" && cfg_.model != "esp32") throw std::invalid_argument("EspAtEngine: model " + cfg_.model);
  if (cfg_.mac.empty()) cfg_.mac = esp32_ ? "24:0a:c4:12:34:56" : "5c:cf:7f:12:34:56";
}

void EspAtEngine::power_on(uint64_t now_ms) {
  for (int i = 0; i < kMaxLinks; i++)
    if (links_[i].open) close_link(i, false, true);
  state_ = State::Booting;
  deadline_ = now_ms + cfg_.boot_ms;
  reset_ = false;
  line_.clear();
  overlong_ = false;
  echo_ = true;
  mux_ = false;
  dinfo_ = false;
  joined_ = false;
  reconnect_at_.reset();
  pending_link_ = -1;
}

std::optional<uint64_t> EspAtEngine::next_deadline_ms() const {
  std::optional<uint64_t> d;
  if (state_ == State::Booting || state_ == State::Joining) d = deadline_;
  if (reconnect_at_ && (!d || *reconnect_at_ < *d)) d = reconnect_at_;
  return d;
}

void EspAtEngine::tick(uint64_t now_ms) {
  if (state_ == State::Booting && now_ms >= deadline_) {
    emit_banner(!reset_);
    state_ = State::Idle;
  }
  if (state_ == State::Joining && now_ms >= deadline_) finish_join(now_ms);
  if (reconnect_at_ && now_ms >= *reconnect_at_) {
    reconnect_at_.reset();
    if (!joined_ && state_ != State::Booting && state_ != State::Off && state_ != State::Joining &&
        join_code(cfg_.ap) == 0) {
      joined_ = true;
      out_ += "WIFI CONNECTED\r\nWIFI GOT IP\r\n";
    }
  }
}

void EspAtEngine::emit_banner(bool power_on) {
  // The chip's ROM boot log (chip_profile.cpp), then esp-at's s_ready_str "\r\nready\r\n" [INIT].
  // AT+RST is a software reset: ESP8266 "rst cause:2" ([FORUM] log), ESP32 "rst:0xc (SW_CPU_RESET)".
  for (std::string l : chip_profile(cfg_.model).boot_banner) {
    if (!power_on) {
      if (auto p = l.find("rst cause:1"); p != std::string::npos) l.replace(p, 11, "rst cause:2");
      if (auto p = l.find("rst:0x1 (POWERON_RESET)"); p != std::string::npos) l.replace(p, 23, "rst:0xc (SW_CPU_RESET)");
    }
    out_ += l + "\r\n";
  }
  out_ += "\r\nready\r\n";
}

void EspAtEngine::error(uint32_t code) {
  if (syslog_) {
    char b[32];
    std::snprintf(b, sizeof b, "ERR CODE:0x%08x\r\n", code);
    out_ += b;
  }
  out_ += "\r\nERROR\r\n";
}

void EspAtEngine::feed(std::string_view bytes, uint64_t now_ms) {
  for (char c : bytes) byte_in(c, now_ms);
}

void EspAtEngine::byte_in(char c, uint64_t now) {
  switch (state_) {
    case State::Off:
    case State::Booting:
      return;  // the UART is not listening yet
    case State::DataIn:
      send_buf_ += c;
      if (send_buf_.size() == send_len_) {
        out_ += "\r\nRecv " + std::to_string(send_len_) + " bytes\r\n";
        AtAction a;
        a.type = AtAction::Type::Send;
        a.link = pending_link_;
        a.host = send_host_;
        a.port = send_port_;
        a.data = std::exchange(send_buf_, {});
        actions_.push_back(std::move(a));
        state_ = State::Sending;
      }
      return;
    case State::Joining:
    case State::Connecting:
    case State::Sending:
      if (c == '\n') out_ += "\r\nbusy p...\r\n";
      return;
    case State::Idle:
      break;
  }
  if (echo_) append_payload(std::string_view(&c, 1));  // the host's own bytes, echoed verbatim
  if (c == '\n') {
    std::string l = std::exchange(line_, {});
    bool over = std::exchange(overlong_, false);
    if (l.empty() || l.back() != '\r') {
      if (!l.empty()) error(kNoTerminator);
      return;
    }
    l.pop_back();
    if (over) return error(kParaLength);
    line(l, now);
    return;
  }
  if (line_.size() <= kMaxLine)
    line_ += c;
  else
    overlong_ = true;
}

void EspAtEngine::line(const std::string& l, uint64_t now) {
  if (l.empty()) return;  // a bare CR-LF
  if (l.compare(0, 2, "AT") != 0) return error(kNoAt);
  if (l == "AT") return ok();
  if (l == "ATE0" || l == "ATE1") {
    echo_ = l[3] == '1';
    return ok();
  }
  if (l.compare(0, 3, "AT+") != 0) return error(kUnsupported);
  const std::string rest = l.substr(3);
  size_t p = rest.find_first_of("=?");
  std::string name = rest.substr(0, p);
  char kind = 'e';
  std::string args;
  if (p != std::string::npos) {
    if (rest[p] == '?') {
      if (p + 1 != rest.size()) return error(kParaParse);
      kind = '?';
    } else if (rest.compare(p, std::string::npos, "=?") == 0) {
      kind = 't';
    } else {
      kind = '=';
      args = rest.substr(p + 1);
    }
  }
  std::vector<Param> params;
  if (kind == '=') {
    Param cur;
    bool in_q = false, after_q = false;
    for (size_t i = 0; i < args.size(); i++) {
      char c = args[i];
      if (in_q) {
        if (c == '\\' && i + 1 < args.size()) {
          cur.v += args[++i];
        } else if (c == '"') {
          in_q = false;
          after_q = true;
        } else {
          cur.v += c;
        }
        continue;
      }
      if (c == ',') {
        params.push_back(std::exchange(cur, {}));
        after_q = false;
        continue;
      }
      if (after_q) return error(kParaParse);
      if (c == '"') {
        if (!cur.v.empty()) return error(kParaParse);
        in_q = true;
        cur.quoted = true;
        cur.empty = false;
        continue;
      }
      cur.v += c;
      cur.empty = false;
    }
    if (in_q) return error(kParaParse);
    params.push_back(std::move(cur));
  }
  command(name, kind, params, now);
}

std::string EspAtEngine::id_prefix(int id) const { return mux_ ? std::to_string(id) + "," : ""; }

std::string EspAtEngine::sta_ip() const { return joined_ ? "192.168.1.100" : "0.0.0.0"; }

int EspAtEngine::join_code(const AccessPoint& ap) const {
  if (!ap.up || ap.ssid != join_ssid_ || ap.rssi < -95) return 3;  // cannot find the target AP
  if (!ap.password.empty() && ap.password != join_pwd_) return 2;  // wrong password
  return 0;
}

void EspAtEngine::finish_join(uint64_t) {
  state_ = State::Idle;
  const int code = join_code(cfg_.ap);
  if (code == 0) {
    joined_ = true;
    out_ += "WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n";
  } else {
    // esp-at dialect: the generic "%s:%d\r\n" result line, then "\r\nERROR\r\n" (not NonOS "FAIL").
    out_ += "+CWJAP:" + std::to_string(code) + "\r\n\r\nERROR\r\n";
  }
}

void EspAtEngine::close_link(int id, bool report, bool action) {
  if (!links_[id].open) return;
  links_[id].open = false;
  if (action) {
    AtAction a;
    a.type = AtAction::Type::Close;
    a.link = id;
    actions_.push_back(a);
  }
  if (report) out_ += id_prefix(id) + "CLOSED\r\n";
}

void EspAtEngine::drop_wifi(bool report) {
  const bool was = joined_;
  joined_ = false;
  if (was && report) out_ += "WIFI DISCONNECT\r\n";
  for (int i = 0; i < kMaxLinks; i++) close_link(i, report, true);
}

void EspAtEngine::command(const std::string& name, char kind, const std::vector<Param>& ps, uint64_t now) {
  auto num = [&](size_t i, long lo, long hi, long* v) { return i < ps.size() && !ps[i].quoted && parse_int(ps[i].v, lo, hi, v); };
  auto str = [&](size_t i) { return i < ps.size() && ps[i].quoted; };

  if (name == "RST" && kind == 'e') {
    ok();
    for (int i = 0; i < kMaxLinks; i++) close_link(i, false, true);
    joined_ = false;
    reconnect_at_.reset();
    lost_ = false;
    state_ = State::Booting;
    reset_ = true;
    deadline_ = now + cfg_.boot_ms;
    echo_ = true;
    mux_ = false;
    dinfo_ = false;
    return;
  }
  if (name == "GMR" && kind == 'e') {
    // Formats "AT version:%d.%d.%d.%d%s(%s%s - %s - %s %s)", "SDK version:%s", "compile time(%s):%s %s",
    // "Bin version:%s(%s)"; values from the [BASIC] doc example with the chip as IDF target.
    out_ += std::string("AT version:2.2.0.0-dev(ca41ec4 - ") + (esp32_ ? "ESP32" : "ESP8266") +
            " - Sep 16 2020 11:28:17)\r\nSDK version:v4.0.1-193-ge7ac221b4\r\n"
            "compile time(98b95fc):Oct 29 2020 11:23:25\r\nBin version:2.1.0(" +
            (esp32_ ? "MINI-1" : "WROOM-02") + ")\r\n";
    return ok();
  }
  if (name == "SYSLOG") {
    long v;
    if (kind == '?') {
      out_ += "+SYSLOG:" + std::to_string(syslog_ ? 1 : 0) + "\r\n";
      return ok();
    }
    if (kind == '=' && ps.size() == 1 && num(0, 0, 1, &v)) {
      syslog_ = v == 1;
      return ok();
    }
    return error(kParaInvalid);
  }
  if (name == "CWMODE") {
    long m, autoc;
    if (kind == '?') {
      out_ += "+CWMODE:" + std::to_string(mode_) + "\r\n";
      return ok();
    }
    if (kind == '=' && (ps.size() == 1 || ps.size() == 2) && num(0, 0, 3, &m) && (ps.size() == 1 || num(1, 0, 1, &autoc))) {
      mode_ = static_cast<int>(m);
      if ((mode_ == 0 || mode_ == 2) && joined_) drop_wifi(true);
      return ok();
    }
    return error(kParaInvalid);
  }
  if (name == "CWJAP") {
    if (kind == '?') {
      if (!joined_) {
        out_ += "No AP\r\n";
        return ok();
      }
      // %s:"%s","%02x:..",%d,%d,%d,%d,%d,%d,%d: ssid, bssid, channel, rssi, pci_en, reconn_interval,
      // listen_interval, scan_mode, pmf (esp-at defaults 0,1,3,0,1)
      out_ += "+CWJAP:\"" + cfg_.ap.ssid + "\",\"" + cfg_.ap.bssid + "\"," + std::to_string(cfg_.ap.channel) + "," +
              std::to_string(cfg_.ap.rssi) + ",0,1,3,0,1\r\n";
      return ok();
    }
    if (kind == '=') {
      if (!str(0) || ps[0].v.empty() || (ps.size() >= 2 && !ps[1].empty && !ps[1].quoted)) return error(kParaInvalid);
      join_ssid_ = ps[0].v;
      join_pwd_ = ps.size() >= 2 ? ps[1].v : "";
    } else if (kind != 'e' || join_ssid_.empty()) {
      return error(kParaInvalid);
    }
    if (mode_ != 1 && mode_ != 3) return error(kExecFail);
    reconnect_at_.reset();
    lost_ = false;
    if (joined_) drop_wifi(true);
    state_ = State::Joining;
    deadline_ = now + cfg_.join_ms;
    return;
  }
  if (name == "CWQAP" && kind == 'e') {
    ok();
    reconnect_at_.reset();
    lost_ = false;
    drop_wifi(true);
    return;
  }
  if (name == "CIFSR" && kind == 'e') {
    if (mode_ == 2 || mode_ == 3) {
      std::string apmac = cfg_.mac;
      char last[3];
      std::snprintf(last, sizeof last, "%02x", (std::stoi(apmac.substr(15, 2), nullptr, 16) + 1) & 0xff);
      apmac.replace(15, 2, last);
      out_ += "+CIFSR:APIP,\"192.168.4.1\"\r\n+CIFSR:APMAC,\"" + apmac + "\"\r\n";
    }
    if (mode_ == 1 || mode_ == 3) out_ += "+CIFSR:STAIP,\"" + sta_ip() + "\"\r\n+CIFSR:STAMAC,\"" + cfg_.mac + "\"\r\n";
    return ok();
  }
  if (name == "CIPSTA" && kind == '?') {
    const bool j = joined_;
    out_ += "+CIPSTA:ip:\"" + sta_ip() + "\"\r\n+CIPSTA:gateway:\"" + std::string(j ? "192.168.1.1" : "0.0.0.0") +
            "\"\r\n+CIPSTA:netmask:\"" + std::string(j ? "255.255.255.0" : "0.0.0.0") + "\"\r\n";
    return ok();
  }
  if (name == "CIPMUX") {
    long m;
    if (kind == '?') {
      out_ += "+CIPMUX:" + std::to_string(mux_ ? 1 : 0) + "\r\n";
      return ok();
    }
    if (kind == '=' && ps.size() == 1 && num(0, 0, 1, &m)) {
      for (const auto& l : links_)
        if (l.open) return error(kExecFail);  // "can only be changed after all connections are disconnected"
      mux_ = m == 1;
      return ok();
    }
    return error(kParaInvalid);
  }
  if (name == "CIPDINFO") {
    long m;
    if (kind == '=' && ps.size() == 1 && num(0, 0, 1, &m)) {
      dinfo_ = m == 1;
      return ok();
    }
    return error(kParaInvalid);
  }
  if (name == "CIPSTART" && kind == '=') {
    size_t i = 0;
    long id = 0, port, lport = 0, umode = 0;
    if (mux_ && !num(i++, 0, kMaxLinks - 1, &id)) return error(kParaInvalid);
    if (!str(i) || !str(i + 1) || !num(i + 2, 1, 65535, &port)) return error(kParaInvalid);
    const std::string type = ps[i].v, host = ps[i + 1].v;
    if (type != "TCP" && type != "UDP") return error(kParaInvalid);  // TCPv6 / UDPv6 / SSL: not emulated
    const bool tcp = type == "TCP";
    if (!tcp && ps.size() > i + 3 && !ps[i + 3].empty && !num(i + 3, 0, 65535, &lport)) return error(kParaInvalid);
    if (!tcp && ps.size() > i + 4 && !ps[i + 4].empty && !num(i + 4, 0, 2, &umode)) return error(kParaInvalid);
    if (links_[id].open) {
      out_ += esp32_ ? "ALREADY CONNECTED" : "ALREADY CONNECTED\r";
      return error(kExecFail);
    }
    std::string ip;
    if (!joined_ || !at_loopback_host(host, &ip)) return error(kExecFail);
    AtAction a;
    a.type = AtAction::Type::Open;
    a.link = static_cast<int>(id);
    a.tcp = tcp;
    a.host = ip;
    a.port = static_cast<uint16_t>(port);
    a.local_port = static_cast<uint16_t>(lport);
    actions_.push_back(a);
    links_[id] = Link{false, tcp, ip, static_cast<uint16_t>(port), static_cast<uint16_t>(lport)};
    pending_link_ = static_cast<int>(id);
    state_ = State::Connecting;
    return;
  }
  if (name == "CIPSEND" && kind == '=') {
    size_t i = 0;
    long id = 0, len, rport = 0;
    if (mux_ && !num(i++, 0, kMaxLinks - 1, &id)) return error(kParaInvalid);
    if (!num(i, 1, kMaxSend, &len)) return error(kParaInvalid);
    std::string rhost;
    if (ps.size() > i + 1) {
      if (ps.size() != i + 3 || !str(i + 1) || !num(i + 2, 1, 65535, &rport)) return error(kParaInvalid);
      if (links_[id].tcp || !at_loopback_host(ps[i + 1].v, &rhost)) return error(kParaInvalid);
    }
    if (!links_[id].open) return error(kExecFail);
    pending_link_ = static_cast<int>(id);
    send_len_ = static_cast<size_t>(len);
    send_buf_.clear();
    send_host_ = rhost;
    send_port_ = static_cast<uint16_t>(rport);
    out_ += "\r\nOK\r\n\r\n>";  // [LIB32] literal; the ESP8266 library prints "\r\nOK\r\n" then "\r\n>"
    state_ = State::DataIn;
    return;
  }
  if (name == "CIPCLOSE" && ((mux_ && kind == '=') || (!mux_ && kind == 'e'))) {
    long id = 0;
    if (mux_ && !(ps.size() == 1 && num(0, 0, kMaxLinks, &id))) return error(kParaInvalid);
    if (id == kMaxLinks) {  // 5 closes all
      for (int k = 0; k < kMaxLinks; k++) close_link(k, true, true);
      return ok();
    }
    if (!links_[id].open) return error(kExecFail);
    close_link(static_cast<int>(id), true, true);
    return ok();
  }
  error(kUnsupported);
}

void EspAtEngine::on_open_result(int link, bool ok_, uint64_t) {
  if (state_ != State::Connecting || link != pending_link_) return;
  state_ = State::Idle;
  if (ok_) {
    links_[link].open = true;
    out_ += id_prefix(link) + "CONNECT\r\n";
    ok();
  } else {
    error(kExecFail);
  }
}

void EspAtEngine::on_send_result(int link, bool ok_, uint64_t) {
  if (state_ != State::Sending || link != pending_link_) return;
  state_ = State::Idle;
  out_ += ok_ ? "\r\nSEND OK\r\n" : "\r\nSEND FAIL\r\n";
}

void EspAtEngine::on_receive(int link, std::string_view data, const std::string& ip, uint16_t port, uint64_t) {
  if (link < 0 || link >= kMaxLinks || !links_[link].open || data.empty()) return;
  out_ += "\r\n+IPD,";
  if (mux_) out_ += std::to_string(link) + ",";
  out_ += std::to_string(data.size());
  if (dinfo_) out_ += ",\"" + ip + "\"," + std::to_string(port);
  out_ += ":";
  append_payload(data);
}

void EspAtEngine::on_remote_closed(int link, uint64_t) {
  if (link < 0 || link >= kMaxLinks) return;
  close_link(link, true, false);
}

void EspAtEngine::set_access_point(const AccessPoint& ap, uint64_t now_ms) {
  cfg_.ap = ap;
  if (joined_ && join_code(ap) != 0) {
    drop_wifi(true);
    reconnect_at_.reset();
    lost_ = true;
  }
  // esp-at reconnects on its own (reconn_interval 1 s) while the AP it lost is back in range.
  if (!joined_ && lost_ && join_code(ap) == 0) {
    lost_ = false;
    reconnect_at_ = now_ms + cfg_.join_ms;
  }
}

}  // namespace iotw::emu
