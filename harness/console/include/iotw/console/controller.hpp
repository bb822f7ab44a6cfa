// The console's behaviour without a terminal (docs/console.md "Keys"): keys in, control-socket requests and
// screen state out. Live mode polls the run (`events`, `status`) through the same request function the keys
// use; replay mode plays a finished run's events into the view model. The ncurses layer (screen.hpp) only
// draws a Controller and feeds it keys.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/support/scheduler.hpp"

#include "iotw/console/view_model.hpp"

namespace iotw::console {

/// Keys that are not printable characters (the ncurses layer maps its KEY_* codes onto these).
enum Key : int {
  kKeyUp = 0x1001,
  kKeyDown,
  kKeyPageUp,
  kKeyPageDown,
  kKeyHome,
  kKeyEnd,
  kKeyEnter,
  kKeyEscape,
  kKeyBackspace,
};

/// The inline step a device key sends (r h b o c s x), or why the key does not apply to `device`.
struct KeyStep {
  std::string step;   ///< e.g. "fault reboot device=esp32-02"; empty when `error` is set
  std::string error;  ///< e.g. "b: esp32-01 is not DPS-powered"
};
KeyStep step_for_key(char key, const DeviceRow& device);

/// Paces the screen's redraws (docs/console.md "The screen"): at most one per kMinIntervalMs (10 a second), and
/// none while nothing changed. Times are the caller's clock, ms.
class RedrawPacer {
 public:
  static constexpr std::int64_t kMinIntervalMs = 100;
  /// Something on the screen changed (a poll brought events, a key, a resize).
  void changed() { dirty_ = true; }
  /// True when a redraw is due at `now_ms`: something changed and the last redraw is kMinIntervalMs old (or there
  /// was none); the redraw is then counted as done. A change not due yet stays pending for a later call.
  bool due(std::int64_t now_ms) {
    if (!dirty_ || (drawn_ && now_ms - last_ms_ < kMinIntervalMs)) return false;
    dirty_ = false;
    drawn_ = true;
    last_ms_ = now_ms;
    return true;
  }

 private:
  bool dirty_ = true, drawn_ = false;
  std::int64_t last_ms_ = 0;
};

/// Sends one request to harness.sock and returns its reply; throws std::runtime_error when the socket fails.
using Requester = std::function<nlohmann::json(const nlohmann::json&)>;

class Controller {
 public:
  enum class Mode { live, replay };
  /// What the console should do after a key.
  enum class Exit { none, detach, stopped };

  /// Live: `send` reaches the run's harness.sock (hello is asked at once).
  explicit Controller(Requester send);
  /// Replay: the run's events (events.jsonl, in order) and its report.json (null when missing).
  Controller(std::vector<nlohmann::json> events, nlohmann::json report);
  /// Not movable: the replay's scheduled actions point at it.
  Controller(Controller&&) = delete;
  Controller& operator=(Controller&&) = delete;

  Mode mode() const { return mode_; }
  /// Live: the rig file the run was started from (hello's `rig_file`).
  const std::string& rig_file() const { return rig_file_; }
  /// See ViewModel::describe_step.
  void describe_step(const std::string& key, const std::string& text, std::optional<double> duration_s) {
    model_.describe_step(key, text, duration_s);
  }
  const ViewModel& model() const { return model_; }

  /// Advances the source: live, polls `events` and `status` (at most every `poll_ms`); replay, applies the
  /// events due at `now_ms` when playing. Returns true when the screen changed.
  bool tick(std::int64_t now_ms);
  /// One key press; `name` names a key that is not a printable character in the message of a key that does
  /// nothing (the ncurses layer passes keyname(), e.g. "KEY_F(5)"). Returns what the console should do next.
  Exit key(int key, const std::string& name = {});

  // --- screen state (read by the ncurses layer and the tests) ---
  std::size_t selected() const { return selected_; }
  const DeviceRow* selected_device() const;
  bool log_focused() const { return log_focused_; }
  bool help_shown() const { return help_; }
  const LogView& log_view() const { return log_view_; }
  /// Lines scrolled back from the newest (0 = follow the tail).
  std::size_t log_scroll() const { return log_scroll_; }
  /// The open prompt ("" = none), e.g. ":" or "uart esp8266-01> ", and what has been typed.
  const std::string& prompt() const { return prompt_; }
  const std::string& input() const { return input_; }
  /// Live: the run has ended and its harness.sock is gone (its verdict came from report.json).
  bool run_ended() const { return connection_lost_; }
  /// The message line: the last request's outcome, an error in place, a key that does nothing.
  const std::string& message() const { return message_; }
  /// The time the screen shows, ms: the last poll's wall clock (live) or the replayed event's time (replay).
  std::int64_t now_ms() const { return now_ms_; }

  // --- replay ---
  bool playing() const { return playing_; }
  double speed() const { return speed_; }
  std::size_t position() const { return position_; }
  std::size_t event_count() const { return events_.size(); }
  /// Rebuilds the model from the start up to the first block_finalized at `height` or above (all events when
  /// none). Returns false when the run never reached it.
  bool seek_height(std::int64_t height);

  static constexpr std::int64_t poll_ms = 200;

 private:
  void send_step(const std::string& step, char key, const std::string& device);
  void track_partition(const nlohmann::json& event);
  std::optional<nlohmann::json> request(const nlohmann::json& req);
  void submit_prompt();
  void step_replay(std::size_t n);
  void finish_replay_if_done();
  Exit quit_answer(int key);

  Mode mode_;
  Requester send_;
  ViewModel model_;
  std::int64_t cursor_ = 0, last_poll_ms_ = 0, now_ms_ = 0;
  bool finished_ = false, connection_lost_ = false;
  std::string run_dir_, rig_file_;
  std::size_t selected_ = 0, log_scroll_ = 0;
  bool log_focused_ = false, help_ = false, quitting_ = false;
  LogView log_view_;
  std::string prompt_, input_, message_, prompt_kind_;
  std::map<std::string, int> partitions_;  // device -> open partition action (any console's, from the events)
  // replay: the run's events as the actions of the one Scheduler (support/scheduler.hpp), each at its time_ms; playing
  // runs it to the replayed time, `.` runs one action, a seek reloads it.
  void load_player();
  std::vector<nlohmann::json> events_;
  nlohmann::json report_;
  std::unique_ptr<Scheduler> player_;
  std::size_t position_ = 0;
  bool playing_ = false;
  double speed_ = 1.0;
  std::int64_t play_wall_ms_ = 0, play_event_ms_ = 0;
};

}  // namespace iotw::console
