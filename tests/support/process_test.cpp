// ProcessSupervisor, run_to_end and run_captured with real short-lived processes (/bin/sh).
#include "iotw/support/process.hpp"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace iotw {
namespace {
using namespace std::chrono_literals;

class Supervisor : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("iotw-supervisor-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
           std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  int sh(const std::string& name, const std::string& script) {
    return sup.start(name, "/bin/sh", {"-c", script},
                     {.stdout_file = dir / (name + ".out"), .stderr_file = dir / (name + ".err")});
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
  std::ofstream(dir / "talker.out") << "stale bytes from an earlier, longer run\n";
  const int pid = sh("talker", "echo out; echo err >&2; exec sleep 30");
  wait_for_output("talker.err");
  EXPECT_EQ(slurp("talker.out"), "out\n");  // truncated, not overwritten in place
  EXPECT_EQ(slurp("talker.err"), "err\n");
  EXPECT_EQ(::getpgid(pid), pid);
  const auto e = sup.stop("talker", 5s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->pid, pid);
  EXPECT_EQ(e->code, 128 + SIGTERM);
}

TEST_F(Supervisor, OneFileForBothStreamsAndTheParentsProcessGroupOnRequest) {
  const auto log = dir / "both.log";
  const int pid = sup.start("both", "/bin/sh", {"-c", "echo one; echo two >&2; echo three; exec sleep 30"},
                            {.stdout_file = log, .stderr_file = log, .own_process_group = false});
  const auto deadline = std::chrono::steady_clock::now() + 10s;  // hang guard only
  while (slurp("both.log") != "one\ntwo\nthree\n" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(slurp("both.log"), "one\ntwo\nthree\n");
  EXPECT_EQ(::getpgid(pid), ::getpgid(0));
  EXPECT_EQ(sup.stop("both", 5s)->code, 128 + SIGTERM);
}

TEST_F(Supervisor, ChildGetsDefaultSignalsEvenWhenTheParentIgnoresThem) {
  ::signal(SIGTERM, SIG_IGN);  // SIG_IGN would survive exec
  sh("plain", "echo ready; exec sleep 30");
  ::signal(SIGTERM, SIG_DFL);
  wait_for_output("plain.out");
  const auto e = sup.stop("plain", 5s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 128 + SIGTERM);  // not SIGKILL after the grace
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
  EXPECT_EQ(sup.size(), 2u);
  const auto all = sup.stop_all(5s);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "second");
  EXPECT_EQ(all[1].name, "first");
  EXPECT_TRUE(sup.empty());
  EXPECT_TRUE(sup.stop_all(5s).empty());
}

TEST_F(Supervisor, StopAllSendsSigtermToEveryChildBeforeWaiting) {
  // "a" marks its SIGTERM in a file and exits; "b" (started later, so stopped first) exits on SIGTERM only once
  // that mark exists. Both end with code 0 only when every child got SIGTERM before the grace ran out; a
  // one-by-one stop would SIGKILL "b" (137) while "a" had not been told yet.
  const std::string mark = (dir / "a.mark").string();
  sh("a", "trap 'echo term > " + mark + "; exit 0' TERM; echo ready; while :; do sleep 0.05; done");
  sh("b", "trap 'while [ ! -e " + mark + " ]; do sleep 0.05; done; exit 0' TERM; echo ready; while :; do sleep 0.05; done");
  wait_for_output("a.out");
  wait_for_output("b.out");
  const auto all = sup.stop_all(10s);  // hang guard; both exit as soon as they have handled SIGTERM
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "b");
  EXPECT_EQ(all[0].code, 0);
  EXPECT_EQ(all[1].name, "a");
  EXPECT_EQ(all[1].code, 0);
  EXPECT_EQ(slurp("a.mark"), "term\n");
}

TEST_F(Supervisor, MissingExecutableThrowsNamingIt) {
  try {
    sup.start("ghost", dir / "no-such-binary", {}, {.stdout_file = dir / "g.out", .stderr_file = dir / "g.err"});
    FAIL() << "expected a throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-binary"), std::string::npos);
  }
  EXPECT_TRUE(sup.empty());
}

TEST_F(Supervisor, UnopenableLogThrowsNamingIt) {
  try {
    sup.start("mute", "/bin/true", {}, {.stdout_file = dir / "no-such-dir" / "x.out"});
    FAIL() << "expected a throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-dir/x.out"), std::string::npos) << e.what();
  }
}

TEST_F(Supervisor, RunToEndReturnsTheExitCodeAndReadsStdinFromAFile) {
  std::ofstream(dir / "in.txt") << "hello\n";
  EXPECT_EQ(run_to_end("/bin/sh", {"-c", "read x; echo \"got $x\"; exit 7"},
                       {.stdin_file = dir / "in.txt", .stdout_file = dir / "r.out", .stderr_file = dir / "r.out"}),
            7);
  EXPECT_EQ(slurp("r.out"), "got hello\n");
  EXPECT_EQ(run_to_end("/bin/sh", {"-c", "kill -KILL $$"}, {.stdout_file = dir / "k.out"}), 128 + SIGKILL);
  EXPECT_EQ(run_to_end("/bin/sh", {"-c", "read x || exit 4"}, {.stdout_file = dir / "n.out"}), 4);  // /dev/null
}

TEST_F(Supervisor, RunsInTheGivenWorkingDirectory) {
  EXPECT_EQ(run_to_end("/bin/sh", {"-c", "pwd -P"}, {.stdout_file = dir / "pwd.out", .working_dir = dir}), 0);
  EXPECT_EQ(slurp("pwd.out"), std::filesystem::canonical(dir).string() + "\n");
  EXPECT_THROW(sup.start("lost", "/bin/true", {}, {.working_dir = dir / "no-such-dir"}), std::runtime_error);
}

TEST(RunCaptured, MergesOrDiscardsStderr) {
  const auto merged = run_captured("/bin/sh", {"-c", "echo out; echo err >&2; exit 5"}, Stderr::merge);
  EXPECT_EQ(merged.code, 5);
  EXPECT_EQ(merged.output, "out\nerr\n");
  const auto quiet = run_captured("/bin/sh", {"-c", "echo out; echo err >&2"}, Stderr::discard);
  EXPECT_EQ(quiet.code, 0);
  EXPECT_EQ(quiet.output, "out\n");
  EXPECT_THROW(run_captured("/no/such/tool", {}, Stderr::merge), std::runtime_error);
}

}  // namespace
}  // namespace iotw
