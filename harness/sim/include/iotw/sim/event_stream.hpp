// The event stream of a simulated run (docs/events.md): every part's events in the order the scheduler ran them,
// stamped with virtual time, in the same line shapes a real-time run's files have, so events.jsonl of a sim run is
// read by the same scorer, report and console.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/support/clock.hpp"

namespace iotw::sim {

class EventStream {
 public:
  /// Writes events.jsonl to `file` as events come (created or truncated), stamping each with clock.now_ms() (a
  /// Scheduler: the simulated Unix epoch ms); an empty path writes nothing. clock must outlive this. Throws
  /// std::runtime_error when the file cannot be created.
  explicit EventStream(const Clock& clock, const std::filesystem::path& file = {});

  /// A trust-node or device event: the line is {"fields","kind","source","time_ms"} with keys sorted, the shape the
  /// trust node's and iotw-emu's event files have. source: "trust-node", "emu:<device>". node: a [mesh] rig's trust node
  /// id ("tn-<i>"), written first as "node" (the runner's merge tags each node's lines so); empty = none.
  void emit(std::string_view source, std::string_view kind, nlohmann::json fields = nlohmann::json::object(),
            std::string_view node = {});
  /// A firmware log line of a device: the same bytes as emit(source, "log", {level, event, detail}), without building
  /// the object. Log lines go to the file only: events() and take_new() leave them out (no judgement reads them).
  void emit_log(std::string_view source, std::string_view level, std::string_view event, std::string_view detail);
  /// A harness event: {"time_ms","source":"harness","kind","fields"} in that order (event_merge.hpp harness_event).
  void emit_harness(std::string_view kind, nlohmann::ordered_json fields);

  /// Which events stay in memory for events() and take_new() (every event goes to the file): keep(source, kind). By
  /// default all but the log lines; a run keeps only the kinds its judgement reads (sim_run.cpp), so a million
  /// devices' boot banners and states cost the file, not RAM.
  using Keep = std::function<bool(std::string_view source, std::string_view kind)>;
  void set_retention(Keep keep) { keep_ = std::move(keep); }

  /// Every event so far that set_retention keeps (never the log lines), parsed now, in order. With a file, a kept
  /// event costs 16 bytes of memory (where its line is) and is read back from the file; without one, its line is
  /// kept. Throws std::runtime_error when the file cannot be read back.
  std::vector<nlohmann::json> events() const;
  /// Those of events() since the last call (the rig script's ScriptHost::new_events).
  std::vector<nlohmann::json> take_new();
  /// Lines written (log lines included).
  std::uint64_t lines() const { return lines_; }
  /// Flushes the file. Throws std::runtime_error when a write failed. Events emitted after close() are dropped.
  void close();

 private:
  void write(const std::string& line);
  /// Ends line_ (its fields object written) with ,"kind","source","time_ms" and writes it: keys in nlohmann's order.
  void end_line(std::string_view kind, std::string_view source);
  void keep(const std::string& line);
  /// Kept events [from, to), parsed.
  std::vector<nlohmann::json> read_kept(std::size_t from, std::size_t to) const;
  const Clock& clock_;
  std::filesystem::path path_;
  std::vector<char> file_buf_;  ///< out_'s buffer (before out_: it must outlive it)
  mutable std::ofstream out_;
  mutable std::ifstream reader_;  ///< reads kept lines back (opened at the first read)
  std::string line_;            ///< the line being built by emit / emit_log
  std::uint64_t written_ = 0;  ///< bytes written to the file
  bool to_file_ = false;       ///< a file was given: kept events are read back from it (also after close())
  Keep keep_;
  struct Kept {
    std::uint64_t begin;  ///< the line's offset in the file (or in kept_text_ without a file)
    std::uint32_t size;   ///< its bytes, without the newline
  };
  std::vector<Kept> kept_;
  std::string kept_text_;  ///< the kept lines when there is no file
  std::size_t taken_ = 0;
  std::uint64_t lines_ = 0;
};

}  // namespace iotw::sim
