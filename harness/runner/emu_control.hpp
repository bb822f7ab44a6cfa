// The harness's end of iotw-emu's control channel (docs/emulators.md "Control channel"): a UNIX-domain stream
// socket, one JSON request per line, one JSON reply per line. Blocking, with a timeout per request; used from
// the runner's thread only.
#pragma once
#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace iotw::harness {

class EmuControlClient {
 public:
  explicit EmuControlClient(std::string path, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000))
      : path_(std::move(path)), timeout_(timeout) {}
  ~EmuControlClient();
  EmuControlClient(const EmuControlClient&) = delete;
  EmuControlClient& operator=(const EmuControlClient&) = delete;

  /// Sends `request` (an "id" is added) and returns the reply object. Connects on first use and again after
  /// an error. Throws std::runtime_error when the socket cannot be reached, the pool does not answer in time,
  /// or the reply is not JSON. A reply with "ok": false is returned as is (see command()).
  nlohmann::json request(nlohmann::json request);
  /// request(), then throws std::runtime_error("<cmd> <device>: <the pool's error>") unless "ok" is true.
  nlohmann::json command(const nlohmann::json& request);

  const std::string& path() const { return path_; }

 private:
  void connect();
  void close();

  std::string path_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string rx_;
  long next_id_ = 1;
};

}  // namespace iotw::harness
