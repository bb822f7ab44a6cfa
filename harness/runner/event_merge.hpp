// The run's event stream (docs/events.md): the harness's own events and the merge of every process's
// JSON-lines file into the run folder's events.jsonl, ordered by time_ms.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iotw::harness {

/// A harness event {"time_ms": now (system clock, epoch ms), "source": "harness", "kind", "fields"}.
nlohmann::ordered_json harness_event(const std::string& kind, nlohmann::ordered_json fields);

struct MergedEvents {
  std::vector<nlohmann::json> events;  ///< every kept event, sorted by time_ms (stable)
  std::size_t skipped = 0;             ///< malformed lines dropped: not JSON, not an object, no numeric time_ms
};

/// A child's event file and, for a trust node of a [mesh] rig, its node id: each of its events gets a top-level
/// "node": "<node>" in the merge (docs/events.md), so events.jsonl tells the nodes apart.
struct EventFile {
  EventFile(std::filesystem::path file, std::string node_id = {}) : path(std::move(file)), node(std::move(node_id)) {}
  std::filesystem::path path;
  std::string node;  ///< "" = no tag
};

/// Reads each JSON-lines file in `files` (a missing file has no events; blank lines are ignored), appends
/// `own`, sorts stably by time_ms (ties keep file order, then `own` order) and writes them to `out`, one per
/// line: a child's line verbatim (a tagged file's line with "node" inserted first, unless it has one), an own event
/// as compact JSON. Throws std::runtime_error if `out` cannot be written.
MergedEvents merge_events(const std::vector<EventFile>& files, const std::vector<nlohmann::ordered_json>& own,
                          const std::filesystem::path& out);

/// Follows a JSON-lines file another process appends to: read() returns the complete lines added since the
/// last call, parsed (a bad line is a discarded value); a partial last line waits for its newline. A missing
/// file has no lines yet. With a `node` id every parsed object gets "node": node (as merge_events tags it).
class JsonlTail {
 public:
  explicit JsonlTail(std::filesystem::path file, std::string node = {}) : file_(std::move(file)), node_(std::move(node)) {}
  std::vector<nlohmann::json> read();

 private:
  std::filesystem::path file_;
  std::string node_;
  std::uint64_t offset_ = 0;
};

}  // namespace iotw::harness
