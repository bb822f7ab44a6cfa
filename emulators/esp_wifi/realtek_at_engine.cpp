#include "esp_wifi/realtek_at_engine.hpp"

#include <stdexcept>

namespace iotw::emu {

namespace {

constexpr unsigned char kEnter = 0x0d, kNl = 0x0a, kBs = 0x08, kEsc = 0x1b, kLbrkt = '[';

/// C atoi(): optional sign, leading digits, 0 when none.
long c_atoi(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) i++;
  bool neg = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  long v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && v < 100000000; i++) v = v * 10 + (s[i] - '0');
  return neg ? -v : v;
}

/// parse_param() of log_service.c: ',' '[' ']' separate, ",," gives an empty (NULL) argument, "..." with
/// backslash escapes. argv[0] is unused, as in the firmware; argc counts it.
std::vector<std::optional<std::string>> parse_param(const std::optional<std::string>& param) {
  std::vector<std::optional<std::string>> argv{std::nullopt};
  if (!param) return argv;
  const std::string& b = *param;
  size_t i = 0;
  while (i < b.size()) {
    while (i < b.size() && (b[i] == ',' || b[i] == '[' || b[i] == ']')) {
      if (b[i] == ',' && i + 1 < b.size() && b[i + 1] == ',') argv.emplace_back(std::nullopt);
      i++;
    }
    if (i >= b.size()) break;
    std::string a;
    if (b[i] == '"') {
      i++;
      while (i < b.size() && b[i] != '"') {
        if (b[i] == '\\' && i + 1 < b.size()) i++;
        a += b[i++];
      }
      i++;
    } else {
      while (i < b.size() && b[i] != ',' && b[i] != '[' && b[i] != ']') a += b[i++];
    }
    argv.emplace_back(std::move(a));
    while (i < b.size() && b[i] != ',' && b[i] != '[' && b[i] != ']') i++;
  }
  return argv;
}

}  // namespace

RealtekAtEngine::RealtekAtEngine(AtModuleConfig config) : cfg_(std::move(config)) {
  if (cfg_.model != "rtl8710" && cfg_.model != "rtl8195") throw std::invalid_argument("RealtekAtEngine: model " + cfg_.model);
  if (cfg_.mac.empty()) cfg_.mac = cfg_.model == "rtl8710" ? "00:e0:4c:87:10:01" : "00:e0:4c:81:95:01";
}

void RealtekAtEngine::power_on(uint64_t now_ms) {
  for (int i = 1; i < kNumNodes; i++) delete_node(i, true);
  state_ = State::Booting;
  deadline_ = now_ms + cfg_.boot_ms;
  pending_in_.clear();
  reset_line();
  echo_ = true;
  joined_ = false;
  lost_ = false;
  autorecv_ = false;
  sending_ = -1;
}

void RealtekAtEngine::reset_line() {
  buf_.clear();
  is_data_cmd_ = false;
  data_sz_ = data_cmd_sz_ = 0;
  combo_ = 0;
}

std::optional<uint64_t> RealtekAtEngine::next_deadline_ms() const {
  std::optional<uint64_t> d;
  if (state_ == State::Booting || state_ == State::Joining) d = deadline_;
  for (const auto& n : nodes_)
    if (n.st == Node::St::Connecting && n.connect_at != UINT64_MAX && (!d || n.connect_at < *d)) d = n.connect_at;
  return d;
}

int RealtekAtEngine::join_result(const AccessPoint& ap) const {
  if (!ap.up || ap.ssid != join_ssid_ || ap.rssi < -95) return 4;
  if (!ap.password.empty() && ap.password != join_pwd_) return 4;
  return 0;
}

void RealtekAtEngine::tick(uint64_t now_ms) {
  if (state_ == State::Booting && now_ms >= deadline_) {
    out_ += "\r\nAT COMMAND READY";
    out_ += kPrompt;
    state_ = State::Idle;
    resume(now_ms);
  }
  if (state_ == State::Joining && now_ms >= deadline_) {
    const int e = join_result(cfg_.ap);
    joined_ = e == 0;
    out_ += joined_ ? "\r\n[ATPN] OK" : "\r\n[ATPN] ERROR:" + std::to_string(e);
    out_ += kPrompt;
    state_ = State::Idle;
    resume(now_ms);
  }
  for (int i = 1; i < kNumNodes; i++) {
    Node& n = nodes_[i];
    if (n.st != Node::St::Connecting || now_ms < n.connect_at) continue;
    if (n.tcp && !joined_) {  // no route: connect() fails
      n.st = Node::St::Free;
      out_ += "\r\n[ATPC] ERROR:9";
      out_ += kPrompt;
      continue;
    }
    n.connect_at = UINT64_MAX;  // waiting for on_open_result
    AtAction a;
    a.type = AtAction::Type::Open;
    a.link = i;
    a.tcp = n.tcp;
    a.host = n.ip;
    a.port = n.port;
    a.local_port = n.local_port;
    actions_.push_back(a);
  }
}

void RealtekAtEngine::resume(uint64_t now) {
  std::string q = std::exchange(pending_in_, {});
  for (size_t i = 0; i < q.size(); i++) {
    if (state_ != State::Idle) {
      pending_in_ = q.substr(i) + pending_in_;
      return;
    }
    byte_in(static_cast<unsigned char>(q[i]), now);
  }
}

void RealtekAtEngine::feed(std::string_view bytes, uint64_t now_ms) {
  for (char c : bytes) {
    if (state_ == State::Off || state_ == State::Booting) continue;  // UART not initialised yet
    if (state_ != State::Idle || !pending_in_.empty()) {
      pending_in_ += c;  // the log service task is busy: the bytes wait in the UART buffer
      continue;
    }
    byte_in(static_cast<unsigned char>(c), now_ms);
  }
}

void RealtekAtEngine::byte_in(unsigned char rc, uint64_t now) {
  if (buf_.size() == 4 && buf_.compare(0, 4, "ATPT") == 0) is_data_cmd_ = true;
  if (buf_.size() > 4 && is_data_cmd_) {
    if (data_cmd_sz_ == 0) {
      if (data_sz_ == 0) {
        if (rc == ',') data_sz_ = static_cast<size_t>(std::max(0L, c_atoi(buf_.substr(5))));
      } else if (rc == ':') {
        data_cmd_sz_ = buf_.size() + 1 + data_sz_;
      }
    }
    if (data_cmd_sz_) {
      buf_ += static_cast<char>(rc);
      if (echo_) out_ += static_cast<char>(rc);
      if (buf_.size() >= data_cmd_sz_) {
        const size_t colon = data_cmd_sz_ - data_sz_ - 1;
        std::string header = buf_.substr(0, colon), data = buf_.substr(colon + 1);
        reset_line();
        submit(header, data, now);
      }
      return;
    }
  }
  if (rc == kEsc) {
    combo_ = 1;
  } else if (combo_ == 1) {
    combo_ = rc == kLbrkt ? 2 : 0;
  } else if (combo_ == 2) {
    combo_ = 0;
  } else if (rc == kEnter) {
    if (!buf_.empty()) {
      std::string header = buf_;
      reset_line();
      submit(header, {}, now);
    } else {
      out_ += kPrompt;
    }
  } else if (rc == kBs) {
    if (!buf_.empty()) {
      buf_.pop_back();
      if (echo_) out_ += "\b \b";
    }
  } else {
    if (buf_.empty() && rc != 'A') {  // skip characters until "A"
      if (echo_ && rc != kNl) {
        out_ += "\r\nERROR:command should start with 'A'";
        out_ += kPrompt;
      }
      return;
    }
    if (buf_.size() < kBufLen - 1) {
      buf_ += static_cast<char>(rc);
      if (echo_) out_ += static_cast<char>(rc);
    } else if (echo_) {
      out_ += "\r\nERROR:exceed size limit";
      out_ += kPrompt;
    }
  }
}

void RealtekAtEngine::submit(const std::string& header, const std::string& data, uint64_t now) {
  // log_handler(): token before '=', at most 4 characters, else "unknown command".
  const size_t eq = header.find('=');
  const std::string token = header.substr(0, eq);
  std::optional<std::string> param;
  if (eq != std::string::npos) param = header.substr(eq + 1);
  bool done = true;
  if (token.size() > 4)
    out_ += "\r\nunknown command '" + header + "'";
  else
    done = run(token, param, data, now);
  if (done) out_ += kPrompt;
}

void RealtekAtEngine::delete_node(int id, bool action) {
  Node& n = nodes_[id];
  if (n.st == Node::St::Free) return;
  if (action && (n.st == Node::St::Open || n.st == Node::St::Lost || n.connect_at == UINT64_MAX)) {
    AtAction a;
    a.type = AtAction::Type::Close;
    a.link = id;
    actions_.push_back(a);
  }
  n = Node{};
}

bool RealtekAtEngine::run(const std::string& token, const std::optional<std::string>& param, const std::string& data,
                          uint64_t now) {
  const auto argv = parse_param(param);
  const size_t argc = argv.size();
  auto arg = [&](size_t i) { return i < argc && argv[i] ? *argv[i] : std::string(); };
  auto err = [&](const std::string& cmd, int e) { out_ += "\r\n[" + cmd + "] ERROR:" + std::to_string(e); };
  auto okay = [&](const std::string& cmd) { out_ += "\r\n[" + cmd + "] OK"; };

  if (token == "AT") {
    okay("AT");
  } else if (token == "ATSE") {
    if (!param || argc < 2) {
      err("ATSE", 1);
    } else if (arg(1) != "0" && arg(1) != "1") {
      err("ATSE", 3);
    } else {
      echo_ = arg(1) == "1";
      okay("ATSE");
    }
  } else if (token == "ATSV") {
    // "\r\n[ATSV] OK:%s,%s(%s)": AT version v2.2.1 (ATCMD_VERSION/SUBVERSION/REVISION), SDK, build time.
    out_ += std::string("\r\n[ATSV] OK:v2.2.1,") + (cfg_.model == "rtl8710" ? "v4.0b" : "v3.5a") +
            "(Jul  4 2018 10:00:00)";
  } else if (token == "ATSR") {
    okay("ATSR");
    for (int i = 1; i < kNumNodes; i++) delete_node(i, true);
    joined_ = lost_ = autorecv_ = false;
    echo_ = true;
    reset_line();
    pending_in_.clear();
    state_ = State::Booting;
    deadline_ = now + cfg_.boot_ms;
    return false;  // no prompt: the chip reboots, the banner carries it
  } else if (token == "ATPW") {
    long m = c_atoi(arg(1));
    if (!param || argc < 2) {
      err("ATPW", 1);
    } else if (m < 1 || m > 3) {
      err("ATPW", 2);
    } else {
      mode_ = static_cast<int>(m);
      if (mode_ == 2) joined_ = false;
      okay("ATPW");
    }
  } else if (token == "ATPN") {
    const std::string ssid = arg(1), pwd = arg(2);
    if (!param || argc < 2) {
      err("ATPN", 1);
    } else if (ssid.empty() || (!pwd.empty() && pwd.size() != 5 && pwd.size() != 13 && (pwd.size() < 8 || pwd.size() > 64))) {
      err("ATPN", 2);
    } else if (mode_ == 2) {
      err("ATPN", 5);
    } else {
      join_ssid_ = ssid;
      join_pwd_ = pwd;
      joined_ = false;
      lost_ = false;
      state_ = State::Joining;
      deadline_ = now + cfg_.join_ms;
      return false;
    }
  } else if (token == "ATWD") {
    joined_ = false;
    lost_ = false;
    okay("ATWD");
  } else if (token == "ATW?") {
    if (joined_) {
      out_ += "\r\nSTA," + cfg_.ap.ssid + "," + std::to_string(cfg_.ap.channel) + "," +
              (cfg_.ap.password.empty() ? "OPEN" : "AES") + "," + cfg_.ap.password + "," + cfg_.mac +
              ",192.168.1.80,192.168.1.1";
    }
    okay("ATW?");
  } else if (token == "ATWS") {
    if (cfg_.ap.up && cfg_.ap.rssi >= -95)
      out_ += "\r\nAP : 1," + cfg_.ap.ssid + "," + std::to_string(cfg_.ap.channel) + "," +
              (cfg_.ap.password.empty() ? "OPEN" : "AES") + "," + std::to_string(cfg_.ap.rssi) + "," + cfg_.ap.bssid;
    okay("ATWS");
  } else if (token == "ATPC") {
    if (argc < 4) {
      err("ATPC", 1);
      return true;
    }
    const long mode = c_atoi(arg(1)), rport = c_atoi(arg(3));
    std::string ip;
    if (!at_loopback_host(arg(2), &ip)) {
      err("ATPC", 2);
    } else if (rport < 0 || rport > 65535) {
      err("ATPC", 3);
    } else if (argc > 4 && argv[4] && (c_atoi(arg(4)) < 0 || c_atoi(arg(4)) > 65535)) {
      err("ATPC", 11);
    } else if (mode != 0 && mode != 1) {
      err("ATPC", 17);  // SSL client: not emulated
    } else {
      int id = -1;
      for (int i = 1; i < kNumNodes && id < 0; i++)
        if (nodes_[i].st == Node::St::Free) id = i;
      if (id < 0) {
        err("ATPC", 4);
        return true;
      }
      Node& n = nodes_[id];
      n = Node{};
      n.st = Node::St::Connecting;
      n.tcp = mode == 0;
      n.ip = ip;
      n.port = static_cast<uint16_t>(rport);
      n.local_port = static_cast<uint16_t>(argc > 4 ? c_atoi(arg(4)) : 0);
      n.connect_at = now + cfg_.connect_delay_ms;
      // fATPC prints nothing: the prompt now, "[ATPC] OK / con_id=" from the client task later.
    }
  } else if (token == "ATPT") {
    if (argc != 3 && argc != 5) {
      out_ += "\r\n[ATPT] ERROR:1,-1";
      return true;
    }
    if (c_atoi(arg(1)) > static_cast<long>(kBufLen)) {
      out_ += "\r\n[ATPT] ERROR:2,-1";
      return true;
    }
    const long id = c_atoi(arg(2));
    if (id <= 0 || id >= kNumNodes || (nodes_[id].st != Node::St::Open && nodes_[id].st != Node::St::Lost)) {
      out_ += "\r\n[ATPT] ERROR:3," + std::to_string(id);
      return true;
    }
    const Node& n = nodes_[id];
    if (n.st == Node::St::Lost || !joined_) {
      out_ += "\r\n[ATPT] ERROR:" + std::to_string(n.tcp ? 8 : 6) + "," + std::to_string(id);
      return true;
    }
    AtAction a;
    a.type = AtAction::Type::Send;
    a.link = static_cast<int>(id);
    a.data = data;
    actions_.push_back(std::move(a));
    sending_ = static_cast<int>(id);
    state_ = State::Sending;
    return false;
  } else if (token == "ATPR") {
    if (autorecv_) {
      out_ += "\r\n[ATPR] ERROR:10,-1";
      return true;
    }
    if (argc != 3) {
      out_ += "\r\n[ATPR] ERROR:1,-1";
      return true;
    }
    const long id = c_atoi(arg(1)), size = c_atoi(arg(2));
    const std::string ids = std::to_string(id);
    if (id <= 0 || id > kNumNodes) {
      out_ += "\r\n[ATPR] ERROR:9," + ids;
    } else if (size <= 0 || size > static_cast<long>(kBufLen)) {
      out_ += "\r\n[ATPR] ERROR:2," + ids;
    } else if (id >= kNumNodes || (nodes_[id].st != Node::St::Open && nodes_[id].st != Node::St::Lost)) {
      out_ += "\r\n[ATPR] ERROR:3," + ids;
    } else {
      Node& n = nodes_[id];
      std::string got;
      if (!n.rx.empty()) {
        got = std::move(n.rx.front());
        n.rx.pop_front();
        if (got.size() > kMtu) {
          if (n.tcp) n.rx.push_front(got.substr(kMtu));
          got.resize(kMtu);  // UDP: the rest of the datagram is lost, as with recvfrom()
        }
      }
      if (got.empty() && n.st == Node::St::Lost) {
        out_ += "\r\n[ATPR] ERROR:7," + ids;  // "Connection is closed!"
        delete_node(static_cast<int>(id), true);
      } else {
        out_ += "\r\n[ATPR] OK," + std::to_string(got.size()) + "," + ids + ":" + got;
      }
    }
  } else if (token == "ATPK") {
    if (argc < 2) {
      err("ATPK", 1);
    } else {
      autorecv_ = c_atoi(arg(1)) != 0;
      okay("ATPK");
      if (autorecv_) {  // what is already queued comes out now
        for (int i = 1; i < kNumNodes; i++) {
          Node& n = nodes_[i];
          while (!n.rx.empty()) {
            std::string d = std::move(n.rx.front());
            n.rx.pop_front();
            out_ += kPrompt;
            out_ += "\r\n[ATPR] OK," + std::to_string(d.size()) + "," + std::to_string(i) + ":" + d;
          }
        }
      }
    }
  } else if (token == "ATPD") {
    if (!param) {
      err("ATPD", 1);
      return true;
    }
    const long id = c_atoi(*param);
    if (id == 0) {
      autorecv_ = false;
      for (int i = 1; i < kNumNodes; i++) delete_node(i, true);
    } else if (id < 0 || id >= kNumNodes || nodes_[id].st == Node::St::Free || nodes_[id].st == Node::St::Connecting) {
      err("ATPD", 3);
      return true;
    } else {
      delete_node(static_cast<int>(id), true);
    }
    okay("ATPD");
  } else if (token == "ATPI") {
    for (int i = 1; i < kNumNodes; i++) {
      const Node& n = nodes_[i];
      if (n.st != Node::St::Open && n.st != Node::St::Lost) continue;
      out_ += "\r\ncon_id:" + std::to_string(i) + ",client," + (n.tcp ? "tcp," : "udp,") + "address:" + n.ip +
              ",port:" + std::to_string(n.port) + ",socket:" + std::to_string(n.socket);
    }
    okay("ATPI");
  } else {
    out_ += "\r\nunknown command '" + (param ? token + "=" + *param : token) + "'";
  }
  return true;
}

void RealtekAtEngine::on_open_result(int link, bool ok, uint64_t) {
  if (link <= 0 || link >= kNumNodes) return;
  Node& n = nodes_[link];
  if (n.st != Node::St::Connecting) return;
  if (ok) {
    n.st = Node::St::Open;
    n.socket = next_socket_++;
    out_ += "\r\n[ATPC] OK\r\n[ATPC] con_id=" + std::to_string(link);
  } else {
    const bool tcp = n.tcp;
    n = Node{};
    out_ += "\r\n[ATPC] ERROR:" + std::to_string(tcp ? 9 : 12);
  }
  out_ += kPrompt;
}

void RealtekAtEngine::on_send_result(int link, bool ok, uint64_t now) {
  if (state_ != State::Sending || link != sending_) return;
  const bool tcp = nodes_[link].tcp;
  out_ += ok ? "\r\n[ATPT] OK," + std::to_string(link)
             : "\r\n[ATPT] ERROR:" + std::to_string(tcp ? 8 : 6) + "," + std::to_string(link);
  out_ += kPrompt;
  sending_ = -1;
  state_ = State::Idle;
  resume(now);
}

void RealtekAtEngine::on_receive(int link, std::string_view data, const std::string&, uint16_t, uint64_t) {
  if (link <= 0 || link >= kNumNodes || nodes_[link].st != Node::St::Open || data.empty()) return;
  Node& n = nodes_[link];
  if (autorecv_) {
    // atcmd_lwip_receive_task: "\r\n[ATPR] OK,%d,%d:" + data + STR_END_OF_ATCMD_RET
    for (size_t off = 0; off < data.size(); off += kMtu) {
      std::string_view part = data.substr(off, kMtu);
      out_ += "\r\n[ATPR] OK," + std::to_string(part.size()) + "," + std::to_string(link) + ":";
      append_payload(part);
      out_ += kPrompt;
      if (!n.tcp) break;
    }
    return;
  }
  n.rx.emplace_back(data);
}

void RealtekAtEngine::on_remote_closed(int link, uint64_t) {
  if (link <= 0 || link >= kNumNodes || nodes_[link].st != Node::St::Open) return;
  nodes_[link].st = Node::St::Lost;
  if (autorecv_ && nodes_[link].rx.empty()) {
    out_ += "\r\n[ATPR] ERROR:7," + std::to_string(link);
    out_ += kPrompt;
    delete_node(link, true);
  }
}

void RealtekAtEngine::set_access_point(const AccessPoint& ap, uint64_t) {
  cfg_.ap = ap;
  // The Wi-Fi driver reports link changes on the log UART, not on the AT UART: nothing is printed here.
  if (joined_ && join_result(ap) != 0) {
    joined_ = false;
    lost_ = true;
  } else if (!joined_ && lost_ && join_result(ap) == 0) {
    joined_ = true;  // the driver's auto-reconnect
    lost_ = false;
  }
}

}  // namespace iotw::emu
