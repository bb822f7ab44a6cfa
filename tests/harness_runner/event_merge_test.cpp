// merge_events: one time-ordered stream from every process, tolerant of broken lines.
#include "event_merge.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace iotw::harness {
namespace {

class EventMerge : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("iotw-event-merge-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
  std::vector<std::string> out_lines() {
    std::ifstream in(dir / "events.jsonl");
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  static nlohmann::ordered_json own(std::int64_t t, const std::string& kind) {
    auto e = harness_event(kind, {{"reason", "x"}});
    e["time_ms"] = t;
    return e;
  }
  std::filesystem::path dir;
};

TEST_F(EventMerge, SortsByTimeKeepingFileOrderForTiesAndCopiesChildLinesVerbatim) {
  const auto node = write("node.jsonl",
                          "{\"time_ms\":10,\"source\":\"trust-node\",\"kind\":\"a\",\"fields\":{}}\n"
                          "{\"time_ms\":30,\"source\":\"trust-node\",\"kind\":\"c\",\"fields\":{}}\n");
  const auto emu = write("emu.jsonl",
                         "{\"time_ms\":20, \"source\":\"emu:esp-01\",\"kind\":\"b\",\"fields\":{}}\n"
                         "{\"time_ms\":30,\"source\":\"emu:esp-01\",\"kind\":\"d\",\"fields\":{}}\n");
  const auto merged = merge_events({node, emu}, {own(30, "e"), own(5, "start")}, dir / "events.jsonl");
  std::vector<std::string> kinds;
  for (const auto& e : merged.events) kinds.push_back(e["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"start", "a", "b", "c", "d", "e"}));
  EXPECT_EQ(merged.skipped, 0u);
  const auto lines = out_lines();
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[2], "{\"time_ms\":20, \"source\":\"emu:esp-01\",\"kind\":\"b\",\"fields\":{}}");
  EXPECT_EQ(lines[0].rfind("{\"time_ms\":5,\"source\":\"harness\",\"kind\":\"start\"", 0), 0u);
}

// A [mesh] rig's nodes: each node's events carry its id ("node", first in the line), the emulator's none.
TEST_F(EventMerge, TagsEachTrustNodesEventsWithItsNodeId) {
  const auto tn0 = write("tn0.jsonl", "{\"time_ms\":10,\"source\":\"trust-node\",\"kind\":\"mesh_role\",\"fields\":{}}\n");
  const auto tn1 = write("tn1.jsonl", "{\"time_ms\":20,\"source\":\"trust-node\",\"kind\":\"block_finalized\",\"fields\":{}}\n"
                                      "{\"node\":\"own\",\"time_ms\":21,\"source\":\"trust-node\",\"kind\":\"x\",\"fields\":{}}\n");
  const auto emu = write("emu.jsonl", "{\"time_ms\":15,\"source\":\"emu:esp-01\",\"kind\":\"state\",\"fields\":{}}\n");
  const auto merged = merge_events({{tn0, "tn-0"}, {tn1, "tn-1"}, emu}, {}, dir / "events.jsonl");
  ASSERT_EQ(merged.events.size(), 4u);
  EXPECT_EQ(merged.events[0]["node"], "tn-0");
  EXPECT_FALSE(merged.events[1].contains("node")) << "emulator events are not a node's";
  EXPECT_EQ(merged.events[2]["node"], "tn-1");
  EXPECT_EQ(merged.events[3]["node"], "own") << "a line naming its node keeps it";
  const auto lines = out_lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "{\"node\":\"tn-0\",\"time_ms\":10,\"source\":\"trust-node\",\"kind\":\"mesh_role\",\"fields\":{}}");
  EXPECT_EQ(lines[1], "{\"time_ms\":15,\"source\":\"emu:esp-01\",\"kind\":\"state\",\"fields\":{}}");
  // The live tail tags the same way.
  JsonlTail tail(tn1, "tn-1");
  const auto live = tail.read();
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0]["node"], "tn-1");
  EXPECT_EQ(live[1]["node"], "own");
}

TEST_F(EventMerge, MalformedLinesAreSkippedAndCounted) {
  const auto node = write("node.jsonl",
                          "not json\n"
                          "\n"
                          "[1,2]\n"
                          "{\"kind\":\"no_time\"}\n"
                          "{\"time_ms\":\"7\",\"kind\":\"string_time\"}\n"
                          "{\"time_ms\":7,\"source\":\"trust-node\",\"kind\":\"ok\",\"fields\":{}}\n"
                          "{\"time_ms\":8,\"source\":\"trust-no");  // cut off by a kill mid-write
  const auto merged = merge_events({node, dir / "missing.jsonl"}, {}, dir / "events.jsonl");
  ASSERT_EQ(merged.events.size(), 1u);
  EXPECT_EQ(merged.events[0]["kind"], "ok");
  EXPECT_EQ(merged.skipped, 5u);
  EXPECT_EQ(out_lines().size(), 1u);
}

TEST_F(EventMerge, HarnessEventHasTheDocumentedShape) {
  const auto e = harness_event("rig_started", {{"rig", "smoke"}, {"seed", 7}});
  EXPECT_TRUE(e["time_ms"].is_number_integer());
  EXPECT_GT(e["time_ms"].get<std::int64_t>(), 1'600'000'000'000);
  EXPECT_EQ(e["source"], "harness");
  EXPECT_EQ(e["kind"], "rig_started");
  EXPECT_EQ(e["fields"]["seed"], 7);
  EXPECT_EQ(e.dump().rfind("{\"time_ms\":", 0), 0u);  // key order as in docs/events.md
}

}  // namespace
}  // namespace iotw::harness
