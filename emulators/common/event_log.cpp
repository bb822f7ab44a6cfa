#include "event_log.hpp"

#include <chrono>
#include <stdexcept>

namespace iotw::emu {

EventLog::EventLog(const std::string& path)
    : out_(path.empty() ? stdout : std::fopen(path.c_str(), "a")), owned_(!path.empty()) {
  if (!out_) throw std::runtime_error("cannot open event file '" + path + "'");
}

EventLog::~EventLog() {
  if (owned_) std::fclose(out_);
}

void EventLog::emit(const std::string& source, const std::string& kind, nlohmann::json fields) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  nlohmann::json ev{{"time_ms", now}, {"source", source}, {"kind", kind}, {"fields", std::move(fields)}};
  const std::string line = ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace iotw::emu
