#include "rig_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <map>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "child_configs.hpp"
#include "dps_supply.hpp"
#include "emu_control.hpp"
#include "event_merge.hpp"
#include "harness_control.hpp"
#include "iotw/cli/read_file.hpp"
#include "iotw/harness/inline_step.hpp"
#include "iotw/harness/ledger_verifier.hpp"
#include "iotw/harness/report_writer.hpp"
#include "iotw/harness/rig_loader.hpp"
#include "iotw/harness/rig_resources.hpp"
#include "iotw/harness/scorer.hpp"
#include "iotw/harness/summary_table.hpp"
#include "fault_policy.hpp"
#include "iotw/harness/html_report.hpp"
#include "iotw/support/etcd_cluster.hpp"
#include "iotw/support/hex.hpp"
#include "iotw/support/process.hpp"
#include "iotw/support/seeded_random.hpp"
#include "link_capture.hpp"
#include "link_fabric.hpp"
#include "rig_link.hpp"
#include "host_network.hpp"
#include "tap_network.hpp"
#include "rig_script.hpp"
#include "tcp_relay.hpp"
#include "trust_node_client.hpp"
#include "udp_proxy.hpp"
#include "qemu/qemu_model.hpp"  // emulators/: qemu-cortex-m3 (qemu-system-arm, the image)
#include "iotw/certify/frame_link.hpp"  // open_serial_dut: an external device's serial port, opened as certify does

namespace iotw::harness {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kPortTimeout = 10s;
constexpr auto kHealthInterval = 200ms;
constexpr auto kLiftInterval = 20ms;  // Monte Carlo mode: how often the blacklist is lifted
constexpr auto kProgressInterval = 3s;
constexpr auto kStopGrace = 5s;
constexpr auto kRequestInterval = 20ms;  // the drive loop takes harness.sock requests at least this often
constexpr auto kTxRateWindow = 5s;       // status tx_per_s: over the last 5 s
constexpr double kSessionSlack_s = 30;  // write_rig: the deadline a session needs, past its last action's check
constexpr int kSettlePolls = 10;  // after the devices stop: up to 10 health polls for the height to stay put

/// A problem with what the user asked for (exit kExitUsage); any other exception is kExitCouldNotRun.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};


/// A loopback TCP port free right now (the kernel's pick for port 0); the child binds it moments later.
int free_tcp_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

/// The last `n` lines of a log file, each indented, for error messages.
std::string tail(const fs::path& file, std::size_t n = 15) {
  std::ifstream in(file);
  std::deque<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    lines.push_back(l);
    if (lines.size() > n) lines.pop_front();
  }
  if (lines.empty()) return "    (" + file.string() + " is empty)";
  std::string out;
  for (const auto& l : lines) out += "    " + l + "\n";
  out.pop_back();
  return out;
}

std::optional<int> read_port(const fs::path& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  try {
    std::size_t used = 0;
    const int port = std::stoi(text, &used);
    if (used == text.size() && port > 0 && port < 65536) return port;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

fs::path default_run_dir(const std::string& rig, std::uint64_t seed) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return fs::path("runs") / fmt::format("{}-{}-{}", rig, stamp, seed);
}

/// Empty when the rig has no qemu-cortex-m3 device, or qemu-system-arm is in PATH and the image is built next to the
/// binaries in bin_dir; else "rig 'NAME' has N qemu-cortex-m3 device(s): <what is missing and how to get it>".
std::string qemu_unavailable_for(const RigSpec& spec, const fs::path& bin_dir) {
  std::size_t n = 0;
  for (const DeviceInstance& d : spec.instances()) n += iotw::emu::is_qemu_model(d.model);
  if (n == 0) return {};
  const std::string why = iotw::emu::qemu_unavailable(iotw::emu::qemu_image_next_to(bin_dir));
  if (why.empty()) return {};
  return fmt::format("rig '{}' has {} {} device(s), but {}; nothing was started", spec.name, n,
                     iotw::emu::kQemuCortexM3Model, why);
}

/// Empty when the rig has no [mesh] or the etcd binary is there; else what is missing and the Debian package.
std::string etcd_unavailable_for(const RigSpec& spec) {
  if (!spec.mesh || !support::find_etcd_binary().empty()) return {};
  return fmt::format("rig '{}' has [mesh] ({} trust nodes on {} etcd members), but the etcd binary is missing (not on "
                     "PATH, no /usr/bin/etcd): install the Debian package etcd-server; nothing was started",
                     spec.name, spec.mesh->trust_nodes, spec.mesh->etcd_members);
}

fs::path require_binary(const fs::path& bin_dir, const std::string& name) {
  const fs::path exe = bin_dir / name;
  if (::access(exe.c_str(), X_OK) != 0)
    throw std::runtime_error(fmt::format("{} not found next to iotw (looked for {}); build it first", name, exe.string()));
  return exe;
}

struct TxCounts {
  std::uint64_t submitted = 0, accepted = 0, duplicate = 0, rejected = 0, failed = 0;
  void add(SubmitResult r) {
    ++submitted;
    switch (r) {
      case SubmitResult::Accepted: ++accepted; break;
      case SubmitResult::Duplicate: ++duplicate; break;
      case SubmitResult::Rejected: ++rejected; break;
      case SubmitResult::Failed: ++failed; break;
    }
  }
};

/// `arg` as one word for a POSIX shell: unchanged when it holds only safe characters, else single-quoted.
std::string shell_word(const std::string& arg) {
  const bool safe = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("_-./+=:,@%").find(static_cast<char>(c)) != std::string_view::npos;
  });
  if (safe) return arg;
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Writes a junit.xml (only) for a run that never started; a failure to write it goes to `err`.
void write_unstarted_junit(const RigSpec& spec, std::uint64_t seed, const fs::path& dir, RunContext ctx,
                           RunOutcome outcome, std::ostream& err) {
  const Scores scores;
  const LedgerVerdict ledger;
  const Evaluation evaluation = evaluate(spec, scores);
  ctx.duration_s = std::chrono::duration<double>(std::chrono::system_clock::now() - ctx.started).count();
  const RunReport report{spec, seed, scores, ledger, evaluation, dir, std::move(ctx), std::move(outcome)};
  std::ofstream out(dir / "junit.xml", std::ios::trunc);
  out << junit_xml(report);
  if (!out.flush()) err << "error: cannot write " << (dir / "junit.xml").string() << '\n';
}

/// One run in progress; owns the fabric and the children.
class RigRun final : public ScriptHost {
  struct Pool;  // an emulator pool (below)

 public:
  RigRun(RigSpec spec, std::string rig_text, std::uint64_t seed, RunLayout layout, fs::path node_exe, fs::path emu_exe,
         RunContext context, std::string log_level, bool hold, const std::atomic<bool>& stop, std::ostream& out,
         std::ostream& err, HostNetwork* host_net = nullptr)
      : spec_(std::move(spec)), rig_text_(std::move(rig_text)), seed_(seed), layout_(std::move(layout)),
        node_exe_(std::move(node_exe)), emu_exe_(std::move(emu_exe)), context_(std::move(context)),
        log_level_(std::move(log_level)), hold_(hold), stop_(stop), out_(out), err_(err), host_net_(host_net) {
    // the emulator pools: one per [hosts] host, else the run's one pool
    for (const std::string& host : spec_.hosts ? spec_.hosts->names : std::vector<std::string>{""}) {
      const PoolLayout files = layout_.pool(host);
      pools_.push_back({files, std::make_unique<JsonlTail>(files.events()), nullptr});
    }
  }
  ~RigRun() override {  // a run that broke off before finish(): the relay thread, the etcd members
    if (host_net_) host_net_->set_tap(nullptr);  // the host link outlives capture_
    stop_mesh();
  }

  int run() {
    emit("rig_started", {{"rig", spec_.name}, {"seed", seed_}, {"target_blocks", spec_.target_blocks}});
    std::vector<WiredDevice> devices;
    try {
      for (int i = 0; i < spec_.trust_nodes(); ++i) {
        const NodeLayout files = layout_.node(spec_, i);
        nodes_.push_back({i, files, nullptr, std::make_unique<JsonlTail>(files.events(), mesh_tag(i)), std::nullopt});
      }
      if (spec_.mesh) start_etcd();  // the store first, then the relays each node reaches it through
      capture_ = std::make_unique<LinkCapture>(layout_.dir / "links.pcapng");  // each link adds its interface
      if (host_net_) {  // [hosts]: every Ethernet frame the host link hands on
        const std::uint32_t host_link = capture_->add_ethernet_link("host-link");
        host_net_->set_tap([this, host_link](Direction dir, const std::vector<std::uint8_t>& frame) {
          capture_->on_ethernet_frame(host_link, dir, frame);
        });
      }
      fabric_.set_tap([this](std::size_t link, Direction dir, const std::vector<std::uint8_t>& bytes) {
        capture_->on_bytes(link, dir, bytes);
      });
      // The trust node's [udp] and [tcp] ports, fixed for the run (a restarted node listens where the links go).
      const auto instances = spec_.instances();
      const auto listens = [&](NodeListener l) {
        return std::any_of(instances.begin(), instances.end(),
                           [&](const DeviceInstance& d) { return link_kind_info(d.link_kind()).node_listener == l; });
      };
      const std::uint16_t udp_port = listens(NodeListener::Udp) ? free_udp_port() : 0;
      const std::uint16_t tcp_port = listens(NodeListener::Tcp) ? static_cast<std::uint16_t>(free_tcp_port()) : 0;
      if (udp_port) {
        udp_relay_ = std::make_unique<UdpRelay>(udp_port);
        udp_relay_->set_tap([this](std::size_t link, Direction dir, const UdpRelay::Flow& flow,
                                   const std::vector<std::uint8_t>& bytes) {
          capture_->on_datagram(link, dir, flow, bytes);
        });
      }
      const TapPlan tap_plan = plan_tap_network(spec_, seed_);  // link = "tap": run_rig made the namespace we are in
      LinkPlant plant{spec_, seed_, fabric_, *capture_, udp_relay_.get(), udp_port, tcp_port, &tap_plan, host_net_,
                      [this](const DeviceInstance& d) { return open_external_port(*d.external, d.name); }};
      std::map<std::string, std::vector<FaultPolicy*>> policies;
      std::map<std::string, UdpFaultPolicy*> udp_policies;
      for (const DeviceInstance& d : instances) {  // one link per device, made by its kind (rig_link.hpp)
        links_.push_back(make_rig_link(d, plant));
        const RigLink& link = *links_.back();
        if (auto p = link.serial_policies(); !p.empty()) policies[d.name] = std::move(p);
        if (UdpFaultPolicy* p = link.udp_policy()) udp_policies[d.name] = p;
        devices.push_back({d, {}, {}});
        link.wire(devices.back());
        if (!link.info().emulated) external_.push_back({d.name, *d.external, link.external_address()});
        // The harness reaches a dps device's supply over Modbus TCP: power-fault steps of the rig, or sent inline on
        // harness.sock (docs/console.md), so every emulated dps device gets an endpoint.
        if (d.model == "dps" && link.info().emulated) {
          devices.back().modbus_tcp = fmt::format("127.0.0.1:{}", free_tcp_port());
          modbus_[d.name] = devices.back().modbus_tcp;
        }
        if (iotw::emu::is_qemu_model(d.model))  // the image next to iotw-emu's build tree
          devices.back().qemu_image = iotw::emu::qemu_image_next_to(emu_exe_.parent_path()).string();
        for (nlohmann::ordered_json& fields : link.created_events()) emit("link_created", std::move(fields));
      }
      for (WiredDevice& w : devices)  // each device's seed from the rig seed and its name (docs/rig-format.md "Seed")
        if (!w.device.seed_from_os) w.seed = device_seed_hex(seed_, w.device.name);
      write_external_json();
      for (const Node& n : nodes_) {
        std::vector<std::string> endpoints;  // a mesh node reaches each etcd member through its own relay
        if (spec_.mesh)
          for (const auto& relay : relays_.at(n.index)) endpoints.push_back(relay->endpoint());
        write_trust_node_config(spec_, seed_, devices, layout_, udp_port, tcp_port, n.index, endpoints);
        if (spec_.mesh)
          emit("mesh_node", {{"node", n.files.name}, {"relays", endpoints},
                             {"http_port_file", n.files.http_port_file().string()}});
      }
      node_pubkey_ = write_node_key(layout_, seed_);
      for (const Pool& p : pools_)  // devices verify checkpoints
        write_emu_config(devices, layout_, udp_port, node_pubkey_,
                         static_cast<std::uint32_t>(spec_.trust_node.witnesses), tcp_port, p.files.host);
      if (spec_.hosts) emit_host_link();
      script_ = std::make_unique<RigScript>(spec_, std::move(policies), *this, std::move(udp_policies));
      control_ = std::make_unique<HarnessControl>(layout_.dir, live_, hello_json());
      control_->start();
      publish_status("starting");
    } catch (const std::exception& e) {  // nothing started yet: links, configs, capture file
      err_ << "error: " << e.what() << '\n';
      write_unstarted_junit(spec_, seed_, layout_.dir, context_, {RunEnd::NotStarted, "not_started", e.what()}, err_);
      return kExitCouldNotRun;
    }
    std::string reason;
    try {
      for (const Node& n : nodes_) start_node(n.index, false);
      const auto all = spec_.instances();  // a pool without emulated devices (external ones only) is not started
      for (const Pool& p : pools_) {
        if (std::none_of(all.begin(), all.end(),
                         [&](const DeviceInstance& d) { return !d.is_external() && d.host == p.files.host; }))
          continue;
        std::optional<HostNetwork::Visit> there;  // a [hosts] rig's far host: its pool starts in its namespace
        if (spec_.hosts && p.files.host != spec_.hosts->trust_node) there.emplace(*host_net_, p.files.host);
        start_child(p.files.name, emu_exe_, p.files.config());
      }
      reason = drive();
    } catch (const std::exception& e) {
      err_ << "error: " << e.what() << '\n';
      error_ = e.what();
      reason = "error";
    }
    const int code = finish(reason);
    publish_status("finished");
    live_.finish();
    if (control_) {
      std::this_thread::sleep_for(200ms);  // a polling client may still read the verdict before the socket goes
      control_->stop();
    }
    return code;
  }

 private:
  void emit(const std::string& kind, nlohmann::ordered_json fields) override {
    spdlog::debug("{} {}", kind, fields.dump());
    events_.push_back(harness_event(kind, std::move(fields)));
    live_.append(events_.back().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

  /// The children's new events: into the live list (harness.sock `events`) and held for the script.
  void pump_events() {
    std::vector<JsonlTail*> tails;
    for (Node& n : nodes_) tails.push_back(n.tail.get());
    for (Pool& p : pools_) tails.push_back(p.tail.get());
    for (JsonlTail* tail : tails)
      for (auto& e : tail->read()) {
        if (!e.is_discarded()) live_.append(e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        for_script_.push_back(std::move(e));
      }
  }

  // ScriptHost
  std::optional<Health> health() override { return last_health_; }
  std::optional<std::set<std::string>> attached_devices() override {
    TrustNodeClient* c = client();
    if (!c) return std::nullopt;
    auto names = c->attached_devices();
    if (!names) return std::nullopt;
    return std::set<std::string>(names->begin(), names->end());
  }
  std::vector<nlohmann::json> new_events() override {
    pump_events();
    return std::exchange(for_script_, {});
  }
  void pause_traffic(bool paused) override {
    if (paused == traffic_paused_) return;
    traffic_paused_ = paused;
    if (!paused) {  // pace from now on, no burst for the paused time
      tx_clock_ = Clock::now();
      tx_base_ = tx_.submitted;
    }
    emit("traffic_changed", {{"paused", paused}});
  }
  std::optional<double> score_so_far(const std::string& score) override {
    TrustNodeClient* c = client();
    if (!c) return std::nullopt;
    std::vector<nlohmann::json> ledger;
    std::vector<std::string> lines;
    try {
      lines = c->export_blocks();
    } catch (const TrustNodeError&) {
      return std::nullopt;
    }
    for (const auto& b : lines) ledger.push_back(nlohmann::json::parse(b, nullptr, false));
    const MergedEvents merged = merge_events(event_files(), events_, "/dev/null");
    const LedgerVerdict verdict = verify_ledger_text(lines, ledger_verify_options());
    return score_value(score_run(spec_, merged.events, ledger_blocks(ledger), verdict), score);
  }
  void cut_host_link(bool cut) override {
    if (!host_net_) throw std::runtime_error("the rig has no [hosts]");
    host_net_->set_link_up(!cut);
    emit("host_link_changed", {{"up", !cut}});
  }
  void kill_trust_node(int node) override {
    Node& n = nodes_.at(node);
    auto e = supervisor_.kill(n.files.name);
    if (!e) throw std::runtime_error(n.files.name + " is not running");
    emit_exit(*e);
    n.client.reset();
    n.health.reset();
    last_health_.reset();
  }
  void restart_trust_node(int node) override {
    Node& n = nodes_.at(node);
    std::filesystem::remove(n.files.http_port_file());
    start_node(node, /*append_logs=*/true);
    const auto port = wait_for_port(node);
    if (!port) throw std::runtime_error("interrupted while restarting " + n.files.name);
    n.client = std::make_unique<TrustNodeClient>(*port);
  }
  void pause_trust_node(int node, bool paused) override {
    const std::string& name = nodes_.at(node).files.name;
    if (!supervisor_.signal(name, paused ? SIGSTOP : SIGCONT)) throw std::runtime_error(name + " is not running");
    emit(paused ? "process_stopped" : "process_continued", {{"name", name}});
    if (paused) {
      nodes_[node].health.reset();
      last_health_.reset();
    }
  }
  std::optional<int> assigning_node() override {
    if (!spec_.mesh) return 0;
    poll_nodes();
    for (const Node& n : nodes_)
      if (n.health && n.health->assigning()) return n.index;
    return std::nullopt;
  }
  MeshState mesh_state() override {
    MeshState m;
    for (const Node& n : nodes_)
      if (usable(n.index) && n.health && n.health->assigning()) {
        ++m.assigning;
        m.height = n.health->height;
      }
    return m;
  }
  void kill_etcd(int member) override {
    const int pid = etcd().pid(member);
    etcd().kill(member);
    emit("process_exited", {{"name", etcd_name(member)}, {"pid", pid}, {"code", nullptr}});
  }
  void restart_etcd(int member) override {
    etcd().restart(member);
    emit("process_started", {{"name", etcd_name(member)}, {"pid", etcd().pid(member)}, {"code", nullptr}});
  }
  void pause_etcd(int member, bool paused) override {
    if (paused) etcd().stop(member);
    else etcd().resume(member);
    emit(paused ? "process_stopped" : "process_continued", {{"name", etcd_name(member)}});
  }
  void cut_node_from_etcd(int node, bool cut) override {
    if (relays_.empty()) throw std::runtime_error("the rig has no etcd relays");
    for (const auto& relay : relays_.at(node)) cut ? relay->cut() : relay->restore();
  }
  void set_supply(const std::string& device, double vin, double ramp_v_per_s) override {
    auto it = modbus_.find(device);
    if (it == modbus_.end()) throw std::runtime_error(device + " has no Modbus TCP endpoint (not a dps device)");
    set_dps_supply(it->second, vin, ramp_v_per_s);
  }
  nlohmann::json emu_command(const nlohmann::json& request) override {
    Pool& pool = pool_of(request.value("device", std::string()));
    if (!pool.control) pool.control = std::make_unique<EmuControlClient>(pool.files.control().string());
    return pool.control->command(request);
  }
  // ---- external devices (docs/rig-format.md "External devices") ----

  /// An external device and where it must be: its port's path (serial) or the address it sends to / connects to.
  struct External {
    std::string name;
    ExternalDevice spec;
    std::string address;
    bool attached = false;
  };

  /// Opens an external serial device's port as `iotw certify` does (PTY: termios; real port: libserialport, flock'd;
  /// reset=esp: one esptool-style reset right after opening). Returns a non-blocking descriptor the fabric owns.
  int open_external_port(const ExternalDevice& ext, const std::string& name) {
    try {
      certify::SerialDut port = certify::open_serial_dut(ext.port);
      const int fd = ::fcntl(port.link->fd(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0) throw std::runtime_error(std::string("dup: ") + std::strerror(errno));
      if (port.esp_reset) port.esp_reset();
      external_ports_.push_back(std::move(port));  // keeps libserialport's handle (and the flock) until the run ends
      return fd;
    } catch (const std::exception& e) {
      std::string why = e.what();
      if (why.rfind("--dut: ", 0) == 0) why = why.substr(7);
      throw std::runtime_error(fmt::format("external device '{}' ({}): {}", name, ext.text, why));
    }
  }

  /// external.json in the run folder and one line per device on stdout: where each external device must be.
  void write_external_json() {
    if (external_.empty()) return;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const External& e : external_) {
      const std::string kind = e.spec.kind_name();
      list.push_back({{"name", e.name}, {"external", e.spec.text}, {"kind", kind},
                      {kind == "serial" ? "path" : "address", e.address},
                      {"attach_timeout_s", e.spec.attach_timeout_s}});
      out_ << fmt::format("external device {}: {}", e.name,
                          kind == "serial" ? "relayed on " + e.address
                          : kind == "udp"  ? "must send UDP to " + e.address
                                           : "must connect over TCP to " + e.address)
           << std::endl;
    }
    // Written beside and renamed into place, so a script that sees the file reads it whole.
    const fs::path tmp = layout_.dir / "external.json.tmp", file = layout_.dir / "external.json";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << nlohmann::ordered_json{{"devices", list}}.dump(2) << '\n';
      if (!f.flush()) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, file);
  }

  /// Throws when an external device has not attached within its attach_timeout_s of the trust node first answering.
  void check_external_attached(double elapsed_s) {
    bool pending = false;
    for (const External& e : external_) pending = pending || !e.attached;
    TrustNodeClient* c = client();
    if (!pending || !c) return;
    const auto names = c->attached_devices();
    for (External& e : external_) {
      if (e.attached) continue;
      if (names && std::find(names->begin(), names->end(), e.name) != names->end()) {
        e.attached = true;
        emit("external_attached", {{"device", e.name}, {"after_s", std::round(elapsed_s * 1000) / 1000}});
        continue;
      }
      if (elapsed_s < e.spec.attach_timeout_s) continue;
      const std::string kind = e.spec.kind_name();
      throw std::runtime_error(fmt::format(
          "external device '{}' ({}) did not attach within {} s (attach_timeout_s); it was expected {} {} and to "
          "announce the name '{}' in its Hello", e.name, e.spec.text, e.spec.attach_timeout_s,
          kind == "serial" ? "on the serial port" : kind == "udp" ? "to send UDP to" : "to connect over TCP to",
          e.address, e.name));
    }
  }

  void emit_exit(const ProcessExit& e) { emit("process_exited", {{"name", e.name}, {"pid", e.pid}, {"code", e.code}}); }

  void start_child(const std::string& name, const fs::path& exe, const fs::path& config, bool append_logs = false) {
    start_child(name, exe, config, layout_.stdout_log(name), layout_.stderr_log(name), append_logs);
  }
  /// Trust node `i` on its config, its logs in its folder.
  void start_node(int i, bool append_logs) {
    const NodeLayout& f = nodes_.at(i).files;
    start_child(f.name, node_exe_, f.config(), f.stdout_log(), f.stderr_log(), append_logs);
  }
  void start_child(const std::string& name, const fs::path& exe, const fs::path& config, const fs::path& stdout_file,
                   const fs::path& stderr_file, bool append_logs) {
    stderr_of_[name] = stderr_file;
    const auto log = [&](const fs::path& p) {
      if (!append_logs) return p;
      int n = 2;
      fs::path next;
      do next = p.parent_path() / fmt::format("{}.{}", p.filename().string(), n++);
      while (fs::exists(next));
      return next;
    };
    const int pid = supervisor_.start(name, exe, {"--config", config.string(), "--log-level", log_level_},
                                      {.stdout_file = log(stdout_file), .stderr_file = log(stderr_file)});
    emit("process_started", {{"name", name}, {"pid", pid}, {"code", nullptr}});
  }

  /// A [hosts] rig's device on the host without the trust node.
  bool far_host(const DeviceInstance& d) const { return spec_.hosts && d.host != spec_.hosts->trust_node; }
  /// The pool that runs `device` (the run's one pool without [hosts]; the first for an unknown name).
  Pool& pool_of(const std::string& device) {
    for (const DeviceInstance& d : spec_.instances())
      if (d.name == device)
        for (Pool& p : pools_)
          if (p.files.host == d.host) return p;
    return pools_.front();
  }
  /// The `host_link` event: each host's namespace, address and TAP interface, the link's delay.
  void emit_host_link() {
    nlohmann::ordered_json hosts = nlohmann::ordered_json::array();
    for (const HostAddress& h : plan_hosts(spec_).hosts)
      hosts.push_back({{"host", h.host}, {"netns", host_net_->netns(h.host)}, {"ip", h.ip}, {"interface", h.ifname},
                       {"trust_node", h.host == spec_.hosts->trust_node}});
    emit("host_link", {{"hosts", std::move(hosts)}, {"latency_ms", spec_.hosts->latency_ms},
                       {"jitter_ms", spec_.hosts->jitter_ms}});
  }

  /// Throws when a child has exited on its own (it must run until we stop it).
  void check_children() {
    if (auto e = supervisor_.reap_exited()) {
      emit_exit(*e);
      const fs::path log = stderr_of_.count(e->name) ? stderr_of_[e->name] : layout_.stderr_log(e->name);
      throw std::runtime_error(fmt::format("{} exited early with code {}; last lines of {}:\n{}", e->name, e->code,
                                           log.string(), tail(log)));
    }
  }

  /// Trust node `node`'s HTTP port, or nullopt when interrupted first. Throws on timeout or a dead child.
  std::optional<int> wait_for_port(int node) {
    const NodeLayout& f = nodes_.at(node).files;
    const auto deadline = Clock::now() + kPortTimeout;
    for (;;) {
      if (stop_) return std::nullopt;
      check_children();
      if (auto port = read_port(f.http_port_file())) return port;
      if (Clock::now() >= deadline)
        throw std::runtime_error(fmt::format("{} wrote no HTTP port to {} within {} s; last lines of {}:\n{}",
                                             spec_.mesh ? f.name : std::string("the trust node"),
                                             f.http_port_file().string(), kPortTimeout.count(),
                                             f.stderr_log().string(), tail(f.stderr_log())));
      std::this_thread::sleep_for(50ms);
    }
  }

  /// Submits traffic and watches the height; returns the rig_finished reason.
  std::string drive() {
    for (Node& n : nodes_) {
      const auto port = wait_for_port(n.index);
      if (!port) return "interrupted";
      n.client = std::make_unique<TrustNodeClient>(*port);
    }
    const auto start = Clock::now();
    drive_start_ = start;
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec_.deadline_s));
    const auto tx_period = std::chrono::duration<double>(1.0 / std::max(spec_.traffic.tx_per_s, 1e-9));
    tx_clock_ = start;
    tx_base_ = 0;
    auto next_health = start;
    auto next_progress = start + kProgressInterval;
    auto next_lift = spec_.monte_carlo ? start : Clock::time_point::max();
    publish_status("running");
    // --hold: the target (or deadline) only moves the run to "holding"; a stop request or a signal ends it.
    const auto hold_at = [&](const char* why) {
      holding_ = true;
      out_ << fmt::format("{}: holding (the rig keeps running until a stop request on {}, SIGINT or SIGTERM)", why,
                          (layout_.dir / "harness.sock").string())
           << std::endl;
      publish_status("holding");
    };
    for (;;) {
      if (stop_) return holding_ ? "stopped" : "interrupted";
      if (stop_requested_) return "stopped";
      check_children();
      const auto now = Clock::now();
      if (!holding_ && now >= deadline) {
        if (!hold_) return "deadline";
        hold_at("deadline");
      }
      const bool down = script_->trust_node_down();
      if (now >= next_health) {
        next_health = now + kHealthInterval;
        last_health_ = down ? std::nullopt : poll_nodes();
        if (last_health_) last_ = *last_health_;
        check_external_attached(std::chrono::duration<double>(Clock::now() - start).count());
        script_->tick(std::chrono::duration<double>(Clock::now() - start).count());
        if (!holding_ && last_.height >= static_cast<std::uint64_t>(spec_.target_blocks) && script_->done()) {
          if (!hold_) return "target_reached";
          hold_at("target reached");
        }
        publish_status(holding_ ? "holding" : "running");
      }
      pump_events();
      serve_requests();
      if (TrustNodeClient* c = down ? nullptr : client(); c && now >= next_lift) {  // Monte Carlo: the operator lifts
        next_lift = now + kLiftInterval;                                              // every entry
        c->lift_blacklist();
      }
      if (now >= next_progress) {
        next_progress = now + kProgressInterval;
        progress(now - start, last_);
      }
      // Transactions due by now, paced at tx_per_s since the traffic last (re)started; health polls interleave
      // with a backlog.
      const double elapsed = std::chrono::duration<double>(now - tx_clock_).count();
      const auto due = tx_base_ + static_cast<std::uint64_t>(std::floor(elapsed * spec_.traffic.tx_per_s));
      while (!down && client() && !traffic_paused_ && tx_.submitted < due && Clock::now() < next_health) {
        const auto r = submit(tx_payload(seed_, tx_.submitted, spec_.traffic.payload_bytes));
        if (r == SubmitResult::Accepted) acked_.push_back(tx_.submitted);
        tx_.add(r);
      }
      auto wake = std::min(next_health, Clock::now() + kRequestInterval);
      if (!holding_) wake = std::min(wake, deadline);
      if (!script_->trust_node_down()) {
        wake = std::min(wake, next_lift);
        if (!traffic_paused_)
          wake = std::min(wake, tx_clock_ + std::chrono::duration_cast<Clock::duration>(
                                                tx_period * static_cast<double>(tx_.submitted - tx_base_ + 1)));
      }
      std::this_thread::sleep_until(wake);
    }
  }

  // ---- harness.sock (docs/console.md) ----

  /// One console action: an accepted request that changed the run.
  struct ConsoleAction {
    int number = 0;
    double at_s = 0;              // seconds since the trust node first answered
    std::string key, device;      // the request's, when given
    std::string step;             // the inline step ("" for `end`)
    std::string toml;             // its [[steps]] table without at_s ("" for `end`)
    std::optional<std::size_t> script_id;  // RigScript::add()'s id
    std::optional<double> ended_at_s;      // an open-ended fault ended by `end`
    std::optional<double> duration_s;      // a fault's duration_s (for=)
    double check_s = 0;                    // how long its check may take after that: recover_within_s, a wait's deadline
  };

  double now_s() const { return std::chrono::duration<double>(Clock::now() - drive_start_).count(); }

  nlohmann::json hello_json() const {
    auto devices = nlohmann::json::array();
    for (const DeviceInstance& d : spec_.instances()) {
      nlohmann::json j{{"name", d.name}, {"model", d.model}, {"link", d.link}};
      if (link_kind_info(d.link_kind()).at_module) j["at_transport"] = d.at_transport;
      if (d.external) {
        j["external"] = d.external->text;
        j["external_kind"] = d.external->kind_name();
      }
      j["powered"] = d.model == "dps" || d.model == "bulb";
      devices.push_back(std::move(j));
    }
    auto steps = nlohmann::json::array();
    for (const Step& st : spec_.steps) steps.push_back({{"index", st.index}, {"label", st.label}, {"line", st.line}});
    return {{"rig", spec_.name},
            {"rig_file", fs::absolute(spec_.file).string()},
            {"run_dir", layout_.dir.string()},
            {"seed", seed_},
            {"target_blocks", spec_.target_blocks},
            {"deadline_s", spec_.deadline_s},
            {"hold", hold_},
            {"devices", devices},
            {"steps", steps}};
  }

  void publish_status(const std::string& state) {
    if (!control_) return;
    state_ = state;
    const auto now = Clock::now();
    tx_samples_.emplace_back(now, tx_.accepted);
    while (tx_samples_.size() > 2 && now - tx_samples_[1].first >= kTxRateWindow) tx_samples_.pop_front();
    const double span = std::chrono::duration<double>(now - tx_samples_.front().first).count();
    const double rate = span > 0 ? static_cast<double>(tx_.accepted - tx_samples_.front().second) / span : 0.0;
    const bool started = state != "starting";
    control_->set_status({{"state", state},
                          {"elapsed_s", started ? std::round(now_s() * 1000) / 1000 : 0.0},
                          {"height", last_.height},
                          {"target_blocks", spec_.target_blocks},
                          {"rounds", last_.rounds},
                          {"devices_attached", last_.devices_attached},
                          {"devices_blacklisted", last_.devices_blacklisted},
                          {"tx_accepted", tx_.accepted},
                          {"tx_per_s", std::round(rate * 10) / 10},
                          {"traffic_paused", traffic_paused_},
                          {"verdict", verdict_}});
  }

  /// Answers every queued request that changes the run.
  void serve_requests() {
    while (auto p = control_->take()) {
      nlohmann::json reply;
      try {
        reply = handle_request(p->request);
      } catch (const std::exception& e) {  // RigError (an inline step refused), a bad parameter
        reply = {{"ok", false}, {"error", e.what()}};
      }
      publish_status(state_);  // a status asked after this reply sees what the request changed
      p->reply(std::move(reply));
    }
  }

  nlohmann::json handle_request(const nlohmann::json& req) {
    const std::string cmd = req["cmd"];
    if (cmd == "stop") {
      stop_requested_ = true;
      return {{"ok", true}};
    }
    if (cmd == "write_rig") return {{"ok", true}, {"path", write_session(req.value("path", std::string()))}};
    if (req.contains("device") && !known_device(req["device"]))
      throw std::runtime_error(fmt::format("unknown device '{}'; the rig's devices: {}",
                                           req["device"].get<std::string>(), device_list()));
    std::string step_text;
    if (cmd == "step") {
      step_text = req["step"];
    } else if (cmd == "traffic") {
      step_text = req["paused"].get<bool>() ? "traffic pause" : "traffic resume";
    } else if (cmd == "uart") {
      step_text = fmt::format("uart device={} data={}", quoted(req["device"]), quoted(req["data"]));
    }
    ConsoleAction a;
    a.number = static_cast<int>(actions_.size()) + 1;
    a.at_s = std::round(now_s() * 1000) / 1000;
    a.key = req.value("key", std::string());
    a.device = req.value("device", std::string());
    nlohmann::ordered_json fields{{"action", a.number}, {"request", req}};
    if (!a.key.empty()) fields["key"] = a.key;
    if (!a.device.empty()) fields["device"] = a.device;
    if (cmd == "end") {
      const auto n = req["action"].get<std::int64_t>();
      if (n < 1 || n > static_cast<std::int64_t>(actions_.size()) || !actions_[n - 1].script_id ||
          !script_->open_ended_active(*actions_[n - 1].script_id))
        throw std::runtime_error(fmt::format("action {} is not an active open-ended fault (a fault step without "
                                             "for=); nothing to end", n));
      fields["ends"] = n;
      fields["at_s"] = a.at_s;
      emit("console_action", std::move(fields));
      script_->end(*actions_[n - 1].script_id, a.at_s);
      actions_[n - 1].ended_at_s = a.at_s;
      actions_.push_back(std::move(a));
      return {{"ok", true}, {"action", actions_.back().number}};
    }
    InlineStep inline_step = parse_inline_step(step_text, rig_text_, spec_.file);
    a.step = inline_step.text;
    a.toml = inline_step.toml;
    Step step = std::move(inline_step.step);
    if (step.action == Step::Action::Fault) {
      a.duration_s = step.fault.duration_s;
      a.check_s = step.fault.recover_within_s;
    } else if (step.action == Step::Action::Wait) {
      a.check_s = step.deadline_s;
    }
    if (!inline_step.named) step.label = fmt::format("console action {}", a.number);
    step.index = 0;
    step.line = 0;
    fields["step"] = a.step;
    fields["at_s"] = a.at_s;
    emit("console_action", std::move(fields));
    nlohmann::json uart_reply;
    a.script_id = script_->add(std::move(step), a.at_s, &uart_reply);
    actions_.push_back(std::move(a));
    const ConsoleAction& done = actions_.back();
    nlohmann::json reply{{"ok", true}, {"action", done.number}, {"toml", session_table(done, false)}};
    if (cmd == "uart") {
      if (!uart_reply.is_object() || uart_reply.value("ok", false) != true)
        return {{"ok", false},
                {"action", done.number},
                {"error", uart_reply.is_object() ? uart_reply.value("error", std::string("no answer"))
                                                 : std::string("no answer")}};
      reply["output"] = uart_reply.value("output", std::string());
    }
    return reply;
  }

  static std::string quoted(const nlohmann::json& text) {
    std::string out = "\"";
    for (char c : text.get<std::string>()) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  }
  bool known_device(const nlohmann::json& name) const {
    for (const DeviceInstance& d : spec_.instances())
      if (d.name == name.get<std::string>()) return true;
    return false;
  }
  std::string device_list() const {
    std::string out;
    for (const DeviceInstance& d : spec_.instances()) out += (out.empty() ? "" : ", ") + d.name;
    return out;
  }

  /// An action's [[steps]] table in the written rig: a comment naming it and its key, at_s, the step's keys, and
  /// duration_s for an open-ended fault that was ended (or, `writing`, is still active: its time so far).
  std::string session_table(const ConsoleAction& a, bool writing) const {
    std::string comment = fmt::format("# console action {}", a.number);
    if (!a.key.empty()) comment += fmt::format(": key '{}'", a.key);
    if (!a.device.empty()) comment += fmt::format(" on {}", a.device);
    comment += ": " + a.step;
    std::string body = a.toml.substr(a.toml.find('\n') + 1);  // the keys after "[[steps]]"
    std::optional<double> lasted;
    if (a.ended_at_s) lasted = *a.ended_at_s - a.at_s;
    if (!lasted && writing && a.script_id && script_->open_ended_active(*a.script_id)) {
      lasted = std::round(now_s() * 1000) / 1000 - a.at_s;
      comment += " (still active when written)";
    }
    if (lasted) body += fmt::format("duration_s = {:.3f}\n", std::max(0.0, *lasted));
    for (char& c : comment)
      if (c == '\n' || c == '\r') c = ' ';
    return comment + fmt::format("\n[[steps]]\nat_s = {:.3f}\n", a.at_s) + body;
  }

  /// write_rig: the rig file's text and one [[steps]] table per console action (but `end`s), checked by the rig
  /// loader, written to `path` (default session-<n>.toml in the run folder); returns the absolute path.
  std::string write_session(std::string path) {
    if (path.empty())
      for (int n = 1; path.empty(); ++n)
        if (!fs::exists(layout_.dir / fmt::format("session-{}.toml", n)))
          path = (layout_.dir / fmt::format("session-{}.toml", n)).string();
    // The replayed run must last until the last action's check is done: the rig's deadline_s is raised when the
    // session outlasted it (plus kSessionSlack for a slower start of the replay).
    double needed = 0;
    for (const ConsoleAction& a : actions_) {
      if (a.toml.empty()) continue;
      double lasted = a.duration_s.value_or(0);
      if (a.ended_at_s) lasted = *a.ended_at_s - a.at_s;
      else if (a.script_id && script_->open_ended_active(*a.script_id)) lasted = now_s() - a.at_s;
      needed = std::max(needed, a.at_s + lasted + a.check_s + kSessionSlack_s);
    }
    std::string text = raise_deadline(rig_text_, needed);
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += fmt::format("\n# ---- session recorded in {} ({} console action(s)); written by write_rig on harness.sock "
                        "(docs/console.md) ----\n",
                        layout_.dir.string(), actions_.size());
    for (const ConsoleAction& a : actions_)
      if (!a.toml.empty()) text += "\n" + session_table(a, true);
    parse_rig(text, path);  // throws RigError: the session must load as a rig
    write_file(path, text);
    return fs::absolute(path).string();
  }

  void progress(Clock::duration elapsed, const Health& h) {
    out_ << fmt::format("[{:6.1f}s] height {}/{}  rounds {}  devices {}/{} attached  blacklisted {}  txs {}",
                        std::chrono::duration<double>(elapsed).count(), h.height, spec_.target_blocks, h.rounds,
                        h.devices_attached, spec_.instances().size(), h.devices_blacklisted, tx_.accepted)
         << std::endl;
    emit("tx_submitted", {{"count", tx_.submitted}, {"accepted", tx_.accepted}});
  }

  /// The ledger is checked under the node key this run wrote (pinned), so a re-signed ledger is refused.
  LedgerVerifyOptions ledger_verify_options() const {
    LedgerVerifyOptions o;
    if (!node_pubkey_.empty()) o.node_key = from_hex<32>(node_pubkey_, HexCase::lower);
    return o;
  }

  /// The ledger once the devices are stopped and the height no longer moves; nullopt if the node does not answer.
  std::optional<std::vector<std::string>> export_ledger() {
    TrustNodeClient* c = client();
    if (!c) return std::nullopt;
    auto prev = c->health();
    for (int i = 0; prev && i < kSettlePolls; ++i) {
      std::this_thread::sleep_for(kHealthInterval);
      const auto h = c->health();
      if (!h || h->height == prev->height) break;
      prev = h;
    }
    try {
      return c->export_blocks();
    } catch (const TrustNodeError& e) {
      err_ << "error: cannot export the ledger: " << e.what() << '\n';
      return std::nullopt;
    }
  }

  /// Every transaction answered 202 must be in the ledger or still known to the node (a resubmission is a 409).
  void audit_transactions(const std::vector<std::string>& blocks) {
    const TxAudit a = harness::audit_transactions(blocks, acked_, seed_, spec_.traffic.payload_bytes,
                                                  [&](const std::string& p) { return submit(p) == SubmitResult::Duplicate; });
    emit("tx_audit", {{"acked", a.acked}, {"in_ledger", a.in_ledger}, {"pending", a.pending}, {"lost", a.lost}});
  }


  int finish(std::string reason) {
    if (control_) {
      control_->refuse_changes("the run is finishing (" + reason + ")");
      publish_status("finishing");
    }
    if (script_) {
      if (script_->trust_node_down() || reason == "interrupted" || reason == "error") {
        script_->finish(0, reason);
      } else {
        script_->finish(std::chrono::duration<double>(Clock::now() - drive_start_).count(), reason);
      }
    }
    // Devices first, so no block can finalize between the export and the node's stop.
    for (const Pool& p : pools_)
      if (auto e = supervisor_.stop(p.files.name, kStopGrace)) emit_exit(*e);
    const auto blocks = export_ledger();
    if (blocks && client()) audit_transactions(*blocks);
    if (!blocks && client() && reason != "interrupted") {
      reason = "error";
      if (error_.empty()) error_ = "the trust node did not answer the ledger export";
    }
    for (const ProcessExit& e : supervisor_.stop_all(kStopGrace)) emit_exit(e);
    stop_mesh();
    fabric_.stop();
    if (udp_relay_) udp_relay_->stop();
    if (host_net_) host_net_->set_tap(nullptr);  // the host link carries on until run_rig deletes it; not captured
    if (capture_ && !capture_->close()) spdlog::warn("cannot write {}", (layout_.dir / "links.pcapng").string());
    pump_events();  // the children's last events, for harness.sock `events`
    emit("tx_submitted", {{"count", tx_.submitted}, {"accepted", tx_.accepted}});
    emit("rig_finished", {{"reason", reason}});
    try {
      return judge(reason, blocks.value_or(std::vector<std::string>{}));
    } catch (const std::exception& e) {
      err_ << "error: " << e.what() << '\n';
      return kExitCouldNotRun;
    }
  }

  int judge(const std::string& reason, const std::vector<std::string>& blocks) {
    std::vector<nlohmann::json> ledger;
    {
      std::ofstream out(layout_.ledger(), std::ios::trunc);
      for (const auto& b : blocks) {
        out << b << '\n';
        ledger.push_back(nlohmann::json::parse(b, nullptr, false));
      }
      if (!out.flush()) throw std::runtime_error("cannot write " + layout_.ledger().string());
    }
    const MergedEvents merged =
        merge_events(event_files(), events_, layout_.events());
    if (merged.skipped > 0)
      spdlog::warn("skipped {} malformed line(s) in the children's event files", merged.skipped);

    const LedgerVerdict verdict = verify_ledger_text(blocks, ledger_verify_options());
    const Scores scores = score_run(spec_, merged.events, ledger_blocks(ledger), verdict);
    const Evaluation evaluation = evaluate(spec_, scores);
    const bool completed = reason == "target_reached" || reason == "deadline" || reason == "stopped";
    RunOutcome outcome{RunEnd::Completed, reason, ""};
    context_.duration_s = std::chrono::duration<double>(std::chrono::system_clock::now() - context_.started).count();
    if (reason == "interrupted") {
      outcome.end = RunEnd::Interrupted;
      outcome.message = fmt::format("interrupted (SIGINT or SIGTERM) after {:.1f} s; the criteria were not judged",
                                    context_.duration_s);
    } else if (!completed) {
      outcome.end = RunEnd::Error;
      outcome.message = error_.empty() ? "the run broke off" : error_;
    }
    RunReport report{spec_, seed_, scores, verdict, evaluation, layout_.dir, context_, outcome};
    if (completed) {
      auto failed = nlohmann::json::array();
      for (const CriterionResult& c : evaluation.criteria)
        if (!c.pass) failed.push_back(c.name);
      verdict_ = {{"pass", evaluation.pass}, {"failed", failed}};
    }

    nlohmann::json json = report_json(report);
    json["harness"] = harness_json(merged.skipped);
    write_file(layout_.dir / "report.json", json.dump(2) + "\n");
    write_file(layout_.dir / "junit.xml", junit_xml(report));
    report.context.files = run_files();
    write_file(layout_.dir / "report.html", report_html(report, merged.events));

    out_ << summary_table(report, reason);
    out_ << "run folder: " << layout_.dir.string() << std::endl;
    if (reason == "interrupted") return kExitInterrupted;
    if (!completed) return kExitCouldNotRun;
    return evaluation.pass ? kExitPass : kExitFail;
  }

  nlohmann::ordered_json harness_json(std::size_t skipped_lines) const {
    auto links = nlohmann::ordered_json::array();
    for (const auto& link : links_)
      for (nlohmann::ordered_json& entry : link->stats_json()) links.push_back(std::move(entry));
    return {{"tx", {{"submitted", tx_.submitted}, {"accepted", tx_.accepted}, {"duplicate", tx_.duplicate},
                    {"rejected", tx_.rejected}, {"failed", tx_.failed}}},
            {"skipped_event_lines", skipped_lines},
            {"control_errors", control_ ? control_->errors() : 0},
            {"captured_frames", capture_ ? capture_->frames() : 0},
            {"links", links},
            {"host_link", host_link_json()}};
  }

  /// report.json harness.host_link: a [hosts] rig's host link relay, per direction; null without [hosts].
  nlohmann::ordered_json host_link_json() const {
    if (!host_net_) return nullptr;
    const auto side = [&](Direction dir) {
      const HostLinkCounts c = host_net_->link_counts(dir);
      return nlohmann::ordered_json{{"frames", c.frames},
                                    {"bytes", c.bytes},
                                    {"delivered_frames", c.delivered_frames},
                                    {"overflow_frames", c.overflow_frames},
                                    {"partitioned_frames", c.partitioned_frames},
                                    {"failed_frames", c.failed_frames}};
    };
    return {{"latency_ms", spec_.hosts->latency_ms},
            {"jitter_ms", spec_.hosts->jitter_ms},
            {"trust_node_to_far", side(Direction::NodeToDevice)},
            {"far_to_trust_node", side(Direction::DeviceToNode)}};
  }

  /// The run folder's files report.html links to, those that exist, as (label, file name).
  std::vector<std::pair<std::string, std::string>> run_files() const {
    std::vector<std::pair<std::string, std::string>> files;
    auto add = [&](const std::string& label, const fs::path& file) {
      std::error_code ec;
      if (fs::is_regular_file(file, ec)) files.emplace_back(label, fs::relative(file, layout_.dir, ec).string());
    };
    add("ledger.jsonl", layout_.ledger());
    add("events.jsonl", layout_.events());
    add("links.pcapng", layout_.dir / "links.pcapng");
    add("report.json", layout_.dir / "report.json");
    add("junit.xml", layout_.dir / "junit.xml");
    for (const Node& n : nodes_) {
      add(fmt::format("{} stdout", n.files.name), n.files.stdout_log());
      add(fmt::format("{} stderr", n.files.name), n.files.stderr_log());
    }
    for (const Pool& p : pools_) {
      add(fmt::format("{} stdout", p.files.name), layout_.stdout_log(p.files.name));
      add(fmt::format("{} stderr", p.files.name), layout_.stderr_log(p.files.name));
    }
    for (const Node& n : nodes_) add(fs::relative(n.files.config(), layout_.dir).string(), n.files.config());
    for (const Pool& p : pools_) add(p.files.config().filename().string(), p.files.config());
    return files;
  }

  static void write_file(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + file.string());
  }

  RigSpec spec_;
  std::string rig_text_;  // the rig file's text (write_rig, inline steps)
  std::uint64_t seed_;
  RunLayout layout_;
  std::string node_pubkey_;  ///< hex of the trust node's key written for this run (empty before the start)
  fs::path node_exe_, emu_exe_;
  RunContext context_;
  std::string error_;      // what broke a started run (reason "error")
  std::string log_level_;  // passed on to the children
  bool hold_;              // --hold
  const std::atomic<bool>& stop_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<LinkCapture> capture_;  // declared before fabric_: the relay thread taps into it
  LinkFabric fabric_;
  std::unique_ptr<UdpRelay> udp_relay_;  // datagram links (null without them)
  std::vector<std::unique_ptr<RigLink>> links_;  // one per device, in rig order (after the relays: they hold pointers)
  std::vector<External> external_;       // external devices, in rig order
  std::vector<certify::SerialDut> external_ports_;  // external serial ports as opened (the fabric holds a dup)
  std::map<std::string, std::string> modbus_;  // dps device -> its Modbus TCP endpoint (power faults)
  ProcessSupervisor supervisor_;  // declared after fabric_: children die before their PTYs close

  // ---- the trust nodes (one, or a [mesh] rig's tn-0..tn-N-1) and a mesh's etcd cluster and relays ----

  struct Node {
    int index = 0;
    NodeLayout files;
    std::unique_ptr<TrustNodeClient> client;  // null while it is down (or before it answered)
    std::unique_ptr<JsonlTail> tail;          // its events, tagged with its node id in a [mesh] rig
    std::optional<Health> health;             // its last poll
  };


  /// The node id its events are tagged with: "tn-<i>" in a [mesh] rig, else none.
  std::string mesh_tag(int i) const { return spec_.mesh ? spec_.trust_node_name(i) : std::string(); }
  std::string etcd_name(int member) const { return "etcd-" + std::to_string(member); }
  bool usable(int i) const { return nodes_[i].client && !(script_ && script_->node_down(i)); }
  /// The node the harness asks (health, devices, the ledger): the assigning one when known, else the first usable one;
  /// null when none is.
  TrustNodeClient* client() {
    if (preferred_ && usable(*preferred_)) return nodes_[*preferred_].client.get();
    for (const Node& n : nodes_)
      if (usable(n.index)) return n.client.get();
    return nullptr;
  }
  /// Polls every usable node's health; remembers the assigning one as preferred. Returns the health the run shows:
  /// the assigning node's, else the preferred or first node's that answered (a rig without [mesh]: its one node's).
  std::optional<Health> poll_nodes() {
    std::optional<Health> any;
    for (Node& n : nodes_) {
      n.health = usable(n.index) ? n.client->health() : std::nullopt;
      if (n.health && n.health->assigning()) preferred_ = n.index;
      if (n.health && (!any || (preferred_ && *preferred_ == n.index))) any = n.health;
    }
    if (preferred_ && nodes_[*preferred_].health) return nodes_[*preferred_].health;
    return any;
  }
  /// POST a transaction to the preferred node, then each other usable node while the answer is neither 202, 409 nor
  /// 400 (no answer, or a node that does not take transactions now); only a 202 acknowledges it.
  SubmitResult submit(const std::string& payload) {
    TrustNodeClient* first = client();
    if (!first) return SubmitResult::Failed;
    SubmitResult r = first->submit(payload);
    for (const Node& n : nodes_) {
      if (r != SubmitResult::Failed) break;
      if (usable(n.index) && n.client.get() != first) r = n.client->submit(payload);
    }
    return r;
  }
  std::vector<EventFile> event_files() const {
    std::vector<EventFile> files;
    for (const Node& n : nodes_) files.emplace_back(n.files.events(), mesh_tag(n.index));
    for (const Pool& p : pools_) files.emplace_back(p.files.events());
    return files;
  }
  support::EtcdCluster& etcd() {
    if (!etcd_) throw std::runtime_error("the rig has no etcd cluster");
    return *etcd_;
  }
  /// A [mesh] rig's etcd members in <run>/etcd/, then one TCP relay per (node, member) on the relay thread.
  void start_etcd() {
    etcd_ = std::make_unique<support::EtcdCluster>(
        layout_.etcd_dir(), support::EtcdClusterOptions{.members = spec_.mesh->etcd_members, .name_prefix = "etcd"});
    for (int m = 0; m < etcd_->size(); ++m)
      emit("process_started", {{"name", etcd_name(m)}, {"pid", etcd_->pid(m)}, {"code", nullptr}});
    emit("etcd_started", {{"members", etcd_->client_endpoints()}, {"dir", layout_.etcd_dir().string()}});
    relay_thread_ = std::thread([this] { relay_io_.run(); });
    for (std::size_t i = 0; i < nodes_.size(); ++i) {  // one relay per (node, member), in node order
      relays_.emplace_back();
      for (const std::string& endpoint : etcd_->client_endpoints())
        relays_.back().push_back(std::make_unique<TcpRelay>(relay_io_, endpoint));
    }
  }
  /// The relays stop, then the etcd members (after the trust nodes: stop_all ran).
  void stop_mesh() {
    relay_work_.reset();
    relay_io_.stop();
    if (relay_thread_.joinable()) relay_thread_.join();
    relays_.clear();
    if (etcd_) {
      for (int m = 0; m < etcd_->size(); ++m)
        if (etcd_->pid(m) > 0) emit("process_exited", {{"name", etcd_name(m)}, {"pid", etcd_->pid(m)}, {"code", nullptr}});
      etcd_.reset();
    }
  }

  std::vector<Node> nodes_;
  std::optional<int> preferred_;  // the node last seen assigning
  std::map<std::string, fs::path> stderr_of_;  // child name -> its stderr log (check_children's message)
  std::unique_ptr<support::EtcdCluster> etcd_;  // a [mesh] rig's cluster
  boost::asio::io_context relay_io_;            // the relays' thread; declared before relays_
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> relay_work_{relay_io_.get_executor()};
  std::thread relay_thread_;
  std::vector<std::vector<std::unique_ptr<TcpRelay>>> relays_;  // [node][member]
  /// An emulator pool: its files, its events' tail, its control channel (device faults: reboot, hang, clock_skew,
  /// ap_*; opened on first use).
  struct Pool {
    PoolLayout files;
    std::unique_ptr<JsonlTail> tail;
    std::unique_ptr<EmuControlClient> control;
  };
  std::vector<Pool> pools_;  // [hosts]: one per host, in [hosts] names order; else the one pool
  HostNetwork* host_net_ = nullptr;  // [hosts]: the namespaces and their host link (run_rig owns it)
  std::vector<nlohmann::ordered_json> events_;
  TxCounts tx_;
  std::vector<std::uint64_t> acked_;  // tx counters answered 202
  std::unique_ptr<RigScript> script_;
  std::optional<Health> last_health_;
  Clock::time_point drive_start_ = Clock::now();
  std::vector<nlohmann::json> for_script_;  // children's events read but not yet handed to the script
  EventLog live_;                           // every event, for harness.sock `events`
  std::unique_ptr<HarnessControl> control_;  // harness.sock; declared after live_, which it reads
  std::vector<ConsoleAction> actions_;
  Health last_;                  // the last health that answered
  bool holding_ = false;         // --hold: target or deadline reached, held
  bool stop_requested_ = false;  // a `stop` request
  bool traffic_paused_ = false;
  Clock::time_point tx_clock_ = Clock::now();  // the traffic's pacing restarts here (drive start, a resume)
  std::uint64_t tx_base_ = 0;                  // transactions submitted before tx_clock_
  std::deque<std::pair<Clock::time_point, std::uint64_t>> tx_samples_;  // (when, accepted) for tx_per_s
  nlohmann::json verdict_;       // status verdict once judged: {pass, failed}
  std::string state_ = "starting";  // status state last published
};

/// `latest` next to the run folder (in its parent) -> the run folder, replaced atomically (a link under a
/// temporary name, renamed over the old one). A failure is a warning only.
void point_latest_at(fs::path run_dir) {
  if (!run_dir.has_filename()) run_dir = run_dir.parent_path();  // "--out dir/"
  const fs::path parent = run_dir.parent_path();
  const fs::path tmp = parent / fmt::format(".latest.{}", ::getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(run_dir.filename(), tmp, ec);
  if (!ec) fs::rename(tmp, parent / "latest", ec);
  if (ec) {
    spdlog::warn("cannot point {} at the run folder: {}", (parent / "latest").string(), ec.message());
    fs::remove(tmp, ec);
  }
}

/// Prints "error: <what>" and returns the exit code for an error that stopped `iotw rig run` before or outside
/// a judged run: kExitUsage for a UsageError (the input is at fault), else kExitCouldNotRun (docs/cli.md).
int error_exit(const std::exception& e, std::ostream& err) {
  err << "error: " << e.what() << '\n';
  return dynamic_cast<const UsageError*>(&e) ? kExitUsage : kExitCouldNotRun;
}

}  // namespace


int run_rig(const RunOptions& options, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err) {
  RunContext context;
  context.started = std::chrono::system_clock::now();
  RigSpec spec;
  try {
    spec = load_rig(options.rig_file);
    check_rig_resources(spec, host_resources());  // before the run folder: a rig that cannot fit leaves none
  } catch (const RigError& e) {
    err << e.what() << '\n';
    return kExitUsage;
  }
  const std::uint64_t seed = options.seed ? *options.seed : spec.seed ? *spec.seed : std::random_device{}();
  out << "seed: " << seed << std::endl;
  context.hostname = this_host_name();
  context.tool_version = options.tool_version;
  context.command = fmt::format("iotw rig run {} --seed {}", shell_word(options.rig_file.string()), seed);

  RunLayout layout{fs::absolute(options.out_dir.value_or(default_run_dir(spec.name, seed)))};
  try {  // the run folder first: from here on, whatever happens, it gets a junit.xml
    std::error_code ec;
    fs::create_directories(layout.dir, ec);
    if (ec) throw std::runtime_error(fmt::format("cannot create run folder {}: {}", layout.dir.string(), ec.message()));
    if (!fs::is_empty(layout.dir, ec) || ec)
      throw UsageError(fmt::format("run folder {} is not empty (a previous run?); pick another --out",
                                           layout.dir.string()));
    if (::access(layout.dir.c_str(), W_OK) != 0)
      throw std::runtime_error(fmt::format("run folder {} is not writable", layout.dir.string()));
  } catch (const std::exception& e) {
    return error_exit(e, err);
  }
  point_latest_at(layout.dir);
  // A run that never starts: its junit.xml says why (an <error>, or a <skipped>), and the run folder is named.
  auto not_started = [&](RunEnd end, const std::string& message, int code) {
    write_unstarted_junit(spec, seed, layout.dir, context,
                          {end, end == RunEnd::Skipped ? "skipped" : "not_started", message}, err);
    out << "run folder: " << layout.dir.string() << std::endl;
    return code;
  };

  // A capability the rig needs is missing: skipped (exit 0, junit <skipped>), or with --require-all an error (exit 3).
  auto unavailable = [&](const std::string& message) {
    if (options.require_all) {
      err << "error: " << message << " (--require-all)\n";
      return not_started(RunEnd::NotStarted, message + " (--require-all)", kExitCouldNotRun);
    }
    err << "skipped: " << message << " (--require-all makes this an error)\n";
    return not_started(RunEnd::Skipped, message, kExitPass);
  };
  const TapPlan tap_plan = plan_tap_network(spec, seed);
  if (!tap_plan.devices.empty())  // refused before anything is created or started
    if (const auto why = tap_network_unavailable())
      return unavailable(fmt::format(
          "rig '{}' has {} link = \"tap\" device(s): the harness must create a network namespace with TAP "
          "interfaces, which needs CAP_NET_ADMIN and CAP_SYS_ADMIN, but {}. Run it as root (e.g. sudo) or with "
          "those capabilities; nothing was started",
          spec.name, tap_plan.devices.size(), *why));
  const HostPlan host_plan = plan_hosts(spec);
  if (!host_plan.hosts.empty())  // likewise: the namespaces of a [hosts] rig
    if (const auto why = tap_network_unavailable())
      return unavailable(fmt::format(
          "rig '{}' has [hosts] {} and {}: the harness must create a network namespace per host joined by a host "
          "link of TAP interfaces, which needs CAP_NET_ADMIN and CAP_SYS_ADMIN, but {}. Run it as root (e.g. sudo) "
          "or with those capabilities; nothing was started",
          spec.name, host_plan.hosts[0].host, host_plan.hosts[1].host, *why));
  if (const std::string why = qemu_unavailable_for(spec, options.bin_dir); !why.empty())  // likewise: QEMU, image
    return unavailable(why);
  if (const std::string why = etcd_unavailable_for(spec); !why.empty()) {  // could not run: exit 3, junit <error>
    err << "error: " << why << '\n';
    return not_started(RunEnd::NotStarted, why, kExitCouldNotRun);
  }
  fs::path node_exe, emu_exe;
  try {
    node_exe = require_binary(options.bin_dir, "iotw-trust-node");
    emu_exe = require_binary(options.bin_dir, "iotw-emu");
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return not_started(RunEnd::NotStarted, e.what(), kExitCouldNotRun);
  }
  out << fmt::format("rig {}: {} devices, target {} blocks, deadline {} s, run folder {}", spec.name,
                     spec.instances().size(), spec.target_blocks, spec.deadline_s, layout.dir.string())
      << std::endl;
  std::unique_ptr<TapNamespace> netns;  // outlives the run: deleted after its children have stopped
  std::unique_ptr<HostNetwork> host_net;  // likewise
  try {
    if (!host_plan.hosts.empty()) {
      host_net = std::make_unique<HostNetwork>(host_plan, seed, layout.dir / "host_link.ip");
      out << fmt::format("hosts: {} in network namespace {} ({}/{}, the trust node), {} in {} ({}/{}); host link {} ms "
                         "+ 0..{} ms each way",
                         host_plan.trust_node().host, host_net->netns(host_plan.trust_node().host),
                         host_plan.trust_node().ip, host_plan.prefix, host_plan.far().host,
                         host_net->netns(host_plan.far().host), host_plan.far().ip, host_plan.prefix,
                         spec.hosts->latency_ms, spec.hosts->jitter_ms)
          << std::endl;
    }
    if (!tap_plan.devices.empty()) {
      netns = std::make_unique<TapNamespace>(tap_plan, layout.dir / "tap_network.ip");
      out << fmt::format("network namespace {}: bridge {} {}/{}, {} TAP interface(s) (tap0..tap{})", netns->name(),
                         tap_plan.bridge, tap_plan.bridge_ip, tap_plan.prefix, tap_plan.devices.size(),
                         tap_plan.devices.size() - 1)
          << std::endl;
    }
  } catch (const std::exception& e) {
    err << "error: " << e.what() << '\n';
    return not_started(RunEnd::NotStarted, e.what(), kExitCouldNotRun);
  }
  try {
    std::string rig_text = cli::read_file(options.rig_file);
    return RigRun(std::move(spec), std::move(rig_text), seed, std::move(layout), node_exe, emu_exe, std::move(context),
                  options.log_level, options.hold, stop, out, err, host_net.get())
        .run();
  } catch (const std::exception& e) {
    return error_exit(e, err);
  }
}

int check_rig(const fs::path& rig_file, std::ostream& out, std::ostream& err, const fs::path& bin_dir) {
  try {
    const RigSpec spec = load_rig(rig_file);
    check_rig_resources(spec, host_resources());
    for (const std::string& why : {qemu_unavailable_for(spec, bin_dir), etcd_unavailable_for(spec)})
      if (!why.empty()) {
        err << "error: " << why << '\n';
        return kExitCouldNotRun;
      }
    out << "ok: " << spec.name << ", " << spec.instances().size() << " devices\n";
    return kExitPass;
  } catch (const RigError& e) {
    err << e.what() << '\n';
    return kExitUsage;
  }
}

}  // namespace iotw::harness
