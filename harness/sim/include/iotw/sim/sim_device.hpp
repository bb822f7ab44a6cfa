// A device in simulation mode (docs/simulation.md "Devices"): the firmware core (firmware_stub, ports/sim) on an
// emulated chip under virtual time, with the chip profile's CPU time (emulators/common/chip_profile.hpp: boot, SHA-256
// and Ed25519 cost their cycles / MHz, and a frame sent while the CPU is busy leaves when it is done), its behaviour
// (device_behaviour.hpp), its own clock (SkewedClock: clock_skew) and its watchdog (hang), as DeviceRuntime models them
// in real time. Its events have the shapes and source ("emu:<name>") of iotw-emu's.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "collusion_board.hpp"
#include "common/chip_profile.hpp"
#include "device_clock.hpp"
#include "iotw/sim/event_stream.hpp"
#include "iotw/support/scheduler.hpp"
#include "iotw/sim/verify_memo.hpp"
#include "watchdog.hpp"

extern "C" {
#include "iotw/firmware.h"
#include "sim_port.h"
}

namespace iotw::sim {

struct SimDeviceConfig {
  std::string name;                  ///< sent in Hello, unique in the rig
  std::string behaviour = "honest";  ///< a firmware-layer behaviour of device_behaviour_table()
  std::array<std::uint8_t, 32> seed{};  ///< the device's component seed: its identity and every random byte
  std::optional<std::array<std::uint8_t, 32>> node_pubkey;  ///< light verification on when set
  std::uint32_t collusion_witnesses = 0;  ///< "collude_all_slots": the node's witnesses per round
  /// The run's shared Ed25519 verification results (verify_memo.hpp), or null: every verification computed.
  VerifyMemo* verify_memo = nullptr;
};

class SimDevice {
 public:
  /// Sends go to `send` (the device's link). board: the colluding group's board (one per run). Throws
  /// std::invalid_argument for an unknown behaviour or one sim mode cannot model (a host-layer one), std::runtime_error
  /// when libsodium cannot start. Every reference must outlive the device.
  using Send = std::function<void(std::vector<std::uint8_t>)>;
  SimDevice(Scheduler& sched, EventStream& events, SimDeviceConfig cfg, const emu::ChipProfile& profile,
            emu::CollusionBoard& board, Send send);
  SimDevice(const SimDevice&) = delete;
  SimDevice& operator=(const SimDevice&) = delete;

  /// Power on: boot banner, boot (the CPU busy for profile.boot_ms), Hello. From then on the device polls itself:
  /// tick() runs on the grid of kPollNs from this moment (iotw-emu's poll ticker), but only at the ticks where the
  /// firmware has something to do (iotw_fw_next_poll_ms), or at every tick while it is hung or its clock is skewed; a
  /// tick with nothing due changes nothing, so the outputs are those of a tick every 20 ms.
  void start();
  static constexpr std::uint64_t kPollNs = 20'000'000;
  /// Bytes from the link (dropped while hung).
  void on_rx(const std::uint8_t* bytes, std::size_t len);
  /// The chip's housekeeping (iotw-emu's poll): the watchdog, then the firmware timers.
  void tick();

  /// Device faults (docs/faults.md "Device faults"), as DeviceRuntime: software reset; hang (the watchdog resets the
  /// chip after profile.wdt_timeout_ms of the device's clock); clock step and rate. Throw std::runtime_error when the
  /// device is not running.
  void reboot();
  void hang();
  void skew_clock(std::int64_t offset_ms, double ppm);
  /// The supply failed (brown-out, power loss): the firmware stops, RAM and held frames are lost, received bytes are
  /// dropped; NVS survives. No effect when off.
  void power_off();
  /// The supply is back: the firmware boots with reset_reason (IOTW_RESET_*), emits "reset" {reset_reason,
  /// boot_count}. Throws std::runtime_error when NVS is not writable.
  void power_on(std::uint32_t reset_reason);
  bool powered() const { return powered_; }
  /// iotw_fw_report_usage when powered (the seq used, 0 when not attached, < 0 on an error); 0 when off.
  std::int64_t report_usage(std::uint64_t energy_mwh, std::uint32_t on_seconds, std::uint32_t period_s);
  /// {device_ms, true_ms, drift_ms, ppm, uptime_ms} (DeviceRuntime::clock_json).
  nlohmann::json clock_json() const;

  const std::string& name() const { return cfg_.name; }
  const std::uint8_t* pubkey() const { return fw_.pk; }
  iotw_fw_state state() const { return iotw_fw_get_state(&fw_); }
  bool hung() const { return hung_; }
  /// Approximate bytes this device's state takes (the firmware, the port and the held frames).
  std::size_t memory_bytes() const;

 private:
  static int on_send(void* user, const std::uint8_t* bytes, std::size_t len);
  static void on_log(void* user, iotw_log_level level, const char* event, const char* detail);
  static std::uint64_t on_now_ms(void* ctx);
  static void on_sha256(void* ctx, const std::uint8_t* in, std::size_t len, std::uint8_t out[32]);
  static void on_keypair(void* ctx, const std::uint8_t seed[32], std::uint8_t pk[32], std::uint8_t sk[64]);
  static void on_sign(void* ctx, const std::uint8_t sk[64], const std::uint8_t* msg, std::size_t len, std::uint8_t sig[64]);
  static int on_verify(void* ctx, const std::uint8_t pk[32], const std::uint8_t* msg, std::size_t len,
                       const std::uint8_t sig[64]);
  static SimDevice& self_of(void* ctx) { return *static_cast<SimDevice*>(static_cast<iotw_sim_port_ctx*>(ctx)->user); }
  std::uint64_t now_us() const { return clock_.now_ns() / 1000; }
  void charge_cpu(double us);
  void begin_boot();
  void reset_to(std::uint32_t reason, const std::vector<std::string>& banner, const char* cause);
  /// Writes the held frames that are due and schedules the next release.
  void release_held();
  void note_state();
  /// Schedules the next tick: the first grid tick after now at or after the firmware's next poll time.
  void schedule_poll();
  /// Sets the watchdog as the last grid tick fed it (ticks with nothing due are skipped, and they feed it too).
  void feed_as_of_last_tick();
  bool skewed() const { return clock_.ppm() != 0 || clock_.drift_ms() != 0; }
  void emit(const char* kind, nlohmann::json fields) { events_.emit(source_, kind, std::move(fields)); }

  Scheduler& sched_;
  EventStream& events_;
  SimDeviceConfig cfg_;
  const emu::ChipProfile& profile_;
  Send send_;
  std::string source_;
  emu::SkewedClock clock_;
  emu::Watchdog wdt_;
  emu::CollusionMember collusion_;
  iotw_sim_port_ctx ctx_{};
  iotw_port port_{};
  iotw_fw_config fw_cfg_{};
  iotw_fw fw_{};
  void (*sha256_)(void*, const std::uint8_t*, std::size_t, std::uint8_t*) = nullptr;
  void (*keypair_)(void*, const std::uint8_t*, std::uint8_t*, std::uint8_t*) = nullptr;
  void (*sign_)(void*, const std::uint8_t*, const std::uint8_t*, std::size_t, std::uint8_t*) = nullptr;
  int (*verify_)(void*, const std::uint8_t*, const std::uint8_t*, std::size_t, const std::uint8_t*) = nullptr;
  struct Held {
    std::uint64_t due_us;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Held> held_;  ///< in due order (a vector: most devices never hold one, and a deque allocates)
  bool release_armed_ = false;
  std::uint64_t poll_origin_ns_ = 0;           ///< the poll grid's origin: start()
  std::uint64_t poll_at_ns_ = UINT64_MAX;      ///< the tick scheduled (UINT64_MAX: none)
  std::uint64_t poll_token_ = 0;               ///< a scheduled tick whose token is not this one is stale
  std::uint64_t cpu_free_us_ = 0;
  iotw_fw_state reported_ = IOTW_FW_OFF;
  bool running_ = false, hung_ = false, powered_ = false;
};

}  // namespace iotw::sim
