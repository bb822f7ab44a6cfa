// The event stream of a simulated run (docs/events.md): every part's events in the order the scheduler ran them,
// stamped with virtual time, in the same line shapes a real-time run's files have, so events.jsonl of a sim run is
// read by the same scorer, report and console.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/support/clock.hpp"

namespace iotw::sim {

class EventStream {
 public:
  /// Stamps every event with clock.now_ms() (a Scheduler: the simulated Unix epoch ms). clock must outlive this.
  explicit EventStream(const Clock& clock) : clock_(clock) {}

  /// A trust-node or device event: the line is {"fields","kind","source","time_ms"} with keys sorted, the shape the
  /// trust node's and iotw-emu's event files have. source: "trust-node", "emu:<device>".
  void emit(std::string_view source, std::string_view kind, nlohmann::json fields = nlohmann::json::object());
  /// A harness event: {"time_ms","source":"harness","kind","fields"} in that order (event_merge.hpp harness_event).
  void emit_harness(std::string_view kind, nlohmann::ordered_json fields);

  /// Every event so far, parsed, in order (what the scorer reads).
  const std::vector<nlohmann::json>& events() const { return events_; }
  /// The events since the last call (the rig script's ScriptHost::new_events).
  std::vector<nlohmann::json> take_new();
  /// Writes events.jsonl: one line per event, in order, each line's bytes as emitted. Throws std::runtime_error
  /// when the file cannot be written.
  void write(const std::filesystem::path& file) const;

 private:
  const Clock& clock_;
  std::vector<nlohmann::json> events_;
  std::vector<std::string> lines_;
  std::size_t taken_ = 0;
};

}  // namespace iotw::sim
