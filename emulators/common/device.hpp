// The one interface every device kind of an iotw-emu pool implements (docs/emulators.md "Devices"): SoC modules
// (esp_wifi/soc_module.hpp), AT-mode appliances (esp_wifi/at_appliance.hpp), TAP modules (esp_wifi/tap_process.hpp),
// DPS chips (dps_chip/dps_device.hpp), smart bulbs (smart_bulb/smart_bulb.hpp) and qemu-cortex-m3 devices
// (qemu/qemu_device.hpp). The pool holds one list of them, built by make_device() (device_factory.hpp, the one
// place where a pool file's model and mode become a kind), starts and stops them, and hands them to its control
// channel (pool_control.hpp). A control request a device cannot take is answered by the interface's default:
// "'CMD' is not supported by MODEL (device 'NAME'); it takes: ...". Everything runs on the pool's Boost.Asio thread.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iotw::emu {

/// The device kinds of a pool (DeviceSpec -> kind: device_kind() in device_factory.hpp, nowhere else).
enum class DeviceKind {
  soc_module,    ///< esp8266 / esp32 running the firmware on its own chip, its UART a serial link
  at_appliance,  ///< mode = "at": an appliance MCU runs the firmware and drives the module's AT command set
  tap_module,    ///< SoC mode over TAP (lwIP), in a child process of its own
  dps,           ///< a DPS power chip (Modbus), with the firmware on its ESP8266 when it has a link
  bulb,          ///< a smart bulb (Yeelight + its DPS chip), with the firmware on its ESP32 when it has a link
  qemu,          ///< qemu-cortex-m3: the firmware's Cortex-M3 image in qemu-system-arm
};

/// "soc", "at", "tap", "dps", "bulb", "qemu": the kind's name in status() and log lines.
const char* kind_name(DeviceKind kind);

/// The states of the control channel's `power` request: a bench supply switched by hand.
enum class Supply { off, brownout, on };

/// What a device throws for a control request it cannot take or cannot carry out now (powered off, ...):
/// the control channel answers {"ok": false, "error": what()}.
struct ControlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// What a line typed into a module's UART got back (the `uart` request; AtAppliance::type_uart).
/// `output`: every byte the module printed from the moment the line went out until its final result line or the
/// answer window; `complete`: a final result line came. `error` is set instead when the line could not be typed.
struct UartTyped {
  std::string output;
  bool complete = false;
  std::string error;
};

class Device {
 public:
  virtual ~Device() = default;

  /// The device's name, unique in its pool (pool file `name`; sent in Hello).
  virtual const std::string& name() const = 0;
  /// Its model as the pool file names it: esp8266, esp32, rtl8710, rtl8195, dps, bulb, qemu-cortex-m3.
  virtual const std::string& model() const = 0;
  virtual DeviceKind kind() const = 0;

  /// Powers the device on and serves what it serves (its endpoints go to the event stream, e.g.
  /// `modbus_listening`). Throws std::runtime_error when it cannot run: a link, port, NVS directory, program,
  /// image or child process that will not come up (iotw-emu then exits 3).
  virtual void start() = 0;
  /// Powers it off and closes what it serves. Safe to call twice, and after a start() that threw.
  virtual void stop() = 0;

  /// The control requests it takes, in PoolControl::commands() order (`ping` and `status` are the pool's and
  /// every device's; not listed). Every other request is refused by the defaults below.
  virtual std::vector<std::string> control_commands() const { return {}; }
  bool takes(const std::string& cmd) const;
  /// For the console and the control channel's `status` request: {name, model, kind, takes: [...]}, plus what
  /// the kind adds (powered, endpoints, boot_count, ...).
  virtual nlohmann::json status() const;

  // Control requests (docs/emulators.md "Control channel"). Each returns the reply's fields besides ok, device
  // and id, and throws ControlError (std::runtime_error) when it cannot be done. The defaults call refuse().
  /// Software reset: RAM lost, flash kept, boots with the software reset reason.
  virtual nlohmann::json reboot();
  /// The firmware stops being stepped; the chip's watchdog resets it.
  virtual nlohmann::json hang();
  /// The device's clock steps by offset_ms (±86,400,000) and runs at (1 + ppm/1e6) x true rate.
  virtual nlohmann::json clock_skew(int64_t offset_ms, double ppm);
  /// The device's clock, unchanged.
  virtual nlohmann::json clock();
  /// Its bench supply (see BenchSupply).
  virtual nlohmann::json power(Supply state);
  /// The module's view of the access point (rssi dBm -120..0, up); at least one is set.
  virtual nlohmann::json ap(std::optional<int> rssi, std::optional<bool> up);
  /// Types `data` into the module's UART; `done` runs once, on the pool's thread (at once when refused: the
  /// default passes {error = the refusal}).
  virtual void type_uart(std::string data, std::function<void(const UartTyped&)> done);

  /// A device that runs in a child process of its own (a TAP module): that process's exit code (128 + signal when
  /// killed) once it has ended by itself, else nullopt. The pool stops when one has (exit 3).
  virtual std::optional<int> exited() { return std::nullopt; }

  /// Throws ControlError "'CMD' is not supported by MODEL (device 'NAME'); it takes: A, B[; hint]".
  [[noreturn]] void refuse(const std::string& cmd) const;

 protected:
  /// Appended to refuse()'s message for `cmd`: why the device cannot take it and what to use instead ("" = none).
  /// The default points `ap` and `uart` at AT-mode devices.
  virtual std::string refusal_hint(const std::string& cmd) const;
};

/// A bench supply switched by hand (the `power` request), with the rail's semantics (power_rail.hpp): off = 0 V,
/// brownout = held below the brown-out threshold (the brown-out latch set), on = back. Remembers the last cut so
/// the device's return gets the right reset reason: IOTW_RESET_BROWNOUT after a brown-out, IOTW_RESET_POWERON after
/// a loss (a loss clears the latch; a brown-out of a device already off keeps it off: its return is a power-on).
class BenchSupply {
 public:
  /// Applies `state` to a device that is `powered` now: calls `cut` when it must lose its supply, `restore(reason)`
  /// when it must get it back (not when it already has it). Exceptions of the callbacks pass through.
  void apply(Supply state, bool powered, const std::function<void()>& cut,
             const std::function<void(uint32_t reset_reason)>& restore);

 private:
  std::optional<uint32_t> cut_reason_;  ///< set while cut: the reset reason its return gives
};

/// Parses the `power` request's state: "off", "brownout", "on"; nullopt for anything else.
std::optional<Supply> parse_supply(const std::string& text);

}  // namespace iotw::emu
