#include "esp_wifi/at_appliance.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/ipv4_endpoint.hpp"
#include "common/device_behaviour.hpp"
#include "common/firmware_host.hpp"

namespace iotw::emu {

namespace {

/// The pool thread's receive buffer: a socket reads into it only once readable, and its bytes go to the engine at
/// once, so one buffer serves every module of the pool (larger than any datagram the node sends).
std::array<char, 2048>& rx_buffer() {
  thread_local std::array<char, 2048> buf;
  return buf;
}

AtModuleConfig module_config(const std::string& model, const AccessPoint& ap, const std::string& behaviour) {
  AtModuleConfig c;
  c.model = model;
  c.ap = ap;
  c.wrong_terminator = behaviour_flags(behaviour).at_wrong_terminator;  // the module's own defect (AT layer)
  return c;
}
}  // namespace

AtAppliance::AtAppliance(boost::asio::io_context& io, DeviceSpec spec, const AccessPoint& ap, EventLog& log,
                         const Clock& clock)
    : io_(io),
      clock_(clock),
      spec_(std::move(spec)),
      module_cfg_(module_config(spec_.model, ap, spec_.behaviour)),
      engine_(make_at_engine(module_cfg_)),
      baud_(spec_.baud > 0 ? spec_.baud : engine_->default_baud()),
      log_(log),
      source_("emu:" + spec_.name),
      to_module_(baud_),
      to_mcu_(baud_),
      timer_(io),
      typed_([this](const std::string& text, const Typed& result) {
        log_.emit(source_, "uart_typed", TypedLines::event_fields(text, result));
      }) {
  const auto [host, port] = parse_host_port(tcp() ? spec_.trust_node_tcp : spec_.trust_node_udp);
  if (!at_loopback_host(host, &host_) || port == 0)
    throw std::invalid_argument(spec_.name + (tcp() ? ": trust_node_tcp" : ": trust_node_udp") +
                                " must be a loopback IPv4 endpoint");
  udp_port_ = port;
  cfg_.name = spec_.name.c_str();
  cfg_.model = spec_.model.c_str();
  cfg_.fw_version = "iotw-fw-0.1";
  cfg_.reset_reason = 1;  // power-on
  if (spec_.node_pubkey) cfg_.node_pubkey = spec_.node_pubkey->data();  // spec_ outlives fw_
  cfg_.faults = behaviour_flags(spec_.behaviour).fw;  // the appliance firmware's defects (firmware layer)
  collusion_.join(spec_.behaviour, spec_.name, spec_.collusion_witnesses, spec_.collusion_window_ms, cfg_);
  set_nvs_dir(spec_.nvs_dir, port_ctx_);
  set_port_seed(spec_.seed, port_ctx_);  // the identity follows from the device's seed
  port_ctx_.send = &AtAppliance::on_send;
  port_ctx_.log = &AtAppliance::on_log;
  port_ctx_.user = this;
  // UDP: one firmware frame per datagram (payload + CRC-32); TCP: a byte stream framed as a serial link
  port_ctx_.kind = tcp() ? IOTW_LINK_SERIAL : IOTW_LINK_DATAGRAM;
  if (iotw_host_port_init(&port_, &port_ctx_) != 0) throw std::runtime_error("libsodium init failed");
  port_.now_ms = &AtAppliance::on_now_ms;  // the MCU's firmware reads time through the pool's Clock too
}

uint64_t AtAppliance::on_now_ms(void* ctx) {
  return static_cast<AtAppliance*>(static_cast<iotw_host_port_ctx*>(ctx)->user)->clock_.now_ms();
}

AtAppliance::~AtAppliance() { stop(); }

void AtAppliance::start() {
  const uint64_t now_ms = now_ns() / 1'000'000;
  iotw_at_link_config lc{};
  lc.family = spec_.model.rfind("esp", 0) == 0 ? IOTW_AT_ESP : IOTW_AT_REALTEK;
  lc.ssid = module_cfg_.ap.ssid.c_str();
  lc.password = module_cfg_.ap.password.c_str();
  lc.host = host_.c_str();
  lc.port = udp_port_;
  lc.local_port = 0;  // the module picks (an ephemeral port on 127.0.0.1)
  lc.tcp = tcp() ? 1 : 0;
  lc.uart_write = &AtAppliance::on_uart_write;
  lc.on_datagram = &AtAppliance::on_datagram;
  lc.on_event = &AtAppliance::on_link_event;
  lc.user = this;
  iotw_at_link_init(&link_, &lc, now_ms);
  engine_->power_on(now_ms);
  log_.emit(source_, "at_started",
            {{"model", spec_.model}, {"mode", "at"}, {"baud", baud_}, {"ssid", module_cfg_.ap.ssid},
             {"rssi", module_cfg_.ap.rssi},  // docs/events.md: the AP as the module sees it at start
             {tcp() ? "trust_node_tcp" : "trust_node_udp", tcp() ? spec_.trust_node_tcp : spec_.trust_node_udp},
             {"transport", tcp() ? "tcp" : "udp"}});
  running_ = true;
  if (iotw_fw_boot(&fw_, &cfg_, &port_) != 0) throw std::runtime_error(spec_.name + ": NVS not writable");
  note_state();
  arm();
}

nlohmann::json AtAppliance::status() const {
  nlohmann::json s = Device::status();
  s["state"] = state_name(state());
  s["link"] = tcp() ? "tcp" : "udp";
  s["link_up"] = link_up();
  s["rssi"] = module_cfg_.ap.rssi;
  s["ap_up"] = module_cfg_.ap.up;
  return s;
}

nlohmann::json AtAppliance::ap(std::optional<int> rssi, std::optional<bool> up) {
  set_access_point(rssi, up);
  return {{"rssi", module_cfg_.ap.rssi}, {"up", module_cfg_.ap.up}};
}

std::string AtAppliance::refusal_hint(const std::string&) const {
  return "an AT-mode appliance's firmware runs on the appliance MCU, not on an emulated chip";
}

void AtAppliance::set_access_point(std::optional<int> rssi, std::optional<bool> up) {
  if (rssi) module_cfg_.ap.rssi = *rssi;
  if (up) module_cfg_.ap.up = *up;
  engine_->set_access_point(module_cfg_.ap, now_ns() / 1'000'000);
  wake();
  log_.emit(source_, "ap_changed", {{"ssid", module_cfg_.ap.ssid}, {"rssi", module_cfg_.ap.rssi}, {"up", module_cfg_.ap.up}});
}

void AtAppliance::stop() {
  running_ = false;
  typed_.stop(spec_.name + " stopped");
  timer_.cancel();
  timer_due_ns_ = UINT64_MAX;
  for (auto& [id, s] : socks_) {
    boost::system::error_code ec;
    s->s.close(ec);
    s->t.close(ec);
  }
  socks_.clear();
}

void AtAppliance::arm() { schedule(at_appliance_next_step_ns(parts(), now_ns(), typed_.busy())); }

void AtAppliance::wake() {
  if (running_) schedule(now_ns() + kAtStepNs);
}

void AtAppliance::schedule(uint64_t due_ns) {
  if (timer_due_ns_ <= due_ns) return;  // a step comes sooner already
  timer_due_ns_ = due_ns;
  const uint32_t gen = ++timer_gen_;
  const uint64_t now = now_ns();  // the Asio timer runs in real time; due_ns is on the pool's clock
  timer_.expires_after(std::chrono::nanoseconds(due_ns > now ? due_ns - now : 0));
  timer_.async_wait([this, gen](boost::system::error_code ec) {
    if (ec || !running_ || gen != timer_gen_) return;
    timer_due_ns_ = UINT64_MAX;
    step();
    arm();
  });
}

void AtAppliance::step() {
  const uint64_t t = now_ns();
  at_appliance_step(
      parts(), t, [this](const AtAction& a, uint64_t ms) { perform(a, ms); },
      [this](const std::string& out) { typed_.on_printed(out); });  // a typed line's answer
  note_state();
  typed_.pump(t / 1'000'000, at_appliance_line_idle(parts()), [this](const std::string& text) {
    to_module_.write(reinterpret_cast<const uint8_t*>(text.data()), text.size(), now_ns());
  });
}

void AtAppliance::type_uart(std::string text, std::function<void(const Typed&)> done) {
  if (!running_) {
    done(Typed{{}, false, spec_.name + " is not running"});
    return;
  }
  typed_.type(std::move(text), std::move(done), now_ns() / 1'000'000, spec_.name);
  wake();
}

void AtAppliance::perform(const AtAction& a, uint64_t now_ms) {
  namespace ip = boost::asio::ip;
  switch (a.type) {
    case AtAction::Type::Open: {
      close_sock(a.link);
      // The module carries the firmware's link: UDP, or TCP for a trust_node_tcp device; the other is refused.
      bool ok = a.tcp == tcp();
      auto sock = std::make_shared<Sock>(io_);
      sock->tcp = a.tcp;
      boost::system::error_code ec;
      if (ok && a.tcp) {
        ip::address_v4 addr = ip::make_address_v4(a.host, ec);
        if (!ec) sock->t.connect(ip::tcp::endpoint(addr, a.port), ec);  // loopback: immediate (or refused)
        if (!ec) sock->t.set_option(ip::tcp::no_delay(true), ec);
        ok = !ec;
        if (ok) {
          socks_[a.link] = sock;
          receive_tcp(a.link, sock);
          log_.emit(source_, "at_socket", {{"link", a.link}, {"proto", "tcp"},
                                           {"local", "127.0.0.1:" + std::to_string(sock->t.local_endpoint().port())},
                                           {"remote", a.host + ":" + std::to_string(a.port)}});
        }
      } else if (ok) {
        sock->s.open(ip::udp::v4(), ec);
        if (!ec) sock->s.bind(ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), a.local_port), ec);
        if (!ec) sock->remote = ip::udp::endpoint(ip::make_address_v4(a.host), a.port);
        ok = !ec;
        if (ok) {
          socks_[a.link] = sock;
          receive(a.link, sock);
          log_.emit(source_, "at_socket", {{"link", a.link}, {"proto", "udp"},
                                           {"local", "127.0.0.1:" + std::to_string(sock->s.local_endpoint().port())},
                                           {"remote", a.host + ":" + std::to_string(a.port)}});
        }
      }
      engine_->on_open_result(a.link, ok, now_ms);
      break;
    }
    case AtAction::Type::Send: {
      bool ok = false;
      if (auto it = socks_.find(a.link); it != socks_.end() && it->second->tcp) {
        boost::system::error_code ec;
        ok = boost::asio::write(it->second->t, boost::asio::buffer(a.data), ec) == a.data.size() && !ec;
      } else if (it != socks_.end()) {
        Sock& s = *it->second;
        ip::udp::endpoint to = s.remote;
        boost::system::error_code ec;
        if (!a.host.empty()) to = ip::udp::endpoint(ip::make_address_v4(a.host, ec), a.port ? a.port : s.remote.port());
        else if (a.port) to.port(a.port);
        if (!ec) ok = s.s.send_to(boost::asio::buffer(a.data), to, 0, ec) == a.data.size() && !ec;
      }
      engine_->on_send_result(a.link, ok, now_ms);
      break;
    }
    case AtAction::Type::Close:
      close_sock(a.link);
      break;
  }
}

void AtAppliance::close_sock(int link) {
  if (auto it = socks_.find(link); it != socks_.end()) {
    boost::system::error_code ec;
    it->second->s.close(ec);
    it->second->t.close(ec);
    socks_.erase(it);
  }
}

void AtAppliance::receive_tcp(int link, const std::shared_ptr<Sock>& sock) {
  sock->t.async_wait(boost::asio::ip::tcp::socket::wait_read, [this, link, sock](boost::system::error_code ec) {
    if (ec == boost::asio::error::operation_aborted || !running_) return;
    auto it = socks_.find(link);
    if (it == socks_.end() || it->second != sock) return;  // closed meanwhile
    // Readable: the read returns at once. At most 1024 bytes per read: each becomes one +IPD / [ATPR] chunk that
    // fits the driver's buffer.
    size_t n = 0;
    if (!ec) n = sock->t.read_some(boost::asio::buffer(rx_buffer().data(), 1024), ec);
    const uint64_t t = now_ns();
    if (ec) {  // the trust node closed the connection (or it broke)
      log_.emit(source_, "at_socket_closed", {{"link", link}, {"proto", "tcp"}, {"reason", ec == boost::asio::error::eof ? "eof" : ec.message()}});
      close_sock(link);
      engine_->on_remote_closed(link, t / 1'000'000);
    } else {
      engine_->on_receive(link, std::string_view(rx_buffer().data(), n), host_, udp_port_, t / 1'000'000);
    }
    const std::string out = engine_->take_output();
    to_mcu_.write(reinterpret_cast<const uint8_t*>(out.data()), out.size(), t);
    wake();
    if (!ec) receive_tcp(link, sock);
  });
}

void AtAppliance::receive(int link, const std::shared_ptr<Sock>& sock) {
  sock->s.async_wait(boost::asio::ip::udp::socket::wait_read, [this, link, sock](boost::system::error_code ec) {
    if (ec == boost::asio::error::operation_aborted || !running_) return;
    auto it = socks_.find(link);
    if (it == socks_.end() || it->second != sock) return;  // closed meanwhile
    if (!ec) {  // readable: a datagram is queued, the read returns at once
      boost::asio::ip::udp::endpoint from;
      const size_t n = sock->s.receive_from(boost::asio::buffer(rx_buffer()), from, 0, ec);
      if (!ec) {
        const uint64_t t = now_ns();
        engine_->on_receive(link, std::string_view(rx_buffer().data(), n), from.address().to_string(), from.port(),
                            t / 1'000'000);
        const std::string out = engine_->take_output();
        to_mcu_.write(reinterpret_cast<const uint8_t*>(out.data()), out.size(), t);
        wake();
      }
    }
    receive(link, sock);
  });
}

int AtAppliance::on_send(void* user, const uint8_t* bytes, size_t len) {
  return iotw_at_link_send(&static_cast<AtAppliance*>(user)->link_, bytes, len);
}

void AtAppliance::on_log(void* user, iotw_log_level level, const char* event, const char* detail) {
  auto* self = static_cast<AtAppliance*>(user);
  self->log_.emit(self->source_, "log", {{"level", level_name(level)}, {"event", event}, {"detail", detail}});
}

int AtAppliance::on_uart_write(void* user, const uint8_t* bytes, size_t len) {
  auto* self = static_cast<AtAppliance*>(user);
  self->to_module_.write(bytes, len, self->now_ns());
  return 0;
}

void AtAppliance::on_datagram(void* user, const uint8_t* bytes, size_t len) {
  auto* self = static_cast<AtAppliance*>(user);
  iotw_fw_on_rx(&self->fw_, bytes, len);  // may queue a reply through on_send (the driver's TX queue)
  if (iotw_fw_get_state(&self->fw_) == IOTW_FW_OFF) self->restart_after_panic();
}

void AtAppliance::restart_after_panic() {
  std::memset(static_cast<void*>(&fw_), 0, sizeof fw_);  // RAM (and the secret key) is gone
  cfg_.reset_reason = 3;                                   // ESP_RST_SW, as the SoC runtime's panic reset
  if (iotw_fw_boot(&fw_, &cfg_, &port_) != 0) {
    log_.emit(source_, "error", {{"what", "NVS not writable: the firmware stays off after its panic"}});
    return;
  }
  log_.emit(source_, "reset", {{"reset_reason", cfg_.reset_reason}, {"boot_count", fw_.boot_count}, {"cause", "panic"}});
  note_state();
}

void AtAppliance::on_link_event(void* user, const char* event) {
  auto* self = static_cast<AtAppliance*>(user);
  nlohmann::json fields{{"event", event}, {"model", self->spec_.model}};
  if (std::strcmp(event, "link_up") == 0) {
    if (self->tcp()) fields["trust_node_tcp"] = self->spec_.trust_node_tcp;
    else fields["trust_node_udp"] = self->spec_.trust_node_udp;
  }
  self->log_.emit(self->source_, "at_link", std::move(fields));
}

void AtAppliance::note_state() {
  const iotw_fw_state s = iotw_fw_get_state(&fw_);
  if (s == reported_state_) return;
  reported_state_ = s;
  log_.emit(source_, "state", {{"state", state_name(s)}});
}

}  // namespace iotw::emu
