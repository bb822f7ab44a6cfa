// AT-mode Wi-Fi module: the sans-IO interface shared by the ESP-AT (esp_at_engine.hpp) and Realtek AT v2
// (realtek_at_engine.hpp) command interpreters. An engine takes UART bytes from the host MCU and network
// events, and returns UART bytes for the host plus network actions; it never touches a socket, a file or
// a clock. The PTY front end (at_pty_server.hpp) performs the actions on real loopback sockets and feeds
// the results back. Time is passed in (ms, any monotonic origin). docs/emulators.md "AT mode".
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iotw::emu {

/// The simulated access point the module associates with (one per rig / standalone module).
struct AccessPoint {
  std::string ssid = "iotw-lab";
  std::string password = "iotw-lab-pass";  ///< empty = open network
  std::string bssid = "b4:e6:2d:10:20:30";
  int channel = 6;
  int rssi = -45;   ///< dBm; below -95 the AP is out of range (not found)
  bool up = true;   ///< false: the AP is off (not found; a joined station is disconnected)
};

/// A network action the engine asks the front end to perform. Link ids are the engine's own
/// (ESP: 0..4; Realtek: con_id 1..9).
struct AtAction {
  enum class Type { Open, Send, Close };
  Type type = Type::Open;
  int link = 0;
  bool tcp = true;            ///< Open: TCP (true) or UDP
  std::string host;           ///< Open: remote IPv4 (always loopback); Send: UDP destination override
  uint16_t port = 0;          ///< Open: remote port; Send: UDP destination override (0 = the link's)
  uint16_t local_port = 0;    ///< Open: UDP local port (0 = any)
  std::string data;           ///< Send: payload
};

struct AtModuleConfig {
  std::string model;            ///< esp8266 | esp32 | rtl8710 | rtl8195
  AccessPoint ap;
  uint64_t boot_ms = 300;       ///< power-on / reset until the ready banner
  uint64_t join_ms = 1000;      ///< association + DHCP time of a successful join (also a failed one)
  uint64_t connect_delay_ms = 1000;  ///< Realtek ATPC: the client task's vTaskDelay(1000) before connect
  std::string mac;              ///< station MAC, lower-case hex with colons (default per family)
  /// The mutant at_wrong_terminator (device_behaviour.hpp): every "\r\n" the module prints becomes "\n";
  /// received payload bytes (+IPD, [ATPR] data) pass untouched.
  bool wrong_terminator = false;
};

class AtEngine {
 public:
  virtual ~AtEngine() = default;
  /// Power-on: starts the boot; the banner is emitted when boot_ms has passed (see tick()).
  virtual void power_on(uint64_t now_ms) = 0;
  /// Bytes from the host MCU (UART RX).
  virtual void feed(std::string_view bytes, uint64_t now_ms) = 0;
  /// Runs timers that are due.
  virtual void tick(uint64_t now_ms) = 0;
  /// When tick() next has work to do, if ever.
  virtual std::optional<uint64_t> next_deadline_ms() const = 0;
  /// Results of actions and network events.
  virtual void on_open_result(int link, bool ok, uint64_t now_ms) = 0;
  virtual void on_send_result(int link, bool ok, uint64_t now_ms) = 0;
  virtual void on_receive(int link, std::string_view data, const std::string& ip, uint16_t port, uint64_t now_ms) = 0;
  virtual void on_remote_closed(int link, uint64_t now_ms) = 0;
  /// The harness changes the access point at run time (RSSI, password, off/on).
  virtual void set_access_point(const AccessPoint& ap, uint64_t now_ms) = 0;
  /// The module's default UART rate (ESP-AT 115200, Realtek 38400).
  virtual int default_baud() const = 0;

  /// Bytes for the host since the last call.
  std::string take_output() {
    cook();
    cooked_ = 0;
    return std::exchange(out_, {});
  }
  /// Actions since the last call, in order.
  std::vector<AtAction> take_actions() { return std::exchange(actions_, {}); }

 protected:
  /// Appends bytes received from the network (payload, not text the module composes).
  void append_payload(std::string_view data) {
    cook();
    out_.append(data);
    cooked_ = out_.size();
  }
  std::string out_;
  std::vector<AtAction> actions_;

 private:
  friend std::unique_ptr<AtEngine> make_at_engine(const AtModuleConfig& config);
  /// config.wrong_terminator: "\r\n" -> "\n" in out_ from cooked_ on.
  void cook() {
    if (!lf_only_) return;
    std::string tail = out_.substr(cooked_);
    for (size_t p; (p = tail.find("\r\n")) != std::string::npos;) tail.erase(p, 1);
    out_.resize(cooked_);
    out_ += tail;
    cooked_ = out_.size();
  }
  bool lf_only_ = false;
  size_t cooked_ = 0;  ///< out_[0, cooked_) is final (already cooked, or payload)
};

/// The AT models: esp8266, esp32 (ESP-AT), rtl8710, rtl8195 (Realtek AT v2).
const std::vector<std::string>& at_models();
/// Builds the engine for config.model. Throws std::invalid_argument for an unknown model.
std::unique_ptr<AtEngine> make_at_engine(const AtModuleConfig& config);

/// True for a dotted-quad IPv4 address in 127.0.0.0/8 or "localhost" (mapped to 127.0.0.1 in *ip).
bool at_loopback_host(const std::string& host, std::string* ip);

}  // namespace iotw::emu
