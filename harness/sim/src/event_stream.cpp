#include "iotw/sim/event_stream.hpp"

#include <stdexcept>

namespace iotw::sim {

namespace {
std::string quoted(std::string_view s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace

EventStream::EventStream(const Clock& clock, const std::filesystem::path& file) : clock_(clock), path_(file) {
  if (path_.empty()) return;
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw std::runtime_error("cannot create " + path_.string());
}

void EventStream::write(const std::string& line) {
  ++lines_;
  if (!out_.is_open()) return;
  out_.write(line.data(), static_cast<std::streamsize>(line.size()));
  out_.put('\n');
}

void EventStream::emit(std::string_view source, std::string_view kind, nlohmann::json fields) {
  nlohmann::json ev{{"time_ms", clock_.now_ms()}, {"source", source}, {"kind", kind}, {"fields", std::move(fields)}};
  write(ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!keep_ || keep_(source, kind)) events_.push_back(std::move(ev));
}

void EventStream::emit_log(std::string_view source, std::string_view level, std::string_view event,
                           std::string_view detail) {
  // nlohmann's dump of the same object: keys sorted (fields{detail, event, level}, kind, source, time_ms), compact.
  std::string line = "{\"fields\":{\"detail\":";
  line += quoted(detail);
  line += ",\"event\":";
  line += quoted(event);
  line += ",\"level\":";
  line += quoted(level);
  line += "},\"kind\":\"log\",\"source\":";
  line += quoted(source);
  line += ",\"time_ms\":";
  line += std::to_string(clock_.now_ms());
  line += '}';
  write(line);
}

void EventStream::emit_harness(std::string_view kind, nlohmann::ordered_json fields) {
  nlohmann::ordered_json ev{
      {"time_ms", clock_.now_ms()}, {"source", "harness"}, {"kind", kind}, {"fields", std::move(fields)}};
  const std::string line = ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  write(line);
  if (!keep_ || keep_("harness", kind)) events_.push_back(nlohmann::json::parse(line));
}

std::vector<nlohmann::json> EventStream::take_new() {
  std::vector<nlohmann::json> out(events_.begin() + static_cast<std::ptrdiff_t>(taken_), events_.end());
  taken_ = events_.size();
  return out;
}

void EventStream::close() {
  if (!out_.is_open()) return;
  out_.flush();
  if (!out_) throw std::runtime_error("cannot write " + path_.string());
  out_.close();
}

}  // namespace iotw::sim
