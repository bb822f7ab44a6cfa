// Runs one firmware_stub core on a Boost.Asio loop: the device's UART is a serial link (PTY or tty),
// its flash is an NVS directory (ports/host), its console goes to the event stream.
#pragma once
#include <array>
#include <boost/asio.hpp>
#include <optional>
#include <string>

#include "esp_wifi/esp_chip_profile.hpp"
#include "event_log.hpp"

extern "C" {
#include "host_port.h"
#include "iotw/firmware.h"
}

namespace iotw::emu {

/// One device of an iotw-emu pool (docs/emulators.md [[device]]).
struct DeviceSpec {
  std::string name;                 ///< unique label, sent in Hello
  std::string model;                ///< "esp8266" | "esp32" | "dps" | "bulb"; AT mode also "rtl8710" | "rtl8195"
  std::string link;                 ///< serial path (PTY or tty)
  std::string nvs_dir;              ///< flash: identity and boot counter survive restarts
  std::string behaviour = "honest"; ///< "honest" | "invert_verdict" | "wrong_hash" | "collude"
  int baud = 115200;                ///< UART rate; AT mode: the pacing rate (0 = the module's default)
  // dps / bulb only (docs/emulators.md):
  int usage_period_ms = 10000;      ///< UsageReport period, ms
  std::string modbus_tcp;           ///< dps: serve Modbus TCP on "A.B.C.D:PORT" ("" = off)
  double load_ohm = 10.0;           ///< dps: resistive load on the output, ohm
  std::string yeelight;             ///< bulb: Yeelight control on "A.B.C.D:PORT" ("" = off)
  std::string yeelight_discovery;   ///< bulb: discovery replies on UDP "A.B.C.D:PORT" ("" = off)
  struct PowerStep {
    uint64_t at_ms;                 ///< after the device started, ms
    double vin;                     ///< input supply target, V
    double ramp_v_per_s;            ///< 0 = step
  };
  std::vector<PowerStep> power;     ///< scripted supply changes (brownout, loss, restore, slow ramp)
  // AT mode (docs/emulators.md "AT mode"): an appliance MCU drives the module (model esp8266 | esp32 |
  // rtl8710 | rtl8195) over its UART; the module's UDP socket reaches the trust node.
  std::string mode = "soc";         ///< "soc" (firmware on the module, serial link) | "at"
  std::string trust_node_udp;       ///< at: the trust node's UDP endpoint "127.x.y.z:PORT"
  /// The trust node's Ed25519 node public key (pool file top-level node_pubkey): the firmware's light
  /// verification (docs/protocol.md §6) is on when set, off when not.
  std::optional<std::array<uint8_t, 32>> node_pubkey;
};

/// The behaviours DeviceSpec::behaviour accepts.
const std::vector<std::string>& device_behaviours();

class DeviceRuntime {
 public:
  /// profile must outlive the runtime. Throws std::invalid_argument on an unknown behaviour.
  DeviceRuntime(boost::asio::io_context& io, DeviceSpec spec, const EspChipProfile& profile, EventLog& log);
  DeviceRuntime(const DeviceRuntime&) = delete;
  DeviceRuntime& operator=(const DeviceRuntime&) = delete;

  /// Power on: print the boot banner, open the link, boot the firmware, start reading and polling.
  /// Throws std::runtime_error if the link cannot be opened or NVS cannot be written.
  void start();
  /// Power off: stop reading and polling, close the link.
  void stop();

  /// The supply failed (brownout or power loss): the firmware stops and its RAM is lost (iotw_fw zeroed);
  /// the link stays open and received bytes are dropped.
  void power_off();
  /// The supply is back: the firmware boots again with reset_reason (IOTW_RESET_*); NVS (identity,
  /// boot.count, usage.seq) survived. Emits "reset" {reset_reason, boot_count}. Throws std::runtime_error
  /// if NVS is not writable.
  void power_on(uint32_t reset_reason);
  bool powered() const { return powered_; }
  /// iotw_fw_report_usage when powered; 0 when off or not attached (nothing consumed).
  int64_t report_usage(uint64_t energy_mwh, uint32_t on_seconds, uint32_t period_s);

  const uint8_t* pubkey() const { return fw_.pk; }
  uint32_t boot_count() const { return fw_.boot_count; }
  uint32_t reset_reason() const { return powered_ ? fw_.cfg.reset_reason : 0; }

  iotw_fw_state state() const { return iotw_fw_get_state(&fw_); }
  const iotw_fw_stats& stats() const { return fw_.stats; }
  const std::string& name() const { return spec_.name; }

 private:
  static int on_send(void* user, const uint8_t* bytes, size_t len);
  static void on_log(void* user, iotw_log_level level, const char* event, const char* detail);
  void read_some();
  void arm_poll();
  void note_state();

  boost::asio::io_context& io_;
  DeviceSpec spec_;
  const EspChipProfile& profile_;
  EventLog& log_;
  std::string source_;
  std::optional<boost::asio::posix::stream_descriptor> link_;
  boost::asio::steady_timer poll_timer_;
  boost::asio::steady_timer retry_timer_;
  std::array<uint8_t, 512> rx_{};
  iotw_host_port_ctx port_ctx_{};
  iotw_port port_{};
  iotw_fw_config cfg_{};
  iotw_fw fw_{};
  iotw_fw_state reported_state_ = IOTW_FW_OFF;
  bool running_ = false;
  bool powered_ = false;
};

}  // namespace iotw::emu
