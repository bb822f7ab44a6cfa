#include "iotw/sim/sim_at_appliance.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "device_behaviour.hpp"
#include "firmware_host.hpp"

namespace iotw::sim {

namespace {
constexpr std::size_t kTcpChunk = 1024;            // AtAppliance reads a TCP stream in chunks of at most this
constexpr const char* kNodeHost = "127.0.0.1";

emu::AtModuleConfig module_config(const SimAtApplianceConfig& cfg) {
  emu::AtModuleConfig c;
  c.model = cfg.model;
  c.ap = cfg.ap;
  c.wrong_terminator = emu::behaviour_flags(cfg.behaviour).at_wrong_terminator;  // the module's own defect
  return c;
}
}  // namespace

SimAtAppliance::SimAtAppliance(Scheduler& sched, EventStream& events, SimAtApplianceConfig cfg,
                               emu::CollusionBoard& board, Send send, Accepting accepting)
    : sched_(sched),
      events_(events),
      cfg_(std::move(cfg)),
      send_(std::move(send)),
      accepting_(std::move(accepting)),
      source_("emu:" + cfg_.name),
      ap_(cfg_.ap),
      engine_(emu::make_at_engine(module_config(cfg_))),
      baud_(cfg_.baud > 0 ? cfg_.baud : engine_->default_baud()),
      to_module_(baud_),
      to_mcu_(baud_),
      typed_([this](const std::string& text, const emu::UartTyped& result) {
        emit("uart_typed", emu::TypedLines::event_fields(text, result));
      }) {
  const emu::DeviceBehaviour& b = emu::device_behaviour(cfg_.behaviour);
  if (b.layer != emu::BehaviourLayer::none && b.layer != emu::BehaviourLayer::firmware &&
      b.layer != emu::BehaviourLayer::at_module)
    throw std::invalid_argument(cfg_.name + ": behaviour '" + cfg_.behaviour +
                                "' is not a firmware or AT-module behaviour; an AT appliance in sim mode has no other");
  fw_cfg_.name = cfg_.name.c_str();
  fw_cfg_.model = cfg_.model.c_str();
  fw_cfg_.fw_version = "iotw-fw-0.1";  // AtAppliance's
  fw_cfg_.reset_reason = 1;            // power-on
  if (cfg_.node_pubkey) fw_cfg_.node_pubkey = cfg_.node_pubkey->data();
  fw_cfg_.faults = emu::behaviour_flags(cfg_.behaviour).fw;
  collusion_.join(cfg_.behaviour, cfg_.name, cfg_.collusion_witnesses, 50, fw_cfg_, board);
  // UDP: one firmware frame per datagram (payload + CRC-32); TCP: a byte stream framed as a serial link
  ctx_.kind = cfg_.tcp ? IOTW_LINK_SERIAL : IOTW_LINK_DATAGRAM;
  ctx_.send = &SimAtAppliance::on_send;
  ctx_.log = &SimAtAppliance::on_log;
  ctx_.user = this;
  if (iotw_sim_port_init(&port_, &ctx_, cfg_.seed.data()) != 0) throw std::runtime_error("libsodium init failed");
  port_.now_ms = &SimAtAppliance::on_now_ms;  // the MCU reads the scheduler's clock
}

void SimAtAppliance::start() {
  const std::uint64_t now_ms = sched_.now_ms();
  iotw_at_link_config lc{};
  lc.family = cfg_.model.rfind("esp", 0) == 0 ? IOTW_AT_ESP : IOTW_AT_REALTEK;
  lc.ssid = ap_.ssid.c_str();
  lc.password = ap_.password.c_str();
  lc.host = kNodeHost;
  lc.port = cfg_.node_port;
  lc.local_port = 0;  // the module picks
  lc.tcp = cfg_.tcp ? 1 : 0;
  lc.uart_write = &SimAtAppliance::on_uart_write;
  lc.on_datagram = &SimAtAppliance::on_datagram;
  lc.on_event = &SimAtAppliance::on_link_event;
  lc.user = this;
  iotw_at_link_init(&link_, &lc, now_ms);
  engine_->power_on(now_ms);
  emit("at_started", {{"model", cfg_.model}, {"mode", "at"}, {"baud", baud_}, {"ssid", ap_.ssid}, {"rssi", ap_.rssi},
                      {cfg_.tcp ? "trust_node_tcp" : "trust_node_udp", node_endpoint()},
                      {"transport", cfg_.tcp ? "tcp" : "udp"}});
  running_ = true;
  if (iotw_fw_boot(&fw_, &fw_cfg_, &port_) != 0) throw std::runtime_error(cfg_.name + ": NVS not writable");
  note_state();
  arm();
}

nlohmann::json SimAtAppliance::status() const {
  return {{"name", cfg_.name}, {"model", cfg_.model}, {"kind", "at_appliance"}, {"state", emu::state_name(state())},
          {"link", cfg_.tcp ? "tcp" : "udp"}, {"link_up", link_up()}, {"rssi", ap_.rssi}, {"ap_up", ap_.up}};
}

nlohmann::json SimAtAppliance::set_access_point(std::optional<int> rssi, std::optional<bool> up) {
  if (!running_) throw std::runtime_error(cfg_.name + " is not running");
  if (rssi) ap_.rssi = *rssi;
  if (up) ap_.up = *up;
  engine_->set_access_point(ap_, sched_.now_ms());
  emu::at_appliance_print(parts(), sched_.now_ns());
  wake();
  emit("ap_changed", {{"ssid", ap_.ssid}, {"rssi", ap_.rssi}, {"up", ap_.up}});
  return {{"rssi", ap_.rssi}, {"up", ap_.up}};
}

void SimAtAppliance::on_network(const std::uint8_t* bytes, std::size_t len) {
  if (!running_ || len == 0 || !radio_up()) return;  // no access point: the radio hears nothing
  const auto it = std::find_if(socks_.begin(), socks_.end(), [&](const auto& s) {
    return s.second.tcp == cfg_.tcp && s.second.host == kNodeHost && s.second.port == cfg_.node_port;
  });
  if (it == socks_.end()) return;  // no socket towards the node: a datagram to a closed port, a closed connection
  const std::uint64_t ms = sched_.now_ms();
  const std::string_view data(reinterpret_cast<const char*>(bytes), len);
  const std::size_t chunk = cfg_.tcp ? kTcpChunk : len;
  for (std::size_t off = 0; off < len; off += chunk)
    engine_->on_receive(it->first, data.substr(off, chunk), kNodeHost, cfg_.node_port, ms);
  emu::at_appliance_print(parts(), sched_.now_ns());
  wake();
}

void SimAtAppliance::peer_closed() {
  if (!running_ || !cfg_.tcp) return;
  for (auto it = socks_.begin(); it != socks_.end();) {
    if (!it->second.tcp) {
      ++it;
      continue;
    }
    const int id = it->first;
    it = socks_.erase(it);
    emit("at_socket_closed", {{"link", id}, {"proto", "tcp"}, {"reason", "eof"}});
    engine_->on_remote_closed(id, sched_.now_ms());
  }
  emu::at_appliance_print(parts(), sched_.now_ns());
  wake();
}

void SimAtAppliance::arm() { schedule(emu::at_appliance_next_step_ns(parts(), sched_.now_ns(), typed_.busy())); }

void SimAtAppliance::wake() {
  if (running_) schedule(sched_.now_ns() + emu::kAtStepNs);
}

void SimAtAppliance::schedule(std::uint64_t due_ns) {
  if (timer_due_ns_ <= due_ns) return;  // a step comes sooner already
  timer_due_ns_ = due_ns;
  const std::uint64_t gen = ++timer_gen_;
  sched_.at(due_ns, [this, gen] {
    if (!running_ || gen != timer_gen_) return;
    timer_due_ns_ = UINT64_MAX;
    step();
    arm();
  });
}

void SimAtAppliance::step() {
  emu::at_appliance_step(
      parts(), sched_.now_ns(), [this](const emu::AtAction& a, std::uint64_t ms) { perform(a, ms); },
      [this](const std::string& out) { typed_.on_printed(out); });  // a typed line's answer
  note_state();
  typed_.pump(sched_.now_ms(), emu::at_appliance_line_idle(parts()), [this](const std::string& text) {
    to_module_.write(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), sched_.now_ns());
  });
}

void SimAtAppliance::type_uart(std::string text, emu::TypedLines::Done done) {
  if (!running_) {
    done(emu::UartTyped{{}, false, cfg_.name + " is not running"});
    return;
  }
  typed_.type(std::move(text), std::move(done), sched_.now_ms(), cfg_.name);
  wake();
}

void SimAtAppliance::perform(const emu::AtAction& a, std::uint64_t now_ms) {
  switch (a.type) {
    case emu::AtAction::Type::Open: {
      socks_.erase(a.link);
      // The module carries the firmware's link: UDP, or TCP for a "tcp" device (accepted while the node is up).
      bool ok = a.tcp == cfg_.tcp;
      if (ok && a.tcp) ok = !accepting_ || accepting_();
      if (ok) {
        socks_[a.link] = Sock{a.tcp, a.host, a.port};
        const std::uint16_t local = a.tcp ? cfg_.local_port : (a.local_port ? a.local_port : cfg_.local_port);
        emit("at_socket", {{"link", a.link}, {"proto", a.tcp ? "tcp" : "udp"},
                           {"local", "127.0.0.1:" + std::to_string(local)},
                           {"remote", a.host + ":" + std::to_string(a.port)}});
      }
      engine_->on_open_result(a.link, ok, now_ms);
      break;
    }
    case emu::AtAction::Type::Send: {
      bool ok = false;
      if (const auto it = socks_.find(a.link); it != socks_.end()) {
        const Sock& s = it->second;
        const std::string host = !s.tcp && !a.host.empty() ? a.host : s.host;
        const std::uint16_t port = !s.tcp && a.port ? a.port : s.port;
        ok = true;  // UDP: a datagram to another address is sent into nowhere
        if (host == kNodeHost && port == cfg_.node_port)
          send_(std::vector<std::uint8_t>(a.data.begin(), a.data.end()));
      }
      engine_->on_send_result(a.link, ok, now_ms);
      break;
    }
    case emu::AtAction::Type::Close: socks_.erase(a.link); break;
  }
}

void SimAtAppliance::restart_after_panic() {
  fw_ = iotw_fw{};         // RAM (and the secret key) is gone
  fw_cfg_.reset_reason = 3;  // ESP_RST_SW, as AtAppliance's panic reset
  if (iotw_fw_boot(&fw_, &fw_cfg_, &port_) != 0) {
    emit("error", {{"what", "NVS not writable: the firmware stays off after its panic"}});
    return;
  }
  emit("reset", {{"reset_reason", fw_cfg_.reset_reason}, {"boot_count", fw_.boot_count}, {"cause", "panic"}});
  note_state();
}

void SimAtAppliance::note_state() {
  const iotw_fw_state s = iotw_fw_get_state(&fw_);
  if (s == reported_) return;
  reported_ = s;
  emit("state", {{"state", emu::state_name(s)}});
}

int SimAtAppliance::on_send(void* user, const std::uint8_t* bytes, std::size_t len) {
  return iotw_at_link_send(&static_cast<SimAtAppliance*>(user)->link_, bytes, len);
}

void SimAtAppliance::on_log(void* user, iotw_log_level level, const char* event, const char* detail) {
  static_cast<SimAtAppliance*>(user)->emit("log",
                                           {{"level", emu::level_name(level)}, {"event", event}, {"detail", detail}});
}

std::uint64_t SimAtAppliance::on_now_ms(void* ctx) {
  return static_cast<SimAtAppliance*>(static_cast<iotw_sim_port_ctx*>(ctx)->user)->sched_.now_ms();
}

int SimAtAppliance::on_uart_write(void* user, const std::uint8_t* bytes, std::size_t len) {
  auto* self = static_cast<SimAtAppliance*>(user);
  self->to_module_.write(bytes, len, self->sched_.now_ns());
  return 0;
}

void SimAtAppliance::on_datagram(void* user, const std::uint8_t* bytes, std::size_t len) {
  auto* self = static_cast<SimAtAppliance*>(user);
  iotw_fw_on_rx(&self->fw_, bytes, len);  // may queue a reply through on_send (the driver's TX queue)
  if (iotw_fw_get_state(&self->fw_) == IOTW_FW_OFF) self->restart_after_panic();
}

void SimAtAppliance::on_link_event(void* user, const char* event) {
  auto* self = static_cast<SimAtAppliance*>(user);
  nlohmann::json fields{{"event", event}, {"model", self->cfg_.model}};
  if (std::strcmp(event, "link_up") == 0) fields[self->cfg_.tcp ? "trust_node_tcp" : "trust_node_udp"] = self->node_endpoint();
  self->emit("at_link", std::move(fields));
}

SimAtDevice wire_at_device(Scheduler& sched, EventStream& events, SimTrustNode& node, emu::CollusionBoard& board,
                           SimAtApplianceConfig cfg, std::uint64_t link_seed, std::size_t index,
                           harness::LinkCapture* capture, std::size_t capture_link, std::uint16_t tcp_port) {
  using harness::Direction;
  SimAtDevice d;
  std::uint32_t id = 0;
  if (cfg.tcp) {
    cfg.node_port = tcp_port;
    cfg.local_port = static_cast<std::uint16_t>(60000 + index % 5000);
    d.tcp = std::make_unique<SimLink>(sched, cfg.name, link_seed, 0, capture, capture_link, harness::LinkKind::AtTcp);
    SimLink* l = d.tcp.get();
    id = node.add_link("tcp:127.0.0.1:" + std::to_string(cfg.local_port),
                       [l](std::vector<std::uint8_t> b) { l->send(Direction::NodeToDevice, std::move(b)); });
    d.appliance = std::make_unique<SimAtAppliance>(
        sched, events, std::move(cfg), board,
        [l](std::vector<std::uint8_t> b) { l->send(Direction::DeviceToNode, std::move(b)); },
        [&node] { return node.up(); });
    SimAtAppliance* app = d.appliance.get();
    l->set_receiver(Direction::DeviceToNode, [&node, id](const std::uint8_t* p, std::size_t n) { node.on_bytes(id, p, n); });
    l->set_receiver(Direction::NodeToDevice, [app](const std::uint8_t* p, std::size_t n) { app->on_network(p, n); });
    return d;
  }
  d.udp = std::make_unique<SimDatagramLink>(sched, cfg.name, link_seed, index, capture, capture_link);
  SimDatagramLink* l = d.udp.get();
  cfg.node_port = l->proxy_port();
  cfg.local_port = l->module_port();
  id = node.add_datagram_link(l->node_peer_name(),
                              [l](std::vector<std::uint8_t> b) { l->send(Direction::NodeToDevice, std::move(b)); });
  d.appliance = std::make_unique<SimAtAppliance>(
      sched, events, std::move(cfg), board,
      [l](std::vector<std::uint8_t> b) { l->send(Direction::DeviceToNode, std::move(b)); });
  SimAtAppliance* app = d.appliance.get();
  l->set_receiver(Direction::DeviceToNode, [&node, id](const std::uint8_t* p, std::size_t n) { node.on_datagram(id, p, n); });
  l->set_receiver(Direction::NodeToDevice, [app](const std::uint8_t* p, std::size_t n) { app->on_network(p, n); });
  return d;
}

}  // namespace iotw::sim
