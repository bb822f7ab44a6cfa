// A held run driven over harness.sock by an independent client (tests/interop/harness_client.py, python3), as a
// console would (docs/console.md): `iotw rig run --hold rigs/smoke.toml`, wait for "holding", reboot esp32-02
// with an inline step, see the reboot in the live events, pause and resume the traffic, partition esp32-03 until
// an `end`, write the session as a rig, stop; then the written
// rig passes `iotw rig check` and `iotw rig run` repeats the reboot without anyone at the socket.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "iotw/support/process.hpp"
#include "iotw_process.hpp"

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr int kMaxPolls = 600;  // a broken run ends the test instead of hanging it (its own deadline is 90 s)

/// Sends `requests` on one connection with the python client; returns the replies (empty when it failed).
std::vector<Json> ask(const fs::path& socket, const std::vector<Json>& requests) {
  std::vector<std::string> args = {std::string(IOTW_INTEROP_DIR) + "/harness_client.py", socket.string()};
  for (const Json& r : requests) args.push_back(r.dump());
  const auto run = iotw::run_captured("/usr/bin/python3", args, iotw::Stderr::discard);
  std::vector<Json> replies;
  if (run.code != 0) return replies;
  std::size_t pos = 0;
  for (std::size_t nl; (nl = run.output.find('\n', pos)) != std::string::npos; pos = nl + 1)
    replies.push_back(Json::parse(run.output.substr(pos, nl - pos)));
  return replies;
}

Json ask1(const fs::path& socket, const Json& request) {
  const auto r = ask(socket, {request});
  return r.empty() ? Json() : r.front();
}

bool is_reboot_of(const Json& e, const std::string& device) {
  return e.value("kind", "") == "control_command" && e.value("source", "").rfind("emu", 0) == 0 &&
         e["fields"].value("cmd", "") == "reboot" && e["fields"].value("device", "") == device;
}

/// Reads events from `cursor` on until a recovery_checked event for `check`; returns its fields (null if none came).
Json wait_for_recovery(const fs::path& socket, std::uint64_t& cursor, const std::string& check) {
  for (int i = 0; i < kMaxPolls; ++i) {
    const Json page = ask1(socket, {{"cmd", "events"}, {"since", cursor}});
    if (!page.is_object() || page["ok"] != true) return Json();
    cursor = page["next"];
    for (const Json& e : page["events"])
      if (e.value("kind", "") == "recovery_checked" && e["fields"].value("check", "") == check) return e["fields"];
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Json();
}

}  // namespace

TEST(ConsoleSession, HeldRunTakesARebootOverHarnessSockAndItsWrittenRigRepeatsIt) {
  const fs::path dir = iotw::test::scratch_dir(), run = dir / "run", sock = run / "harness.sock";
  iotw::ProcessSupervisor child;
  child.start("iotw", IOTW_EXE,
              {"rig", "run", "--hold", std::string(IOTW_RIGS_DIR) + "/smoke.toml", "--out", run.string(), "--seed", "7"},
              {.stdout_file = dir / "held.stdout", .stderr_file = dir / "held.stderr", .own_process_group = false});

  // Held: the target is reached and the run goes on.
  std::string state;
  for (int i = 0; i < kMaxPolls && state != "holding"; ++i) {
    ASSERT_FALSE(child.reap_exited()) << iotw::test::slurp(dir / "held.stderr");
    const Json status = ask1(sock, {{"cmd", "status"}});  // null until the socket is served
    state = status.is_object() ? status.value("state", "") : "";
    if (state != "holding") std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(state, "holding");
  EXPECT_TRUE(fs::is_symlink(dir / "latest"));
  EXPECT_EQ(fs::read_symlink(dir / "latest"), "run");
  const Json hello = ask1(sock, {{"cmd", "hello"}});
  EXPECT_EQ(hello["rig"], "smoke");
  EXPECT_EQ(hello["hold"], true);
  EXPECT_EQ(hello["devices"][5]["name"], "esp32-02");

  // The console's `r` on the second esp32.
  const Json step = ask1(sock, {{"cmd", "step"}, {"step", "fault reboot device=esp32-02"}, {"key", "r"},
                                {"device", "esp32-02"}, {"id", 1}});
  ASSERT_EQ(step["ok"], true) << step.dump();
  EXPECT_EQ(step["action"], 1);
  EXPECT_EQ(step["id"], 1);
  EXPECT_NE(step["toml"].get<std::string>().find("fault = 'reboot'"), std::string::npos) << step.dump();
  const Json refused = ask1(sock, {{"cmd", "step"}, {"step", "fault reboot device=esp32-09"}});
  EXPECT_EQ(refused["ok"], false);

  // The live events: the console_action, the emulator's reboot of esp32-02, then its recovery (registered again;
  // a run stopped before that would fail the step's recovery check).
  bool action_seen = false, reboot_seen = false;
  Json recovery;
  std::uint64_t cursor = 0;
  for (int i = 0; i < kMaxPolls && recovery.is_null(); ++i) {
    const Json page = ask1(sock, {{"cmd", "events"}, {"since", cursor}});
    ASSERT_EQ(page["ok"], true);
    for (const Json& e : page["events"]) {
      if (e.value("kind", "") == "console_action" && e["fields"]["action"] == 1) action_seen = true;
      if (is_reboot_of(e, "esp32-02")) reboot_seen = action_seen;
      if (e.value("kind", "") == "recovery_checked") recovery = e["fields"];
    }
    cursor = page["next"];
    if (recovery.is_null()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(action_seen);
  EXPECT_TRUE(reboot_seen);
  ASSERT_FALSE(recovery.is_null());
  EXPECT_EQ(recovery["check"], "console action 1: reboot recovered");
  EXPECT_EQ(recovery["pass"], true) << recovery.dump();

  // `p` twice, then `x` twice: a partition open until it is ended, and healed before the run stops.
  const auto traffic = ask(sock, {{{"cmd", "traffic"}, {"paused", true}, {"key", "p"}}, {{"cmd", "status"}},
                                  {{"cmd", "traffic"}, {"paused", false}, {"key", "p"}}, {{"cmd", "status"}}});
  ASSERT_EQ(traffic.size(), 4u);
  EXPECT_EQ(traffic[0]["action"], 2);
  EXPECT_EQ(traffic[1]["traffic_paused"], true);
  EXPECT_EQ(traffic[2]["action"], 3);
  EXPECT_EQ(traffic[3]["traffic_paused"], false);
  const Json cut = ask1(sock, {{"cmd", "step"}, {"step", "fault partition device=esp32-03"}, {"key", "x"},
                               {"device", "esp32-03"}});
  ASSERT_EQ(cut["action"], 4) << cut.dump();
  EXPECT_EQ(ask1(sock, {{"cmd", "end"}, {"action", 1}})["ok"], false) << "a reboot is not open-ended";
  const Json end = ask1(sock, {{"cmd", "end"}, {"action", 4}, {"key", "x"}, {"device", "esp32-03"}});
  ASSERT_EQ(end["ok"], true) << end.dump();
  EXPECT_EQ(end["action"], 5);
  const Json healed = wait_for_recovery(sock, cursor, "console action 4: partition recovered");
  ASSERT_FALSE(healed.is_null());
  EXPECT_EQ(healed["pass"], true) << healed.dump();

  const Json written = ask1(sock, {{"cmd", "write_rig"}});
  ASSERT_EQ(written["ok"], true) << written.dump();
  const fs::path session = written["path"].get<std::string>();
  EXPECT_EQ(session, run / "session-1.toml");
  EXPECT_EQ(ask1(sock, {{"cmd", "stop"}})["ok"], true);
  const auto exit = child.wait("iotw");
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 0) << iotw::test::slurp(dir / "held.stderr");
  EXPECT_FALSE(fs::exists(sock));

  const Json report = Json::parse(iotw::test::slurp(run / "report.json"));
  EXPECT_EQ(report["reason"], "stopped");
  EXPECT_EQ(report["pass"], true) << report["criteria"].dump() << report["step_checks"].dump();
  ASSERT_EQ(report["console_actions"].size(), 5u);
  EXPECT_EQ(report["console_actions"][1]["step"], "traffic pause");
  EXPECT_EQ(report["console_actions"][4]["ends"], 4);
  EXPECT_EQ(report["console_actions"][0]["step"], "fault reboot device=esp32-02");
  EXPECT_EQ(report["console_actions"][0]["key"], "r");
  EXPECT_EQ(report["console_actions"][0]["device"], "esp32-02");
  EXPECT_NE(iotw::test::slurp(run / "report.html").find("Console actions"), std::string::npos);

  // The session as a rig: the partition lasted from its step to its end; valid; a run of it repeats the actions.
  const std::string text = iotw::test::slurp(session);
  const auto partition = text.find("# console action 4: key 'x' on esp32-03: fault partition device=esp32-03\n");
  ASSERT_NE(partition, std::string::npos) << text;
  EXPECT_NE(text.find("duration_s = ", partition), std::string::npos) << text;
  EXPECT_EQ(text.find("console action 5"), std::string::npos) << "an end has no table of its own";
  const auto check = iotw::test::run_iotw({"rig", "check", session.string()}, dir);
  EXPECT_EQ(check.code, 0) << check.err;
  EXPECT_EQ(check.out, "ok: smoke, 8 devices\n");
  const fs::path replay = dir / "replay";
  const auto again = iotw::test::run_iotw({"rig", "run", session.string(), "--out", replay.string(), "--seed", "7"}, dir);
  EXPECT_EQ(again.code, 0) << again.out << again.err;
  bool fault_started = false, rebooted = false, partitioned = false, paused = false;
  for (const std::string& line : iotw::test::lines_of(replay / "events.jsonl")) {
    const Json e = Json::parse(line);
    if (e.value("kind", "") == "fault_started" && e["fields"]["fault"] == "reboot" &&
        e["fields"]["devices"] == Json::array({"esp32-02"}))
      fault_started = true;
    rebooted = rebooted || is_reboot_of(e, "esp32-02");
    if (e.value("kind", "") == "fault_ended" && e["fields"]["fault"] == "partition") partitioned = true;
    if (e.value("kind", "") == "traffic_changed" && e["fields"]["paused"] == true) paused = true;
  }
  EXPECT_TRUE(fault_started);
  EXPECT_TRUE(rebooted);
  EXPECT_TRUE(partitioned);
  EXPECT_TRUE(paused);
  EXPECT_EQ(fs::read_symlink(dir / "latest"), "replay");
  fs::remove_all(dir);
}
