// iotw-emu: emulated IOTW micro-mining devices (docs/emulators.md).
//   iotw-emu --config pool.toml                      a pool of ESP modules, DPS chips, bulbs, AT-mode
//                                                    appliances (MCU + ESP/Realtek module, UDP to the trust node)
//                                                    and qemu-cortex-m3 devices (a qemu-system-arm child each)
//   iotw-emu dps [--modbus-tcp A:P] [--modbus-rtu-pty] [--link PATH | --pty] [--nvs-dir DIR]   one DPS chip
//   iotw-emu bulb [--yeelight A:P] [--discovery A:P] [--modbus-tcp A:P] [--link PATH | --pty] [--nvs-dir DIR]
//                                                    one smart bulb; --pty: the firmware's UART on a new PTY
//                                                    (a reference DUT for the dps / bulb certification profiles)
//   iotw-emu esp8266|esp32|rtl8710|rtl8195 --at --pty [--ssid S --password P --baud B --unpaced --mutant M]
//                                                    one Wi-Fi module serving its AT command set on a PTY
//   iotw-emu esp8266|esp32|rtl8710|rtl8195 --pty [--name N --nvs-dir D --mutant M --node-pubkey HEX]
//                                                    one SoC-mode module: the micro-mining firmware on the chip,
//                                                    its UART on a new PTY (a reference DUT to certify)
//   iotw-emu --config pool.toml --device NAME        one TAP module of the pool (SoC mode over TAP, lwIP); the
//                                                    pool runs one such child per device with a `tap` key
//   iotw-emu --version | --log-level trace|debug|info|warn|error|off
// Standalone modes print their endpoints on stdout, one per line (the PTY path first), and write events
// to stderr unless --events is given. Runs until SIGTERM/SIGINT; exit codes (docs/cli.md): 0 then, 2 on a bad
// command line or config, 3 when it could not run (a port in use, no PTY, a link that will not open, a TAP
// module process that exited, qemu-system-arm or a qemu-cortex-m3 device's image missing). Human-readable logs go to stderr through spdlog.
#include <fcntl.h>
#include <pthread.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>

#include "iotw/cli/command_line.hpp"
#include "iotw/exit_code.hpp"
#include "common/clock.hpp"
#include "common/device_behaviour.hpp"
#include "common/device_runtime.hpp"
#include "common/pool_config.hpp"
#include "common/pool_control.hpp"
#include "common/ram_budget.hpp"
#include "common/serial_link.hpp"
#include "device_factory.hpp"
#include "iotw/support/hex.hpp"
#include "dps_chip/dps_device.hpp"
#include "esp_wifi/at_pty_server.hpp"
#include "esp_wifi/soc_module.hpp"
#include "esp_wifi/tap_module.hpp"
#include "smart_bulb/smart_bulb.hpp"

namespace {

using namespace iotw::emu;

/// Runs io until SIGTERM/SIGINT, then calls stop_all.
void run_until_signal(boost::asio::io_context& io, EventLog& log, const std::function<void()>& stop_all) {
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code, int sig) {
    stop_all();
    log.emit("emu", "pool_stopped", {{"signal", sig}});
    io.stop();
  });
  io.run();
}

/// This executable, for the TAP module children.
std::string self_exe() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot read /proc/self/exe: " + ec.message());
  return p.string();
}

/// `--config FILE --device NAME`: one TAP module (SoC mode over TAP) in this process until SIGTERM/SIGINT.
int run_tap_module(const std::string& config, const std::string& name) {
  auto cfg = load_pool_config(config);
  const DeviceSpec* spec = nullptr;
  for (const auto& d : cfg.devices)
    if (d.name == name) spec = &d;
  if (!spec) throw std::invalid_argument("no [[device]] named '" + name + "' in " + config);
  if (device_kind(*spec) != DeviceKind::tap_module)
    throw std::invalid_argument(name + " is not a TAP module (no 'tap' key): --device runs TAP modules only");
  if (const RamCheck c = check_ram_budget(spec->name, spec->model, spec->mode, spec->ram_budget_kib); !c.fits) {
    EventLog(cfg.events).emit("emu:" + name, "ram_refused", {{"chip", c.chip_model}, {"needed_bytes", c.needed},
                                                              {"available_bytes", c.available}, {"message", c.message}});
    spdlog::error("{}", c.message);
    return iotw::kExitUsage;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // before lwIP's threads start: they inherit the mask
  EventLog log(cfg.events);
  TapModule module(*spec, log);
  module.start();
  spdlog::info("TAP module {} on {} ({})", name, spec->tap, spec->tap_ip);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  module.stop();
  log.emit("emu:" + name, "tap_stopped", {{"signal", sig}});
  return 0;
}

/// The firmware's static RAM against each SoC device's chip budget (common/ram_budget.hpp), before anything is
/// served: every device that does not fit gets a `ram_refused` event and a line on stderr; returns false if any.
bool check_static_ram(const PoolConfig& cfg, EventLog& log) {
  bool ok = true;
  for (const auto& d : cfg.devices) {
    if (device_kind(d) == DeviceKind::qemu) continue;  // the image's RAM: measured by the cross build, not a host figure
    const RamCheck c = check_ram_budget(d.name, d.model, d.mode, d.ram_budget_kib);
    if (!c.applies) continue;
    if (c.fits) {
      log.emit("emu:" + d.name, "ram_check", {{"chip", c.chip_model}, {"needed_bytes", c.needed},
                                              {"available_bytes", c.available}, {"fits", true}});
      continue;
    }
    ok = false;
    log.emit("emu:" + d.name, "ram_refused", {{"chip", c.chip_model}, {"needed_bytes", c.needed},
                                              {"available_bytes", c.available},
                                              {"ram_budget_kib", d.ram_budget_kib}, {"message", c.message}});
    spdlog::error("{}", c.message);
  }
  return ok;
}

/// Names of the behaviours of one layer, for error messages.
std::string behaviour_names(BehaviourLayer layer) {
  std::string out;
  for (const auto& b : device_behaviour_table())
    if (b.layer == layer) out += (out.empty() ? "" : ", ") + std::string(b.name);
  return out;
}

/// --mutant NAME on a standalone device: throws std::invalid_argument naming what the mutant needs when it is a
/// defect of another layer than this device has (a firmware mutant on an --at module, an AT one in SoC mode, ...).
void check_mutant(const std::string& name, const std::string& model, const std::string& mode, bool has_firmware) {
  const DeviceBehaviour& b = device_behaviour(name);
  const std::string m = "--mutant " + name;
  if (mode == "at" && b.layer != BehaviourLayer::none && b.layer != BehaviourLayer::at_module)
    throw std::invalid_argument(m + " is a firmware defect: run it in SoC mode (without --at); an --at module runs "
                                "no firmware, its mutants are: " + behaviour_names(BehaviourLayer::at_module));
  if (mode != "at" && b.layer == BehaviourLayer::at_module)
    throw std::invalid_argument(m + " is a defect of the AT command set: add --at (SoC mode speaks the framed "
                                "protocol, not AT)");
  if (b.layer == BehaviourLayer::modbus && model != "dps")
    throw std::invalid_argument(m + " is a defect of the DPS chip's Modbus map: run it as `iotw-emu dps --mutant " +
                                name + "`");
  if ((b.layer == BehaviourLayer::firmware || b.layer == BehaviourLayer::host) && !has_firmware)
    throw std::invalid_argument(m + " is a firmware defect: give --link (and --nvs-dir) so the " + model +
                                " runs the firmware");
}

/// `MODEL --pty` without --at: one SoC-mode device (the firmware on the chip) whose UART is a new PTY; prints the
/// PTY's path on the first line of stdout and runs until SIGTERM/SIGINT.
int run_soc_pty(const std::string& model, DeviceSpec spec, const std::string& node_pubkey, const std::string& events) {
  spec.model = model;
  spec.mode = "soc";
  if (spec.name.empty()) spec.name = model + "-01";
  if (spec.nvs_dir.empty()) spec.nvs_dir = "nvs/" + spec.name;
  if (!node_pubkey.empty()) {
    const auto pk = iotw::from_hex<32>(node_pubkey, iotw::HexCase::any);
    if (!pk) throw std::invalid_argument("--node-pubkey must be 64 hex digits, got '" + node_pubkey + "'");
    spec.node_pubkey = *pk;
  }
  const PtyPair pty = open_pty_pair(spec.baud);
  spec.link = pty.path;
  spec.link_fd = pty.master;
  ::fcntl(pty.master, F_SETFL, ::fcntl(pty.master, F_GETFL) | O_NONBLOCK);
  EventLog log(events);
  if (const RamCheck c = check_ram_budget(spec.name, spec.model, spec.mode, spec.ram_budget_kib); c.applies && !c.fits) {
    spdlog::error("{}", c.message);
    return iotw::kExitUsage;
  }
  boost::asio::io_context io;
  SocModule device(io, spec, log);
  std::cout << pty.path << std::endl;
  device.start();
  run_until_signal(io, log, [&] { device.stop(); });
  ::close(pty.master);
  ::close(pty.slave);
  return 0;
}

/// A pool holds a descriptor or two per device (a UDP socket per AT appliance, a PTY per serial device): the soft
/// RLIMIT_NOFILE (often 1,024) is raised to the hard limit before the devices start (logged at info); a hard limit
/// still too low shows as the first device whose socket or PTY fails to open (exit 3).
void raise_fd_limit(size_t devices) {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  const rlim_t before = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  spdlog::info("descriptor limit (RLIMIT_NOFILE) raised from {} to {} for {} devices", static_cast<uint64_t>(before),
               static_cast<uint64_t>(rl.rlim_cur), devices);
}

int run_pool(const std::string& config) {
  auto cfg = load_pool_config(config);
  EventLog log(cfg.events);
  if (!check_static_ram(cfg, log)) return iotw::kExitUsage;  // refused before serving: the config asks too much
  boost::asio::io_context io;
  iotw::SteadyClock clock;
  raise_fd_limit(cfg.devices.size());  // before any device opens a descriptor
  // One list of devices (common/device.hpp), built by the one factory (device_factory.hpp). A TAP module is a child
  // process of its own (lwIP is process-global); a qemu-cortex-m3 device a qemu-system-arm child.
  const std::vector<std::unique_ptr<Device>> devices =
      make_devices(cfg, PoolContext{io, log, clock, cfg.access_point, self_exe(), config});
  // Every device holds its own copy of its entry: the parsed list is not kept beside them (10,000 devices, issue 17).
  const size_t device_count = cfg.devices.size();
  std::vector<DeviceSpec>().swap(cfg.devices);
  std::vector<Device*> started;
  auto stop_started = [&] {
    for (auto it = started.rbegin(); it != started.rend(); ++it) (*it)->stop();
  };
  // start_spread_ms: device i starts i × spread / N ms after the first; else all of them now.
  const size_t at_once = cfg.start_spread_ms == 0 ? devices.size() : 1;
  try {
    for (size_t i = 0; i < at_once; i++) {
      started.push_back(devices[i].get());
      devices[i]->start();
    }
  } catch (...) {
    stop_started();  // the children already spawned do not outlive the refusal
    throw;
  }
  int exit_code = 0;
  boost::asio::steady_timer spread_timer(io);
  const auto spread_t0 = std::chrono::steady_clock::now();
  std::function<void()> start_spread = [&] {
    const auto due = [&](size_t i) {
      return spread_t0 + std::chrono::microseconds(uint64_t{cfg.start_spread_ms} * 1000 * i / devices.size());
    };
    for (size_t i = started.size(); i < devices.size(); i = started.size()) {
      if (due(i) > std::chrono::steady_clock::now()) {
        spread_timer.expires_at(due(i));
        spread_timer.async_wait([&](boost::system::error_code ec) {
          if (!ec) start_spread();
        });
        return;
      }
      try {
        started.push_back(devices[i].get());
        devices[i]->start();
      } catch (const std::exception& e) {  // as at once: the pool stops (exit 3)
        spdlog::error("device {} could not start: {}; stopping the pool", devices[i]->name(), e.what());
        log.emit("emu:" + devices[i]->name(), "device_start_failed", {{"what", e.what()}});
        exit_code = iotw::kExitCouldNotRun;
        ::kill(::getpid(), SIGTERM);
        return;
      }
    }
  };
  if (at_once < devices.size()) start_spread();
  // The control channel (docs/emulators.md "Control channel"): run-time device faults from the harness.
  PoolControl control(log);
  for (const auto& d : devices) control.add(*d);
  std::optional<ControlServer> control_server;
  if (!cfg.control.empty()) {
    control_server.emplace(io, cfg.control, control);
    control_server->start();
    log.emit("emu", "control_listening", {{"path", cfg.control}});
  }
  // A device whose process ended by itself (a TAP module's child) ends the pool (exit 3).
  boost::asio::steady_timer exit_watch(io);
  std::function<void()> watch_exits = [&] {
    exit_watch.expires_after(std::chrono::milliseconds(200));
    exit_watch.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      for (const auto& d : devices)
        if (const std::optional<int> code = d->exited()) {
          log.emit("emu:" + d->name(), "tap_module_exited", {{"code", *code}});
          spdlog::error("the process of device {} (a TAP module) exited with code {}; stopping the pool", d->name(), *code);
          exit_code = iotw::kExitCouldNotRun;
          ::kill(::getpid(), SIGTERM);  // stop the pool like a signal would
          return;
        }
      watch_exits();
    });
  };
  watch_exits();
  ::malloc_trim(0);  // what parsing the pool file and starting the devices freed goes back to the OS
  log.emit("emu", "pool_started", {{"devices", device_count}});
  std::map<std::string, int> per_kind;
  for (const auto& d : devices) per_kind[kind_name(d->kind())]++;
  std::string summary;
  for (const auto& [kind, n] : per_kind) summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + kind;
  spdlog::info("pool started: {} devices ({}){}", device_count, summary,
               cfg.control.empty() ? "" : ", control channel " + cfg.control);
  run_until_signal(io, log, [&] {
    exit_watch.cancel();
    spread_timer.cancel();
    if (control_server) control_server->stop();
    stop_started();
  });
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the harness that spawned us
  CLI::App app{"iotw-emu: emulated IOTW micro-mining devices"};
  iotw::cli::CommonOptions cli(app, "iotw-emu");
  std::string config;
  app.add_option("--config", config, "pool file (docs/emulators.md)");
  std::string tap_device;
  app.add_option("--device", tap_device,
                 "with --config: run only this TAP module of the pool (lwIP on its TAP interface; the pool starts one "
                 "such process per TAP device)");
  app.require_subcommand(0, 1);

  DeviceSpec spec;
  std::string events = "/dev/stderr";
  bool rtu_pty = false, fw_pty = false;
  auto common = [&](CLI::App* sub) {
    sub->add_option("--name", spec.name, "device name (sent in Hello; default <model>-01)");
    auto* link = sub->add_option("--link", spec.link, "serial link of the firmware (PTY/tty); none = no firmware");
    sub->add_flag("--pty", fw_pty,
                  "the firmware's UART on a new PTY (its path printed on the first line): a reference DUT to certify")
        ->excludes(link);
    sub->add_option("--nvs-dir", spec.nvs_dir, "the firmware's flash directory (default nvs/<name>)");
    sub->add_option("--events", events, "event file (default: stderr)");
    sub->add_option("--usage-period-ms", spec.usage_period_ms, "UsageReport period, ms")->check(CLI::Range(100, 86'400'000));
    sub->add_option("--mutant", spec.behaviour,
                    "run with this named defect (docs/certification.md \"Mutants\"): a firmware one needs --link; "
                    "dps also modbus_off_by_one")
        ->check(CLI::IsMember(device_behaviours()));
  };
  CLI::App* dps = app.add_subcommand("dps", "one DPS power chip with its Modbus register map");
  common(dps);
  dps->add_option("--modbus-tcp", spec.modbus_tcp, "serve Modbus TCP on A.B.C.D:PORT (0 = any free port)");
  dps->add_flag("--modbus-rtu-pty", rtu_pty, "serve Modbus RTU (slave 1) on a new PTY; prints its path first");
  dps->add_option("--load-ohm", spec.load_ohm, "resistive load on the output, ohm")->check(CLI::Range(0.1, 6553.5));
  CLI::App* bulb = app.add_subcommand("bulb", "one smart bulb speaking the Yeelight LAN protocol");
  common(bulb);
  bulb->add_option("--modbus-tcp", spec.modbus_tcp,
                   "serve the bulb's DPS chip (docs/dps-register-map.md, e.g. its VIN register: power faults) on Modbus "
                   "TCP A.B.C.D:PORT (0 = any free port)");
  bulb->add_option("--yeelight", spec.yeelight, "Yeelight control on TCP A.B.C.D:PORT (0 = any free port)");
  bulb->add_option("--discovery", spec.yeelight_discovery, "discovery replies on UDP A.B.C.D:PORT");
  // AT-mode modules (docs/emulators.md "AT mode"): one subcommand per model.
  AtModuleConfig at_cfg;
  bool at_mode = false, at_pty = false, at_unpaced = false;
  int at_baud = 0;
  std::string soc_node_pubkey;
  std::vector<CLI::App*> at_subs;
  for (const auto& model : at_models()) {
    CLI::App* sub = app.add_subcommand(model, "one " + model + " Wi-Fi module on a PTY: the firmware on the chip (SoC "
                                              "mode, a reference device under test) or, with --at, its AT command set");
    sub->add_flag("--at", at_mode, "AT mode: the module's AT command set on its UART (without it: SoC mode)");
    sub->add_flag("--pty", at_pty, "the UART is a new PTY; its path is printed on the first line (required)");
    sub->add_option("--ssid", at_cfg.ap.ssid, "SSID of the simulated access point");
    sub->add_option("--password", at_cfg.ap.password, "its password (empty = open network)");
    sub->add_option("--channel", at_cfg.ap.channel, "its channel")->check(CLI::Range(1, 14));
    sub->add_option("--rssi", at_cfg.ap.rssi, "its RSSI, dBm (below -95: out of range)")->check(CLI::Range(-120, 0));
    sub->add_option("--baud", at_baud, "UART rate the output is paced at (default: the module's, 115200 ESP / 38400 Realtek)")
        ->check(CLI::Range(300, 4'000'000));
    sub->add_flag("--unpaced", at_unpaced, "do not pace the UART output");
    sub->add_option("--events", events, "event file (default: stderr)");
    // SoC mode (no --at): the firmware runs on the chip and speaks the framed protocol on the PTY.
    sub->add_option("--name", spec.name, "SoC mode: device name (sent in Hello; default <model>-01)");
    sub->add_option("--nvs-dir", spec.nvs_dir, "SoC mode: the firmware's flash directory (default nvs/<name>)");
    sub->add_option("--mutant", spec.behaviour,
                    "run with this named defect (docs/certification.md \"Mutants\"): SoC mode a firmware one (e.g. "
                    "wrong_hash, no_nvs), --at an AT-module one (at_wrong_terminator); default honest")
        ->check(CLI::IsMember(device_behaviours()));
    sub->add_option("--node-pubkey", soc_node_pubkey,
                    "SoC mode: the trust node's public key (64 hex digits): turns on light verification of checkpoints");
    at_subs.push_back(sub);
  }
  if (const auto code = cli.parse(argc, argv)) return *code;

  try {
    for (CLI::App* sub : at_subs) {
      if (!app.got_subcommand(sub)) continue;
      if (!config.empty()) throw std::invalid_argument("--config and a subcommand exclude each other");
      if (!at_pty) throw std::invalid_argument(sub->get_name() + " standalone needs --pty (with --at: its AT command set; without: SoC mode)");
      check_mutant(spec.behaviour, sub->get_name(), at_mode ? "at" : "soc", true);
      if (!at_mode) return run_soc_pty(sub->get_name(), spec, soc_node_pubkey, events);
      if (!spec.name.empty()) throw std::invalid_argument("--name is a SoC-mode option; an --at module runs no firmware");
      at_cfg.model = sub->get_name();
      at_cfg.wrong_terminator = behaviour_flags(spec.behaviour).at_wrong_terminator;
      EventLog log(events);
      boost::asio::io_context io;
      iotw::SteadyClock clock;
      AtPtyServer server(at_cfg, at_baud, !at_unpaced, clock);
      std::cout << server.start() << std::endl;
      log.emit("emu:" + at_cfg.model, "at_started",
               {{"model", at_cfg.model}, {"baud", server.baud()}, {"paced", !at_unpaced}, {"ssid", at_cfg.ap.ssid}});
      run_until_signal(io, log, [&] { server.stop(); });
      return 0;
    }
    if (app.got_subcommand(dps) || app.got_subcommand(bulb)) {
      if (!config.empty()) throw std::invalid_argument("--config and a subcommand exclude each other");
      spec.model = app.got_subcommand(dps) ? "dps" : "bulb";
      check_mutant(spec.behaviour, spec.model, "soc", !spec.link.empty() || fw_pty);
      if (spec.name.empty()) spec.name = spec.model + "-01";
      if (spec.nvs_dir.empty()) spec.nvs_dir = "nvs/" + spec.name;
      std::optional<PtyPair> pty;  // --pty: the firmware's UART, printed first
      if (fw_pty) {
        pty = open_pty_pair(spec.baud);
        spec.link = pty->path;
        spec.link_fd = pty->master;
        ::fcntl(pty->master, F_SETFL, ::fcntl(pty->master, F_GETFL) | O_NONBLOCK);
        std::cout << pty->path << "\n";
      }
      EventLog log(events);
      boost::asio::io_context io;
      iotw::SteadyClock clock;
      std::function<void()> stop;
      std::optional<DpsDevice> d;
      std::optional<SmartBulb> b;
      if (app.got_subcommand(dps)) {
        if (spec.modbus_tcp.empty() && !rtu_pty) throw std::invalid_argument("dps needs --modbus-tcp and/or --modbus-rtu-pty");
        d.emplace(io, spec, log, clock);
        d->start();
        if (rtu_pty) std::cout << d->open_rtu_pty() << "\n";
        if (!d->modbus_endpoint().empty()) std::cout << d->modbus_endpoint() << "\n";
        stop = [&] { d->stop(); };
      } else {
        if (spec.yeelight.empty()) throw std::invalid_argument("bulb needs --yeelight");
        b.emplace(io, spec, log, clock);
        b->start();
        std::cout << b->yeelight_endpoint() << "\n";
        if (!b->discovery_endpoint().empty()) std::cout << b->discovery_endpoint() << "\n";
        if (!b->modbus_endpoint().empty()) std::cout << b->modbus_endpoint() << "\n";
        stop = [&] { b->stop(); };
      }
      std::cout.flush();
      run_until_signal(io, log, stop);
      if (pty) {
        ::close(pty->master);
        ::close(pty->slave);
      }
      return 0;
    }
    if (config.empty()) {
      std::cerr << "iotw-emu: error: give --config pool.toml, or a subcommand (dps, bulb, esp8266, esp32, rtl8710, "
                   "rtl8195)\nRun 'iotw-emu --help' for usage.\n";
      return iotw::kExitUsage;
    }
    if (!tap_device.empty()) return run_tap_module(config, tap_device);
    return run_pool(config);
  } catch (const PoolConfigError& e) {  // the pool file: FILE:LINE: message
    spdlog::error("{}", e.what());
    return iotw::kExitUsage;
  } catch (const std::invalid_argument& e) {  // options that do not go together
    spdlog::error("{}", e.what());
    return iotw::kExitUsage;
  } catch (const std::exception& e) {  // a PTY, port, link, TAP interface or child that would not come up
    spdlog::error("could not run: {}", e.what());
    return iotw::kExitCouldNotRun;
  }
}
