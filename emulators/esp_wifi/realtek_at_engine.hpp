// Realtek Ameba AT command v2 ("ATPx" set, AN0075) interpreter for RTL8710 / RTL8195, sans-IO, byte-exact
// to ../shared/reference/realtek_at.md and the ambd_sdk sources it cites: every response line starts with
// "\r\n" and has no CR-LF of its own, every command ends with the prompt "\r\n\n# ", the boot banner is
// "\r\nAT COMMAND READY\r\n\n# ", unknown commands get "\r\nunknown command '<line>'". The UART receive
// logic (echo, "command should start with 'A'", "exceed size limit", ATPT's counted data after ':') follows
// uart_irq() in example_uart_atcmd.c.
#pragma once
#include <array>
#include <deque>
#include <string>
#include <vector>

#include "esp_wifi/at_engine.hpp"

namespace iotw::emu {

class RealtekAtEngine final : public AtEngine {
 public:
  explicit RealtekAtEngine(AtModuleConfig config);

  void power_on(uint64_t now_ms) override;
  void feed(std::string_view bytes, uint64_t now_ms) override;
  void tick(uint64_t now_ms) override;
  std::optional<uint64_t> next_deadline_ms() const override;
  void on_open_result(int link, bool ok, uint64_t now_ms) override;
  void on_send_result(int link, bool ok, uint64_t now_ms) override;
  void on_receive(int link, std::string_view data, const std::string& ip, uint16_t port, uint64_t now_ms) override;
  void on_remote_closed(int link, uint64_t now_ms) override;
  void set_access_point(const AccessPoint& ap, uint64_t now_ms) override;
  int default_baud() const override { return 38400; }

  static constexpr const char* kPrompt = "\r\n\n# ";  ///< STR_END_OF_ATCMD_RET
  static constexpr size_t kBufLen = 1600;  ///< LOG_SERVICE_BUFLEN of the UART AT build (1599 usable)
  static constexpr int kNumNodes = 10;     ///< node pool; con_id 0 is the list head, clients get 1..9
  static constexpr size_t kMtu = 1500;     ///< ETH_MAX_MTU: the most one ATPR / auto-receive returns

 private:
  enum class State { Off, Booting, Idle, Joining, Sending };
  struct Node {
    enum class St { Free, Connecting, Open, Lost } st = St::Free;
    bool tcp = true;
    std::string ip;
    uint16_t port = 0;
    uint16_t local_port = 0;
    uint64_t connect_at = 0;   ///< Connecting: when the client task connects
    int socket = -1;
    std::deque<std::string> rx;  ///< UDP: datagrams; TCP: stream chunks
  };

  void byte_in(unsigned char c, uint64_t now);
  void submit(const std::string& header, const std::string& data, uint64_t now);
  /// Runs one command; returns false when it completes later (the prompt is printed then).
  bool run(const std::string& token, const std::optional<std::string>& param, const std::string& data, uint64_t now);
  void resume(uint64_t now);
  void reset_line();
  int join_result(const AccessPoint& ap) const;
  void delete_node(int id, bool action);

  AtModuleConfig cfg_;
  State state_ = State::Off;
  uint64_t deadline_ = 0;
  std::string pending_in_;   ///< UART bytes received while a command runs (processed after it)
  // uart_irq() state
  std::string buf_;
  bool is_data_cmd_ = false;
  size_t data_sz_ = 0, data_cmd_sz_ = 0;
  int combo_ = 0;
  bool echo_ = true;
  // Wi-Fi
  int mode_ = 1;   ///< ATPW: 1 STA, 2 AP, 3 concurrent
  bool joined_ = false;
  bool lost_ = false;
  std::string join_ssid_, join_pwd_;
  // sockets
  std::array<Node, kNumNodes> nodes_{};
  bool autorecv_ = false;
  int sending_ = -1;
  int next_socket_ = 0;
};

}  // namespace iotw::emu
