#include "event_merge.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace iotw::harness {
namespace {

struct Line {
  double time_ms;
  std::string text;
  nlohmann::json event;
};

}  // namespace

nlohmann::ordered_json harness_event(const std::string& kind, nlohmann::ordered_json fields) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return {{"time_ms", now.count()}, {"source", "harness"}, {"kind", kind}, {"fields", std::move(fields)}};
}

MergedEvents merge_events(const std::vector<EventFile>& files, const std::vector<nlohmann::ordered_json>& own,
                          const std::filesystem::path& out) {
  MergedEvents merged;
  std::vector<Line> lines;
  for (const EventFile& file : files) {
    std::ifstream in(file.path);
    for (std::string text; std::getline(in, text);) {
      if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto event = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!event.is_object() || !event.contains("time_ms") || !event["time_ms"].is_number()) {
        ++merged.skipped;
        continue;
      }
      const double t = event["time_ms"].get<double>();
      if (!file.node.empty() && !event.contains("node")) {  // the node's id first, the line otherwise as written
        event["node"] = file.node;
        text = "{\"node\":" + nlohmann::json(file.node).dump() + "," + text.substr(text.find('{') + 1);
      }
      lines.push_back({t, std::move(text), std::move(event)});
    }
  }
  for (const auto& e : own) lines.push_back({e["time_ms"].get<double>(), e.dump(), nlohmann::json::parse(e.dump())});
  std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) { return a.time_ms < b.time_ms; });

  std::ofstream os(out, std::ios::trunc);
  for (auto& l : lines) {
    os << l.text << '\n';
    merged.events.push_back(std::move(l.event));
  }
  os.close();
  if (!os) throw std::runtime_error("cannot write " + out.string());
  return merged;
}

std::vector<nlohmann::json> JsonlTail::read() {
  std::vector<nlohmann::json> out;
  std::ifstream in(file_, std::ios::binary);
  if (!in) return out;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto last_nl = chunk.rfind('\n');
  if (last_nl == std::string::npos) return out;
  offset_ += last_nl + 1;
  std::size_t pos = 0;
  while (pos <= last_nl) {
    const auto nl = chunk.find('\n', pos);
    const std::string line = chunk.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.push_back(nlohmann::json::parse(line, nullptr, false));
    if (!node_.empty() && out.back().is_object() && !out.back().contains("node")) out.back()["node"] = node_;
  }
  return out;
}

}  // namespace iotw::harness
