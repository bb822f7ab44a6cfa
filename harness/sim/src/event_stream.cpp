#include "iotw/sim/event_stream.hpp"

#include <fstream>
#include <stdexcept>

namespace iotw::sim {

void EventStream::emit(std::string_view source, std::string_view kind, nlohmann::json fields) {
  nlohmann::json ev{{"time_ms", clock_.now_ms()}, {"source", source}, {"kind", kind}, {"fields", std::move(fields)}};
  lines_.push_back(ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  events_.push_back(std::move(ev));
}

void EventStream::emit_harness(std::string_view kind, nlohmann::ordered_json fields) {
  nlohmann::ordered_json ev{
      {"time_ms", clock_.now_ms()}, {"source", "harness"}, {"kind", kind}, {"fields", std::move(fields)}};
  lines_.push_back(ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  events_.push_back(nlohmann::json::parse(lines_.back()));
}

std::vector<nlohmann::json> EventStream::take_new() {
  std::vector<nlohmann::json> out(events_.begin() + static_cast<std::ptrdiff_t>(taken_), events_.end());
  taken_ = events_.size();
  return out;
}

void EventStream::write(const std::filesystem::path& file) const {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  for (const std::string& l : lines_) out << l << '\n';
  if (!out.flush()) throw std::runtime_error("cannot write " + file.string());
}

}  // namespace iotw::sim
