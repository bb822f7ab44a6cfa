#include "esp_wifi/typed_lines.hpp"

namespace iotw::emu {
namespace {
/// A final result line of ESP-AT or Realtek AT v2 in a typed line's answer.
bool has_final_result(const std::string& out) {
  for (const char* end : {"\r\nOK\r\n", "\r\nERROR\r\n", "\r\nFAIL\r\n", "SEND OK\r\n", "SEND FAIL\r\n", "] OK", "] ERROR",
                          "\r\nERROR:"})
    if (out.find(end) != std::string::npos) return true;
  return out.rfind("OK\r\n", 0) == 0 || out.rfind("ERROR\r\n", 0) == 0;
}
}  // namespace

void TypedLines::type(std::string text, Done done, std::uint64_t now_ms, const std::string& device) {
  if (lines_.size() >= kQueue) {
    done(UartTyped{{}, false, "too many typed lines waiting for " + device + " (at most " + std::to_string(kQueue) + ")"});
    return;
  }
  Line line;
  line.text = std::move(text);
  line.done = std::move(done);
  line.queued_ms = now_ms;
  lines_.push_back(std::move(line));
}

void TypedLines::on_printed(const std::string& out) {
  if (!lines_.empty() && lines_.front().sent) lines_.front().output += out;
}

void TypedLines::finish(UartTyped result) {
  Line line = std::move(lines_.front());
  lines_.pop_front();
  if (finished_) finished_(line.text, result);
  line.done(result);
}

void TypedLines::pump(std::uint64_t now_ms, bool idle, const std::function<void(const std::string&)>& write) {
  while (!lines_.empty()) {
    Line& line = lines_.front();
    if (line.sent) {
      if (has_final_result(line.output)) {
        finish(UartTyped{line.output, true, {}});
        continue;
      }
      if (now_ms - line.sent_ms >= kAnswerMs) finish(UartTyped{line.output, false, {}});
      return;
    }
    if (idle) {
      line.sent = true;
      line.sent_ms = now_ms;
      write(line.text);
      return;
    }
    if (now_ms - line.queued_ms >= kWaitMs) {
      finish(UartTyped{{}, false, "the appliance's AT driver kept the UART busy for " + std::to_string(kWaitMs) + " ms"});
      continue;
    }
    return;
  }
}

nlohmann::json TypedLines::event_fields(const std::string& text, const UartTyped& result) {
  nlohmann::json fields{{"data", text}};
  if (result.error.empty()) {
    fields["output"] = result.output;
    fields["complete"] = result.complete;
  } else {
    fields["error"] = result.error;
  }
  return fields;
}

void TypedLines::stop(const std::string& reason) {
  while (!lines_.empty()) finish(UartTyped{{}, false, reason});
}

}  // namespace iotw::emu
