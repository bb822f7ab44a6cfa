#include "iotw/console/controller.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace iotw::console {

using nlohmann::json;

KeyStep step_for_key(char key, const DeviceRow& d) {
  const std::string& n = d.name;
  // A datagram link (the UDP fault proxy): AT modules on UDP, TAP, external udp; an AT module over TCP ("at/tcp") is
  // relayed through the serial fault proxy like a PTY link.
  const bool udp = (d.link.rfind("at", 0) == 0 && d.link != "at/tcp") || d.link == "tap" || d.link == "ext/udp";
  switch (key) {
    case 'r': return {"fault reboot device=" + n, {}};
    case 'h': return {"fault hang device=" + n, {}};
    case 'b':
      if (!d.powered) return {{}, fmt::format("b: {} is not DPS-powered", n)};
      return {"fault brownout device=" + n + " vin=3.5 for=2s", {}};
    case 'o':
      if (!d.powered) return {{}, fmt::format("o: {} is not DPS-powered", n)};
      return {"fault power_loss device=" + n + " for=3s", {}};
    case 'c':
      return {udp ? "fault udp_loss device=" + n + " rate=0.3 for=10s" : "fault corrupt device=" + n + " rate=0.02 for=10s", {}};
    case 's': return {"fault stall device=" + n + " for=10s", {}};
    case 'x': return {"fault partition device=" + n, {}};
    default: return {{}, fmt::format("{}: not a device key", key)};
  }
}

Controller::Controller(Requester send) : mode_(Mode::live), send_(std::move(send)) {
  const json hello = send_(json{{"cmd", "hello"}});
  if (!hello.value("ok", false)) throw std::runtime_error("hello refused: " + hello.value("error", std::string{}));
  model_.apply_hello(hello);
  message_ = fmt::format("attached to {} ({}); ? for help", hello.value("rig", std::string{}),
                         hello.value("run_dir", std::string{}));
  run_dir_ = hello.value("run_dir", std::string{});
  rig_file_ = hello.value("rig_file", std::string{});
}

Controller::Controller(std::vector<json> events, json report)
    : mode_(Mode::replay), events_(std::move(events)), report_(std::move(report)) {
  json identity = report_.is_object() ? report_ : json::object();
  identity.erase("pass");
  model_.apply_report(identity);
  playing_ = true;
  load_player();
  message_ = fmt::format("replay: {} events; space play/pause, . step, +/- speed, g seek to a height", events_.size());
}

void Controller::load_player() {
  const auto time_ns = [&](std::size_t i) {
    const std::int64_t ms = events_[i].value("time_ms", std::int64_t{0});
    return ms > 0 ? static_cast<std::uint64_t>(ms) * 1'000'000 : 0;
  };
  player_ = std::make_unique<Scheduler>(position_ < events_.size() ? time_ns(position_) : 0);
  for (std::size_t i = position_; i < events_.size(); ++i)  // a time before the last one's runs after it, in order
    player_->at(time_ns(i), [this, i] {
      model_.apply_event(events_[i]);
      position_ = i + 1;
    });
}

const DeviceRow* Controller::selected_device() const {
  const auto& ds = model_.devices();
  return selected_ < ds.size() ? &ds[selected_] : nullptr;
}

std::optional<json> Controller::request(const json& req) {
  try {
    json reply = send_(req);
    if (!reply.value("ok", false)) {
      message_ = "error: " + reply.value("error", std::string{"(no error text)"});
      return std::nullopt;
    }
    return reply;
  } catch (const std::exception& e) {
    message_ = std::string("harness.sock: ") + e.what();
    return std::nullopt;
  }
}

bool Controller::tick(std::int64_t now_ms) {
  if (mode_ == Mode::live) {
    if (now_ms - last_poll_ms_ < poll_ms || connection_lost_) return false;
    last_poll_ms_ = now_ms;
    now_ms_ = now_ms;
    try {
      for (;;) {  // drain what is there (max 10,000 per request)
        const json reply = send_(json{{"cmd", "events"}, {"since", cursor_}, {"max", 10000}});
        if (!reply.value("ok", false)) break;
        for (const auto& e : reply["events"]) {
          model_.apply_event(e);
          track_partition(e);
        }
        cursor_ = reply.value("next", cursor_);
        finished_ = reply.value("finished", false);
        if (reply["events"].size() < 10000) break;
      }
      const json status = send_(json{{"cmd", "status"}});
      if (status.value("ok", false)) model_.apply_status(status);
    } catch (const std::exception&) {
      // The run ended and took its socket with it: its verdict is in report.json.
      connection_lost_ = true;
      std::ifstream in(std::filesystem::path(run_dir_) / "report.json");
      const json report = json::parse(in, nullptr, false);
      if (!report.is_discarded()) model_.apply_report(report);
      message_ = "the run has ended (harness.sock is gone); q quits";
    }
    return true;
  }
  // replay
  now_ms_ = model_.last_event_ms();
  if (!playing_ || position_ >= events_.size()) return false;
  if (play_wall_ms_ == 0) {  // (re)start the replay clock at the replayed time
    play_wall_ms_ = now_ms;
    play_event_ms_ = position_ > 0 ? model_.last_event_ms() : events_[position_].value("time_ms", std::int64_t{0});
  }
  const auto due = play_event_ms_ + static_cast<std::int64_t>(static_cast<double>(now_ms - play_wall_ms_) * speed_);
  const std::size_t before = position_;
  if (due > 0) player_->run_until(static_cast<std::uint64_t>(due) * 1'000'000);
  if (position_ == before) return false;
  now_ms_ = model_.last_event_ms();
  finish_replay_if_done();
  return true;
}

// Open partitions, whichever console (or script) started them, so that `x` on the device heals it: a
// console_action `fault partition device=D` without for= opens one; its `end` (a console_action with `ends`) or
// its fault_ended closes it.
void Controller::track_partition(const json& e) {
  if (!e.is_object() || !e.contains("fields") || !e["fields"].is_object()) return;
  const json& f = e["fields"];
  const std::string kind = e.value("kind", std::string{});
  auto close = [&](std::int64_t action) {
    for (auto it = partitions_.begin(); it != partitions_.end();)
      it = it->second == action ? partitions_.erase(it) : std::next(it);
  };
  if (kind == "console_action") {
    if (f.contains("ends") && f["ends"].is_number_integer()) return close(f["ends"].get<std::int64_t>());
    const std::string step = f.value("step", std::string{});
    static const std::string kPartition = "fault partition device=";
    if (step.rfind(kPartition, 0) != 0 || step.find(" for=") != std::string::npos) return;
    const std::string device = step.substr(kPartition.size(), step.find(' ', kPartition.size()) - kPartition.size());
    if (device.find(',') == std::string::npos) partitions_[device] = f.value("action", 0);
  } else if (kind == "fault_ended" && f.value("fault", std::string{}) == "partition") {
    const std::string label = f.value("step", std::string{});
    static const std::string kAction = "console action ";
    if (label.rfind(kAction, 0) == 0) close(std::atoll(label.c_str() + kAction.size()));
  }
}

void Controller::step_replay(std::size_t n) {
  for (std::size_t i = 0; i < n && player_->run_next(); ++i) {
  }
  now_ms_ = model_.last_event_ms();
  finish_replay_if_done();
}

void Controller::finish_replay_if_done() {
  if (position_ < events_.size()) return;
  playing_ = false;
  if (report_.is_object()) model_.apply_report(report_);
}

bool Controller::seek_height(std::int64_t height) {
  model_ = ViewModel{};
  json identity = report_.is_object() ? report_ : json::object();
  identity.erase("pass");
  model_.apply_report(identity);
  position_ = 0;
  load_player();
  bool reached = false;
  while (player_->run_next()) {
    const json& e = events_[position_ - 1];
    if (e.value("kind", std::string{}) == "block_finalized" && e.contains("fields") &&
        e["fields"].value("height", std::int64_t{0}) >= height) {
      reached = true;
      break;
    }
  }
  now_ms_ = model_.last_event_ms();
  play_wall_ms_ = play_event_ms_ = 0;
  finish_replay_if_done();
  return reached;
}

void Controller::send_step(const std::string& step, char key, const std::string& device) {
  json req{{"cmd", "step"}, {"step", step}, {"key", std::string(1, key)}};
  if (!device.empty()) req["device"] = device;
  if (auto reply = request(req)) {
    const int action = reply->value("action", 0);
    message_ = fmt::format("action {}: {}", action, step);
    if (key == 'x') {
      partitions_[device] = action;
      message_ += " (x again heals it)";
    }
  }
}

void Controller::submit_prompt() {
  const std::string text = input_;
  const std::string kind = prompt_kind_;
  auto close = [&] { prompt_.clear(); input_.clear(); prompt_kind_.clear(); };
  if (kind == "/") {
    log_view_.search = text;
    close();
    const DeviceRow* d = selected_device();
    const auto lines = visible_log(d ? model_.log(d->name) : std::deque<LogLine>{}, log_view_);
    const auto hit = find_backwards(lines, text, lines.empty() ? 0 : lines.size() - 1);
    if (!hit) {
      message_ = "/" + text + ": not found";
    } else {
      log_scroll_ = lines.size() - 1 - *hit;
      message_ = fmt::format("/{}: line {} of {} (n: next older)", text, *hit + 1, lines.size());
    }
  } else if (kind == "g") {
    close();
    try {
      const std::int64_t h = std::stoll(text);
      playing_ = false;
      message_ = seek_height(h) ? fmt::format("at height {} (event {} of {})", model_.status().height, position_, events_.size())
                                : fmt::format("the run never reached height {}; showing its end", h);
    } catch (const std::exception&) {
      message_ = "g: '" + text + "' is not a height";
    }
  } else if (kind == ":") {
    // No `device`: an inline step names its own devices, whichever row is selected.
    if (auto reply = request(json{{"cmd", "step"}, {"step", text}, {"key", ":"}})) {
      message_ = fmt::format("action {}: {}", reply->value("action", 0), text);
      close();
    }  // else: the prompt stays open with the text, the error beside it
  } else if (kind == "u") {
    const DeviceRow* d = selected_device();
    close();
    if (!d) return;
    const std::string name = d->name;
    if (auto reply = request(json{{"cmd", "uart"}, {"device", name}, {"data", text}, {"key", "u"}})) {
      model_.add_console_line(name, "uart> " + text);
      const std::string out = reply->value("output", std::string{});
      std::size_t count = 0, start = 0;
      while (start < out.size()) {
        std::size_t end = out.find('\n', start);
        if (end == std::string::npos) end = out.size();
        std::string line = out.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) { model_.add_console_line(name, "uart< " + line); ++count; }
        start = end + 1;
      }
      log_scroll_ = 0;
      message_ = fmt::format("uart {}: {} line(s) of answer in its log", name, count);
    }
  }
}

Controller::Exit Controller::quit_answer(int key) {
  quitting_ = false;
  if (key == 's') {
    if (request(json{{"cmd", "stop"}})) return Exit::stopped;
    return Exit::none;
  }
  if (key == 'd') return Exit::detach;
  message_ = "quit cancelled";
  return Exit::none;
}

Controller::Exit Controller::key(int k, const std::string& name) {
  if (!prompt_.empty()) {  // a prompt takes every key
    if (k == kKeyEscape) { prompt_.clear(); input_.clear(); prompt_kind_.clear(); message_.clear(); }
    else if (k == kKeyEnter) submit_prompt();
    else if (k == kKeyBackspace) { if (!input_.empty()) input_.pop_back(); }
    else if (k >= 0x20 && k < 0x7f) input_ += static_cast<char>(k);
    return Exit::none;
  }
  if (quitting_) return quit_answer(k);
  const bool live = mode_ == Mode::live;
  const std::size_t n = model_.devices().size();
  const DeviceRow* d = selected_device();
  auto scroll_limit = [&] {
    const auto lines = visible_log(d ? model_.log(d->name) : std::deque<LogLine>{}, log_view_);
    return lines.empty() ? std::size_t{0} : lines.size() - 1;
  };
  message_.clear();
  switch (k) {
    case kKeyUp: case 'k': if (selected_ > 0) { --selected_; log_scroll_ = 0; } return Exit::none;
    case kKeyDown: case 'j': if (selected_ + 1 < n) { ++selected_; log_scroll_ = 0; } return Exit::none;
    case kKeyEnter: log_focused_ = !log_focused_; return Exit::none;
    case kKeyEscape: log_focused_ = false; help_ = false; return Exit::none;
    case kKeyPageUp: log_scroll_ = std::min(scroll_limit(), log_scroll_ + 10); return Exit::none;
    case kKeyPageDown: log_scroll_ = log_scroll_ > 10 ? log_scroll_ - 10 : 0; return Exit::none;
    case kKeyHome: log_scroll_ = scroll_limit(); return Exit::none;
    case kKeyEnd: log_scroll_ = 0; return Exit::none;
    case '?': help_ = !help_; return Exit::none;
    case 't': log_view_.timestamps = !log_view_.timestamps;
      message_ = log_view_.timestamps ? "timestamps on" : "timestamps off"; return Exit::none;
    case 'l':
      log_view_.min_level = static_cast<LogLevel>((static_cast<int>(log_view_.min_level) + 1) % 4);
      message_ = std::string("log level: ") + level_name(log_view_.min_level) + " and above"; log_scroll_ = 0;
      return Exit::none;
    case '/': prompt_ = "/"; prompt_kind_ = "/"; return Exit::none;
    case 'n': {
      if (log_view_.search.empty()) { message_ = "n: no search yet (/ searches)"; return Exit::none; }
      const auto lines = visible_log(d ? model_.log(d->name) : std::deque<LogLine>{}, log_view_);
      if (lines.empty()) return Exit::none;
      const std::size_t current = lines.size() - 1 - std::min(log_scroll_, lines.size() - 1);
      const auto hit = find_backwards(lines, log_view_.search, current == 0 ? lines.size() - 1 : current - 1);
      if (hit) log_scroll_ = lines.size() - 1 - *hit;
      message_ = hit ? fmt::format("/{}: line {} of {}", log_view_.search, *hit + 1, lines.size()) : "/" + log_view_.search + ": not found";
      return Exit::none;
    }
    case 'q':
      if (!live || connection_lost_) return Exit::detach;
      quitting_ = true;
      message_ = "quit: s stops the rig, d detaches and leaves it running, any other key cancels";
      return Exit::none;
    default: break;
  }
  if (!live) {
    switch (k) {
      case ' ': playing_ = !playing_; play_wall_ms_ = play_event_ms_ = 0;
        if (position_ >= events_.size()) playing_ = false;
        message_ = playing_ ? fmt::format("playing at {}x", speed_) : "paused"; return Exit::none;
      case '.': playing_ = false; step_replay(1); message_ = fmt::format("event {} of {}", position_, events_.size()); return Exit::none;
      case '+': speed_ = std::min(64.0, speed_ * 2); play_wall_ms_ = play_event_ms_ = 0; message_ = fmt::format("speed {}x", speed_); return Exit::none;
      case '-': speed_ = std::max(0.125, speed_ / 2); play_wall_ms_ = play_event_ms_ = 0; message_ = fmt::format("speed {}x", speed_); return Exit::none;
      case 'g': prompt_ = "seek to height: "; prompt_kind_ = "g"; return Exit::none;
      case 'r': case 'h': case 'b': case 'o': case 'c': case 's': case 'x': case 'u': case ':': case 'p': case 'w':
        message_ = fmt::format("{}: a replay is read-only (keys that poke a run work live only)", static_cast<char>(k));
        return Exit::none;
      default: break;
    }
  } else {
    switch (k) {
      case 'r': case 'h': case 'b': case 'o': case 'c': case 's': case 'x': {
        if (!d) { message_ = "no device selected"; return Exit::none; }
        if (k == 'x') {
          const auto open = partitions_.find(d->name);
          if (open != partitions_.end()) {
            if (request(json{{"cmd", "end"}, {"action", open->second}, {"key", "x"}, {"device", d->name}}))
              message_ = fmt::format("action {} ended: {} healed", open->second, d->name);
            partitions_.erase(open);
            return Exit::none;
          }
        }
        const KeyStep s = step_for_key(static_cast<char>(k), *d);
        if (!s.error.empty()) { message_ = s.error; return Exit::none; }
        send_step(s.step, static_cast<char>(k), d->name);
        return Exit::none;
      }
      case 'u':
        if (!d) { message_ = "no device selected"; return Exit::none; }
        if (d->link.rfind("at", 0) != 0) { message_ = fmt::format("u: {} is not an AT-mode module", d->name); return Exit::none; }
        prompt_ = "uart " + d->name + "> "; prompt_kind_ = "u"; return Exit::none;
      case ':': prompt_ = ":"; prompt_kind_ = ":"; return Exit::none;
      case 'p': {
        const bool pause = !model_.status().traffic_paused;
        if (request(json{{"cmd", "traffic"}, {"paused", pause}, {"key", "p"}})) {
          model_.apply_status(json{{"state", model_.status().state}, {"traffic_paused", pause}});
          message_ = pause ? "traffic paused" : "traffic resumed";
        }
        return Exit::none;
      }
      case 'w':
        if (auto reply = request(json{{"cmd", "write_rig"}})) message_ = "session written: " + reply->value("path", std::string{});
        return Exit::none;
      default: break;
    }
  }
  if (k >= 0x20 && k < 0x7f) message_ = fmt::format("unknown key '{}' (? for help)", static_cast<char>(k));
  else message_ = fmt::format("unknown key {} (? for help)", name.empty() ? std::to_string(k) : name);
  return Exit::none;
}

}  // namespace iotw::console
