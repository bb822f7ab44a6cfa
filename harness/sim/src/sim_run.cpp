#include "iotw/sim/sim_run.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <malloc.h>

#include <exception>
#include <future>
#include <sodium.h>

#include <chrono>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "common/chip_profile.hpp"
#include "device_behaviour.hpp"
#include "event_merge.hpp"
#include "iotw/cli/read_file.hpp"
#include "iotw/exit_code.hpp"
#include "iotw/harness/html_report.hpp"
#include "iotw/harness/ledger_verifier.hpp"
#include "iotw/harness/report_writer.hpp"
#include "iotw/harness/rig_loader.hpp"
#include "iotw/harness/scorer.hpp"
#include "iotw/harness/summary_table.hpp"
#include "iotw/sim/event_stream.hpp"
#include "iotw/support/scheduler.hpp"
#include "iotw/sim/sim_at_appliance.hpp"
#include "iotw/sim/sim_device.hpp"
#include "iotw/sim/sim_etcd.hpp"
#include "iotw/sim/sim_link.hpp"
#include "iotw/sim/sim_powered_device.hpp"
#include "iotw/sim/sim_trust_node.hpp"
#include "iotw/support/hex.hpp"
#include "iotw/support/seeded_random.hpp"
#include "child_configs.hpp"
#include "link_capture.hpp"
#include "rig_script.hpp"
#include "trust_node_client.hpp"

namespace iotw::sim {
namespace fs = std::filesystem;
using namespace harness;

namespace {

constexpr std::uint64_t kMs = 1'000'000;             // ns
constexpr std::uint64_t kHealthNs = 200 * kMs;       // the runner's health poll and script tick
constexpr std::uint64_t kLiftNs = 20 * kMs;          // Monte Carlo: the operator lifts the blacklist
constexpr std::uint64_t kSliceNs = 100 * kMs;        // the stop flag is polled between slices
constexpr std::uint64_t kProgressNs = 60'000 * kMs;  // a progress line per simulated minute
constexpr int kPtyBaud = 0;  // a PTY link has no line rate: the real-time rig's PTY pairs carry bytes at once
constexpr std::uint16_t kNodeUdpPort = 10001;  // the trust node's [udp] and [tcp] ports in events (made up, fixed)
constexpr std::uint16_t kNodeTcpPort = 10002;

/// A size field of /proc/self/status ("VmRSS", "VmHWM") in KiB; 0 when unreadable. For the memory figures of
/// sim.json only (bench/RESULTS.md "Simulation mode"): nothing in the run depends on it.
std::uint64_t proc_status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string l; std::getline(in, l);)
    if (l.rfind(field + ":", 0) == 0) return std::strtoull(l.c_str() + field.size() + 1, nullptr, 10);
  return 0;
}

std::string line_of(int line) { return line > 0 ? fmt::format("line {}", line) : "the rig"; }

tn::ConsensusConfig consensus_of(const RigSpec& spec, std::uint64_t seed) {
  const TrustNodeSpec& t = spec.trust_node;
  tn::ConsensusConfig c;
  c.witnesses = static_cast<std::uint32_t>(t.witnesses);
  c.block_interval_ms = static_cast<std::uint64_t>(t.block_interval_ms);
  c.max_txs_per_block = static_cast<std::uint32_t>(t.max_txs_per_block);
  c.assignment_timeout_ms = static_cast<std::uint64_t>(t.assignment_timeout_ms);
  c.witness_timeout_ms = static_cast<std::uint64_t>(t.witness_timeout_ms);
  c.device_timeout_ms = static_cast<std::uint64_t>(t.device_timeout_ms);
  c.selection = t.selection == "reputation" ? tn::Selection::reputation
                : t.selection == "vrf"      ? tn::Selection::vrf
                                            : tn::Selection::uniform;
  c.vrf_suite = t.vrf_suite == "ell2" ? tn::VrfSuite::ell2 : tn::VrfSuite::tai;
  c.node_key_seed = component_seed(seed, "trust_node:key");  // write_node_key's key
  return c;
}

/// The simulated rig: every part on one Scheduler; the RigScript's host.
class SimRig final : public ScriptHost {
 public:
  SimRig(RigSpec spec, std::uint64_t seed, fs::path dir, std::ostream& out)
      : spec_(std::move(spec)), seed_(seed), dir_(std::move(dir)), out_(out), events_(sched_, dir_ / "events.jsonl") {
    // The trust node, or a [mesh] rig's nodes tn-0..tn-N-1 on one SimEtcd cluster (the runner's EtcdCluster: 50 ms
    // heartbeat, 500 ms election timeout).
    if (spec_.mesh) etcd_ = std::make_unique<SimEtcd>(sched_, SimEtcd::Options{.members = spec_.mesh->etcd_members});
    for (int i = 0; i < spec_.trust_nodes(); ++i) {
      std::optional<SimMeshNode> mesh;
      if (spec_.mesh)
        mesh = SimMeshNode{spec_.trust_node_name(i), static_cast<std::uint64_t>(spec_.mesh->lease_ttl_s), etcd_.get(),
                           "/iotw/" + spec_.name + "/"};  // the runner's [store] prefix
      nodes_.push_back(std::make_unique<SimTrustNode>(sched_, events_, consensus_of(spec_, seed_), seed_, mesh));
    }
    // In memory for the judgement: the trust node's and the harness's events, and of the devices' only what the scorer
    // reads (usage_report) and, when a step waits for one, their states; events.jsonl has them all.
    const bool states = std::any_of(spec_.steps.begin(), spec_.steps.end(),
                                    [](const Step& s) { return s.trigger == Step::Trigger::DeviceState; });
    events_.set_retention([states](std::string_view source, std::string_view kind) {
      if (source.substr(0, 4) != "emu:") return kind != "link_opened" && kind != "link_created";  // one per link
      return kind == "usage_report" || (states && kind == "state");
    });
    events_.emit_harness("rig_started", {{"rig", spec_.name}, {"seed", seed_}, {"target_blocks", spec_.target_blocks}});
    const Seed key = component_seed(seed_, "trust_node:key");
    crypto_sign_seed_keypair(node_pk_.data(), node_sk_.data(), key.data());
    const auto instances = spec_.instances();
    // Every link is captured, in device order, as a real-time rig's (serial links: a USER0 interface; UDP: IPv4).
    capture_ = std::make_unique<LinkCapture>(dir_ / "links.pcapng", std::vector<std::string>{}, &sched_);
    std::map<std::string, std::vector<FaultPolicy*>> policies;
    std::map<std::string, UdpFaultPolicy*> udp_policies;
    std::size_t serial_index = 0, udp_index = 0, at_index = 0;
    for (auto& n : nodes_) n->reserve_links(instances.size());
    links_.reserve(instances.size());
    for (const DeviceInstance& d : instances) {
      const std::uint64_t link_seed = SeededStream(component_seed(seed_, "link:" + d.name))();
      if (link_kind_info(d.link_kind()).at_module) {
        add_at_appliance(d, link_seed, at_index++, serial_index, udp_index, policies, udp_policies);
        continue;
      }
      // One link per trust node ([mesh]: "<device>@tn-<k>", each with its own seeded stream, as the runner's PTY pairs).
      std::vector<SimLink*> node_links;
      std::vector<std::uint32_t> ids;
      for (int k = 0; k < spec_.trust_nodes(); ++k) {
        const std::string name = spec_.mesh ? d.name + "@" + spec_.trust_node_name(k) : d.name;
        capture_->add_serial_link(name);
        const std::uint64_t seed_k = spec_.mesh ? SeededStream(component_seed(seed_, "link:" + name))() : link_seed;
        auto link = std::make_unique<SimLink>(sched_, name, seed_k, kPtyBaud, capture_.get(), serial_index++);
        SimLink* l = link.get();
        ids.push_back(nodes_[k]->add_link("sim:" + name, [l](std::vector<std::uint8_t> b) {
          l->send(Direction::NodeToDevice, std::move(b));
        }));
        node_links.push_back(l);
        links_.push_back(std::move(link));
      }
      SimLink* l = node_links[0];
      SimDeviceConfig cfg;
      cfg.name = d.name;
      cfg.behaviour = d.behaviour;
      cfg.seed = component_seed(seed_, d.name);
      cfg.node_pubkey = node_pk_;
      cfg.collusion_witnesses = static_cast<std::uint32_t>(spec_.trust_node.witnesses);
      cfg.verify_memo = &verify_memo_;
      cfg.nodes = node_links.size();
      SimDevice::Send to_link = [l](std::vector<std::uint8_t> b) { l->send(Direction::DeviceToNode, std::move(b)); };
      std::function<void(std::size_t, const std::uint8_t*, std::size_t)> to_device;
      SimDevice* fw = nullptr;
      if (d.model == "dps" || d.model == "bulb") {  // a DPS chip or bulb: the firmware on the chip's rail
        auto dev = std::make_unique<SimPoweredDevice>(sched_, events_, SimPoweredConfig{std::move(cfg), d.model, d.powered},
                                                      board_, std::move(to_link));
        to_device = [dv = dev.get()](std::size_t k, const std::uint8_t* p, std::size_t n) { dv->on_rx(p, n, k); };
        fw = &dev->firmware();
        powered_.push_back(std::move(dev));
      } else {
        auto dev = std::make_unique<SimDevice>(sched_, events_, std::move(cfg), emu::chip_profile(d.model), board_,
                                               std::move(to_link));
        to_device = [dv = dev.get()](std::size_t k, const std::uint8_t* p, std::size_t n) { dv->on_rx(p, n, k); };
        fw = dev.get();
        devices_.push_back(std::move(dev));
      }
      for (std::size_t k = 0; k < node_links.size(); ++k) {
        SimLink* lk = node_links[k];
        if (k > 0) fw->add_node_link([lk](std::vector<std::uint8_t> b) { lk->send(Direction::DeviceToNode, std::move(b)); });
        lk->set_receiver(Direction::DeviceToNode, [n = nodes_[k].get(), id = ids[k]](const std::uint8_t* p, std::size_t len) {
          n->on_bytes(id, p, len);
        });
        lk->set_receiver(Direction::NodeToDevice,
                         [to_device, k](const std::uint8_t* p, std::size_t n) { to_device(k, p, n); });
        policies[d.name].push_back(&lk->policy());
        nlohmann::ordered_json created{{"device", d.name}, {"node_side", "sim"}, {"device_side", "sim"}};
        if (spec_.mesh) created["node"] = spec_.trust_node_name(static_cast<int>(k));
        events_.emit_harness("link_created", std::move(created));
      }
    }
    script_ = std::make_unique<RigScript>(spec_, std::move(policies), *this, std::move(udp_policies));
  }
  ~SimRig() override { sodium_memzero(node_sk_.data(), node_sk_.size()); }

  /// Runs to the end; returns the reason ("target_reached", "deadline", "interrupted").
  std::string drive(const std::atomic<bool>& stop) {
    for (auto& n : nodes_) n->start();
    for (auto& d : devices_) d->start();
    for (auto& a : at_) a.appliance->start();
    for (auto& d : powered_) d->start();  // each steps its chip and firmware itself from here on
    const std::uint64_t start = sched_.now_ns();
    start_ns_ = start;
    const std::uint64_t deadline = start + static_cast<std::uint64_t>(spec_.deadline_s * 1e9);
    deadline_ns_ = deadline;
    stop_ = &stop;
    std::string reason;
    every(kHealthNs, [this, &reason] {
      script_->tick(now_s());
      const auto h = health();
      if (h && h->height >= static_cast<std::uint64_t>(spec_.target_blocks) && script_->done()) {
        reason = "target_reached";
        sched_.stop();
      }
    });
    if (spec_.monte_carlo)
      every(kLiftNs, [this] {
        if (SimTrustNode* n = client()) n->lift_blacklist();
      });
    // A line a minute of simulated time, as the real-time runner's progress lines (the wall time for people only).
    const auto wall_start = std::chrono::steady_clock::now();
    const std::size_t devices = spec_.instances().size();
    every(kProgressNs, [this, wall_start, devices] {
      // Freed heap pages go back to the OS once a simulated minute when they are many (64 MiB): the registration burst
      // of many devices (a Welcome frame and its actions each, freed when delivered) would otherwise stay resident for
      // the whole run. A small rig keeps its free pages (trimming them would only fault them back in).
      if (mallinfo2().fordblks > (64u << 20)) malloc_trim(0);
      const auto h = health();
      out_ << fmt::format("[{:6.0f}s simulated, {:5.1f}s wall] height {}/{}  rounds {}  devices {}/{} attached  "
                          "blacklisted {}  txs {}  actions {}",
                          now_s(), std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count(),
                          h ? h->height : 0, spec_.target_blocks, h ? h->rounds : 0, h ? h->devices_attached : 0,
                          devices, h ? h->devices_blacklisted : 0, tx_.accepted, sched_.actions_run())
           << std::endl;
    });
    if (spec_.traffic.tx_per_s > 0) schedule_tx(start);
    while (reason.empty()) {
      if (stop) {
        rss_kib_ = proc_status_kib("VmRSS");
        return "interrupted";
      }
      const std::uint64_t until = std::min(sched_.now_ns() + kSliceNs, deadline);
      sched_.run_until(until);
      if (fatal_) std::rethrow_exception(fatal_);  // an action failed while a uart step waited (type_uart)
      if (!reason.empty()) break;
      if (sched_.now_ns() >= deadline) {
        reason = "deadline";
        break;
      }
    }
    malloc_trim(0);
    rss_kib_ = proc_status_kib("VmRSS");  // the simulated rig's memory, before the judgement's
    return reason;
  }

  // ---- ScriptHost ----
  /// The runner's poll_nodes: every answering node's health; the assigning one becomes the preferred node. Returns
  /// the preferred node's health, else the first answering node's (a rig without [mesh]: its one node's).
  std::optional<Health> health() override {
    std::optional<Health> any;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const std::optional<Health> h = node_health(*nodes_[i]);
      if (h && h->assigning()) preferred_ = i;
      if (h && (!any || (preferred_ && *preferred_ == i))) any = h;
    }
    return any;
  }
  std::optional<std::set<std::string>> attached_devices() override {
    SimTrustNode* n = client();
    if (!n) return std::nullopt;
    return n->attached_names();
  }
  std::vector<nlohmann::json> new_events() override { return events_.take_new(); }
  std::optional<double> score_so_far(const std::string& score) override {
    SimTrustNode* n = client();
    if (!n) return std::nullopt;
    std::vector<std::string> lines;
    try {
      lines = n->export_lines();
    } catch (const tn::LedgerError&) {  // a mesh node whose store does not answer: the runner's TrustNodeError
      return std::nullopt;
    }
    std::vector<nlohmann::json> ledger;
    for (const auto& b : lines) ledger.push_back(nlohmann::json::parse(b, nullptr, false));
    const LedgerVerdict verdict = verify_ledger_text(lines, verify_options());
    return score_value(score_run(spec_, events_.events(), ledger_blocks(ledger), verdict), score);
  }
  void emit(const std::string& kind, nlohmann::ordered_json fields) override {
    events_.emit_harness(kind, std::move(fields));
  }
  void kill_trust_node(int i) override {
    node(i).kill();
    if (i == 0)
      for (auto& a : at_) a.appliance->peer_closed();  // its TCP connections close with the process
    emit("process_exited", {{"name", spec_.trust_node_name(i)}, {"pid", nullptr}, {"code", nullptr}});
  }
  void restart_trust_node(int i) override {
    node(i).restart();
    emit("process_started", {{"name", spec_.trust_node_name(i)}, {"pid", nullptr}, {"code", nullptr}});
  }
  void pause_trust_node(int i, bool paused) override {
    node(i).pause(paused);
    emit(paused ? "process_stopped" : "process_continued", {{"name", spec_.trust_node_name(i)}});
  }
  std::optional<int> assigning_node() override {
    if (!spec_.mesh) return 0;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (const auto h = node_health(*nodes_[i]); h && h->assigning()) return static_cast<int>(i);
    return std::nullopt;
  }
  MeshState mesh_state() override {
    MeshState m;
    for (const auto& n : nodes_)
      if (const auto h = node_health(*n); h && h->assigning()) {
        ++m.assigning;
        m.height = h->height;
      }
    return m;
  }
  void kill_etcd(int member) override {
    mesh_etcd().kill(member);
    emit("process_exited", {{"name", etcd_name(member)}, {"pid", nullptr}, {"code", nullptr}});
  }
  void restart_etcd(int member) override {
    mesh_etcd().restart(member);
    emit("process_started", {{"name", etcd_name(member)}, {"pid", nullptr}, {"code", nullptr}});
  }
  void pause_etcd(int member, bool paused) override {
    mesh_etcd().pause(member, paused);
    emit(paused ? "process_stopped" : "process_continued", {{"name", etcd_name(member)}});
  }
  void cut_node_from_etcd(int i, bool cut) override { node(i).cut_from_etcd(cut); }
  void set_supply(const std::string& device, double vin, double ramp_v_per_s) override {
    for (auto& d : powered_)
      if (d->name() == device) return d->set_supply(vin, ramp_v_per_s);
    throw std::runtime_error(device + " has no supply to set (not a dps or bulb device)");
  }
  nlohmann::json emu_command(const nlohmann::json& request) override {
    const std::string cmd = request.value("cmd", std::string()), name = request.value("device", std::string());
    if (cmd == "ap") {  // the pool's control channel: {ok, rssi, up}
      std::optional<int> rssi;
      std::optional<bool> up;
      if (request.contains("rssi")) rssi = request["rssi"].get<int>();
      if (request.contains("up")) up = request["up"].get<bool>();
      nlohmann::json reply = at_appliance(name, cmd).set_access_point(rssi, up);
      reply["ok"] = true;
      return reply;
    }
    if (cmd == "uart") return type_uart(name, request.value("data", std::string()));
    SimDevice& d = device(name);
    if (cmd == "reboot") {
      d.reboot();
      return {{"ok", true}, {"clock", d.clock_json()}};
    }
    if (cmd == "hang") {
      d.hang();
      return {{"ok", true}, {"clock", d.clock_json()}};
    }
    if (cmd == "clock_skew") {
      d.skew_clock(request.value("offset_ms", std::int64_t{0}), request.value("ppm", 0.0));
      return {{"ok", true}, {"clock", d.clock_json()}};
    }
    throw std::runtime_error("sim mode does not take '" + cmd + "'");
  }
  void pause_traffic(bool paused) override {
    if (paused == traffic_paused_) return;
    traffic_paused_ = paused;
    if (!paused) schedule_tx(sched_.now_ns());  // pace from now on, no burst for the paused time
  }

  /// Ends the run: the script's last checks, the ledger, the judgement and the reports.
  int finish(const std::string& reason, std::chrono::steady_clock::time_point wall_start, RunContext context) {
    script_->finish(reason == "interrupted" ? 0 : now_s(), reason);
    // The ledger: from the one node (down or not: its in-memory ledger survives a kill), or a mesh's assigning node,
    // as the runner's last poll finds it. A mesh node whose store does not answer exports nothing (the runner's
    // failed GET): the judgement then finds no ledger.
    health();
    SimTrustNode* exporter = spec_.mesh ? client() : nodes_[0].get();
    std::vector<std::string> lines;
    try {
      if (exporter) lines = exporter->export_lines();
    } catch (const tn::LedgerError& e) {
      if (!spec_.mesh) throw;
      out_ << "the ledger export failed: " << e.what() << std::endl;
    }
    // The ledger's verification (a pure function of the lines: Ed25519 over every block) on the second core while
    // this one writes the files and reads the events back.
    auto verifying = std::async(std::launch::async, [&lines, options = verify_options()] {
      return verify_ledger_text(lines, options);
    });
    audit(lines);
    emit("tx_submitted", {{"count", tx_.submitted}, {"accepted", tx_.accepted}});
    emit("rig_finished", {{"reason", reason}});
    capture_->close();
    events_.close();
    {
      std::ofstream out(dir_ / "ledger.jsonl", std::ios::binary | std::ios::trunc);
      for (const auto& l : lines) out << l << '\n';
      if (!out.flush()) throw std::runtime_error("cannot write " + (dir_ / "ledger.jsonl").string());
    }
    std::vector<nlohmann::json> ledger;
    for (const auto& b : lines) ledger.push_back(nlohmann::json::parse(b, nullptr, false));
    const std::vector<nlohmann::json> events = events_.events();
    const LedgerVerdict verdict = verifying.get();
    const Scores scores = score_run(spec_, events, ledger_blocks(ledger), verdict);
    const Evaluation evaluation = evaluate(spec_, scores);
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    context.duration_s = wall_s;
    RunOutcome outcome{RunEnd::Completed, reason, ""};
    if (reason == "interrupted") {
      outcome.end = RunEnd::Interrupted;
      outcome.message = fmt::format("interrupted (SIGINT or SIGTERM) at {:.1f} simulated s; the criteria were not judged",
                                    now_s());
    }
    RunReport report{spec_, seed_, scores, verdict, evaluation, dir_, context, outcome};
    nlohmann::json json = report_json(report);
    json["mode"] = "sim";
    json["not_seeded"] = nlohmann::json::array();  // every input of a sim run comes from the seed
    json["harness"] = harness_json();
    write_file(dir_ / "report.json", json.dump(2) + "\n");
    write_file(dir_ / "junit.xml", junit_xml(report));
    report.context.files = {{"ledger.jsonl", "ledger.jsonl"}, {"events.jsonl", "events.jsonl"},
                            {"links.pcapng", "links.pcapng"}, {"report.json", "report.json"},
                            {"junit.xml", "junit.xml"}, {"rig.toml", "rig.toml"}, {"sim.json", "sim.json"}};
    write_file(dir_ / "report.html", report_html(report, events));
    nlohmann::ordered_json sim = read_sim_json();
    sim["virtual_s"] = now_s();
    sim["wall_s"] = wall_s;
    sim["actions"] = sched_.actions_run();
    sim["speed"] = wall_s > 0 ? now_s() / wall_s : 0.0;
    sim["devices"] = spec_.instances().size();
    sim["rss_kib"] = rss_kib_;                       // at the end of the simulated run (VmRSS)
    sim["hwm_kib"] = proc_status_kib("VmHWM");       // the peak, the judgement included
    write_file(dir_ / "sim.json", sim.dump(2) + "\n");
    out_ << summary_table(report, reason);
    out_ << fmt::format("simulated {:.1f} s in {:.2f} s of wall time ({:.0f}x), {} actions\n", now_s(), wall_s,
                        wall_s > 0 ? now_s() / wall_s : 0.0, sched_.actions_run());
    out_ << "run folder: " << dir_.string() << std::endl;
    if (reason == "interrupted") return kExitInterrupted;
    return evaluation.pass ? kExitPass : kExitFail;
  }

  static void write_file(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + file.string());
  }

 private:
  double now_s() const { return static_cast<double>(sched_.now_ns() - start_ns_) / 1e9; }

  SimTrustNode& node(int i) {
    if (i < 0 || static_cast<std::size_t>(i) >= nodes_.size()) throw std::runtime_error("no trust node " + std::to_string(i));
    return *nodes_[static_cast<std::size_t>(i)];
  }
  SimEtcd& mesh_etcd() {
    if (!etcd_) throw std::runtime_error("the rig has no etcd cluster");
    return *etcd_;
  }
  std::string etcd_name(int member) const { return "etcd-" + std::to_string(member); }
  /// The node the harness asks (devices, the ledger, transactions): the preferred one while it answers, else the
  /// first answering one; null when none answers.
  SimTrustNode* client() {
    if (preferred_ && nodes_[*preferred_]->answering()) return nodes_[*preferred_].get();
    for (auto& n : nodes_)
      if (n->answering()) return n.get();
    return nullptr;
  }
  /// GET /v1/health of one node: nullopt while it does not answer; a mesh node's carries its role, and a standby's
  /// height is the store's (its core does not follow the chain), as the daemon's.
  std::optional<Health> node_health(SimTrustNode& n) {
    tn::TrustNodeCore* c = n.answering() ? n.core() : nullptr;
    if (!c) return std::nullopt;
    Health h{c->height(), c->attached_count(), c->blacklisted_count(), c->pending_count(), c->counters().rounds,
             std::nullopt};
    if (const tn::MeshRole* r = n.mesh_role()) {
      h.mesh = harness::MeshRole{n.node_tag(), r->role(), r->leader()};
      h.height = n.height();
    }
    return h;
  }

  void every(std::uint64_t period_ns, std::function<void()> action) {
    auto shared = std::make_shared<std::function<void()>>();
    *shared = [this, period_ns, action = std::move(action), weak = std::weak_ptr<std::function<void()>>(shared)] {
      action();
      if (auto self = weak.lock()) sched_.after(period_ns, [self] { (*self)(); });
    };
    timers_.push_back(shared);
    sched_.after(period_ns, [shared] { (*shared)(); });
  }

  /// Transactions at tx_per_s from `from_ns`, as the real-time runner paces them (tx_payload: the same bytes).
  void schedule_tx(std::uint64_t from_ns) {
    const std::uint64_t gen = ++tx_generation_;
    const std::uint64_t base = tx_.submitted;
    const double period_ns = 1e9 / spec_.traffic.tx_per_s;
    auto next = std::make_shared<std::function<void()>>();
    *next = [this, gen, base, from_ns, period_ns, weak = std::weak_ptr<std::function<void()>>(next)] {
      if (gen != tx_generation_ || traffic_paused_) return;
      submit_one();
      const auto at = from_ns + static_cast<std::uint64_t>(static_cast<double>(tx_.submitted - base + 1) * period_ns);
      if (auto self = weak.lock()) sched_.at(at, [self] { (*self)(); });
    };
    timers_.push_back(next);
    sched_.at(from_ns + static_cast<std::uint64_t>(period_ns), [next] { (*next)(); });
  }

  /// The runner's submit: the preferred node, then each other answering node while there is no answer.
  std::optional<tn::SubmitResult> submit(const std::string& payload) {
    SimTrustNode* first = client();
    if (!first) return std::nullopt;
    auto r = first->submit(tn::Bytes(payload.begin(), payload.end()));
    for (auto& n : nodes_) {
      if (r) break;
      if (n.get() != first && n->answering()) r = n->submit(tn::Bytes(payload.begin(), payload.end()));
    }
    return r;
  }

  void submit_one() {
    const std::string payload = tx_payload(seed_, tx_.submitted, spec_.traffic.payload_bytes);
    const auto r = submit(payload);
    ++tx_.submitted;
    if (!r) {
      ++tx_.failed;
    } else if (r->status == tn::SubmitResult::accepted) {
      ++tx_.accepted;
      acked_.push_back(tx_.submitted - 1);
    } else if (r->status == tn::SubmitResult::duplicate) {
      ++tx_.duplicate;
    } else {
      ++tx_.rejected;
    }
  }

  /// Every acknowledged transaction must be in the ledger or still pending (the runner's tx_audit).
  void audit(const std::vector<std::string>& lines) {
    const TxAudit a = audit_transactions(lines, acked_, seed_, spec_.traffic.payload_bytes, [&](const std::string& p) {
      const auto r = submit(p);
      return r && r->status == tn::SubmitResult::duplicate;
    });
    emit("tx_audit", {{"acked", a.acked}, {"in_ledger", a.in_ledger}, {"pending", a.pending}, {"lost", a.lost}});
  }


  LedgerVerifyOptions verify_options() const {
    LedgerVerifyOptions o;
    o.node_key = node_pk_;
    return o;
  }

  nlohmann::ordered_json harness_json() const {
    auto links = nlohmann::ordered_json::array();
    for (const auto& l : links_) links.push_back(l->stats_json());
    for (const auto& a : at_)
      if (a.tcp) links.push_back(a.tcp->stats_json());
    for (const auto& a : at_)
      if (a.udp) links.push_back(a.udp->stats_json());
    return {{"tx", {{"submitted", tx_.submitted}, {"accepted", tx_.accepted}, {"duplicate", tx_.duplicate},
                    {"rejected", tx_.rejected}, {"failed", tx_.failed}}},
            {"skipped_event_lines", 0},
            {"control_errors", 0},
            {"captured_frames", capture_->frames()},
            {"links", links},
            {"host_link", nullptr}};
  }

  nlohmann::ordered_json read_sim_json() const {
    std::ifstream in(dir_ / "sim.json");
    auto j = nlohmann::ordered_json::parse(in, nullptr, false);
    return j.is_object() ? j : nlohmann::ordered_json::object();
  }

  SimDevice& device(const std::string& name) {
    for (auto& d : devices_)
      if (d->name() == name) return *d;
    for (auto& a : at_)
      if (a.appliance->name() == name)
        throw std::runtime_error("an AT-mode appliance's firmware runs on the appliance MCU, not on an emulated chip ('" +
                                 name + "')");
    for (auto& d : powered_)
      if (d->name() == name) return d->firmware();
    throw std::runtime_error("no device '" + name + "'");
  }

  /// The pool's `uart` request: the line is typed into the module (SimAtAppliance::type_uart) and answered once the
  /// module has; the rig runs on meanwhile (this runs the scheduler, up to the run's deadline or an interrupt). The
  /// reply is the pool's {ok, device, output, complete} (no request id: the sim has no control socket); a refusal
  /// throws as EmuControlClient::command does ("uart <device>: <error>"). An action that throws while the module
  /// answers ends the run (drive() rethrows it), not just this step.
  nlohmann::json type_uart(const std::string& name, const std::string& data) {
    SimAtAppliance& appliance = at_appliance(name, "uart");
    if (data.empty() || data.size() > 256)  // the pool's control channel's limits
      throw std::runtime_error("uart " + name + ": 'data' is " + std::to_string(data.size()) + " bytes; 1..256");
    events_.emit("emu", "control_command", {{"cmd", "uart"}, {"device", name}, {"data", data}});
    // Shared with the line's `done`: it outlives this call when the wait ends early (the line ends later on its own).
    auto typed = std::make_shared<std::optional<emu::UartTyped>>();
    appliance.type_uart(data, [typed](const emu::UartTyped& t) { *typed = t; });
    try {
      while (!*typed && !sched_.stopped() && !(stop_ && *stop_) && sched_.now_ns() < deadline_ns_ && sched_.run_next()) {
      }
    } catch (...) {
      fatal_ = std::current_exception();
      sched_.stop();
      throw std::runtime_error("uart " + name + ": the run failed while the module answered");
    }
    if (!*typed) throw std::runtime_error("uart " + name + ": the run ended before the module answered");
    if (!(*typed)->error.empty()) throw std::runtime_error("uart " + name + ": " + (*typed)->error);
    return {{"ok", true}, {"device", name}, {"output", (*typed)->output}, {"complete", (*typed)->complete}};
  }

  SimAtAppliance& at_appliance(const std::string& name, const std::string& cmd) {
    for (auto& a : at_)
      if (a.appliance->name() == name) return *a.appliance;
    throw std::runtime_error("'" + cmd + "' needs an AT-mode device (link = \"at\"); '" + name + "' is not one");
  }

  /// A link = "at" device: the appliance, and its UDP link through the UDP fault proxy or, at_transport = "tcp", its
  /// TCP connection to the node through the serial fault proxy (serial framing), each captured: as a real-time rig.
  void add_at_appliance(const DeviceInstance& d, std::uint64_t link_seed, std::size_t at_index,
                        std::size_t& serial_index, std::size_t& udp_index,
                        std::map<std::string, std::vector<FaultPolicy*>>& policies,
                        std::map<std::string, UdpFaultPolicy*>& udp_policies) {
    SimAtApplianceConfig cfg;
    cfg.name = d.name;
    cfg.model = d.model;
    cfg.behaviour = d.behaviour;
    cfg.seed = component_seed(seed_, d.name);
    cfg.node_pubkey = node_pk_;
    cfg.collusion_witnesses = static_cast<std::uint32_t>(spec_.trust_node.witnesses);
    cfg.ap.ssid = kRigApSsid;
    cfg.ap.password = kRigApPassword;
    cfg.tcp = d.link_kind() == LinkKind::AtTcp;
    const bool tcp = cfg.tcp;
    const std::size_t capture_link = tcp ? serial_index++ : udp_index++;
    if (tcp)
      capture_->add_serial_link(d.name);
    else
      capture_->add_udp_link(d.name);
    SimAtDevice dev = wire_at_device(sched_, events_, node(0), board_, std::move(cfg), link_seed, at_index, capture_.get(),
                                     capture_link, kNodeTcpPort);
    if (tcp) {
      policies[d.name].push_back(&dev.tcp->policy());
      events_.emit_harness("link_created", {{"device", d.name}, {"link", "at"}, {"at_transport", "tcp"},
                                            {"trust_node_tcp", fmt::format("127.0.0.1:{}", kNodeTcpPort)}});
    } else {
      udp_policies[d.name] = &dev.udp->policy();
      events_.emit_harness("link_created", {{"device", d.name}, {"link", "at"}, {"udp_proxy", dev.udp->proxy_endpoint()},
                                            {"trust_node_udp", fmt::format("127.0.0.1:{}", kNodeUdpPort)}});
    }
    at_.push_back(std::move(dev));
  }

  struct TxCounts {
    std::uint64_t submitted = 0, accepted = 0, duplicate = 0, rejected = 0, failed = 0;
  };

  RigSpec spec_;
  std::uint64_t seed_;
  fs::path dir_;
  std::ostream& out_;
  Scheduler sched_;
  EventStream events_;
  std::array<std::uint8_t, 32> node_pk_{};
  std::array<std::uint8_t, 64> node_sk_{};
  emu::CollusionBoard board_;
  VerifyMemo verify_memo_;
  std::unique_ptr<SimEtcd> etcd_;                     ///< a [mesh] rig's cluster
  std::vector<std::unique_ptr<SimTrustNode>> nodes_;  ///< the trust node, or a [mesh] rig's tn-0..tn-N-1
  std::optional<std::size_t> preferred_;              ///< the node last seen assigning
  std::unique_ptr<LinkCapture> capture_;
  std::vector<std::unique_ptr<SimLink>> links_;
  std::vector<std::unique_ptr<SimDevice>> devices_;
  std::vector<SimAtDevice> at_;  ///< link = "at" devices
  std::vector<std::unique_ptr<SimPoweredDevice>> powered_;  ///< dps and bulb devices
  std::unique_ptr<RigScript> script_;
  std::vector<std::shared_ptr<std::function<void()>>> timers_;
  std::uint64_t start_ns_ = Scheduler::kEpochNs;
  TxCounts tx_;
  std::vector<std::uint64_t> acked_;
  bool traffic_paused_ = false;
  std::uint64_t tx_generation_ = 0;
  std::uint64_t rss_kib_ = 0;
  std::uint64_t deadline_ns_ = UINT64_MAX;       ///< the run's deadline (drive)
  const std::atomic<bool>* stop_ = nullptr;     ///< the interrupt flag (drive)
  std::exception_ptr fatal_;                    ///< an action's failure caught by type_uart, rethrown by drive
};

fs::path default_sim_dir(const std::string& rig, std::uint64_t seed) {
  return fs::path("runs") / fmt::format("{}-sim-{}", rig, seed);
}

}  // namespace

std::optional<std::string> sim_unsupported(const RigSpec& spec) {
  if (spec.hosts)
    return fmt::format("[hosts] ({}): two hosts are two network namespaces of the OS; sim mode has one process",
                       line_of(spec.hosts->line));
  for (const DeviceGroup& g : spec.devices) {
    const std::string where = fmt::format("[[devices]] '{}' ({})", g.name_prefix, line_of(g.line));
    const LinkKindInfo& link = link_kind_info(g.link_kind());
    if (!link.emulated)
      return where + ": an external device is a real device on a real port; sim mode cannot run it";
    if (link.needs_root)
      return where + fmt::format(": {} needs TAP interfaces in a network namespace of the OS; run it in real time",
                                 link.rig_text);
    if (g.model == "qemu-cortex-m3")
      return where + ": model 'qemu-cortex-m3' runs in QEMU, a process of its own; run it in real time";
    if (g.seed_from_os)
      return where + ": seed = \"os\" draws identities from the OS; in sim mode everything comes from the rig seed";
    const emu::DeviceBehaviour& b = emu::device_behaviour(g.behaviour);
    const bool at_layer = link.at_module && b.layer == emu::BehaviourLayer::at_module;
    const bool chip_behaviour = b.layer == emu::BehaviourLayer::modbus && g.model == "dps";  // the register map's
    if (b.layer != emu::BehaviourLayer::none && b.layer != emu::BehaviourLayer::firmware && !at_layer && !chip_behaviour)
      return where + fmt::format(": behaviour '{}' is not one sim mode models (the firmware's; an AT module's; a DPS "
                                 "chip's register map)", g.behaviour);
  }
  for (const Step& s : spec.steps) {
    const std::string where = fmt::format("[[steps]] '{}' ({})", s.label, line_of(s.line));
    if (s.action != Step::Action::Fault) continue;
    const FaultDef& d = s.fault.def();
    const bool ok = (d.mechanism == FaultMechanism::LinkProxy && (d.links & (kSerialLinks | kUdpLinks))) ||
                    (d.mechanism == FaultMechanism::ControlChannel && d.targets == FaultTargets::AtModules) ||
                    d.mechanism == FaultMechanism::NodeKill || d.mechanism == FaultMechanism::NodeStop ||
                    d.mechanism == FaultMechanism::EtcdKill || d.mechanism == FaultMechanism::EtcdStop ||
                    d.mechanism == FaultMechanism::NodePartition ||
                    d.mechanism == FaultMechanism::Supply ||
                    (d.mechanism == FaultMechanism::ControlChannel && d.targets == FaultTargets::OwnChip);
    if (!ok) return where + fmt::format(": fault '{}' is not simulated yet; run it in real time", s.fault.kind);
  }
  return std::nullopt;
}

int run_sim_rig(const SimOptions& options, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err) {
  RunContext context;
  context.started = std::chrono::system_clock::now();
  const auto wall_start = std::chrono::steady_clock::now();
  RigSpec spec;
  std::string rig_text;
  try {
    spec = load_rig(options.rig_file);
    rig_text = cli::read_file(options.rig_file);
  } catch (const RigError& e) {
    err << e.what() << '\n';
    return kExitUsage;
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return kExitUsage;
  }
  if (const auto why = sim_unsupported(spec)) {
    err << options.rig_file.string() << ": sim mode cannot run rig '" << spec.name << "': " << *why << '\n';
    return kExitUsage;
  }
  const std::uint64_t seed = options.seed ? *options.seed : spec.seed ? *spec.seed : std::random_device{}();
  out << "seed: " << seed << "\nmode: sim" << std::endl;
  context.hostname = this_host_name();
  context.tool_version = options.tool_version;
  context.command = fmt::format("iotw rig run --mode sim {} --seed {}", options.rig_file.string(), seed);
  const fs::path dir = fs::absolute(options.out_dir.value_or(default_sim_dir(spec.name, seed)));
  try {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error(fmt::format("cannot create run folder {}: {}", dir.string(), ec.message()));
    if (!fs::is_empty(dir, ec) || ec) {
      err << fmt::format("error: run folder {} is not empty (a previous run?); pick another --out\n", dir.string());
      return kExitUsage;
    }
    SimRig::write_file(dir / "rig.toml", rig_text);
    nlohmann::ordered_json sim{{"mode", "sim"}, {"seed", seed}, {"version", options.tool_version},
                               {"rig", spec.name}, {"rig_file", "rig.toml"}};
    SimRig::write_file(dir / "sim.json", sim.dump(2) + "\n");
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return kExitCouldNotRun;
  }
  out << fmt::format("rig {}: {} devices, target {} blocks, deadline {} simulated s, run folder {}", spec.name,
                     spec.instances().size(), spec.target_blocks, spec.deadline_s, dir.string())
      << std::endl;
  try {
    SimRig rig(spec, seed, dir, out);
    const std::string reason = rig.drive(stop);
    return rig.finish(reason, wall_start, context);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return kExitCouldNotRun;
  }
}

}  // namespace iotw::sim
