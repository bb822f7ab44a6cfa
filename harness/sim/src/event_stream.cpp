#include "iotw/sim/event_stream.hpp"

#include <algorithm>
#include <stdexcept>

namespace iotw::sim {

namespace {
/// Appends `s` as a JSON string, in the bytes nlohmann's dump(-1, ' ', false, replace) gives: printable ASCII as is,
/// '"' and '\\' escaped, control characters as \b \t \n \f \r or \u00xx. A string with a byte >= 0x80 goes
/// through nlohmann (its UTF-8 checks and U+FFFD replacement).
void append_quoted(std::string& out, std::string_view s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) {
      out += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t plain = 0;  // the start of the run of bytes copied as they are
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s, plain, i - plain);
    plain = i + 1;
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\b': out += 'b'; break;
      case '\t': out += 't'; break;
      case '\n': out += 'n'; break;
      case '\f': out += 'f'; break;
      case '\r': out += 'r'; break;
      default:
        out += "u00";
        out += kHex[u >> 4];
        out += kHex[u & 15];
    }
  }
  out.append(s, plain, s.size() - plain);
  out += '"';
}
}  // namespace

EventStream::EventStream(const Clock& clock, const std::filesystem::path& file) : clock_(clock), path_(file) {
  if (path_.empty()) return;
  file_buf_.resize(1 << 20);  // 1 MiB writes: a million devices' lines are gigabytes
  out_.rdbuf()->pubsetbuf(file_buf_.data(), static_cast<std::streamsize>(file_buf_.size()));
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw std::runtime_error("cannot create " + path_.string());
  to_file_ = true;
}

void EventStream::write(const std::string& line) {
  ++lines_;
  if (!out_.is_open()) return;
  out_.write(line.data(), static_cast<std::streamsize>(line.size()));
  out_.put('\n');
  written_ += line.size() + 1;
}

void EventStream::end_line(std::string_view kind, std::string_view source) {
  line_ += ",\"kind\":";
  append_quoted(line_, kind);
  line_ += ",\"source\":";
  append_quoted(line_, source);
  line_ += ",\"time_ms\":";
  line_ += std::to_string(clock_.now_ms());
  line_ += '}';
  write(line_);
}

void EventStream::emit(std::string_view source, std::string_view kind, nlohmann::json fields, std::string_view node) {
  // The bytes of dumping {"time_ms","source","kind","fields"} (keys sorted), without building the wrapper object;
  // a mesh node's line starts with its "node" as the runner's merge inserts it (event_merge.cpp).
  line_ = "{";
  if (!node.empty()) {
    line_ += "\"node\":";
    append_quoted(line_, node);
    line_ += ',';
  }
  line_ += "\"fields\":";
  line_ += fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  end_line(kind, source);
  if (!keep_ || keep_(source, kind)) keep(line_);
}

void EventStream::emit_log(std::string_view source, std::string_view level, std::string_view event,
                           std::string_view detail) {
  // nlohmann's dump of the same object: keys sorted (fields{detail, event, level}, kind, source, time_ms), compact.
  line_ = "{\"fields\":{\"detail\":";
  append_quoted(line_, detail);
  line_ += ",\"event\":";
  append_quoted(line_, event);
  line_ += ",\"level\":";
  append_quoted(line_, level);
  line_ += '}';
  end_line("log", source);
}

void EventStream::emit_harness(std::string_view kind, nlohmann::ordered_json fields) {
  nlohmann::ordered_json ev{
      {"time_ms", clock_.now_ms()}, {"source", "harness"}, {"kind", kind}, {"fields", std::move(fields)}};
  const std::string line = ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  write(line);
  if (!keep_ || keep_("harness", kind)) keep(line);
}

void EventStream::keep(const std::string& line) {
  if (to_file_) {  // write() has just written it: it ends at written_, before its newline
    if (!out_.is_open()) return;  // after close(): nothing is written, nothing is kept
    kept_.push_back({written_ - line.size() - 1, static_cast<std::uint32_t>(line.size())});
    return;
  }
  kept_.push_back({kept_text_.size(), static_cast<std::uint32_t>(line.size())});
  kept_text_ += line;
}

std::vector<nlohmann::json> EventStream::read_kept(std::size_t from, std::size_t to) const {
  std::vector<nlohmann::json> out;
  if (from >= to) return out;
  out.reserve(to - from);
  if (!to_file_) {
    for (std::size_t i = from; i < to; ++i)
      out.push_back(nlohmann::json::parse(kept_text_.data() + kept_[i].begin,
                                          kept_text_.data() + kept_[i].begin + kept_[i].size));
    return out;
  }
  // Read back in chunks of neighbouring kept lines (at most kChunk bytes, no gap over kGap), in file order.
  constexpr std::uint64_t kChunk = 4 << 20, kGap = 64 << 10;
  if (out_.is_open() && !out_.flush()) throw std::runtime_error("cannot write " + path_.string());
  if (!reader_.is_open()) reader_.open(path_, std::ios::binary);  // kept open: a rig script reads every tick
  std::ifstream& in = reader_;
  in.clear();
  std::string buf;
  for (std::size_t i = from; i < to;) {
    const std::uint64_t begin = kept_[i].begin;
    std::uint64_t end = begin + kept_[i].size;
    std::size_t j = i + 1;
    for (; j < to && kept_[j].begin - end <= kGap && kept_[j].begin + kept_[j].size - begin <= kChunk; ++j)
      end = kept_[j].begin + kept_[j].size;
    buf.resize(end - begin);
    in.seekg(static_cast<std::streamoff>(begin));
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (!in) throw std::runtime_error("cannot read back " + path_.string());
    for (; i < j; ++i)
      out.push_back(nlohmann::json::parse(buf.data() + (kept_[i].begin - begin),
                                          buf.data() + (kept_[i].begin - begin) + kept_[i].size));
  }
  return out;
}

std::vector<nlohmann::json> EventStream::events() const { return read_kept(0, kept_.size()); }

std::vector<nlohmann::json> EventStream::take_new() {
  std::vector<nlohmann::json> out = read_kept(taken_, kept_.size());
  taken_ = kept_.size();
  return out;
}

void EventStream::close() {
  if (!out_.is_open()) return;
  out_.flush();
  if (!out_) throw std::runtime_error("cannot write " + path_.string());
  out_.close();
}

}  // namespace iotw::sim
