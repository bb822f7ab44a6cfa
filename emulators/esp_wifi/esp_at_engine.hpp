// ESP-AT command interpreter (ESP8266 / ESP32 "esp-at" v2.2 firmware), sans-IO, byte-exact to
// ../shared/reference/esp_at.md: "\r\nOK\r\n", "\r\nERROR\r\n", "\r\nOK\r\n\r\n>", "\r\nRecv %d bytes\r\n",
// "\r\nSEND OK\r\n", "\r\nbusy p...\r\n", "[%d,]CONNECT\r\n", "[%d,]CLOSED\r\n", "WIFI CONNECTED\r\n",
// "WIFI GOT IP\r\n", "WIFI DISCONNECT\r\n", "\r\n+IPD,...:", "+CWJAP:%d\r\n", "\r\nready\r\n".
#pragma once
#include <array>
#include <string>
#include <vector>

#include "esp_wifi/at_engine.hpp"

namespace iotw::emu {

class EspAtEngine final : public AtEngine {
 public:
  explicit EspAtEngine(AtModuleConfig config);

  void power_on(uint64_t now_ms) override;
  void feed(std::string_view bytes, uint64_t now_ms) override;
  void tick(uint64_t now_ms) override;
  std::optional<uint64_t> next_deadline_ms() const override;
  void on_open_result(int link, bool ok, uint64_t now_ms) override;
  void on_send_result(int link, bool ok, uint64_t now_ms) override;
  void on_receive(int link, std::string_view data, const std::string& ip, uint16_t port, uint64_t now_ms) override;
  void on_remote_closed(int link, uint64_t now_ms) override;
  void set_access_point(const AccessPoint& ap, uint64_t now_ms) override;
  int default_baud() const override { return 115200; }

  static constexpr int kMaxLinks = 5;       ///< AT_SOCKET_MAX_CONN_NUM default
  static constexpr size_t kMaxLine = 256;   ///< "no more than 256 bytes"
  static constexpr int kMaxSend = 8192;     ///< AT+CIPSEND <length> max

 private:
  enum class State { Off, Booting, Idle, Joining, Connecting, DataIn, Sending };
  struct Link {
    bool open = false;
    bool tcp = true;
    std::string ip;
    uint16_t port = 0;
    uint16_t local_port = 0;
  };
  struct Param {
    bool quoted = false;
    bool empty = true;
    std::string v;
  };

  void byte_in(char c, uint64_t now);
  void line(const std::string& l, uint64_t now);
  void command(const std::string& name, char kind, const std::vector<Param>& params, uint64_t now);
  void ok() { out_ += "\r\nOK\r\n"; }
  void error(uint32_t code);
  void emit_banner(bool power_on);
  void finish_join(uint64_t now);
  void drop_wifi(bool report);
  void close_link(int id, bool report, bool action);
  std::string id_prefix(int id) const;
  bool joined() const { return joined_; }
  std::string sta_ip() const;
  /// 0 = the station can join ap with the stored credentials; else the +CWJAP error code (2 / 3).
  int join_code(const AccessPoint& ap) const;

  AtModuleConfig cfg_;
  bool esp32_;
  State state_ = State::Off;
  uint64_t deadline_ = 0;       ///< Booting / Joining: when it ends
  bool reset_ = false;          ///< the boot in progress is an AT+RST
  std::string line_;
  bool overlong_ = false;
  bool echo_ = true;
  bool syslog_ = false;
  int mode_ = 1;                ///< CWMODE
  bool mux_ = false;
  bool dinfo_ = false;
  bool joined_ = false;
  std::string join_ssid_, join_pwd_;  ///< last credentials given to AT+CWJAP (what the station uses)
  bool join_ok_ = false;              ///< outcome of the join in progress
  int join_code_ = 0;
  std::array<Link, kMaxLinks> links_{};
  int pending_link_ = -1;             ///< Connecting / DataIn / Sending
  size_t send_len_ = 0;
  std::string send_buf_;
  std::string send_host_;
  uint16_t send_port_ = 0;
  std::optional<uint64_t> reconnect_at_;  ///< automatic reconnection after the AP came back
  bool lost_ = false;                     ///< the AP dropped us (not AT+CWQAP): reconnect when it is back
};

}  // namespace iotw::emu
