// The lines a person types into an AT module's UART on the MCU's side (the harness's `uart` step, the console's `u`
// key; docs/emulators.md "Control channel"), shared by the pool's AtAppliance and sim mode's SimAtAppliance: queued
// until the MCU's side of the line is idle, then written to the UART; the module's output from that moment until a
// final result line (or the answer window) is the line's answer. Clock-free: the host passes its time in ms.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "common/device.hpp"

namespace iotw::emu {

class TypedLines {
 public:
  static constexpr std::uint64_t kWaitMs = 2000;    ///< longest wait for the MCU's side of the UART to be idle
  static constexpr std::uint64_t kAnswerMs = 1000;  ///< answer window after the line went out
  static constexpr std::size_t kQueue = 16;         ///< lines waiting at most; more are refused at once

  using Done = std::function<void(const UartTyped&)>;
  /// Each line's end (for the host's "uart_typed" event {data, output, complete} or {data, error}), before its
  /// `done` runs.
  using Finished = std::function<void(const std::string& text, const UartTyped& result)>;
  explicit TypedLines(Finished finished) : finished_(std::move(finished)) {}

  /// Queues `text` (typed as is) at now_ms; `done` gets {error} at once when kQueue lines already wait.
  /// `device` names the appliance in that error.
  void type(std::string text, Done done, std::uint64_t now_ms, const std::string& device);
  /// The module printed `out` towards the MCU: part of the answer of the line that went out, if any.
  void on_printed(const std::string& out);
  /// Moves the queue on at now_ms: a sent line ends at its final result line (ESP-AT `OK`, `ERROR`, `FAIL`,
  /// `SEND OK`/`SEND FAIL`; Realtek `[CMD] OK`, `[CMD] ERROR:n`, `ERROR:...`; complete) or after kAnswerMs (not
  /// complete); the next waiting line goes out through `write` when `idle` (nothing in flight on the MCU's side, its
  /// driver between commands), or ends with an error after kWaitMs of waiting.
  void pump(std::uint64_t now_ms, bool idle, const std::function<void(const std::string&)>& write);
  /// Ends every line with {error: reason} (the appliance stopped).
  void stop(const std::string& reason);
  /// A line is waiting or out: the host steps often (kAtStepNs).
  bool busy() const { return !lines_.empty(); }
  /// The fields of the host's "uart_typed" event for a finished line: {data, output, complete} or {data, error}.
  static nlohmann::json event_fields(const std::string& text, const UartTyped& result);

 private:
  struct Line {
    std::string text;
    Done done;
    std::uint64_t queued_ms = 0, sent_ms = 0;
    bool sent = false;
    std::string output;
  };
  void finish(UartTyped result);
  Finished finished_;
  std::deque<Line> lines_;  ///< the front is out (sent) or the next to go
};

}  // namespace iotw::emu
