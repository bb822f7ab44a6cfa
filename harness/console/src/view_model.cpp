#include "iotw/console/view_model.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace iotw::console {

namespace {

using nlohmann::json;

std::string str(const json& o, const char* key) {
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::int64_t num(const json& o, const char* key, std::int64_t fallback = 0) {
  const auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return fallback;
  return it->get<std::int64_t>();
}

double real(const json& o, const char* key, double fallback = 0) {
  const auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return fallback;
  return it->get<double>();
}

// docs/emulators.md's reset reason codes.
std::string reset_reason_text(std::int64_t code) {
  switch (code) {
    case 1: return "power-on";
    case 3: return "software";
    case 6: return "task-wdt";
    case 7: return "soft-wdt";
    case 9: return "brownout";
    default: return fmt::format("reason {}", code);
  }
}

// An event's fields as "k=v k=v" (strings unquoted), for log lines of kinds without their own format.
std::string fields_text(const json& fields) {
  std::string out;
  if (!fields.is_object()) return out;
  for (const auto& [k, v] : fields.items()) {
    if (!out.empty()) out += ' ';
    out += k + '=' + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

// `for=10s`, `for=500ms`, `duration_s=3` in an inline step or label; nullopt when it has none.
std::optional<double> duration_in(const std::string& text) {
  for (const char* key : {"for=", "duration_s=", "duration_s = "}) {
    const auto at = text.find(key);
    if (at == std::string::npos) continue;
    const std::string rest = text.substr(at + std::char_traits<char>::length(key));
    try {
      std::size_t used = 0;
      double v = std::stod(rest, &used);
      if (rest.compare(used, 2, "ms") == 0) v /= 1000.0;
      return v;
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

}  // namespace

LogLevel parse_level(const std::string& level) {
  if (level == "error" || level == "err" || level == "critical") return LogLevel::error;
  if (level == "warn" || level == "warning") return LogLevel::warn;
  if (level == "debug" || level == "trace" || level == "verbose") return LogLevel::debug;
  return LogLevel::info;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

std::optional<int> DeviceRow::reputation() const {
  if (answered == 0) return std::nullopt;
  return static_cast<int>(std::lround(100.0 * agreeing / answered));
}

DeviceRow& ViewModel::device_named(const std::string& name) {
  const auto it = by_name_.find(name);
  if (it != by_name_.end()) return devices_[it->second];
  by_name_[name] = devices_.size();
  devices_.push_back(DeviceRow{});
  devices_.back().name = name;
  return devices_.back();
}

DeviceRow* ViewModel::device_by_key(const std::string& pubkey) {
  const auto it = name_of_key_.find(pubkey);
  if (it == name_of_key_.end()) return nullptr;
  return &device_named(it->second);
}

const DeviceRow* ViewModel::device(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &devices_[it->second];
}

const std::deque<LogLine>& ViewModel::log(const std::string& name) const {
  static const std::deque<LogLine> none;
  const auto it = logs_.find(name);
  return it == logs_.end() ? none : it->second;
}

void ViewModel::touch(const std::string& name, std::int64_t t) {
  if (name.empty()) return;
  DeviceRow& d = device_named(name);
  d.last_seen_ms = std::max(d.last_seen_ms, t);
}

void ViewModel::log_line(const std::string& name, std::int64_t t, std::string level, std::string text) {
  auto& lines = logs_[name];
  lines.push_back(LogLine{t, std::move(level), std::move(text)});
  while (lines.size() > kLogLines) lines.pop_front();
}

void ViewModel::add_console_line(const std::string& device, const std::string& text) {
  log_line(device, 0, "info", text);
}

ScheduleRow& ViewModel::schedule_row(const std::string& key, const std::string& label) {
  for (auto& row : schedule_)
    if (row.key == key) return row;
  ScheduleRow row;
  row.key = key;
  row.label = label.empty() ? key : label;
  row.duration_s = duration_in(row.label);
  schedule_.push_back(std::move(row));
  return schedule_.back();
}

void ViewModel::describe_step(const std::string& key, const std::string& text, std::optional<double> duration_s) {
  ScheduleRow& row = schedule_row(key, {});
  row.label = text;
  if (duration_s) row.duration_s = duration_s;
}

void ViewModel::apply_hello(const json& hello) {
  status_.rig = str(hello, "rig");
  if (hello.contains("seed") && hello["seed"].is_number()) status_.seed = hello["seed"].get<std::uint64_t>();
  if (hello.contains("target_blocks") && hello["target_blocks"].is_number())
    status_.target = hello["target_blocks"].get<std::int64_t>();
  if (hello.contains("devices") && hello["devices"].is_array())
    for (const auto& d : hello["devices"]) {
      DeviceRow& row = device_named(str(d, "name"));
      row.model = str(d, "model");
      row.link = str(d, "link");
      if (row.link == "at" && !str(d, "at_transport").empty()) row.link = "at/" + str(d, "at_transport");
      if (row.link == "external") row.link = "ext/" + str(d, "external_kind");  // relayed, not emulated
      row.powered = d.value("powered", false);
    }
  if (hello.contains("steps") && hello["steps"].is_array())
    for (const auto& s : hello["steps"]) {
      const std::string key = str(s, "label");
      schedule_row(key, num(s, "line") > 0 ? fmt::format("{} (line {})", key, num(s, "line")) : key);
    }
}

void ViewModel::apply_status(const json& s) {
  status_from_harness_ = true;
  status_.state = str(s, "state");
  status_.elapsed_s = real(s, "elapsed_s", status_.elapsed_s);
  status_.height = std::max(status_.height, num(s, "height", status_.height));
  if (s.contains("target_blocks") && s["target_blocks"].is_number()) status_.target = s["target_blocks"].get<std::int64_t>();
  status_.tx_per_s = real(s, "tx_per_s", status_.tx_per_s);
  status_.traffic_paused = s.value("traffic_paused", false);
  if (status_.state == "finished") status_.finished = true;
  if (s.contains("verdict") && s["verdict"].is_object()) {
    status_.verdict_pass = s["verdict"].value("pass", false);
    status_.failed_criteria.clear();
    if (s["verdict"].contains("failed") && s["verdict"]["failed"].is_array())
      for (const auto& f : s["verdict"]["failed"]) status_.failed_criteria.push_back(f.is_string() ? f.get<std::string>() : f.dump());
  }
}

void ViewModel::apply_report(const json& r) {
  if (!r.is_object()) return;
  if (status_.rig.empty()) status_.rig = str(r, "rig");
  if (!status_.seed && r.contains("seed") && r["seed"].is_number()) status_.seed = r["seed"].get<std::uint64_t>();
  if (r.contains("devices") && r["devices"].is_array())
    for (const auto& d : r["devices"]) {
      DeviceRow& row = device_named(str(d, "name"));
      if (row.model.empty()) row.model = str(d, "model");
    }
  if (r.contains("pass") && r["pass"].is_boolean()) {
    status_.finished = true;
    status_.verdict_pass = r["pass"].get<bool>();
    status_.failed_criteria.clear();
    if (r.contains("criteria") && r["criteria"].is_array())
      for (const auto& c : r["criteria"])
        if (!c.value("pass", true)) status_.failed_criteria.push_back(str(c, "name"));
  }
}

void ViewModel::apply_event(const json& e) {
  if (!e.is_object() || !e.contains("kind") || !e["kind"].is_string()) return;
  ++events_applied_;
  const std::string kind = e["kind"].get<std::string>();
  const std::string source = str(e, "source");
  const std::int64_t t = num(e, "time_ms");
  static const json empty = json::object();
  const json& f = e.contains("fields") && e["fields"].is_object() ? e["fields"] : empty;
  if (t > 0) {
    if (first_event_ms_ == 0) first_event_ms_ = t;
    last_event_ms_ = std::max(last_event_ms_, t);
    if (!status_from_harness_) status_.elapsed_s = static_cast<double>(last_event_ms_ - first_event_ms_) / 1000.0;
  }

  // Emulator events: the device's own state, resets, supply and its log pane.
  if (source.rfind("emu:", 0) == 0) {
    const std::string name = source.substr(4);
    DeviceRow& d = device_named(name);
    touch(name, t);
    if (kind == "log") {
      std::string text = str(f, "event");
      const std::string detail = str(f, "detail");
      if (!detail.empty()) text += ' ' + detail;
      log_line(name, t, str(f, "level"), std::move(text));
      return;
    }
    if (kind == "state") {
      const std::string s = str(f, "state");
      if (s == "off") d.state = "off";
      else if (s == "attached") { if (d.state != "blacklisted" && d.state != "mining" && d.state != "witnessing") d.state = "idle"; }
      else if (d.state != "blacklisted") d.state = "registering";
    } else if (kind == "reset") {
      ++d.resets;
      d.last_reset = reset_reason_text(num(f, "reset_reason"));
      if (!str(f, "cause").empty()) d.last_reset = str(f, "cause");
      if (d.state != "blacklisted") d.state = "booting";
    } else if (kind == "boot_banner") {
      if (d.model.empty()) d.model = str(f, "model");
      if (d.state != "blacklisted") d.state = "booting";
    } else if (kind == "ap_changed") {
      d.rssi = static_cast<int>(num(f, "rssi"));
    } else if (kind == "supply" || kind == "rail") {
      d.powered = true;
      d.vin = real(f, "vin");
      if (kind == "rail" && (str(f, "event") == "power_lost" || str(f, "event") == "brownout") && d.state != "blacklisted")
        d.state = "off";
    } else if (kind == "at_started") {
      if (d.model.empty()) d.model = str(f, "model");
      if (d.link.empty()) d.link = "at";
      if (f.contains("rssi") && f["rssi"].is_number()) d.rssi = static_cast<int>(num(f, "rssi"));
    } else if (kind == "tap_started") {
      if (d.link.empty()) d.link = "tap";
    }
    std::string level = kind == "hung" || kind == "watchdog_reset" ? "warn" : "info";
    log_line(name, t, std::move(level), kind + ' ' + fields_text(f));
    return;
  }

  if (source == "trust-node") {
    if (kind == "device_registered") {
      const std::string name = str(f, "name");
      name_of_key_[str(f, "device")] = name;
      DeviceRow& d = device_named(name);
      if (d.model.empty()) d.model = str(f, "model");
      if (d.state != "blacklisted") d.state = "idle";
      touch(name, t);
    } else if (kind == "device_detached") {
      const std::string name = str(f, "name");
      DeviceRow& d = device_named(name);
      if (d.state != "blacklisted" && d.state != "off") d.state = "registering";
      log_line(name, t, "warn", "detached by the trust node: " + str(f, "reason"));
    } else if (kind == "assignment_sent") {
      const std::string name = str(f, "miner_name");
      DeviceRow& d = device_named(name);
      if (d.state != "blacklisted" && d.state != "off") d.state = "mining";  // (the node may pick a device that lost power)
      touch(name, t);
    } else if (kind == "result_accepted" || kind == "result_rejected") {
      if (DeviceRow* d = device_by_key(str(f, "miner"))) {
        if (d->state == "mining") d->state = "idle";
        touch(d->name, t);
      }
    } else if (kind == "witness_requested") {
      const std::string name = str(f, "witness_name");
      DeviceRow& d = device_named(name);
      if (d.state != "blacklisted" && d.state != "off") d.state = "witnessing";
      touch(name, t);
    } else if (kind == "attestation") {
      const std::string name = str(f, "witness_name");
      DeviceRow& d = device_named(name);
      ++d.rounds_witnessed;
      if (d.state == "witnessing") d.state = "idle";
      touch(name, t);
    } else if (kind == "round_closed") {
      Round r;
      r.coherent = f.value("coherent", true);
      const std::string expected = f.contains("expected") ? str(f, "expected") : "valid";
      if (f.contains("verdicts") && f["verdicts"].is_array())
        for (const auto& v : f["verdicts"]) {
          const std::string name = str(v, "name");
          const std::string verdict = str(v, "verdict");
          r.verdicts.emplace_back(name, verdict);
          DeviceRow& d = device_named(name);
          ++d.answered;
          if (verdict == expected) ++d.agreeing;
          if (d.state == "witnessing") d.state = "idle";
        }
      rounds_[num(f, "round_id")] = std::move(r);
    } else if (kind == "block_finalized") {
      LedgerRow row;
      row.height = num(f, "height");
      row.hash = str(f, "hash");
      row.tx_count = static_cast<int>(num(f, "tx_count"));
      const std::string miner = str(f, "miner");
      if (DeviceRow* d = device_by_key(miner)) {
        row.miner = d->name;
        ++d->blocks_mined;
        if (d->state == "mining") d->state = "idle";
      } else {
        row.miner = miner.substr(0, 8);
      }
      const auto round = rounds_.find(num(f, "round_id"));
      if (round != rounds_.end()) {
        row.verdicts = round->second.verdicts;
        row.coherent = round->second.coherent;
        rounds_.erase(round);
      }
      status_.height = std::max(status_.height, row.height);
      ledger_.push_back(std::move(row));
      while (ledger_.size() > 200) ledger_.pop_front();
    } else if (kind == "blacklisted") {
      const std::string name = str(f, "name");
      device_named(name).state = "blacklisted";
      log_line(name, t, "error", "blacklisted: " + str(f, "reason"));
    } else if (kind == "blacklist_lifted") {
      device_named(str(f, "name")).state = "idle";
    } else if (kind == "node_started") {
      if (!status_.seed && f.contains("seed") && f["seed"].is_number()) status_.seed = f["seed"].get<std::uint64_t>();
    } else if (kind == "frame_error") {
      const auto it = link_device_.find(str(f, "link"));
      if (it != link_device_.end()) {
        const auto n = f.find("count");  // an aggregated line stands for "count" errors (docs/events.md)
        device_named(it->second).frame_errors += n != f.end() && n->is_number_integer() && n->get<std::int64_t>() > 0 ? n->get<std::int64_t>() : 1;
        log_line(it->second, t, "warn", "frame error on its link: " + str(f, "error"));
      }
    } else if (kind == "txs_accepted") {
      tx_window_.emplace_back(t, num(f, "count"));
      while (!tx_window_.empty() && tx_window_.front().first < t - 5000) tx_window_.pop_front();
      if (!status_from_harness_) {
        std::int64_t sum = 0;
        for (const auto& [when, count] : tx_window_) sum += count;
        const double span = std::max<double>(1.0, static_cast<double>(t - first_event_ms_) / 1000.0);
        status_.tx_per_s = static_cast<double>(sum) / std::min(5.0, span);
      }
    }
    return;
  }

  if (source == "harness") {
    if (kind == "rig_started") {
      if (status_.rig.empty()) status_.rig = str(f, "rig");
      if (!status_.seed && f.contains("seed") && f["seed"].is_number()) status_.seed = f["seed"].get<std::uint64_t>();
      if (!status_.target && f.contains("target_blocks") && f["target_blocks"].is_number())
        status_.target = f["target_blocks"].get<std::int64_t>();  // a replay has no hello
    } else if (kind == "link_created") {
      DeviceRow& d = device_named(str(f, "device"));
      if (f.contains("node_side")) {
        link_device_["serial:" + str(f, "node_side")] = d.name;
        if (d.link.empty()) d.link = "pty";
      } else if (d.link.empty()) {
        d.link = str(f, "link");
      }
    } else if (kind == "console_action") {
      if (f.contains("ends")) return;  // `end` of an open-ended fault: its fault_ended and check follow
      const std::string step = str(f, "step");
      // The harness labels an action's step "console action N" unless the inline step names itself.
      std::string key = fmt::format("console action {}", num(f, "action"));
      const auto named = step.find(" name=");
      if (named != std::string::npos) {
        std::string name = step.substr(named + 6);
        name = name.substr(0, name.find(' '));
        if (name.size() >= 2 && name.front() == '"') name = name.substr(1, name.size() - 2);
        key = name;
      }
      ScheduleRow& row = schedule_row(key, step);
      row.action = static_cast<int>(num(f, "action"));
      row.detail = str(f, "key").empty() ? "" : "key " + str(f, "key");
    } else if (kind == "step_started" || kind == "fault_started" || kind == "fault_ended" ||
               kind == "recovery_checked" || kind == "wait_done" || kind == "expect_checked" || kind == "step_missed") {
      ScheduleRow& row = schedule_row(str(f, "step"), {});
      if (kind == "step_started") {
        // Traffic and uart actions are done once started; faults, waits and expects report their own end.
        const bool instant = row.label.rfind("traffic", 0) == 0 || row.label.rfind("uart", 0) == 0;
        if (row.state == "pending") row.state = instant ? "done" : "active";
        if (row.started_ms == 0) row.started_ms = t;
      } else if (kind == "fault_started") {
        row.state = "active";
        row.started_ms = t;
      } else if (kind == "fault_ended") {
        row.state = "recovering";
      } else {
        row.state = kind == "step_missed" ? "missed" : "done";
        row.pass = f.value("pass", false);
        row.detail = str(f, "detail");
        (*row.pass ? status_.checks_passed : status_.checks_failed)++;
      }
    } else if (kind == "rig_finished") {
      status_.finished = true;
      if (!status_from_harness_) status_.state = "finished (" + str(f, "reason") + ")";
    }
  }
}

std::vector<LedgerRow> ViewModel::ledger_tail(std::size_t n) const {
  std::vector<LedgerRow> out;
  for (auto it = ledger_.rbegin(); it != ledger_.rend() && out.size() < n; ++it) out.push_back(*it);
  return out;
}

std::optional<double> ViewModel::countdown(const ScheduleRow& row, std::int64_t now_ms) {
  if (row.state != "active" || !row.duration_s || row.started_ms == 0) return std::nullopt;
  return std::max(0.0, *row.duration_s - static_cast<double>(now_ms - row.started_ms) / 1000.0);
}

std::string ViewModel::age_text(const DeviceRow& row, std::int64_t now_ms) {
  if (row.last_seen_ms == 0) return "-";
  const std::int64_t s = std::max<std::int64_t>(0, now_ms - row.last_seen_ms) / 1000;
  if (s < 120) return fmt::format("{}s", s);
  if (s < 7200) return fmt::format("{}m", s / 60);
  return fmt::format("{}h", s / 3600);
}

namespace {

std::string format_line(const LogLine& line, const LogView& view) {
    std::string prefix;
    if (view.timestamps) {
      if (line.time_ms > 0) {
        const std::time_t secs = static_cast<std::time_t>(line.time_ms / 1000);
        std::tm utc{};
        gmtime_r(&secs, &utc);
        prefix = fmt::format("{:02}:{:02}:{:02}.{:03} ", utc.tm_hour, utc.tm_min, utc.tm_sec, line.time_ms % 1000);
      } else {
        prefix = "console      ";
      }
    }
    const LogLevel level = parse_level(line.level);
    const char* tag = level == LogLevel::error ? "E " : level == LogLevel::warn ? "W " : level == LogLevel::debug ? "D " : "";
    return prefix + tag + line.text;
}

}  // namespace

std::vector<std::string> visible_log(const std::deque<LogLine>& log, const LogView& view) {
  std::vector<std::string> out;
  out.reserve(log.size());
  for (const auto& line : log)
    if (parse_level(line.level) >= view.min_level) out.push_back(format_line(line, view));
  return out;
}

std::vector<std::string> visible_log_tail(const std::deque<LogLine>& log, const LogView& view, std::size_t scroll,
                                          std::size_t count) {
  std::vector<std::string> out;
  for (auto it = log.rbegin(); it != log.rend() && out.size() < count; ++it) {
    if (parse_level(it->level) < view.min_level) continue;
    if (scroll > 0) {
      --scroll;
      continue;
    }
    out.push_back(format_line(*it, view));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<std::size_t> find_backwards(const std::vector<std::string>& lines, const std::string& needle,
                                          std::size_t from) {
  if (lines.empty() || needle.empty()) return std::nullopt;
  from = std::min(from, lines.size() - 1);
  for (std::size_t k = 0; k < lines.size(); ++k) {
    const std::size_t i = (from + lines.size() - k) % lines.size();
    if (lines[i].find(needle) != std::string::npos) return i;
  }
  return std::nullopt;
}

}  // namespace iotw::console
