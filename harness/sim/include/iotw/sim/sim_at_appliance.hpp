// An AT-mode appliance in simulation mode (docs/simulation.md "Devices"): what emulators/esp_wifi/at_appliance.hpp
// runs in real time, on the Scheduler. The appliance MCU runs the firmware core (ports/sim: the device seed, its NVS
// in RAM) with the AT driver of ports/at (iotw_at_link) as its link; the driver talks over the in-memory UART
// (emu::UartWire at the module's baud rate, 8N1) to the module's AT engine (esp8266 / esp32: ESP-AT; rtl8710 /
// rtl8195: Realtek AT v2). The engine's network actions become datagrams to the device's SimDatagramLink (UDP: one
// firmware frame per datagram, payload || CRC-32), or, with at_transport = "tcp", a byte stream with serial framing
// to its SimLink, which the trust node accepts while it is up and closes when it is killed. The access point is the
// module's (ap_rssi / ap_down: set_access_point); ap_rssi's datagram loss is the UDP link's fault policy's, set by the
// rig script. Steps are AtAppliance's (emu::at_appliance_step): every 2 ms while anything is in flight, else at the
// next deadline of the engine or the driver, at most 20 ms apart. Its events have the shapes and source ("emu:<name>") of AtAppliance's
// (at_started, at_socket, at_socket_closed, at_link, log, state, reset, ap_changed, error; docs/events.md).
// Nothing here reads an OS clock or OS randomness.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "collusion_board.hpp"
#include "esp_wifi/at_appliance_step.hpp"
#include "esp_wifi/typed_lines.hpp"
#include "esp_wifi/at_engine.hpp"
#include "esp_wifi/uart_wire.hpp"
#include "iotw/sim/event_stream.hpp"
#include "iotw/support/scheduler.hpp"
#include "iotw/sim/sim_datagram_link.hpp"
#include "iotw/sim/sim_link.hpp"
#include "iotw/sim/sim_trust_node.hpp"

extern "C" {
#include "at_link.h"
#include "iotw/firmware.h"
#include "sim_port.h"
}

namespace iotw::sim {

struct SimAtApplianceConfig {
  std::string name;                     ///< sent in Hello, unique in the rig
  std::string model;                    ///< esp8266 | esp32 | rtl8710 | rtl8195 (emu::at_models())
  std::string behaviour = "honest";     ///< a firmware-layer or AT-layer behaviour of device_behaviour_table()
  std::array<std::uint8_t, 32> seed{};  ///< the device's component seed: its identity and every random byte
  std::optional<std::array<std::uint8_t, 32>> node_pubkey;  ///< light verification on when set
  std::uint32_t collusion_witnesses = 0;  ///< "collude_all_slots": the node's witnesses per round
  emu::AccessPoint ap;                  ///< the rig's access point (a rig run: kRigApSsid / kRigApPassword)
  bool tcp = false;                     ///< at_transport = "tcp": a TCP connection with serial framing
  /// Where the module sends (UDP: the link's proxy endpoint, SimDatagramLink::proxy_port) or connects (TCP: the
  /// node's [tcp] port), on 127.0.0.1. Datagrams to any other address are sent into nowhere.
  std::uint16_t node_port = 0;
  std::uint16_t local_port = 0;         ///< the module's socket port in events (UDP: SimDatagramLink::module_port)
  int baud = 0;                         ///< the UART's bits per second; 0 = the module's default (115200 / 38400)
};

class SimAtAppliance {
 public:
  /// Bytes for the network: one datagram (UDP) or a chunk of the TCP stream.
  using Send = std::function<void(std::vector<std::uint8_t>)>;
  /// TCP: whether a connect now is accepted (the trust node is up); unused for UDP. Null = always.
  using Accepting = std::function<bool()>;
  /// Throws std::invalid_argument for an unknown model or behaviour, or a behaviour the appliance cannot model
  /// (host layer, Modbus), std::runtime_error when libsodium cannot start. board: the colluding group's board (one
  /// per run). Every reference must outlive the appliance.
  SimAtAppliance(Scheduler& sched, EventStream& events, SimAtApplianceConfig cfg, emu::CollusionBoard& board,
                 Send send, Accepting accepting = {});
  SimAtAppliance(const SimAtAppliance&) = delete;
  SimAtAppliance& operator=(const SimAtAppliance&) = delete;

  /// Powers the module and the MCU on: event at_started, the engine's boot, the firmware's boot; steps from now on.
  void start();
  /// A datagram (UDP) or stream bytes (TCP) from the trust node's side. Lost when no socket of the module is open
  /// towards the node, or while the module's radio has no access point (down, or out of range below -95 dBm).
  void on_network(const std::uint8_t* bytes, std::size_t len);
  /// TCP: the trust node's end of the connection closed (the node was killed): event at_socket_closed, the module
  /// reports it (ESP `CLOSED`, Realtek `[ATPR] ERROR:7`) and the driver reconnects. No-op for UDP.
  void peer_closed();
  /// The harness's `ap` control request (ap_rssi / ap_down faults): the module's access point's RSSI (dBm) and/or
  /// power; the engine reacts as AtAppliance's does. Emits "ap_changed" {ssid, rssi, up}; returns {rssi, up} (the
  /// control channel's answer). Throws std::runtime_error when the appliance is not running.
  nlohmann::json set_access_point(std::optional<int> rssi, std::optional<bool> up);

  /// The `uart` control request (a rig's uart step): types `text` into the module's UART on the MCU's side, as
  /// AtAppliance::type_uart does (emu::TypedLines: queued until the MCU's side is idle, the module's answer until its
  /// final result line or 1 s). `done` runs on the scheduler once the line has ended, or at once with {error} when the
  /// appliance is not running or 16 lines already wait. Emits "uart_typed" {data, output, complete} or {data, error}.
  void type_uart(std::string text, emu::TypedLines::Done done);

  const std::string& name() const { return cfg_.name; }
  const std::string& model() const { return cfg_.model; }
  bool tcp() const { return cfg_.tcp; }
  int baud() const { return baud_; }
  const emu::AccessPoint& access_point() const { return ap_; }
  iotw_fw_state state() const { return iotw_fw_get_state(&fw_); }
  const std::uint8_t* pubkey() const { return fw_.pk; }
  bool link_up() const { return iotw_at_link_up(&link_) != 0; }
  /// The driver's counters (sent, received, reconnects, ...).
  const iotw_at_link& at_link() const { return link_; }
  /// AtAppliance::status()'s fields: {name, model, kind: "at_appliance", state, link, link_up, rssi, ap_up}.
  nlohmann::json status() const;

 private:
  struct Sock {
    bool tcp = false;
    std::string host;  ///< the remote (UDP: the default destination)
    std::uint16_t port = 0;
  };
  static int on_send(void* user, const std::uint8_t* bytes, std::size_t len);
  static void on_log(void* user, iotw_log_level level, const char* event, const char* detail);
  static std::uint64_t on_now_ms(void* ctx);
  static int on_uart_write(void* user, const std::uint8_t* bytes, std::size_t len);
  static void on_datagram(void* user, const std::uint8_t* bytes, std::size_t len);
  static void on_link_event(void* user, const char* event);

  /// The next step: emu::at_appliance_next_step_ns, as AtAppliance's.
  void arm();
  /// Something arrived from outside a step: step within emu::kAtStepNs.
  void wake();
  void schedule(std::uint64_t due_ns);
  void step();
  void perform(const emu::AtAction& a, std::uint64_t now_ms);
  emu::AtApplianceParts parts() { return {*engine_, to_module_, to_mcu_, link_, fw_}; }
  bool radio_up() const { return ap_.up && ap_.rssi >= -95; }
  void restart_after_panic();
  void note_state();
  void emit(const char* kind, nlohmann::json fields) { events_.emit(source_, kind, std::move(fields)); }
  std::string node_endpoint() const { return "127.0.0.1:" + std::to_string(cfg_.node_port); }

  Scheduler& sched_;
  EventStream& events_;
  SimAtApplianceConfig cfg_;
  Send send_;
  Accepting accepting_;
  std::string source_;
  emu::AccessPoint ap_;
  std::unique_ptr<emu::AtEngine> engine_;
  int baud_;
  emu::UartWire to_module_, to_mcu_;
  std::map<int, Sock> socks_;  ///< the module's open sockets by the engine's link id
  std::uint64_t timer_due_ns_ = UINT64_MAX;  ///< when the armed step runs (UINT64_MAX: none)
  std::uint64_t timer_gen_ = 0;              ///< an earlier, superseded step does nothing
  emu::CollusionMember collusion_;
  iotw_at_link link_{};
  iotw_sim_port_ctx ctx_{};
  iotw_port port_{};
  iotw_fw_config fw_cfg_{};
  iotw_fw fw_{};
  iotw_fw_state reported_ = IOTW_FW_OFF;
  bool running_ = false;
  emu::TypedLines typed_;  ///< the `uart` requests' lines
};

/// A link = "at" device wired to the trust node: the appliance and its link, one of the two.
struct SimAtDevice {
  std::unique_ptr<SimDatagramLink> udp;  ///< UDP: its link through the UDP fault proxy (else null)
  std::unique_ptr<SimLink> tcp;          ///< TCP: its connection (serial framing, no line time, the serial fault
                                         ///< proxy; else null)
  std::unique_ptr<SimAtAppliance> appliance;
};

/// Makes a link = "at" device and wires it to `node` (before node.start()), as a real-time rig does: cfg.tcp false: a
/// SimDatagramLink (`link_seed`, `index`, `capture` / `capture_link`) to a datagram link of the node named
/// SimDatagramLink::node_peer_name(); the module sends to the link's proxy port from its module port. cfg.tcp true:
/// a SimLink (its serial fault proxy; captured as serial link `capture_link` of `capture`, as a real-time rig's TCP AT
/// link through the harness's relay) to a serial link
/// of the node named "tcp:127.0.0.1:<60000 + index mod 5000>" (the module's port), connecting to `tcp_port`, accepted
/// while node.up(); the caller calls appliance->peer_closed() when it kills the node. cfg.node_port and cfg.local_port
/// are set here. Throws as SimAtAppliance's constructor. Every reference must outlive the device.
SimAtDevice wire_at_device(Scheduler& sched, EventStream& events, SimTrustNode& node, emu::CollusionBoard& board,
                           SimAtApplianceConfig cfg, std::uint64_t link_seed, std::size_t index,
                           harness::LinkCapture* capture, std::size_t capture_link, std::uint16_t tcp_port);

}  // namespace iotw::sim
