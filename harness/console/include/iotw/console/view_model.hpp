// The console's screen as data (docs/console.md "The screen"): a pure view model fed with the run's events
// (docs/events.md objects), the control socket's `hello` and `status` replies, and what the console itself
// prints (uart answers, request errors). No terminal, no clock, no I/O: every query that needs "now" takes it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iotw::console {

/// One line of a device's log pane.
struct LogLine {
  std::int64_t time_ms = 0;  ///< Unix epoch ms of the event (0 for lines the console wrote itself)
  std::string level;          ///< "error", "warn", "info", "debug"; events other than firmware `log` are "info"
  std::string text;           ///< the line without its timestamp
};

/// Log levels from least to most severe; a filter shows its level and the more severe ones.
enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

/// The level of a LogLine::level text ("warning" = warn; unknown text = info).
LogLevel parse_level(const std::string& level);
/// "debug", "info", "warn", "error".
const char* level_name(LogLevel level);

/// One row of the device table.
struct DeviceRow {
  std::string name, model, link;      ///< link: "pty", "at", "tap" (hello), else from the events
  bool powered = false;               ///< DPS- or bulb-powered (its supply voltage is shown)
  std::string state = "booting";      ///< booting, registering, idle, mining, witnessing, blacklisted, off
  int resets = 0;                     ///< its `reset` events (a run's first boot is not one)
  std::string last_reset;             ///< reason of the last reset ("power-on", "software", "task-wdt", ...)
  std::optional<int> rssi;            ///< dBm, Wi-Fi modules once an `ap_changed` said so
  std::optional<double> vin;          ///< V, powered devices once a `supply`/`rail` event said so
  int agreeing = 0;                   ///< its verdicts in closed rounds that matched the round's expected verdict
  int answered = 0;                   ///< its verdicts in closed rounds
  int blocks_mined = 0;               ///< block_finalized with it as the miner
  int rounds_witnessed = 0;           ///< its attestations
  std::int64_t last_seen_ms = 0;      ///< time_ms of the last event from or about it (0 = none yet)
  std::int64_t frame_errors = 0;      ///< trust-node frame_error events on its link

  /// Reputation in percent: agreeing / answered (docs/console.md); nullopt before its first closed round.
  std::optional<int> reputation() const;
};

/// One block of the ledger tail.
struct LedgerRow {
  std::int64_t height = 0;
  std::string hash;                    ///< full hex
  std::string miner;                   ///< name (pubkey prefix when unknown)
  std::vector<std::pair<std::string, std::string>> verdicts;  ///< (witness name, verdict) of its round
  std::optional<bool> coherent;        ///< from its round_closed
  int tx_count = 0;
};

/// One entry of the fault schedule: a rig step or a console action.
struct ScheduleRow {
  std::string key;                     ///< the step's label, as the step events name it ("step 2", its `name`,
                                       ///< "console action 3")
  int action = 0;                      ///< console action number (0 for rig steps)
  std::string label;                   ///< what the pane shows: the inline step, or the label and its rig file line
  std::string state = "pending";       ///< pending, active, recovering, done, missed
  std::optional<double> duration_s;    ///< a fault's for= / duration_s, for the countdown
  std::int64_t started_ms = 0;         ///< time_ms of fault_started/step_started (0 = not started)
  std::optional<bool> pass;            ///< result of its check (recovery_checked, wait_done, expect_checked)
  std::string detail;                  ///< the check's detail, or the key that sent a console action
};

/// The status line's values.
struct StatusInfo {
  std::string rig;
  std::optional<std::uint64_t> seed;
  std::int64_t height = 0;
  std::optional<std::int64_t> target;
  double tx_per_s = 0;
  double elapsed_s = 0;
  std::string state;                   ///< the harness's ("running", "holding", ...), "replay", or empty
  int checks_failed = 0;               ///< failed recovery/wait/expect checks so far
  int checks_passed = 0;
  bool traffic_paused = false;
  bool finished = false;
  std::optional<bool> verdict_pass;    ///< the run's verdict once finished
  std::vector<std::string> failed_criteria;
};

/// The view model. Feed it in stream order; read the panes at any moment.
class ViewModel {
 public:
  static constexpr std::size_t kLogLines = 10000;  ///< scrollback per device

  /// The hello reply: rig name, seed, target, devices (in rig order) and steps.
  void apply_hello(const nlohmann::json& hello);
  /// One event object (docs/events.md). Objects without `kind` are ignored.
  void apply_event(const nlohmann::json& event);
  /// A status reply: height, tx/s, elapsed, state, traffic, verdict (they replace what the events gave).
  void apply_status(const nlohmann::json& status);
  /// A finished run's report.json: its verdict (`pass`, the failed `criteria`) and, before any hello, the rig
  /// name, seed and devices (replay has no hello).
  void apply_report(const nlohmann::json& report);
  /// What the rig file says of step `key` (its label): the schedule shows `text` and counts down `duration_s`.
  void describe_step(const std::string& key, const std::string& text, std::optional<double> duration_s);
  /// A line the console adds to a device's log (uart answers): level info, time 0.
  void add_console_line(const std::string& device, const std::string& text);

  const std::vector<DeviceRow>& devices() const { return devices_; }
  /// The device called `name`, or nullptr.
  const DeviceRow* device(const std::string& name) const;
  /// Device `name`'s log, oldest first (at most kLogLines); empty for an unknown device.
  const std::deque<LogLine>& log(const std::string& name) const;
  /// The last `n` finalized blocks, newest first.
  std::vector<LedgerRow> ledger_tail(std::size_t n) const;
  const std::vector<ScheduleRow>& schedule() const { return schedule_; }
  const StatusInfo& status() const { return status_; }
  /// Events applied so far.
  std::size_t events_applied() const { return events_applied_; }
  /// time_ms of the last event applied (0 before any).
  std::int64_t last_event_ms() const { return last_event_ms_; }

  /// Seconds left of an active fault with a duration at `now_ms`, else nullopt.
  static std::optional<double> countdown(const ScheduleRow& row, std::int64_t now_ms);
  /// "12s", "3m", "—" (never seen): age of the device's last event at `now_ms`.
  static std::string age_text(const DeviceRow& row, std::int64_t now_ms);

 private:
  DeviceRow& device_named(const std::string& name);
  DeviceRow* device_by_key(const std::string& pubkey);
  void touch(const std::string& name, std::int64_t t);
  void log_line(const std::string& name, std::int64_t t, std::string level, std::string text);
  ScheduleRow& schedule_row(const std::string& key, const std::string& label);

  std::vector<DeviceRow> devices_;
  std::map<std::string, std::size_t> by_name_;
  std::map<std::string, std::string> name_of_key_;  // pubkey hex -> name
  std::map<std::string, std::deque<LogLine>> logs_;
  std::map<std::string, std::string> link_device_;  // "serial:/dev/pts/3" -> device (link_created)
  struct Round {
    std::vector<std::pair<std::string, std::string>> verdicts;
    bool coherent = true;
  };
  std::map<std::int64_t, Round> rounds_;            // round_id -> closed round
  std::deque<LedgerRow> ledger_;                    // newest last, at most 200
  std::vector<ScheduleRow> schedule_;
  StatusInfo status_;
  bool status_from_harness_ = false;
  std::int64_t first_event_ms_ = 0, last_event_ms_ = 0;
  std::deque<std::pair<std::int64_t, std::int64_t>> tx_window_;  // (time_ms, count) over the last 5 s
  std::size_t events_applied_ = 0;
};

/// What the log pane shows: the filter applied to a device's log.
struct LogView {
  LogLevel min_level = LogLevel::debug;
  bool timestamps = true;
  std::string search;  ///< highlighted / jumped to; empty = none
};

/// The lines of `log` passing `view.min_level`, formatted ("HH:MM:SS.mmm " prefix when timestamps are on, UTC).
std::vector<std::string> visible_log(const std::deque<LogLine>& log, const LogView& view);
/// The `count` lines the log pane shows when scrolled back `scroll` lines from the newest: the same lines as
/// visible_log's [size - scroll - count, size - scroll), oldest first, formatting only those (a redraw's cost does
/// not grow with the scrollback).
std::vector<std::string> visible_log_tail(const std::deque<LogLine>& log, const LogView& view, std::size_t scroll,
                                          std::size_t count);
/// Index (into `lines`) of the last line at or before `from` containing `needle` (case-sensitive), searching
/// backwards and wrapping; nullopt when no line does.
std::optional<std::size_t> find_backwards(const std::vector<std::string>& lines, const std::string& needle,
                                          std::size_t from);

}  // namespace iotw::console
