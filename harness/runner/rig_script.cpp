#include "rig_script.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <stdexcept>

#include "iotw/harness/score_registry.hpp"

namespace iotw::harness {

namespace {
/// The supply a power fault restores, V: the DPS chip's nominal input (emulators/dps_chip DpsDevice).
constexpr double kNominalSupplyV = 24.0;
}  // namespace


// What each active link fault adds to a link's policy, by the fault's registry entry.
SerialFaults combine_faults(const std::vector<const FaultSpec*>& active) {
  SerialFaults s;
  for (const FaultSpec* f : active) {
    switch (f->def().id) {
      case FaultKind::Corrupt:
        (f->per_frame ? s.corrupt_frame_rate : s.corrupt_rate) =
            std::max(f->per_frame ? s.corrupt_frame_rate : s.corrupt_rate, f->rate);
        break;
      case FaultKind::BitFlip: s.bit_flip_rate = std::max(s.bit_flip_rate, f->rate); break;
      case FaultKind::DropBytes: s.drop_byte_rate = std::max(s.drop_byte_rate, f->rate); break;
      case FaultKind::DropFrames: s.drop_frame_rate = std::max(s.drop_frame_rate, f->rate); break;
      case FaultKind::Garbage:
        s.garbage_rate = std::max(s.garbage_rate, f->rate);
        s.garbage_bytes = f->bytes;
        break;
      case FaultKind::Stall:
      case FaultKind::Partition:
      case FaultKind::PartitionNode: s.stall = true; break;  // partition_node from = "devices": the node's links
      case FaultKind::BaudMismatch: s.baud_mismatch = true; break;
      case FaultKind::Delay:
        s.delay_ms = std::max(s.delay_ms, f->delay_ms);
        s.jitter_ms = std::max(s.jitter_ms, f->jitter_ms);
        break;
      default: break;  // not a serial link fault
    }
  }
  return s;
}

UdpFaults combine_udp_faults(const std::vector<const FaultSpec*>& active) {
  UdpFaults u;
  for (const FaultSpec* f : active) {
    switch (f->def().id) {
      case FaultKind::ApRssi: u.loss_rate = std::max(u.loss_rate, rssi_loss_rate(f->rssi)); break;
      case FaultKind::UdpLoss: u.loss_rate = std::max(u.loss_rate, f->rate); break;
      case FaultKind::UdpDuplicate: u.duplicate_rate = std::max(u.duplicate_rate, f->rate); break;
      case FaultKind::UdpReorder: u.reorder_rate = std::max(u.reorder_rate, f->rate); break;
      case FaultKind::Stall:
      case FaultKind::Partition: u.partition = true; break;
      case FaultKind::UdpDelay:
        u.delay_ms = std::max(u.delay_ms, f->delay_ms);
        u.jitter_ms = std::max(u.jitter_ms, f->jitter_ms);
        break;
      default: break;  // not a UDP link fault
    }
  }
  return u;
}

RigScript::RigScript(const RigSpec& spec, std::map<std::string, std::vector<FaultPolicy*>> links, ScriptHost& host,
                     std::map<std::string, UdpFaultPolicy*> udp_links)
    : spec_(spec), links_(std::move(links)), udp_links_(std::move(udp_links)), host_(host) {
  for (const Step& s : spec_.steps) {
    Run r{};
    r.step = &s;
    runs_.push_back(std::move(r));
  }
  if (!runs_.empty()) runs_.front().state = State::Armed;
}

std::string RigScript::check_name(const Step& s, const std::string& what) const {
  if (s.line == 0) return fmt::format("{}: {}", s.label, what);  // an inline step (RigScript::add)
  return fmt::format("{} (line {}): {}", s.label, s.line, what);
}

void RigScript::check(const Step& s, const std::string& kind, const std::string& what, bool pass,
                      const std::string& detail) {
  host_.emit(kind, {{"step", s.label}, {"line", s.line}, {"check", check_name(s, what)}, {"pass", pass},
                    {"detail", detail}});
}

// Default targets: serial faults every PTY link, udp_* faults every UDP link, partition and stall every proxied
// link, anything else every device of the rig.
std::vector<std::string> RigScript::targets(const FaultSpec& f) const {
  if (!f.devices.empty()) return f.devices;
  std::vector<std::string> all;
  if (f.def().targets == FaultTargets::FarHost) {  // the devices of the host without the trust node
    for (const DeviceInstance& d : spec_.instances())
      if (spec_.hosts && d.host != spec_.hosts->trust_node) all.push_back(d.name);
    return all;
  }
  if (!f.link_fault()) {
    for (const DeviceInstance& d : spec_.instances()) all.push_back(d.name);
    return all;
  }
  if (f.def().links & kSerialLinks)
    for (const auto& [name, policy] : links_) all.push_back(name);
  if (f.def().links & kUdpLinks)
    for (const auto& [name, policy] : udp_links_) all.push_back(name);
  return all;
}

std::optional<std::uint64_t> RigScript::delivered(const std::string& device, Direction dir) const {
  if (auto it = links_.find(device); it != links_.end()) {  // a device talks to one node at a time: all its links
    std::uint64_t n = 0;
    for (const FaultPolicy* p : it->second) n += p->frames_delivered(dir);
    return n;
  }
  if (auto it = udp_links_.find(device); it != udp_links_.end()) return it->second->datagrams_delivered(dir);
  return std::nullopt;
}

// A link's faults: the link faults naming its device, and (serial links) a partition_node from = "devices" of its node.
void RigScript::apply_link_faults() {
  const auto active_on = [&](const std::string& name, std::optional<int> node) {
    std::vector<const FaultSpec*> on;
    for (const Run* r : active_link_faults_) {
      if (r->step->fault.def().mechanism == FaultMechanism::NodePartition) {
        if (node && *node == r->node) on.push_back(&r->step->fault);
        continue;
      }
      const auto t = targets(r->step->fault);
      if (std::find(t.begin(), t.end(), name) != t.end()) on.push_back(&r->step->fault);
    }
    return on;
  };
  for (const auto& [name, policies] : links_)
    for (std::size_t node = 0; node < policies.size(); ++node)
      policies[node]->set(combine_faults(active_on(name, static_cast<int>(node))));
  for (const auto& [name, policy] : udp_links_) policy->set(combine_udp_faults(active_on(name, std::nullopt)));
}

int RigScript::resolve_node(const FaultSpec& f) {
  if (!f.node.leader) return f.node.index;
  const auto a = host_.assigning_node();
  if (!a) throw std::runtime_error("no trust node says role \"assigning\" (node = \"leader\")");
  return *a;
}

nlohmann::json RigScript::command(const Step& s, nlohmann::json request) {
  nlohmann::json reply;
  try {
    reply = host_.emu_command(request);
  } catch (const std::exception& e) {
    host_.emit("emu_command", {{"step", s.label}, {"line", s.line}, {"request", request}, {"reply", nullptr},
                               {"error", e.what()}});
    throw;
  }
  host_.emit("emu_command", {{"step", s.label}, {"line", s.line}, {"request", request}, {"reply", reply}});
  return reply;
}

bool RigScript::trigger_fired(Run& r, double now_s) {
  const Step& s = *r.step;
  switch (s.trigger) {
    case Step::Trigger::AfterPrevious: return true;
    case Step::Trigger::AtTime: return now_s >= s.at_s;
    case Step::Trigger::AfterBlock: {
      const auto h = host_.health();
      return h && h->height >= s.after_block;
    }
    case Step::Trigger::DeviceState:
    case Step::Trigger::Incoherent: return r.triggered;
  }
  return false;
}

void RigScript::start(Run& r, double now_s) {
  const Step& s = *r.step;
  r.started_s = now_s;
  r.state = State::Active;
  host_.emit("step_started", {{"step", s.label}, {"line", s.line}, {"at_s", now_s}});
  if (s.action == Step::Action::Expect) {
    const auto measured = host_.score_so_far(s.condition.name);
    const bool pass = measured && holds(s.condition.op, *measured, s.condition.value);
    check(s, "expect_checked", "expect " + s.condition.text, pass,
          measured ? fmt::format("measured {} = {:g} at {:.1f} s", s.condition.name, *measured, now_s)
                   : "the score could not be computed (trust node not answering?)");
    r.state = State::Done;
    return;
  }
  if (s.action == Step::Action::Wait) return;  // decided in tick()
  if (s.action == Step::Action::Traffic) {
    host_.pause_traffic(s.traffic_paused);
    r.state = State::Done;
    return;
  }
  if (s.action == Step::Action::Uart) {
    r.state = State::Done;
    const std::string data = s.uart_data.ends_with('\n') ? s.uart_data : s.uart_data + "\r\n";
    try {
      r.reply = command(s, {{"cmd", "uart"}, {"device", s.uart_device}, {"data", data}});
    } catch (const std::exception& e) {
      r.reply = {{"ok", false}, {"error", e.what()}};
      check(s, "step_failed", "uart " + s.uart_device + " answered", false, e.what());
    }
    return;
  }
  const FaultSpec& f = s.fault;
  nlohmann::ordered_json devices = nlohmann::ordered_json::array();
  if (f.device_fault())
    for (const auto& d : targets(f)) devices.push_back(d);
  const FaultDef& def = f.def();
  nlohmann::ordered_json started{{"step", s.label}, {"line", s.line}, {"fault", f.kind}, {"devices", devices}};
  try {
    switch (def.mechanism) {
      case FaultMechanism::Supply:
        for (const auto& d : targets(f)) host_.set_supply(d, f.vin, 0);
        break;
      case FaultMechanism::NodeKill:
        r.node = resolve_node(f);
        started["node"] = spec_.trust_node_name(r.node);
        down_nodes_.insert(r.node);
        host_.kill_trust_node(r.node);
        break;
      case FaultMechanism::NodeStop:
        r.node = resolve_node(f);
        started["node"] = spec_.trust_node_name(r.node);
        down_nodes_.insert(r.node);
        host_.pause_trust_node(r.node, true);
        break;
      case FaultMechanism::EtcdKill:
        started["member"] = f.member;
        host_.kill_etcd(f.member);
        break;
      case FaultMechanism::EtcdStop:
        started["member"] = f.member;
        host_.pause_etcd(f.member, true);
        break;
      case FaultMechanism::NodePartition:
        r.node = resolve_node(f);
        started["node"] = spec_.trust_node_name(r.node);
        started["from"] = f.from_devices ? "devices" : "etcd";
        if (f.from_devices) {
          active_link_faults_.push_back(&r);
          apply_link_faults();
        } else {
          host_.cut_node_from_etcd(r.node, true);
        }
        break;
      case FaultMechanism::ControlChannel:  // over the emulator pool's control channel
        for (const auto& d : targets(f)) {
          r.registrations_at_end[d] = registrations_[d];  // reboot/hang: the device must register again
          command(s, def.start_command(f, d));
        }
        break;
      case FaultMechanism::HostLink:
        started["hosts"] = spec_.hosts ? nlohmann::ordered_json(spec_.hosts->names) : nlohmann::ordered_json::array();
        host_.cut_host_link(true);
        break;
      case FaultMechanism::LinkProxy: break;
    }
    if (def.links) {  // link faults, and ap_rssi's datagram loss (rssi_loss_rate)
      active_link_faults_.push_back(&r);
      apply_link_faults();
    }
  } catch (const std::exception& e) {
    if (def.mechanism == FaultMechanism::NodeKill || def.mechanism == FaultMechanism::NodeStop) down_nodes_.erase(r.node);
    check(s, "recovery_checked", f.kind + " injected", false, e.what());
    r.state = State::Done;
    return;
  }
  host_.emit("fault_started", std::move(started));
}

void RigScript::end_fault(Run& r, double now_s) {
  const Step& s = *r.step;
  const FaultSpec& f = s.fault;
  r.ended_s = now_s;
  r.state = State::Recovering;
  const FaultDef& def = f.def();
  if (const auto h = host_.health()) r.height_at_end = h->height;  // the mesh check wants it to grow past this
  try {
    if (def.links) {
      std::erase(active_link_faults_, &r);
      apply_link_faults();
    }
    switch (def.mechanism) {
      case FaultMechanism::Supply:
        for (const auto& d : targets(f)) {
          r.registrations_at_end[d] = registrations_[d];
          host_.set_supply(d, kNominalSupplyV, f.ramp_v_per_s);
        }
        break;
      case FaultMechanism::NodeKill:
        host_.restart_trust_node(r.node);
        down_nodes_.erase(r.node);
        break;
      case FaultMechanism::NodeStop:
        host_.pause_trust_node(r.node, false);
        down_nodes_.erase(r.node);
        break;
      case FaultMechanism::EtcdKill: host_.restart_etcd(f.member); break;
      case FaultMechanism::EtcdStop: host_.pause_etcd(f.member, false); break;
      case FaultMechanism::NodePartition:
        if (f.from_devices) {
          std::erase(active_link_faults_, &r);
          apply_link_faults();
        } else {
          host_.cut_node_from_etcd(r.node, false);
        }
        break;
      case FaultMechanism::HostLink:
        host_.cut_host_link(false);
        for (const auto& d : targets(f))
          for (int dir = 0; dir < 2; ++dir) r.frames_at_end[dir][d] = delivered(d, static_cast<Direction>(dir)).value_or(0);
        break;
      case FaultMechanism::ControlChannel:
      case FaultMechanism::LinkProxy:
        for (const auto& d : targets(f)) {
          if (def.end_command)
            if (nlohmann::json req = def.end_command(d); !req.is_null()) command(s, std::move(req));
          for (int dir = 0; dir < 2; ++dir) r.frames_at_end[dir][d] = delivered(d, static_cast<Direction>(dir)).value_or(0);
        }
        break;
    }
  } catch (const std::exception& e) {
    if (def.mechanism == FaultMechanism::NodeKill || def.mechanism == FaultMechanism::NodeStop) down_nodes_.erase(r.node);
    check(s, "recovery_checked", f.kind + " recovered", false, std::string("could not end the fault: ") + e.what());
    r.state = State::Done;
    return;
  }
  host_.emit("fault_ended", {{"step", s.label}, {"line", s.line}, {"fault", f.kind}});
}

// Recovered: link faults - every target link carried a frame (UDP: a datagram) each way since the fault ended, and (partition)
// every target is attached again; trust-node faults - the node answers and every device is attached.
void RigScript::recovery(Run& r, double now_s, bool final) {
  const Step& s = *r.step;
  const FaultSpec& f = s.fault;
  std::vector<std::string> missing;
  const RecoveryCheck& check_of = f.def().recovery;
  const bool need_attach = check_of.attached, need_traffic = check_of.traffic;
  std::optional<std::set<std::string>> attached;
  if (need_attach) attached = host_.attached_devices();
  const std::vector<std::string> who = targets(f);  // trust-node faults: every device
  for (const auto& d : who) {
    // Every device's link has a fault proxy (a TCP AT link the serial one); a device without one in `links_` or
    // `udp_links_` (a script made without it) has no frame counts and is judged by attachment alone (below).
    const bool proxied = links_.count(d) || udp_links_.count(d);
    if (need_traffic && proxied) {
      for (int dir = 0; dir < 2; ++dir)
        if (*delivered(d, static_cast<Direction>(dir)) <= r.frames_at_end[dir][d]) {
          const char* unit = udp_links_.count(d) ? "datagram" : "frame";
          missing.push_back(fmt::format("{} (no {} {} the device)", d, unit, dir == 0 ? "to" : "from"));
          break;
        }
    }
    if (!check_of.not_registered.empty() && registrations_[d] <= r.registrations_at_end[d])
      missing.push_back(d + " " + std::string(check_of.not_registered));
    if (need_attach && (!attached || !attached->count(d))) missing.push_back(d + " (not attached)");
  }
  if (check_of.mesh && spec_.mesh) {  // one assigning node, and blocks finalize again
    const ScriptHost::MeshState m = host_.mesh_state();
    if (m.assigning != 1)
      missing.push_back(fmt::format("the mesh ({} trust nodes say role \"assigning\", not 1)", m.assigning));
    else if (m.height <= r.height_at_end)
      missing.push_back(fmt::format("the height (still {}, {} when the fault ended)", m.height, r.height_at_end));
  }
  const double after = now_s - r.ended_s;
  if (missing.empty()) {
    check(s, "recovery_checked", f.kind + " recovered", true, fmt::format("recovered {:.1f} s after the fault ended", after));
    r.state = State::Done;
  } else if (final || after > f.recover_within_s) {
    check(s, "recovery_checked", f.kind + " recovered", false,
          fmt::format("not recovered {:.1f} s after the fault ended (deadline {} s): {}", after, f.recover_within_s,
                      fmt::join(missing, ", ")));
    r.state = State::Done;
  }
}

void RigScript::tick(double now_s) {
  const auto events = host_.new_events();
  for (const nlohmann::json& e : events)
    if (e.is_object() && e.value("kind", "") == "device_registered" && e.contains("fields") && e["fields"].is_object())
      ++registrations_[e["fields"].value("name", "")];
  for (Run& r : runs_) {
    if (r.state != State::Armed) continue;
    for (const nlohmann::json& e : events) {
      if (!e.is_object() || !e.contains("kind") || !e.contains("fields") || !e["fields"].is_object()) continue;
      const auto& f = e["fields"];
      if (r.step->trigger == Step::Trigger::DeviceState && e["kind"] == "state" &&
          e.value("source", "") == "emu:" + r.step->device && f.value("state", "") == r.step->state)
        r.triggered = true;
      if (r.step->trigger == Step::Trigger::Incoherent && e["kind"] == "round_closed" && f.contains("coherent") &&
          f["coherent"] == false)
        r.triggered = true;
    }
  }
  for (std::size_t i = 0; i < runs_.size(); ++i) {
    Run& r = runs_[i];
    const Step& s = *r.step;
    if (r.state == State::Armed && trigger_fired(r, now_s)) start(r, now_s);
    if (r.state == State::Active && s.action == Step::Action::Wait) {
      const auto h = host_.health();
      std::optional<double> v;
      if (h) {
        const std::string& n = s.condition.name;
        v = static_cast<double>(n == "height" ? h->height : n == "devices_attached" ? h->devices_attached
                                : n == "devices_blacklisted" ? h->devices_blacklisted
                                : n == "pending_txs" ? h->pending_txs : h->rounds);
      }
      const bool met = v && holds(s.condition.op, *v, s.condition.value);
      if (met || now_s - r.started_s > s.deadline_s) {
        check(s, "wait_done", "wait " + s.condition.text, met,
              met ? fmt::format("met after {:.1f} s", now_s - r.started_s)
                  : fmt::format("not met within {} s (last {} = {})", s.deadline_s, s.condition.name,
                                v ? fmt::format("{:g}", *v) : "unknown"));
        r.state = State::Done;
      }
    }
    if (r.state == State::Active && s.action == Step::Action::Fault) {
      const double dur = s.fault.duration_s.value_or(s.fault.def().ends_by_itself() ? 0 : -1);
      if (dur >= 0 && now_s - r.started_s >= dur) end_fault(r, now_s);
    }
    if (r.state == State::Recovering) recovery(r, now_s, false);
    // Arm the next step once this one has started (a fault) or finished (wait, expect).
    const bool released = s.action == Step::Action::Fault ? r.state != State::Waiting && r.state != State::Armed
                                                          : r.state == State::Done;
    if (released && i + 1 < runs_.size() && runs_[i + 1].state == State::Waiting) runs_[i + 1].state = State::Armed;
  }
}

bool RigScript::open_ended(const Run& r) {
  return r.step->action == Step::Action::Fault && !r.step->fault.duration_s && !r.step->fault.def().ends_by_itself();
}

bool RigScript::done() const {
  return std::all_of(runs_.begin(), runs_.end(), [](const Run& r) {
    return r.state == State::Done || (r.state == State::Active && open_ended(r));
  });
}

std::size_t RigScript::add(Step step, double now_s, nlohmann::json* reply) {
  added_.push_back(std::move(step));
  Run r{};
  r.step = &added_.back();
  r.state = State::Armed;
  runs_.push_back(std::move(r));
  const std::size_t id = runs_.size() - 1;
  start(runs_[id], now_s);
  if (reply) *reply = runs_[id].reply;
  return id;
}

bool RigScript::open_ended_active(std::size_t id) const {
  return id >= spec_.steps.size() && id < runs_.size() && runs_[id].state == State::Active && open_ended(runs_[id]);
}

void RigScript::end(std::size_t id, double now_s) {
  if (!open_ended_active(id)) throw std::invalid_argument("not an active open-ended fault");
  end_fault(runs_[id], now_s);
}

void RigScript::finish(double now_s, const std::string& reason) {
  for (Run& r : runs_) {
    const Step& s = *r.step;
    switch (r.state) {
      case State::Waiting:
      case State::Armed:
        check(s, "step_missed", "ran", false, "the run ended (" + reason + ") before this step was triggered");
        break;
      case State::Active:
        if (s.action == Step::Action::Wait) {
          check(s, "wait_done", "wait " + s.condition.text, false, "the run ended (" + reason + ") while waiting");
        } else if (s.fault.duration_s || s.fault.def().ends_by_itself()) {
          end_fault(r, now_s);
          if (r.state == State::Recovering)
            check(s, "recovery_checked", s.fault.kind + " recovered", false,
                  "the run ended (" + reason + ") while the fault was active");
        } else if (s.fault.link_fault()) {
          std::erase(active_link_faults_, &r);  // open-ended: lasts to the end of the run, no recovery check
          apply_link_faults();
          host_.emit("fault_ended", {{"step", s.label}, {"line", s.line}, {"fault", s.fault.kind}});
        } else {
          end_fault(r, now_s);  // an open-ended inline fault that must heal: healed now, no recovery check
        }
        break;
      case State::Recovering: recovery(r, now_s, true); break;
      case State::Done: break;
    }
    r.state = State::Done;
  }
}

}  // namespace iotw::harness
