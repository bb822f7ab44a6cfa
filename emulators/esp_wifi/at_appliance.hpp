// Pool mode of an AT-mode module (docs/emulators.md "AT mode: pool mode"): an appliance MCU runs the
// firmware core over the AT-driver port (firmware_stub/ports/at, iotw_at_link) and drives an in-process AT
// engine (ESP-AT or Realtek AT v2) over an in-memory UART pair paced at the module's baud rate; the engine's
// Open/Send/Close actions become real UDP sockets on 127.0.0.1 to the trust node's [udp] port, or, with
// spec.trust_node_tcp, TCP connections to its [tcp] port (the firmware then frames as on a serial link).
// Everything runs on the pool's Boost.Asio thread. As a Device it takes the control channel's `ap` and `uart`.
#pragma once
#include <array>
#include <boost/asio.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/device.hpp"
#include "common/device_runtime.hpp"
#include "common/event_log.hpp"
#include "esp_wifi/at_appliance_step.hpp"
#include "esp_wifi/typed_lines.hpp"
#include "esp_wifi/at_engine.hpp"
#include "esp_wifi/uart_wire.hpp"

extern "C" {
#include "at_link.h"
#include "host_port.h"
#include "iotw/firmware.h"
}

namespace iotw::emu {

class AtAppliance : public Device {
 public:
  /// spec.mode == "at", spec.model one of at_models(), spec.trust_node_udp "127.x.y.z:PORT" (UDP link) or
  /// spec.trust_node_tcp "127.x.y.z:PORT" (TCP link: AT+CIPSTART="TCP" / ATPC=0, serial framing).
  /// Time (the engine's timers, the UART wire, the MCU's port) comes from `clock`, the pool's, which must outlive
  /// the appliance. Throws std::invalid_argument on a bad spec or behaviour.
  AtAppliance(boost::asio::io_context& io, DeviceSpec spec, const AccessPoint& ap, EventLog& log,
              const Clock& clock);
  ~AtAppliance();
  AtAppliance(const AtAppliance&) = delete;
  AtAppliance& operator=(const AtAppliance&) = delete;

  /// Powers the module and the MCU on. Throws std::runtime_error when NVS is not writable.
  void start() override;
  void stop() override;

  const std::string& name() const override { return spec_.name; }
  const std::string& model() const override { return spec_.model; }
  DeviceKind kind() const override { return DeviceKind::at_appliance; }
  std::vector<std::string> control_commands() const override { return {"ap", "uart"}; }
  /// Device::status() plus state (the firmware's), link_up, link ("udp" | "tcp"), rssi, ap_up.
  nlohmann::json status() const override;
  /// set_access_point(); {rssi, up}.
  nlohmann::json ap(std::optional<int> rssi, std::optional<bool> up) override;
  iotw_fw_state state() const { return iotw_fw_get_state(&fw_); }
  bool link_up() const { return iotw_at_link_up(&link_) != 0; }
  bool tcp() const { return !spec_.trust_node_tcp.empty(); }
  /// The driver's counters (sent, received, reconnects, ...).
  const iotw_at_link& at_link() const { return link_; }
  int baud() const { return baud_; }
  /// The harness changes this module's view of the access point at run time (ap_rssi / ap_down faults,
  /// docs/faults.md): the engine reacts as the real module does (ESP-AT: WIFI DISCONNECT, then its own
  /// reconnect with WIFI CONNECTED / WIFI GOT IP; Realtek: the link drops silently, sends fail, the driver's
  /// auto-reconnect). Emits "ap_changed" {rssi, up}.
  void set_access_point(std::optional<int> rssi, std::optional<bool> up);
  const AccessPoint& access_point() const { return module_cfg_.ap; }

  /// What a typed line got back from the module: `output` is every byte the module printed from the moment the
  /// line went out until its final result line (ESP-AT `OK`, `ERROR`, `FAIL`, `SEND OK`/`SEND FAIL`; Realtek
  /// `[CMD] OK`, `[CMD] ERROR:n`, `ERROR:...`) or the 1 s answer window; `complete` = a final result line came.
  /// `error` is set instead when the line could not be typed: the appliance's driver kept the UART busy for
  /// kTypeWaitMs, or the appliance is stopped.
  using Typed = UartTyped;
  static constexpr uint64_t kTypeWaitMs = TypedLines::kWaitMs;      ///< longest wait for the MCU's side to be idle
  static constexpr uint64_t kTypeAnswerMs = TypedLines::kAnswerMs;  ///< answer window after the line went out
  /// Types `text` into the module's UART as a person on a serial terminal sharing the MCU's TX line would (the
  /// harness's `uart` step, the console's `u` key; docs/emulators.md "Control channel"): queued until the MCU's
  /// side is idle (no byte in flight, the AT driver between commands), then sent at the UART's baud rate.
  /// The module's answer also reaches the MCU (one shared line). `done` runs on the pool's thread once the answer
  /// is complete, the window has passed or the line could not be typed. Emits "uart_typed" {data, output,
  /// complete} or {data, error}.
  void type_uart(std::string text, std::function<void(const Typed&)> done) override;

 protected:
  /// reboot, hang, clock_skew, clock, power: the firmware runs on the appliance MCU, not on an emulated chip.
  std::string refusal_hint(const std::string& cmd) const override;

 private:
  /// A socket of the module. No receive buffer of its own: it waits for readability and then reads
  /// (non-blocking) into the pool thread's one receive buffer, which the bytes leave at once (into the engine).
  struct Sock {
    explicit Sock(boost::asio::io_context& io) : s(io), t(io) {}
    bool tcp = false;
    boost::asio::ip::udp::socket s;  ///< !tcp
    boost::asio::ip::tcp::socket t;  ///< tcp: connected to the trust node's [tcp] port
    boost::asio::ip::udp::endpoint remote;
  };

  static int on_send(void* user, const uint8_t* bytes, size_t len);
  static void on_log(void* user, iotw_log_level level, const char* event, const char* detail);
  static uint64_t on_now_ms(void* ctx);  ///< the MCU's port reads the pool's clock
  static int on_uart_write(void* user, const uint8_t* bytes, size_t len);
  static void on_datagram(void* user, const uint8_t* bytes, size_t len);
  static void on_link_event(void* user, const char* event);

  /// Schedules the next step: at_appliance_next_step_ns (kAtStepNs, 2 ms, while anything is in flight: UART bytes,
  /// an AT command, a typed line; else the next deadline of the engine or the driver, at most kAtIdleStepNs, 20 ms:
  /// the firmware's own timers, as the SoC runtime's poll).
  void arm();
  AtApplianceParts parts() { return {*engine_, to_module_, to_mcu_, link_, fw_}; }
  /// Something arrived from outside a step (a datagram, a typed line, an AP change): step within kStep.
  void wake();
  /// Arms the step timer for due_ns (steady clock) unless it is already armed earlier.
  void schedule(uint64_t due_ns);
  void step();
  void perform(const AtAction& a, uint64_t now_ms);
  void receive(int link, const std::shared_ptr<Sock>& sock);
  void receive_tcp(int link, const std::shared_ptr<Sock>& sock);
  void close_sock(int link);
  void note_state();
  /// The firmware panicked (behaviour reset_on_garbage): the MCU's panic handler restarts it, a software reset
  /// (RAM lost, NVS kept); the module and its socket stay up.
  void restart_after_panic();
  uint64_t now_ns() const { return clock_.now_ns(); }

  boost::asio::io_context& io_;
  const Clock& clock_;
  DeviceSpec spec_;
  AtModuleConfig module_cfg_;
  std::unique_ptr<AtEngine> engine_;
  int baud_;
  EventLog& log_;
  std::string source_;
  std::string host_;  ///< trust node IPv4 (loopback)
  uint16_t udp_port_ = 0;  ///< the trust node's UDP port, or its TCP port when tcp()
  UartWire to_module_, to_mcu_;
  std::map<int, std::shared_ptr<Sock>> socks_;
  boost::asio::steady_timer timer_;
  uint64_t timer_due_ns_ = UINT64_MAX;  ///< when the armed step fires (UINT64_MAX: not armed)
  uint32_t timer_gen_ = 0;              ///< a re-armed timer's earlier wait, already completing, is ignored
  iotw_at_link link_{};
  iotw_host_port_ctx port_ctx_{};
  iotw_port port_{};
  iotw_fw_config cfg_{};
  CollusionMember collusion_;  ///< behaviour "collude_all_slots": the group's out-of-band channel
  iotw_fw fw_{};
  iotw_fw_state reported_state_ = IOTW_FW_OFF;
  bool running_ = false;
  TypedLines typed_;  ///< the `uart` requests' lines
};

}  // namespace iotw::emu
