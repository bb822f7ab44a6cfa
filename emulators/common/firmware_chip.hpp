// The firmware core (firmware_stub) on an emulated chip, sans-IO: the chip profile's CPU time (boot, SHA-256 and
// Ed25519 cost their cycles / MHz; a frame the firmware sends while the CPU is busy is held until the CPU is done, in
// order), the device's own clock (SkewedClock over the owner's Clock: clock_skew), its watchdog (hang -> watchdog
// reset), software reset, power off / on, the usage report, the behaviour flags and the collusion board. Nothing of
// its own runs: its owner feeds it bytes, ticks it, writes its frames to the link and wakes it when a held frame is
// due. DeviceRuntime owns one in real time (serial / UDP links, Asio timers, iotw-emu's event log), sim::SimDevice in
// simulation mode (sim links, the Scheduler, the run's EventStream); the same steps give the same events.
//
// Events (docs/events.md, emu kinds), through the owner's emit / log: "boot_banner" {text, model, chip, cpu_mhz,
// boot_ms, ed25519_sign_us, link...} at power-on and {text, model, cause} at a reset; "state" {state} on every change;
// "log" {level, event, detail}; "reset" {reset_reason, boot_count[, cause]}; "hung" {watchdog, watchdog_timeout_ms,
// starved_ms}; "watchdog_reset" {watchdog, starved_ms, watchdog_timeout_ms}; "clock_skewed" (clock_json() + offset_ms).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clock.hpp"
#include "collusion_board.hpp"
#include "common/chip_profile.hpp"
#include "device_clock.hpp"
#include "watchdog.hpp"

extern "C" {
#include "iotw/firmware.h"
}

namespace iotw::emu {

/// What the firmware is configured with (besides the profile's model and version).
struct FirmwareChipConfig {
  std::string name;                  ///< sent in Hello; also in error messages
  std::string behaviour = "honest";  ///< device_behaviours(): its firmware flags (cfg.faults) and collusion
  std::optional<std::array<uint8_t, 32>> node_pubkey;  ///< light verification on when set
  /// behaviour "collude_all_slots": the trust node's witnesses per round, the group's round window (ms) and its board
  /// (null = the pool's one board, CollusionBoard::instance(); must outlive the chip).
  uint32_t collusion_witnesses = 0;
  uint64_t collusion_window_ms = 50;
  CollusionBoard* collusion_board = nullptr;
};

class FirmwareChip {
 public:
  /// What the owner provides: the link, a wake-up, the event stream, boot hooks.
  class Owner {
   public:
    /// Write one frame (as the firmware sent it) to the link of trust node `node` (FirmwareChip::node() when it was
    /// sent). False when the link refused it.
    virtual bool write(std::size_t node, std::vector<uint8_t> bytes) = 0;
    /// Call release_held() in about `us` µs (device µs, read as the owner's): a held frame is due then. Called each time
    /// frames stay held after a release; the owner may keep one pending wake-up.
    virtual void wake_after(uint64_t us) = 0;
    /// A device event: kind and fields (the owner adds source and time).
    virtual void emit(const char* kind, nlohmann::json fields) = 0;
    /// A firmware log line; level "debug" | "info" | "warn" | "error". Default: emit("log", {level, event, detail}).
    virtual void log(const char* level, const char* event, const char* detail);
    /// At every (re)boot, before the firmware boots: RAM is lost (e.g. the host port's RAM-only NVS).
    virtual void ram_lost() {}
    /// After every boot (start, reset, power_on), the firmware running.
    virtual void booted() {}

   protected:
    ~Owner() = default;
  };

  /// port: an initialised port table (ports/host or ports/sim; its ctx must outlive the chip). The chip runs the
  /// firmware on a copy bound to itself: the firmware's link_send and log come to the chip (then owner.write / log),
  /// now_ms reads the device's clock, the crypto calls the port's and charges the profile's CPU time, and the rest
  /// (random bytes, NVS, select_node) is the port's. clock: the owner's time; the device's SkewedClock runs over it.
  /// profile, clock and owner must outlive the chip. Throws std::invalid_argument for an unknown behaviour.
  FirmwareChip(const ChipProfile& profile, const Clock& clock, FirmwareChipConfig cfg, const iotw_port& port,
               Owner& owner);
  FirmwareChip(const FirmwareChip&) = delete;
  FirmwareChip& operator=(const FirmwareChip&) = delete;

  /// The power-on banner (event "boot_banner"): the profile's text, model, chip, cpu_mhz, boot_ms, ed25519_sign_us and
  /// the owner's link fields (e.g. {link}).
  void emit_boot_banner(nlohmann::json link_fields);
  /// First power-on: trust node 0, the CPU busy with the boot for profile.boot_ms, the firmware boots (with the reset
  /// reason of the last boot, profile.power_on_reset at first), the watchdog fed. Throws std::runtime_error if NVS is
  /// not writable.
  void start();
  /// The owner stops (its links closed): unpowered, held frames dropped. start() boots again.
  void stop();

  /// Bytes from the link of the selected trust node. False (dropped) while unpowered or hung.
  bool receive(const uint8_t* bytes, std::size_t len);
  /// The chip's housekeeping (iotw-emu's poll, every 20 ms): when powered, the watchdog (hung: a bite resets the chip
  /// with profile.wdt_reset), else the firmware's timers and a watchdog feed.
  void tick();
  /// Writes the held frames that are due on the device's clock; asks owner.wake_after for the next one.
  void release_held();

  /// Software reset (esp_restart): the chip's software-reset banner, RAM lost, NVS kept, boot with profile.sw_reset;
  /// "reset" {cause: "software"}. Throws std::runtime_error when unpowered or NVS is not writable.
  void reboot();
  /// The firmware stops being stepped (an endless loop): no poll, received bytes are lost; the watchdog bites after
  /// profile.wdt_timeout_ms of the device's clock. Emits "hung" (once). Throws std::runtime_error when unpowered.
  void hang();
  /// The device's clock steps by offset_ms and runs at ppm off (SkewedClock::skew); the watchdog's count is kept.
  /// Emits "clock_skewed".
  void skew_clock(int64_t offset_ms, double ppm);
  /// {device_ms, true_ms, drift_ms, ppm, uptime_ms}: uptime_ms is what the next Heartbeat carries (0 when off).
  nlohmann::json clock_json() const;

  /// The supply failed: the firmware stops, RAM (and the secret key) and held frames are lost, a hang ends; NVS kept.
  void power_off();
  /// The supply is back: boot with reset_reason (IOTW_RESET_*); "reset" {reset_reason, boot_count}. Throws
  /// std::runtime_error if NVS is not writable.
  void power_on(uint32_t reset_reason);
  /// iotw_fw_report_usage when powered: the seq used, 0 when not attached, < 0 on an error; 0 when off.
  int64_t report_usage(uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s);

  const std::string& name() const { return name_; }
  bool powered() const { return powered_; }
  bool hung() const { return hung_; }
  iotw_fw_state state() const { return iotw_fw_get_state(&fw_); }
  const iotw_fw& firmware() const { return fw_; }
  const uint8_t* pubkey() const { return fw_.pk; }
  /// The reset reason of the running firmware's boot; 0 when off.
  uint32_t reset_reason() const { return powered_ ? cfg_.reset_reason : 0; }
  /// The trust node the firmware talks to (its last select_node; 0 with one node).
  std::size_t node() const { return node_; }
  const SkewedClock& clock() const { return clock_; }
  Watchdog& watchdog() { return wdt_; }
  /// Frames the firmware sent that wait for the CPU (boot or crypto) to finish.
  std::size_t frames_held() const { return held_.size(); }
  /// Heap bytes the held frames take.
  std::size_t held_bytes() const;
  /// Device-clock µs at which the CPU's pending work ends (<= now: idle).
  uint64_t cpu_busy_until_us() const { return cpu_free_us_; }

 private:
  struct Held {
    uint64_t due_us;  ///< device-clock µs
    std::size_t node;  ///< the trust node it was sent to (it goes there, also when it leaves late)
    std::vector<uint8_t> bytes;
  };
  static FirmwareChip& self(void* ctx) { return *static_cast<FirmwareChip*>(ctx); }
  uint64_t now_us() const { return clock_.now_ns() / 1000; }
  /// The CPU works for us µs more (after whatever it is still busy with).
  void charge_cpu(double us);
  /// A (re)boot's start: RAM lost (held frames too), the CPU busy with the boot for profile.boot_ms.
  void begin_boot();
  /// Boots the firmware with reset_reason: powered, the watchdog fed.
  void boot(uint32_t reset_reason);
  void wipe_ram();
  void reset_to(uint32_t reason, const std::vector<std::string>& banner, const char* cause);
  void note_state();
  int send(const uint8_t* bytes, std::size_t len);

  const ChipProfile& profile_;
  Owner& owner_;
  std::string name_;
  std::optional<std::array<uint8_t, 32>> node_pubkey_;
  SkewedClock clock_;
  Watchdog wdt_;
  CollusionMember collusion_;
  iotw_port inner_;  ///< the owner's port
  iotw_port port_;   ///< what the firmware calls: bound to this chip
  iotw_fw_config cfg_{};
  iotw_fw fw_{};
  std::vector<Held> held_;  ///< in due order (a vector: most devices never hold one, and a deque allocates)
  uint64_t cpu_free_us_ = 0;
  std::size_t node_ = 0;
  iotw_fw_state reported_ = IOTW_FW_OFF;
  bool powered_ = false, hung_ = false;
};

}  // namespace iotw::emu
