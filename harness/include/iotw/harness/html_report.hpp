// report.html: one self-contained page (no scripts, no network) with the run's timeline drawn as inline
// SVG (witness rounds, faults, blacklistings, blocks, trust-node restarts) and the score table.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/harness/report_writer.hpp"

namespace iotw::harness {

/// The page for `r`; `events` is the merged events.jsonl (docs/events.md), in time order. Malformed events
/// are skipped. All text is HTML-escaped.
std::string report_html(const RunReport& r, const std::vector<nlohmann::json>& events);

}  // namespace iotw::harness
