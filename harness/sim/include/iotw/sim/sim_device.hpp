// A device in simulation mode (docs/simulation.md "Devices"): the firmware core (firmware_stub, ports/sim) on an
// emulated chip under virtual time: emulators/common/firmware_chip.hpp's FirmwareChip (the chip profile's CPU time,
// its behaviour, its own clock: clock_skew, its watchdog: hang), the model DeviceRuntime runs in real time, stepped on
// the Scheduler. Its events have the shapes and source ("emu:<name>") of iotw-emu's.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "collusion_board.hpp"
#include "common/chip_profile.hpp"
#include "firmware_chip.hpp"
#include "iotw/sim/event_stream.hpp"
#include "iotw/support/scheduler.hpp"
#include "iotw/sim/verify_memo.hpp"

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
  /// Trust nodes the device knows ([mesh] trust_nodes; docs/protocol.md §6 "Several trust nodes"): 1 = one node.
  /// With more, the port's node_count and select_node are set and add_node_link gives each further node's link.
  std::size_t nodes = 1;
};

class SimDevice : private emu::FirmwareChip::Owner {
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
  /// The link to trust node `index` (1 .. nodes - 1; the constructor's `send` is node 0's), before start().
  void add_node_link(Send send) { sends_.push_back(std::move(send)); }
  /// Bytes from the link to trust node `node` (dropped while hung, and from a node the firmware has not selected:
  /// the port feeds only the selected node's bytes, port.h select_node).
  void on_rx(const std::uint8_t* bytes, std::size_t len, std::size_t node = 0);
  /// The chip's housekeeping (iotw-emu's poll): the watchdog, then the firmware timers.
  void tick() { chip_.tick(); }

  /// Device faults (docs/faults.md "Device faults"), as DeviceRuntime: software reset; hang (the watchdog resets the
  /// chip after profile.wdt_timeout_ms of the device's clock); clock step and rate. Throw std::runtime_error when the
  /// device is not running.
  void reboot();
  void hang();
  void skew_clock(std::int64_t offset_ms, double ppm);
  /// The supply failed (brown-out, power loss): the firmware stops, RAM and held frames are lost, received bytes are
  /// dropped; NVS survives. No effect when off.
  void power_off() { chip_.power_off(); }
  /// The supply is back: the firmware boots with reset_reason (IOTW_RESET_*), emits "reset" {reset_reason,
  /// boot_count}. Throws std::runtime_error when NVS is not writable.
  void power_on(std::uint32_t reset_reason) { chip_.power_on(reset_reason); }
  bool powered() const { return chip_.powered(); }
  /// iotw_fw_report_usage when powered (the seq used, 0 when not attached, < 0 on an error); 0 when off.
  std::int64_t report_usage(std::uint64_t energy_mwh, std::uint32_t on_seconds, std::uint32_t period_s) {
    return chip_.report_usage(energy_mwh, on_seconds, period_s);
  }
  /// {device_ms, true_ms, drift_ms, ppm, uptime_ms} (DeviceRuntime::clock_json).
  nlohmann::json clock_json() const { return chip_.clock_json(); }

  const std::string& name() const { return chip_.name(); }
  const std::uint8_t* pubkey() const { return chip_.pubkey(); }
  iotw_fw_state state() const { return chip_.state(); }
  bool hung() const { return chip_.hung(); }
  /// Approximate bytes this device's state takes (the firmware, the port and the held frames).
  std::size_t memory_bytes() const { return sizeof *this + chip_.held_bytes(); }

 private:
  // emu::FirmwareChip::Owner
  bool write(std::size_t node, std::vector<std::uint8_t> bytes) override {
    if (node >= sends_.size()) return false;
    sends_[node](std::move(bytes));
    return true;
  }
  void wake_after(std::uint64_t us) override;
  void emit(const char* kind, nlohmann::json fields) override { events_.emit(source_, kind, std::move(fields)); }
  void log(const char* level, const char* event, const char* detail) override {
    events_.emit_log(source_, level, event, detail);
  }
  void booted() override { schedule_poll(); }

  /// ports/sim from the device's seed; with a VerifyMemo, its Ed25519 verification goes through the memo.
  iotw_port sim_port(const SimDeviceConfig& cfg);
  /// The chip's configuration; std::invalid_argument for a behaviour sim mode does not run.
  static emu::FirmwareChipConfig chip_config(const SimDeviceConfig& cfg, emu::CollusionBoard& board);
  /// port.select_node of a device that knows several trust nodes: event "node_selected" {index, link, reason}.
  static void on_select_node(void* ctx, std::uint8_t index, const char* reason);
  static int memo_verify(void* ctx, const std::uint8_t pk[32], const std::uint8_t* msg, std::size_t len,
                         const std::uint8_t sig[64]);
  /// Schedules the next tick: the first grid tick after now at or after the firmware's next poll time.
  void schedule_poll();
  /// Sets the watchdog as the last grid tick fed it (ticks with nothing due are skipped, and they feed it too).
  void feed_as_of_last_tick();
  bool skewed() const { return chip_.clock().ppm() != 0 || chip_.clock().drift_ms() != 0; }

  Scheduler& sched_;
  EventStream& events_;
  std::vector<Send> sends_;  ///< the link to each trust node, in node order
  std::size_t nodes_;
  std::string source_;
  VerifyMemo* verify_memo_;
  int (*verify_)(void*, const std::uint8_t*, const std::uint8_t*, std::size_t, const std::uint8_t*) = nullptr;
  iotw_sim_port_ctx ctx_{};
  emu::FirmwareChip chip_;  ///< after ctx_, which its port uses
  bool release_armed_ = false;
  std::uint64_t poll_origin_ns_ = 0;           ///< the poll grid's origin: start()
  std::uint64_t poll_at_ns_ = UINT64_MAX;      ///< the tick scheduled (UINT64_MAX: none)
  std::uint64_t poll_token_ = 0;               ///< a scheduled tick whose token is not this one is stale
  bool running_ = false;
};

}  // namespace iotw::sim
