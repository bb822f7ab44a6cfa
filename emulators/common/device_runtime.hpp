// Runs one firmware_stub core on a Boost.Asio loop: the device's link is its UART on a serial link (PTY or tty),
// or, for a SoC module given trust_node_udp, its Wi-Fi UDP socket (a host UDP socket connected to the trust node's
// [udp] endpoint; one firmware frame per datagram); its flash is an NVS directory (ports/host), its console goes to
// the event stream.
#pragma once
#include <array>
#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <vector>
#include <string>

#include "clock.hpp"
#include "common/chip_profile.hpp"
#include "device_behaviour.hpp"
#include "dps_chip/powered_chip.hpp"
#include "event_log.hpp"
#include "firmware_chip.hpp"

extern "C" {
#include "host_port.h"
#include "iotw/firmware.h"
}

namespace iotw::emu {

/// One device of an iotw-emu pool (docs/emulators.md [[device]]).
struct DeviceSpec {
  std::string name;                 ///< unique label, sent in Hello
  std::string model;                ///< "esp8266" | "esp32" | "dps" | "bulb"; AT mode also "rtl8710" | "rtl8195"
  std::string link;                 ///< serial path (PTY or tty); with `links`, links.front()
  /// Several trust nodes (pool key `links`, docs/protocol.md §6 "Several trust nodes (mesh failover)"): one serial
  /// path per trust node, in failover order; empty = the one `link`. The firmware writes to and hears one of them
  /// at a time (event `node_selected`); bytes from the others are read and dropped.
  std::vector<std::string> links;
  /// Instead of `link`: an open, non-blocking serial fd the runtime uses (a dup of it) as its UART, e.g. the master
  /// side of a PTY whose slave path a certifier opens (standalone `iotw-emu MODEL --pty`); -1 = open `link`.
  int link_fd = -1;
  std::string nvs_dir;              ///< flash: identity and boot counter survive restarts
  std::string behaviour = "honest"; ///< device_behaviours() (device_behaviour.hpp): "honest", a Byzantine device or a mutant
  /// behaviour "collude_all_slots" (pool file [collusion]): the trust node's witnesses per round and how long the
  /// group waits for a round's slots to fill (collusion_board.hpp).
  uint32_t collusion_witnesses = 0;
  uint64_t collusion_window_ms = 50;
  int baud = 115200;                ///< UART rate; AT mode: the pacing rate (0 = the module's default)
  // dps / bulb only (docs/emulators.md):
  int usage_period_ms = kDefaultUsagePeriodMs;  ///< UsageReport period, ms
  std::string modbus_tcp;           ///< dps: serve Modbus TCP on "A.B.C.D:PORT" ("" = off)
  double load_ohm = kDefaultLoadOhm;  ///< dps: resistive load on the output, ohm
  std::string yeelight;             ///< bulb: Yeelight control on "A.B.C.D:PORT" ("" = off)
  std::string yeelight_discovery;   ///< bulb: discovery replies on UDP "A.B.C.D:PORT" ("" = off)
  using PowerStep = ::iotw::emu::PowerStep;  ///< powered_chip.hpp
  std::vector<PowerStep> power;     ///< scripted supply changes (brownout, loss, restore, slow ramp)
  // AT mode (docs/emulators.md "AT mode"): an appliance MCU drives the module (model esp8266 | esp32 |
  // rtl8710 | rtl8195) over its UART; the module's UDP socket reaches the trust node.
  std::string mode = "soc";         ///< "soc" (firmware on the module, serial link) | "at"
  /// at: the trust node's UDP endpoint "127.x.y.z:PORT"; tap, and a SoC module over UDP (esp8266/esp32 without
  /// `link`: the module's Wi-Fi UDP socket, a host UDP socket here): "A.B.C.D:PORT"
  std::string trust_node_udp;
  std::string trust_node_tcp;       ///< at, instead of trust_node_udp: the trust node's [tcp] endpoint "127.x.y.z:PORT"
  // SoC mode over TAP (docs/emulators.md "TAP mode"; esp_wifi/tap_module.hpp): lwIP on a Linux TAP interface.
  std::string tap;                  ///< the TAP interface name ("" = not a TAP module); then no `link`
  std::string tap_ip;               ///< tap: the module's IPv4 address and prefix, "A.B.C.D/P"
  std::string tap_mac;              ///< tap: the module's MAC, "aa:bb:cc:dd:ee:ff"
  /// The trust node's Ed25519 node public key (pool file top-level node_pubkey): the firmware's light
  /// verification (docs/protocol.md §6) is on when set, off when not.
  std::optional<std::array<uint8_t, 32>> node_pubkey;
  /// What-if knob (pool key ram_budget_kib): the application RAM budget of the chip, KiB, that the firmware's static
  /// RAM is checked against at start (common/ram_budget.hpp); 0 = the chip profile's app_ram_bytes.
  uint32_t ram_budget_kib = 0;
  // model qemu-cortex-m3 (qemu/qemu_device.hpp): the firmware image QEMU runs.
  std::string image;                ///< the ELF image (build/cross/cortex-m3/iotw_fw_lm3s6965.elf)
  /// Every model: 64 hex characters, the device's seed (docs/architecture.md "Determinism"): its firmware's random
  /// bytes, hence the identity a blank NVS gets at first boot, come from the ports' hash DRBG of it (TAP modules: lwIP's
  /// rand() too). "" = the OS's randomness (not allowed for qemu-cortex-m3, whose image has no other source).
  std::string seed;
};

/// The firmware core on the device's chip (FirmwareChip: CPU time, clock, watchdog, faults, events) on a Boost.Asio loop:
/// the runtime owns the links, reads them, polls the chip on the pool's ticker and wakes it when a held frame is due.
class DeviceRuntime : private FirmwareChip::Owner {
 public:
  /// profile must outlive the runtime. Throws std::invalid_argument on an unknown behaviour. A firmware that panics
  /// (behaviour reset_on_garbage) is reset like reboot() (cause "panic"). clock: the pool's
  /// time (default: a steady clock); the firmware and the watchdog read the device's own SkewedClock over it.
  DeviceRuntime(boost::asio::io_context& io, DeviceSpec spec, const ChipProfile& profile, EventLog& log,
                const Clock* clock = nullptr);
  ~DeviceRuntime() { disarm_poll(); }
  DeviceRuntime(const DeviceRuntime&) = delete;
  DeviceRuntime& operator=(const DeviceRuntime&) = delete;

  /// Power on: print the boot banner, open the link, boot the firmware, start reading and polling.
  /// Throws std::runtime_error if the link cannot be opened or NVS cannot be written.
  void start();
  /// Power off: stop reading and polling, close the link.
  void stop();

  /// The supply failed (brownout or power loss): the firmware stops and its RAM is lost (iotw_fw zeroed);
  /// the link stays open and received bytes are dropped.
  void power_off() { chip_.power_off(); }
  /// The supply is back: the firmware boots again with reset_reason (IOTW_RESET_*); NVS (identity,
  /// boot.count, usage.seq) survived. Emits "reset" {reset_reason, boot_count}. Throws std::runtime_error
  /// if NVS is not writable.
  void power_on(uint32_t reset_reason) { chip_.power_on(reset_reason); }
  bool powered() const { return chip_.powered(); }
  /// iotw_fw_report_usage when powered; 0 when off or not attached (nothing consumed).
  int64_t report_usage(uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s) {
    return chip_.report_usage(energy_mwh, on_seconds, period_s);
  }

  // Device faults driven over the pool's control channel (docs/faults.md "Device faults"); FirmwareChip's.
  /// Software reset (esp_restart): prints the chip's software-reset banner, RAM is lost, NVS kept, the firmware
  /// boots with profile.sw_reset. Emits "reset" {reset_reason, boot_count, cause: "software"}. Throws
  /// std::runtime_error when not running or if NVS is not writable.
  void reboot();
  /// The firmware stops being stepped (an endless loop): no poll, received bytes are lost. The watchdog bites
  /// after profile.wdt_timeout_ms on the device's clock and resets the chip with profile.wdt_reset ("reset"
  /// {cause: "watchdog"}). Emits "hung" {watchdog, watchdog_timeout_ms}. Throws std::runtime_error when not running.
  void hang();
  bool hung() const { return chip_.hung(); }
  /// The device's clock: see SkewedClock::skew. Emits "clock_skewed" with clock_json().
  void skew_clock(int64_t offset_ms, double ppm) { chip_.skew_clock(offset_ms, ppm); }
  /// {device_ms, true_ms, drift_ms, ppm, uptime_ms}: uptime_ms is what the next Heartbeat carries.
  nlohmann::json clock_json() const { return chip_.clock_json(); }
  /// One step of the chip's housekeeping: the held frames that are due, the watchdog, then (unless hung) the
  /// firmware's timers. The pool's poll ticker calls it every 20 ms; tests call it directly.
  void tick();

  const uint8_t* pubkey() const { return chip_.pubkey(); }
  uint32_t boot_count() const { return chip_.firmware().boot_count; }
  uint32_t reset_reason() const { return chip_.reset_reason(); }

  iotw_fw_state state() const { return chip_.state(); }
  /// The trust node the firmware talks to: an index into spec.links (0 with one link).
  size_t node_index() const { return chip_.node(); }
  const iotw_fw_stats& stats() const { return chip_.firmware().stats; }
  const std::string& name() const { return spec_.name; }

  // The chip's CPU time (docs/emulators.md "Chip profiles", FirmwareChip): tick() releases the held frames that are
  // due, and a timer on the pool's loop does so between ticks.
  /// Frames the firmware sent that wait for the CPU (boot or crypto) to finish.
  size_t frames_held() const { return chip_.frames_held(); }
  /// Device-clock µs at which the CPU's pending work ends (<= now: idle).
  uint64_t cpu_busy_until_us() const { return chip_.cpu_busy_until_us(); }

 private:
  // FirmwareChip::Owner
  bool write(size_t node, std::vector<uint8_t> bytes) override { return write_link(node, bytes.data(), bytes.size()); }
  void wake_after(uint64_t us) override;
  void emit(const char* kind, nlohmann::json fields) override { log_.emit(source_, kind, std::move(fields)); }
  void ram_lost() override { iotw_host_port_nvs_ram_clear(&port_ctx_); }  // behaviour no_nvs: "stored" only in RAM

  /// ports/host for the spec (NVS dir, seed, link kind, the mesh's select_node), bound to port_ctx_.
  iotw_port host_port();
  static FirmwareChipConfig chip_config(const DeviceSpec& spec);
  static void on_select_node(void* user, uint8_t index, const char* reason);
  /// Writes to the link of trust node `node` (a frame goes to the node it was sent to, also when it left late): a
  /// serial link's bytes, or one datagram. False when the link refused it.
  bool write_link(size_t node, const uint8_t* bytes, size_t len);
  /// Reads link i (0 .. links_.size() - 1); only the selected node's bytes reach the firmware.
  void read_some(size_t i);
  /// Joins (or leaves) the pool's one poll ticker (PollService in device_runtime.cpp): every 20 ms it calls tick()
  /// of every running device of the io_context, so a pool of 10,000 devices arms one timer per period instead of
  /// 10,000.
  void arm_poll();
  void disarm_poll();

  boost::asio::io_context& io_;
  DeviceSpec spec_;
  EventLog& log_;
  std::string source_;
  SteadyClock steady_;        ///< the default pool clock
  /// The device's link to one trust node: its UART (a serial fd) or its UDP socket. No receive buffer of its own:
  /// a read waits for readability, then reads into the pool thread's one buffer, which the firmware consumes at once.
  struct Link {
    Link(boost::asio::io_context& io, int fd, std::string path) : sd(io, fd), udp(io), retry(io), path(std::move(path)) {}
    Link(boost::asio::io_context& io, boost::asio::ip::udp::socket s, std::string path)
        : sd(io), udp(std::move(s)), retry(io), path(std::move(path)) {}
    bool datagram() const { return udp.is_open(); }
    boost::asio::posix::stream_descriptor sd;  ///< serial (open unless datagram())
    boost::asio::ip::udp::socket udp;          ///< datagram: connected to the trust node's [udp] endpoint
    boost::asio::steady_timer retry;  ///< read again after an error (EIO while the PTY's other end is closed)
    std::string path;                 ///< the serial path, or "udp:A.B.C.D:PORT"
  };
  std::vector<std::unique_ptr<Link>> links_;  ///< one per trust node (spec links), or the one `link` / UDP socket
  boost::asio::steady_timer release_timer_;
  std::function<void()> poll_;  ///< what the pool's poll ticker calls every 20 ms; empty while not joined
  iotw_host_port_ctx port_ctx_{};
  FirmwareChip chip_;  ///< the firmware core on the chip (after port_ctx_, which its port uses)
  bool running_ = false;
};

}  // namespace iotw::emu
