// JSON-lines event writer for the event stream (docs/events.md): one object per line,
// {"time_ms", "source", "kind", "fields"}, flushed per line so a killed process loses nothing written.
#pragma once
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace iotw::emu {

class EventLog {
 public:
  /// Opens path for appending; an empty path writes to stdout. Throws std::runtime_error if it cannot open.
  explicit EventLog(const std::string& path);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  /// Writes one event stamped with the system clock (Unix epoch ms). Thread-safe.
  void emit(const std::string& source, const std::string& kind, nlohmann::json fields = nlohmann::json::object());

 private:
  std::FILE* out_;
  bool owned_;
  std::mutex mu_;
};

}  // namespace iotw::emu
