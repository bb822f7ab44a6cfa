// A standalone iotw-emu (iotw/support/process.hpp) whose first stdout lines name its endpoints (a PTY path,
// host:port): stdout in DIR/emu.stdout, events (stderr) in DIR/emu.events, run in DIR; stopped with SIGTERM.
#pragma once
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "iotw/support/process.hpp"

namespace iotw::test {

class EmuChild {
 public:
  /// Starts `iotw-emu args...` and waits for its first `endpoint_lines` complete stdout lines (fewer when it exits
  /// first; 30 s hang guard).
  EmuChild(const std::vector<std::string>& args, int endpoint_lines, const std::filesystem::path& dir) {
    const auto out = dir / "emu.stdout";
    children_.start(kName, IOTW_EMU_EXE, args,
                    {.stdout_file = out, .stderr_file = dir / "emu.events", .working_dir = dir});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      lines.clear();
      std::ifstream in(out);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (std::size_t at = 0, nl; static_cast<int>(lines.size()) < endpoint_lines && (nl = text.find('\n', at)) != std::string::npos;
           at = nl + 1)
        lines.push_back(text.substr(at, nl - at));
      if (static_cast<int>(lines.size()) == endpoint_lines || exited()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~EmuChild() { stop(); }
  /// SIGTERM, up to 30 s to exit cleanly, then SIGKILL; its exit code (128 + signal when killed), -1 once stopped.
  int stop() {
    if (exit_) return *exit_;
    const auto e = children_.stop(kName, std::chrono::seconds(30));
    return e ? e->code : -1;
  }
  std::vector<std::string> lines;

 private:
  bool exited() {
    if (auto e = children_.reap_exited()) exit_ = e->code;
    return exit_.has_value();
  }
  static constexpr const char* kName = "iotw-emu";
  ProcessSupervisor children_;
  std::optional<int> exit_;
};

}  // namespace iotw::test
