// The PTY front end of an AT-mode module: owns a PTY pair (the host MCU opens the slave), an AtEngine, and
// the engine's sockets (real sockets on 127.0.0.1 only). One thread: poll() on the PTY master and the
// sockets, timers from the engine's next deadline, output through a UartPacer.
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "esp_wifi/at_engine.hpp"
#include "esp_wifi/uart_pacer.hpp"

namespace iotw::emu {

class AtPtyServer {
 public:
  /// baud 0 = the module's default. paced = false disables UART pacing. The engine's timers and the pacer read
  /// `clock`, which must outlive the server and be safe to read from its thread (SteadyClock).
  AtPtyServer(AtModuleConfig config, int baud, bool paced, const Clock& clock);
  ~AtPtyServer();
  AtPtyServer(const AtPtyServer&) = delete;
  AtPtyServer& operator=(const AtPtyServer&) = delete;

  /// Creates the PTY (raw 8N1) and powers the module on in a thread. Returns the slave's path.
  /// Throws std::runtime_error when no PTY can be created.
  std::string start();
  void stop();
  int baud() const { return baud_; }

 private:
  struct Sock {
    int fd = -1;
    bool tcp = true;
    std::string ip;
    uint16_t port = 0;
  };
  void loop();
  void perform(const AtAction& a, uint64_t now);
  void close_sock(int link);
  void flush_output();

  std::unique_ptr<AtEngine> engine_;
  int baud_;
  bool paced_;
  const Clock& clock_;
  UartPacer pacer_;
  int master_ = -1, slave_ = -1;
  int wake_[2] = {-1, -1};
  std::map<int, Sock> socks_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace iotw::emu
