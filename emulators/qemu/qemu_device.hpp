// One qemu-cortex-m3 device of an iotw-emu pool (docs/emulators.md "QEMU Cortex-M devices"): the firmware's
// Cortex-M3 image runs in qemu-system-arm (machine lm3s6965evb), a child process started through
// iotw/support/process.hpp. UART0 is the device's serial link (the PTY slave the harness's link fabric gives it, so
// the fabric relays it and every serial fault applies); UART1 carries the firmware's log lines, which become events
// of the pool's event stream; semihosting gives the firmware its flash (files nvs.<key> in the device's folder) and
// its reset reason (the file `reset_reason` there); a QMP socket in the device's folder resets the machine.
// Everything runs on the pool's Boost.Asio thread. As a Device it takes the control channel's `reboot` and `power`.
#pragma once
#include <boost/asio.hpp>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/device.hpp"
#include "common/device_runtime.hpp"
#include "common/event_log.hpp"
#include "iotw/support/process.hpp"

namespace iotw::emu {

class QemuDevice : public Device {
 public:
  /// spec: model qemu-cortex-m3, `link` the serial path of UART0 (a PTY slave or a tty), `nvs_dir` the device's
  /// folder (QEMU's cwd: flash, reset_reason, QMP socket, qemu.stderr.log), `image` the ELF to run, `seed` its DRBG
  /// seed (32 bytes), `node_pubkey` optional. qemu: the qemu-system-arm to run (a path, or a name looked up in PATH).
  /// Opens the log UART's PTY; throws std::runtime_error when it cannot.
  QemuDevice(boost::asio::io_context& io, DeviceSpec spec, EventLog& log,
             std::filesystem::path qemu = "qemu-system-arm");
  ~QemuDevice();
  QemuDevice(const QemuDevice&) = delete;
  QemuDevice& operator=(const QemuDevice&) = delete;

  /// Power on: starts QEMU (reset reason 1, power-on: a stale `reset_reason` file is removed) and watches it. Emits
  /// "qemu_started" {pid, image, seed, machine, qmp}. Throws std::runtime_error when QEMU or the image is missing or
  /// QEMU cannot be started.
  void start() override;
  /// Pool shutdown: QEMU terminated (SIGTERM, up to 2 s, then SIGKILL), the log UART closed. Idempotent.
  void stop() override;

  /// Software reset (docs/faults.md `reboot`): writes 3 (IOTW_RESET_SW) to the device folder's `reset_reason` and sends
  /// QMP `system_reset`; RAM is lost, flash (identity) kept. The reset is reported when the firmware boots again
  /// ("reset" {reset_reason, boot_count, cause: "software"}). Returns {reset_reason: 3, boot_count: boots so far}.
  /// Throws std::runtime_error when the machine is off or QMP does not answer (2 s).
  nlohmann::json reboot() override;
  /// The bench supply (BenchSupply): off / brownout = power_off(), on = power_on() with the reset reason the cut
  /// gives. {powered}, plus {reset_reason} when it was switched on.
  nlohmann::json power(Supply state) override;
  std::vector<std::string> control_commands() const override { return {"reboot", "power"}; }
  /// Device::status() plus powered, boot_count, reset_reason.
  nlohmann::json status() const override;
  /// The supply fails: QEMU is killed (RAM lost; flash files kept). Emits "power_off". Nothing when already off.
  void power_off();
  /// The supply is back: QEMU starts again and the firmware boots with `reset_reason` (IOTW_RESET_*; 1 = power-on,
  /// the file removed). Emits "reset" {cause: "power"} when the firmware has booted. Throws like start().
  void power_on(uint32_t reset_reason);
  bool powered() const { return running_; }

  const std::string& name() const override { return spec_.name; }
  const std::string& model() const override { return spec_.model; }
  DeviceKind kind() const override { return DeviceKind::qemu; }
  /// Boots the image reported on its log UART since the pool started it (each `boot reset_reason=N` line).
  uint32_t boot_count() const { return boot_count_; }
  /// The reset reason of the firmware's last boot line (0 before the first).
  uint32_t reset_reason() const { return last_reset_reason_; }
  /// The QMP socket's path: <nvs_dir>/qmp.sock, or /tmp/iotw-qmp-<hash>.sock when that is too long for a socket.
  const std::filesystem::path& qmp_path() const { return qmp_path_; }
  /// The command line QEMU is started with (without the program), for the docs and tests.
  std::vector<std::string> qemu_args() const;

  /// Sends one QMP command (e.g. {"execute": "system_reset"}) on a fresh connection after the capabilities
  /// handshake and returns its "return" value. Throws std::runtime_error naming the socket on a connection error, an
  /// "error" reply or no answer within `timeout`.
  static nlohmann::json qmp_execute(const std::filesystem::path& socket, const nlohmann::json& command,
                                    std::chrono::milliseconds timeout);

 private:
  void launch(uint32_t reset_reason, const char* cause);
  void halt();
  void write_reset_reason(uint32_t reason);
  void read_log();
  void on_log_line(const std::string& line);
  void watch();

  boost::asio::io_context& io_;
  DeviceSpec spec_;
  EventLog& log_;
  std::filesystem::path qemu_;
  std::string source_;
  std::filesystem::path qmp_path_;
  std::string log_path_;  ///< the log UART's PTY slave, e.g. /dev/pts/7
  int log_slave_ = -1;    ///< kept open so the master never reads EIO between QEMU runs
  boost::asio::posix::stream_descriptor log_master_;
  std::array<char, 512> rx_{};
  std::string line_;
  ProcessSupervisor qemu_proc_;
  boost::asio::steady_timer watch_timer_;
  bool running_ = false;
  bool stopped_ = false;
  BenchSupply supply_;
  uint32_t boot_count_ = 0;
  uint32_t last_reset_reason_ = 0;
  std::string pending_cause_;  ///< "software" | "power" until the firmware's next boot line; "" = its first boot
};

}  // namespace iotw::emu
