// EventStream: its lines are the bytes nlohmann's dump gives for the same event (the shape real-time event files
// have), whatever the strings hold; the events it keeps are read back from the file, also after close().
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/sim/event_stream.hpp"
#include "iotw/support/scheduler.hpp"

namespace iotw::sim {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> lines_of(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(EventStream, LinesAreTheBytesOfNlohmannsDumpForAnyString) {
  const fs::path file = fs::path(::testing::TempDir()) / "event_stream_bytes.jsonl";
  Scheduler sched;
  const std::vector<std::string> texts = {
      "plain", "", "quote \" and backslash \\", "tab\tnewline\ncr\rbs\bff\f", std::string("nul\0x01", 8),
      "\x1f\x7f", "caf\xc3\xa9 \xe2\x9c\x93", "bad utf-8 \xff\xfe end", "trailing \\"};
  {
    EventStream events(sched, file);
    for (const auto& t : texts) {
      events.emit_log("emu:" + t, "info", t, t);
      events.emit("trust-node", "frame_error", {{"link", t}, {"n", 1}});
    }
    events.close();
  }
  const auto lines = lines_of(file);
  ASSERT_EQ(lines.size(), texts.size() * 2);
  const auto dump = [](const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); };
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string& t = texts[i];
    const nlohmann::json log{{"time_ms", sched.now_ms()}, {"source", "emu:" + t}, {"kind", "log"},
                             {"fields", {{"level", "info"}, {"event", t}, {"detail", t}}}};
    EXPECT_EQ(lines[2 * i], dump(log)) << i;
    const nlohmann::json ev{{"time_ms", sched.now_ms()}, {"source", "trust-node"}, {"kind", "frame_error"},
                            {"fields", {{"link", t}, {"n", 1}}}};
    EXPECT_EQ(lines[2 * i + 1], dump(ev)) << i;
  }
  fs::remove(file);
}

TEST(EventStream, KeptEventsAreReadBackFromTheFileAlsoAfterClose) {
  const fs::path file = fs::path(::testing::TempDir()) / "event_stream_kept.jsonl";
  Scheduler sched;
  EventStream events(sched, file);
  events.set_retention([](std::string_view, std::string_view kind) { return kind == "device_registered"; });
  for (int i = 0; i < 3000; ++i) {
    events.emit_log("emu:d", "info", "noise", std::string(200, 'x'));  // lines between the kept ones
    if (i % 3 == 0) events.emit("trust-node", "device_registered", {{"name", "d" + std::to_string(i)}});
    if (i == 1500) {
      const auto first = events.take_new();
      ASSERT_EQ(first.size(), 501u);
      EXPECT_EQ(first.back()["fields"]["name"], "d1500");
    }
  }
  EXPECT_EQ(events.take_new().size(), 499u);
  EXPECT_TRUE(events.take_new().empty());
  events.close();
  const auto all = events.events();
  ASSERT_EQ(all.size(), 1000u);
  for (std::size_t k = 0; k < all.size(); ++k) {
    EXPECT_EQ(all[k]["kind"], "device_registered");
    EXPECT_EQ(all[k]["fields"]["name"], "d" + std::to_string(3 * k)) << k;
  }
  fs::remove(file);
}

}  // namespace
}  // namespace iotw::sim
