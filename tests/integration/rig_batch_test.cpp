// `iotw rig run --jobs N [--shard i/n] DIR`: a folder of small rigs (copies of smoke with 3 blocks) run by
// child processes of the real `iotw`, each in its own run subfolder, with a combined junit.xml.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include <signal.h>

#include <chrono>
#include <initializer_list>
#include <fstream>
#include <regex>
#include <thread>

#include "iotw_process.hpp"
#include "rig_batch.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

/// rigs/smoke.toml renamed `name`, 3 blocks; `extra_pass` is appended to [pass].
std::string small_smoke(const std::string& name, const std::string& extra_pass = "") {
  std::string t = slurp(fs::path(IOTW_RIGS_DIR) / "smoke.toml");
  t = std::regex_replace(t, std::regex(R"(name = "smoke")"), "name = \"" + name + "\"");
  t = std::regex_replace(t, std::regex(R"(blocks = 20)"), "blocks = 3");
  t = std::regex_replace(t, std::regex(R"(blocks_finalized_min = 20)"), "blocks_finalized_min = 3");
  return t + extra_pass;
}

void write(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(RigBatch, TwoRigsInParallelEachInItsRunFolderWithOneJunit) {
  const fs::path dir = scratch_dir(), rigs = dir / "rigs", out = dir / "out";
  fs::create_directories(rigs);
  write(rigs / "smoke_a.toml", small_smoke("smoke_a"));
  write(rigs / "smoke_b.toml", small_smoke("smoke_b"));
  write(rigs / "notes.txt", "not a rig");
  const IotwResult r = run_iotw({"rig", "run", "--jobs", "2", rigs.string(), "--out", out.string()}, dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;

  // Both children were started before either was waited for (2 at a time).
  const std::string pad(24 - 7, ' ');  // the stem is left-aligned in 24 columns
  const auto a_started = r.out.find("smoke_a" + pad + " started");
  const auto b_started = r.out.find("smoke_b" + pad + " started");
  const auto first_done = r.out.find(" pass (exit 0");
  ASSERT_NE(a_started, std::string::npos) << r.out;
  ASSERT_NE(b_started, std::string::npos) << r.out;
  ASSERT_NE(first_done, std::string::npos) << r.out;
  EXPECT_LT(a_started, first_done);
  EXPECT_LT(b_started, first_done);

  for (const char* rig : {"smoke_a", "smoke_b"}) {
    const json rep = json::parse(slurp(out / rig / "report.json"));
    EXPECT_EQ(rep["rig"], rig);
    EXPECT_EQ(rep["pass"], true);
    EXPECT_GE(rep["blocks_finalized"].get<int>(), 3);
    EXPECT_TRUE(fs::exists(out / rig / "events.jsonl"));
    EXPECT_TRUE(fs::exists(out / (std::string(rig) + ".log")));
  }
  const std::string junit = slurp(out / "junit.xml");
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(junit.c_str())) << junit;
  const pugi::xml_node root = doc.child("testsuites");
  EXPECT_EQ(root.attribute("tests").as_int(), 12) << junit;  // per rig: the run and 5 criteria
  EXPECT_EQ(root.attribute("failures").as_int(), 0);
  EXPECT_EQ(root.attribute("errors").as_int(), 0);
  EXPECT_EQ(root.attribute("skipped").as_int(), 0);
  EXPECT_GT(root.attribute("time").as_double(), 0.0);
  EXPECT_EQ(std::string(root.attribute("timestamp").value()).size(), 19u);
  for (pugi::xml_node suite : root.children("testsuite")) {  // copied whole from the rig's own junit.xml
    EXPECT_STRNE(suite.attribute("hostname").value(), "");
    EXPECT_NE(std::string(suite.child_value("system-out")).find("result      PASS"), std::string::npos);
  }
  EXPECT_NE(junit.find(R"(<testsuite name="smoke_a")"), std::string::npos) << junit;
  EXPECT_NE(junit.find(R"(<testsuite name="smoke_b")"), std::string::npos) << junit;
  EXPECT_LT(junit.find(R"(name="smoke_a")"), junit.find(R"(name="smoke_b")"));  // selection order
  EXPECT_EQ(count_of(junit, "<testsuite "), 2u);
  EXPECT_EQ(count_of(junit, "</testsuites>"), 1u);
  const json batch = json::parse(slurp(out / "batch.json"));
  EXPECT_EQ(batch["rigs_in_folder"], 2);
  ASSERT_EQ(batch["rigs"].size(), 2u);
  EXPECT_EQ(batch["rigs"][0]["result"], "pass");
  EXPECT_EQ(batch["exit_code"], 0);
  fs::remove_all(dir);
}

TEST(RigBatch, ShardsSplitTheSortedFolderAndExitCodesSayTheWorst) {
  const fs::path dir = scratch_dir(), rigs = dir / "rigs";
  fs::create_directories(rigs);
  // Sorted: a_pass (k=0), b_fail (k=1), c_bad (k=2). Shard 1/2 takes k = 0, 2; shard 2/2 takes k = 1.
  write(rigs / "b_fail.toml", small_smoke("b_fail", "coherence_rate_max = 0.5  # all honest: 1.0, fails\n"));
  write(rigs / "c_bad.toml", "[rig]\nname = \"c_bad\"\n[[devices]]\nmodel = \"esp33\"\n");
  write(rigs / "a_pass.toml", small_smoke("a_pass"));

  const IotwResult one = run_iotw({"rig", "run", "--shard", "1/2", "--jobs", "2", rigs.string(), "--out", (dir / "s1").string()}, dir);
  EXPECT_EQ(one.code, 2) << "c_bad cannot run: " << one.out << one.err;
  const std::string j1 = slurp(dir / "s1" / "junit.xml");
  EXPECT_NE(j1.find(R"(<testsuite name="a_pass")"), std::string::npos) << j1;
  EXPECT_NE(j1.find(R"(<testsuite name="c_bad" tests="1" failures="0" errors="1")"), std::string::npos) << j1;
  EXPECT_NE(j1.find("c_bad.toml: could not run (exit 2; no junit.xml)"), std::string::npos) << j1;
  EXPECT_NE(j1.find(R"(type="could_not_run")"), std::string::npos) << j1;
  EXPECT_NE(j1.find("unknown model"), std::string::npos) << "the child's error is in the testcase: " << j1;
  EXPECT_EQ(j1.find("b_fail"), std::string::npos) << j1;
  EXPECT_TRUE(fs::exists(dir / "s1" / "a_pass" / "report.json"));

  const IotwResult two = run_iotw({"rig", "run", "--shard", "2/2", rigs.string(), "--out", (dir / "s2").string()}, dir);
  EXPECT_EQ(two.code, 1) << "b_fail fails a criterion: " << two.out << two.err;
  const std::string j2 = slurp(dir / "s2" / "junit.xml");
  EXPECT_EQ(count_of(j2, "<testsuite "), 1u) << j2;
  EXPECT_NE(j2.find(R"(<testsuite name="b_fail")"), std::string::npos) << j2;
  EXPECT_NE(j2.find(R"(failures="1")"), std::string::npos) << j2;
  EXPECT_NE(j2.find("coherence_rate_max: measured"), std::string::npos) << j2;

  // A shard beyond the folder's rigs gets none: nothing fails.
  write(rigs / "c_bad.toml", small_smoke("c_ok"));
  const IotwResult none = run_iotw({"rig", "run", "--shard", "4/4", rigs.string(), "--out", (dir / "s4").string()}, dir);
  EXPECT_EQ(none.code, 0) << none.out << none.err;
  pugi::xml_document empty;
  ASSERT_TRUE(empty.load_file((dir / "s4" / "junit.xml").c_str()));
  EXPECT_EQ(empty.child("testsuites").attribute("tests").as_int(), 0);
  EXPECT_FALSE(empty.child("testsuites").child("testsuite"));
  fs::remove_all(dir);
}

TEST(RigBatch, BadArgumentsCannotRun) {
  const fs::path dir = scratch_dir(), rigs = dir / "rigs", empty = dir / "empty";
  fs::create_directories(rigs);
  fs::create_directories(empty);
  write(rigs / "a.toml", small_smoke("a"));
  EXPECT_EQ(run_iotw({"rig", "run", "--shard", "3/2", rigs.string()}, dir).code, 2);
  EXPECT_EQ(run_iotw({"rig", "run", "--shard", "x", rigs.string()}, dir).code, 2);
  EXPECT_EQ(run_iotw({"rig", "run", "--jobs", "0", rigs.string()}, dir).code, 2);
  const IotwResult file = run_iotw({"rig", "run", "--jobs", "2", (rigs / "a.toml").string()}, dir);
  EXPECT_EQ(file.code, 2);
  EXPECT_NE(file.err.find("need a folder"), std::string::npos) << file.err;
  const IotwResult nothing = run_iotw({"rig", "run", empty.string(), "--out", (dir / "o").string()}, dir);
  EXPECT_EQ(nothing.code, 2);
  EXPECT_NE(nothing.err.find("no *.toml rig"), std::string::npos) << nothing.err;
  fs::remove_all(dir);
}

TEST(RigBatch, InterruptStopsTheRunningRigAndSkipsTheRest) {
  const fs::path dir = scratch_dir(), rigs = dir / "rigs", out = dir / "out";
  fs::create_directories(rigs);
  std::string endless = std::regex_replace(small_smoke("a_long"), std::regex(R"(blocks = 3)"), "blocks = 100000");
  write(rigs / "a_long.toml", endless);
  write(rigs / "b_next.toml", small_smoke("b_next"));
  const IotwResult r = run_iotw({"rig", "run", rigs.string(), "--out", out.string()}, dir, [&](int pid) {
    // Once the child printed its seed its signal handlers are in place; then interrupt the batch.
    for (int i = 0; i < 600 && slurp(out / "a_long.log").find("seed:") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(pid, SIGINT);
  });
  EXPECT_EQ(r.code, 130) << r.out << r.err;
  const json batch = json::parse(slurp(out / "batch.json"));
  ASSERT_EQ(batch["rigs"].size(), 1u) << batch.dump(2);  // b_next never started
  EXPECT_EQ(batch["rigs"][0]["rig"], "a_long");
  EXPECT_EQ(batch["rigs"][0]["exit_code"], 130);
  EXPECT_EQ(batch["rigs"][0]["result"], "interrupted");
  EXPECT_EQ(batch["exit_code"], 130);
  EXPECT_FALSE(fs::exists(out / "b_next"));
  EXPECT_TRUE(fs::exists(out / "junit.xml"));
  fs::remove_all(dir);
}

TEST(RigBatchMerge, ParsesEachRigsJunitAndSumsItsSuitesNotItsText) {
  using iotw::harness::RigOutcome;
  const fs::path dir = scratch_dir();
  for (const char* rig : {"a", "b", "c"}) fs::create_directories(dir / rig);
  // a: two testcases, one failed; its summary text mentions testcases and failures (escaped), which a count
  // of substrings would take for more.
  write(dir / "a" / "junit.xml", R"(<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="iotw rig run" tests="2" failures="1" errors="0" skipped="0" time="1.500" timestamp="2026-01-02T03:04:05">
  <testsuite name="a" tests="2" failures="1" errors="0" skipped="1" time="1.500" timestamp="2026-01-02T03:04:05" hostname="h">
    <testcase name="run" classname="rig.a" time="1.500"/>
    <testcase name="x" classname="rig.a" time="0.000"><failure message="x: &lt;failure&gt;"/></testcase>
    <system-out>&lt;testcase name="y"&gt;&lt;failure/&gt;&lt;error/&gt; &lt;testsuite </system-out>
  </testsuite>
</testsuites>
)");
  write(dir / "b" / "junit.xml", "<testsuites><testsuite name=\"b\"");  // cut off: not XML
  const auto outcome = [&](const char* stem, int code) {
    RigOutcome r;
    r.stem = stem;
    r.rig_file = dir / (std::string(stem) + ".toml");
    r.run_dir = dir / stem;
    r.log = dir / (std::string(stem) + ".log");
    r.exit_code = code;
    r.seconds = 2.25;
    write(r.log, std::string("last words of ") + stem + " \x01<&>\n");
    return r;
  };
  iotw::harness::BatchContext context;
  context.started = std::chrono::system_clock::time_point(std::chrono::seconds(1780000000));
  context.duration_s = 7.5;
  context.hostname = "batch-host";
  const std::string x = iotw::harness::combined_junit({outcome("a", 1), outcome("b", 3), outcome("c", 2)}, context);
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(x.c_str())) << x;
  const pugi::xml_node root = doc.child("testsuites");
  EXPECT_EQ(root.attribute("tests").as_int(), 4) << x;  // 2 + 1 + 1
  EXPECT_EQ(root.attribute("failures").as_int(), 1) << x;
  EXPECT_EQ(root.attribute("errors").as_int(), 2) << x;
  EXPECT_EQ(root.attribute("skipped").as_int(), 1) << x;
  EXPECT_STREQ(root.attribute("time").value(), "7.500");
  EXPECT_STREQ(root.attribute("timestamp").value(), "2026-05-28T20:26:40");
  std::vector<std::string> suites;
  for (pugi::xml_node s : root.children("testsuite")) suites.push_back(s.attribute("name").value());
  EXPECT_EQ(suites, (std::vector<std::string>{"a", "b", "c"}));
  const pugi::xml_node a = root.find_child_by_attribute("testsuite", "name", "a");
  EXPECT_STREQ(a.child_value("system-out"), "<testcase name=\"y\"><failure/><error/> <testsuite ") << "copied whole";
  EXPECT_STREQ(a.attribute("hostname").value(), "h");
  const pugi::xml_node b = root.find_child_by_attribute("testsuite", "name", "b").child("testcase").child("error");
  EXPECT_EQ(std::string(b.attribute("message").value()).rfind("b.toml: could not run (exit 3; junit.xml is not XML (", 0), 0u)
      << b.attribute("message").value();
  EXPECT_STREQ(b.child_value(), "last words of b ?<&>");
  const pugi::xml_node c = root.find_child_by_attribute("testsuite", "name", "c");
  EXPECT_STREQ(c.attribute("hostname").value(), "batch-host");
  EXPECT_STREQ(c.attribute("time").value(), "2.250");
  EXPECT_STREQ(c.child("testcase").child("error").attribute("message").value(), "c.toml: could not run (exit 2; no junit.xml)");
  fs::remove_all(dir);
}

TEST(RigBatchSelection, ExitCodeIsUsageThenCouldNotRunThenFailed) {
  using iotw::harness::batch_exit_code;
  auto of = [](std::vector<int> codes) {
    std::vector<iotw::harness::RigOutcome> out;
    for (int c : codes) {
      out.emplace_back();
      out.back().exit_code = c;
    }
    return batch_exit_code(out);
  };
  EXPECT_EQ(of({}), 0);
  EXPECT_EQ(of({0, 0}), 0);
  EXPECT_EQ(of({0, 1}), 1);
  EXPECT_EQ(of({1, 3, 0}), 3) << "a rig that could not run: CI may retry";
  EXPECT_EQ(of({1, 130}), 3) << "a child interrupted on its own";
  EXPECT_EQ(of({1, 137}), 3) << "a child killed (SIGKILL)";
  EXPECT_EQ(of({3, 2, 1}), 2) << "an invalid rig file: a retry cannot help";
}

TEST(RigBatchSelection, ParseShardAndStableSelection) {
  using iotw::harness::parse_shard;
  ASSERT_TRUE(parse_shard("1/1"));
  EXPECT_EQ(parse_shard("2/3")->index, 2);
  EXPECT_EQ(parse_shard("2/3")->count, 3);
  for (const char* bad : {"", "1", "0/2", "3/2", "1/0", "-1/2", "1/2/3", "a/b", "1 /2", "1/100000"})
    EXPECT_FALSE(parse_shard(bad)) << bad;

  const fs::path dir = scratch_dir();
  for (const char* f : {"e.toml", "a.toml", "c.toml", "b.toml", "d.toml", "x.txt"}) write(dir / f, "");
  fs::create_directories(dir / "sub.toml");  // a folder is not a rig
  auto names = [&](int i, int n) {
    std::vector<std::string> out;
    for (const auto& p : iotw::harness::select_rigs(dir, {i, n})) out.push_back(p.filename().string());
    return out;
  };
  EXPECT_EQ(names(1, 1), (std::vector<std::string>{"a.toml", "b.toml", "c.toml", "d.toml", "e.toml"}));
  EXPECT_EQ(names(1, 2), (std::vector<std::string>{"a.toml", "c.toml", "e.toml"}));
  EXPECT_EQ(names(2, 2), (std::vector<std::string>{"b.toml", "d.toml"}));
  EXPECT_EQ(names(3, 3), (std::vector<std::string>{"c.toml"}));
  EXPECT_TRUE(names(6, 6).empty());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace iotw::test
