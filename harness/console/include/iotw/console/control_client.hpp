// A client of a run's control socket (harness.sock, docs/console.md "The control socket"): one JSON request
// line out, one JSON reply line back, on one connection (Boost.Asio, blocking).
#pragma once
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

namespace iotw::console {

class ControlClient {
 public:
  /// Connects to the UNIX-domain socket at `path` (a symbolic link to it works; a path too long for a socket
  /// address is followed to the link's target). Throws std::runtime_error
  /// (with the OS's reason) when nothing answers there.
  explicit ControlClient(const std::filesystem::path& path);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  /// Sends `req` and returns the reply object. Throws std::runtime_error when the connection fails or the reply
  /// is not JSON (the run ended and closed the socket).
  nlohmann::json request(const nlohmann::json& req);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iotw::console
