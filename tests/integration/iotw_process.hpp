// Test helper: runs the real `iotw` binary (or another of ours) and captures its exit code, stdout and stderr.
#pragma once
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "iotw/support/process.hpp"

namespace iotw::test {

inline std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

/// A fresh, empty scratch folder per test, removed afterwards.
inline std::filesystem::path scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             ("iotw-it-" + std::string(info->test_suite_name()) + "-" + info->name() + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

struct IotwResult {
  int code = -1;
  std::string out, err;
};

/// Runs `exe args...` to completion (in the test's process group); its stdout and stderr are captured in files
/// in `scratch`. `while_running`, if given, is called with the child's pid once it started.
inline IotwResult run_program(const std::string& exe, const std::vector<std::string>& args,
                              const std::filesystem::path& scratch,
                              const std::function<void(int pid)>& while_running = {}) {
  const auto out = scratch / "iotw.stdout", err = scratch / "iotw.stderr";
  ProcessSupervisor child;
  const int pid = child.start("child", exe, args, {.stdout_file = out, .stderr_file = err, .own_process_group = false});
  if (while_running) while_running(pid);
  const auto e = child.wait("child");
  return {e->code, slurp(out), slurp(err)};
}

/// Runs `iotw args...` to completion (run_program).
inline IotwResult run_iotw(const std::vector<std::string>& args, const std::filesystem::path& scratch,
                           const std::function<void(int pid)>& while_running = {}) {
  return run_program(IOTW_EXE, args, scratch, while_running);
}

}  // namespace iotw::test
