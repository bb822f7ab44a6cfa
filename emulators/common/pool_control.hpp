// The control channel of an iotw-emu pool (docs/emulators.md "Control channel"): the harness (or a firmware
// engineer with socat) connects to a UNIX-domain stream socket and sends one JSON object per line; the pool
// answers each with one JSON object per line, in order. Commands act on one device of the pool at run time:
// reboot, hang, clock_skew, clock, power (a bench supply: off, brownout, on), ap (docs/faults.md "Device faults"),
// uart (type a line into an AT-mode module's UART and get its answer: the console's `u` key, docs/console.md) and
// status (Device::status()). Devices are reached through the Device interface (device.hpp) only: the channel parses
// and checks a request's parameters, the device carries it out or refuses it ("'CMD' is not supported by MODEL ...").
// A malformed line, an unknown command or device, or a command the device cannot take gets {"ok": false,
// "error": "..."} and a `control_error` event; never a crash. Everything runs on the pool's Boost.Asio thread, so
// handlers touch devices directly.
#pragma once
#include <boost/asio.hpp>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "device.hpp"
#include "event_log.hpp"
#include "stream_server.hpp"

namespace iotw::emu {

/// The command set over the pool's devices (sans socket: tests call handle() directly).
class PoolControl {
 public:
  explicit PoolControl(EventLog& log) : log_(log) {}
  /// A device of the pool, by its name() (unique; a second one of that name replaces the first). It must outlive
  /// the PoolControl. What it takes is its control_commands().
  void add(Device& d);

  /// One request line -> one reply object, passed to `reply` exactly once: at once, or later on the pool's
  /// thread for a command that waits on a device (`uart`). Never throws. Replies echo the request's "id".
  void handle(const std::string& line, std::function<void(nlohmann::json)> reply);
  /// The same for commands that answer at once (every command but `uart`, which is answered with an error
  /// here): the reply object.
  nlohmann::json handle(const std::string& line);
  /// A request that could not be read (e.g. too long): the error reply and its control_error event.
  nlohmann::json reject(const std::string& error);
  /// The commands handle() knows, for error messages and docs.
  static const std::vector<std::string>& commands();

 private:
  /// The reply, or null when `later` was taken by a device that answers later (`uart`; `later` null: refused).
  nlohmann::json handle_now(const std::string& line, std::function<void(nlohmann::json)>* later);
  nlohmann::json fail(const nlohmann::json& req, const std::string& cmd, const std::string& error);
  std::string device_names() const;

  EventLog& log_;
  std::map<std::string, Device*> devices_;  ///< by name
};

/// Serves a PoolControl on a UNIX-domain stream socket at `path` (an existing socket file there is replaced), on
/// a StreamServer: every connection has its own buffers and output cap (docs/emulators.md "Server limits"), so a
/// client that never reads its replies is closed once kLimits.max_output bytes wait for it, and holds no other.
/// Requests on one connection are answered in order (a `uart` reply that waits on its module holds the later
/// ones of that connection only).
class ControlServer {
 public:
  /// Longest line accepted; a longer one is answered with an error and the connection is closed.
  static constexpr std::size_t kMaxLine = 65536;
  /// No partial-line deadline (a person may type into socat); kMaxLine + 1 bytes buffered at most.
  static constexpr StreamLimits kLimits{64, kMaxLine, 1 << 20, std::chrono::hours(24 * 365)};

  ControlServer(boost::asio::io_context& io, std::string path, PoolControl& control);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  /// Binds and listens (mode 0600). Throws std::runtime_error when the path is too long or cannot be bound.
  void start();
  /// Closes the listener and every connection, removes the socket file.
  void stop();

 private:
  using Server = StreamServer<boost::asio::local::stream_protocol>;
  void on_data(Server::Connection& c);

  std::string path_;
  PoolControl& control_;
  Server server_;
  bool running_ = false;
};

}  // namespace iotw::emu
