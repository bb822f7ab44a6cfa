// ProcessSupervisor with real short-lived processes (/bin/sh).
#include "process_supervisor.hpp"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace iotw::harness {
namespace {
using namespace std::chrono_literals;

class Supervisor : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("iotw-supervisor-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  int sh(const std::string& name, const std::string& script) {
    return sup.start(name, "/bin/sh", {"-c", script}, dir / (name + ".out"), dir / (name + ".err"));
  }
  // Waits (hang guard 10 s) until `file` has some content.
  void wait_for_output(const std::string& file) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (slurp(file).empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  }
  std::string slurp(const std::string& file) {
    std::ifstream in(dir / file);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::filesystem::path dir;
  ProcessSupervisor sup;
};

TEST_F(Supervisor, RedirectsOutputAndRunsEachChildInItsOwnProcessGroup) {
  const int pid = sh("talker", "echo out; echo err >&2; exec sleep 30");
  wait_for_output("talker.err");
  EXPECT_EQ(slurp("talker.out"), "out\n");
  EXPECT_EQ(slurp("talker.err"), "err\n");
  EXPECT_EQ(::getpgid(pid), pid);
  const auto e = sup.stop("talker", 5s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->pid, pid);
  EXPECT_EQ(e->code, 128 + SIGTERM);
}

TEST_F(Supervisor, KillsAChildThatIgnoresSigterm) {
  sh("stubborn", "trap '' TERM; echo ready; exec sleep 30");  // SIG_IGN survives exec
  wait_for_output("stubborn.out");
  const auto e = sup.stop("stubborn", 200ms);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 128 + SIGKILL);
}

TEST_F(Supervisor, ReportsAChildThatExitedOnItsOwnOnce) {
  sh("sleeper", "exec sleep 30");
  sh("quitter", "exit 3");
  std::optional<ProcessExit> e;
  const auto deadline = std::chrono::steady_clock::now() + 10s;  // hang guard only
  while (!(e = sup.reap_exited()) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->name, "quitter");
  EXPECT_EQ(e->code, 3);
  EXPECT_FALSE(sup.stop("quitter", 1s).has_value());  // forgotten
  const auto rest = sup.stop_all(5s);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].name, "sleeper");
}

TEST_F(Supervisor, StopAllStopsLatestFirst) {
  sh("first", "exec sleep 30");
  sh("second", "exec sleep 30");
  const auto all = sup.stop_all(5s);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "second");
  EXPECT_EQ(all[1].name, "first");
  EXPECT_TRUE(sup.stop_all(5s).empty());
}

TEST_F(Supervisor, MissingExecutableThrowsNamingIt) {
  try {
    sup.start("ghost", dir / "no-such-binary", {}, dir / "g.out", dir / "g.err");
    FAIL() << "expected a throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-binary"), std::string::npos);
  }
}

}  // namespace
}  // namespace iotw::harness
