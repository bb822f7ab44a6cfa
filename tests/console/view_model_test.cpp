// The console's view model and controller without a terminal: events in, table rows / log lines / ledger
// tail / fault schedule / status out; keys in, harness.sock requests out (docs/console.md).
#include <deque>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "iotw/console/controller.hpp"
#include "iotw/console/view_model.hpp"

namespace iotw::console {
namespace {

using nlohmann::json;

json ev(std::int64_t t, const std::string& source, const std::string& kind, json fields = json::object()) {
  return json{{"time_ms", t}, {"source", source}, {"kind", kind}, {"fields", std::move(fields)}};
}

const std::string kKeyA(64, 'a'), kKeyB(64, 'b'), kKeyC(64, 'c');

json hello() {
  return json{{"ok", true},
              {"rig", "mini"},
              {"run_dir", "/nonexistent/run"},
              {"seed", 7},
              {"target_blocks", 20},
              {"hold", true},
              {"devices",
               json::array({json{{"name", "esp32-01"}, {"model", "esp32"}, {"link", "pty"}, {"powered", false}},
                            json{{"name", "esp32-02"}, {"model", "esp32"}, {"link", "pty"}, {"powered", false}},
                            json{{"name", "esp8266-at-01"}, {"model", "esp8266"}, {"link", "at"}, {"at_transport", "udp"}, {"powered", false}},
                            json{{"name", "dps-01"}, {"model", "esp32"}, {"link", "pty"}, {"powered", true}}})},
              {"steps", json::array({json{{"index", 1}, {"label", "step 1"}, {"line", 30}},
                                     json{{"index", 2}, {"label", "stall for=4s"}, {"line", 34}}})}};
}

// Registers esp32-01 (key a), esp32-02 (b), esp8266-at-01 (c).
void register_all(ViewModel& m) {
  m.apply_event(ev(1000, "trust-node", "device_registered", {{"device", kKeyA}, {"name", "esp32-01"}, {"model", "esp32"}}));
  m.apply_event(ev(1001, "trust-node", "device_registered", {{"device", kKeyB}, {"name", "esp32-02"}, {"model", "esp32"}}));
  m.apply_event(ev(1002, "trust-node", "device_registered", {{"device", kKeyC}, {"name", "esp8266-at-01"}, {"model", "esp8266"}}));
}

TEST(ViewModel, HelloGivesTheTableInRigOrderAndTheStatus) {
  ViewModel m;
  m.apply_hello(hello());
  ASSERT_EQ(m.devices().size(), 4u);
  EXPECT_EQ(m.devices()[0].name, "esp32-01");
  EXPECT_EQ(m.devices()[2].link, "at/udp");
  EXPECT_TRUE(m.devices()[3].powered);
  EXPECT_EQ(m.devices()[0].state, "booting");
  EXPECT_EQ(m.status().rig, "mini");
  EXPECT_EQ(m.status().seed, 7u);
  EXPECT_EQ(m.status().target, 20);
  ASSERT_EQ(m.schedule().size(), 2u);
  EXPECT_EQ(m.schedule()[0].state, "pending");
  EXPECT_EQ(m.schedule()[1].duration_s, 4.0);  // from the label (a step named "stall for=4s")
}

TEST(ViewModel, ExternalDevicesShowTheirLinkKindAndTheCorruptKeyPicksTheirFault) {
  json h = hello();
  h["devices"].push_back(json{{"name", "partner"}, {"model", "external"}, {"link", "external"},
                              {"external", "serial:/dev/ttyUSB0"}, {"external_kind", "serial"}, {"powered", false}});
  h["devices"].push_back(json{{"name", "indep"}, {"model", "external"}, {"link", "external"}, {"external", "udp"},
                              {"external_kind", "udp"}, {"powered", false}});
  ViewModel m;
  m.apply_hello(h);
  ASSERT_EQ(m.devices().size(), 6u);
  EXPECT_EQ(m.device("partner")->link, "ext/serial");
  EXPECT_EQ(m.device("indep")->link, "ext/udp");
  EXPECT_EQ(step_for_key('c', *m.device("partner")).step, "fault corrupt device=partner rate=0.02 for=10s");
  EXPECT_EQ(step_for_key('c', *m.device("indep")).step, "fault udp_loss device=indep rate=0.3 for=10s");
  DeviceRow tcp_module{};  // an AT module over TCP: relayed through the serial fault proxy, like a PTY device
  tcp_module.name = "m";
  tcp_module.link = "at/tcp";
  EXPECT_EQ(step_for_key('c', tcp_module).step, "fault corrupt device=m rate=0.02 for=10s");
  tcp_module.link = "at/udp";
  EXPECT_EQ(step_for_key('c', tcp_module).step, "fault udp_loss device=m rate=0.3 for=10s");
}

TEST(ViewModel, StateFollowsTheDeviceThroughRegistrationMiningAndWitnessing) {
  ViewModel m;
  m.apply_hello(hello());
  m.apply_event(ev(900, "emu:esp32-01", "state", {{"state", "hello_sent"}}));
  EXPECT_EQ(m.device("esp32-01")->state, "registering");
  register_all(m);
  EXPECT_EQ(m.device("esp32-01")->state, "idle");
  m.apply_event(ev(1100, "trust-node", "assignment_sent", {{"assignment_id", 1}, {"height", 1}, {"miner", kKeyA}, {"miner_name", "esp32-01"}}));
  m.apply_event(ev(1101, "trust-node", "witness_requested", {{"round_id", 1}, {"height", 1}, {"witness", kKeyB}, {"witness_name", "esp32-02"}}));
  EXPECT_EQ(m.device("esp32-01")->state, "mining");
  EXPECT_EQ(m.device("esp32-02")->state, "witnessing");
  m.apply_event(ev(1102, "trust-node", "attestation", {{"round_id", 1}, {"witness", kKeyB}, {"witness_name", "esp32-02"}, {"verdict", "valid"}}));
  EXPECT_EQ(m.device("esp32-02")->state, "idle");
  EXPECT_EQ(m.device("esp32-02")->rounds_witnessed, 1);
  m.apply_event(ev(1103, "emu:esp32-01", "state", {{"state", "off"}}));
  EXPECT_EQ(m.device("esp32-01")->state, "off");
  // The trust node has not noticed yet and still picks it: it stays off until it boots again.
  m.apply_event(ev(1103, "trust-node", "witness_requested", {{"round_id", 2}, {"height", 2}, {"witness", kKeyA}, {"witness_name", "esp32-01"}}));
  m.apply_event(ev(1103, "trust-node", "assignment_sent", {{"assignment_id", 2}, {"height", 2}, {"miner", kKeyA}, {"miner_name", "esp32-01"}}));
  EXPECT_EQ(m.device("esp32-01")->state, "off");
  m.apply_event(ev(1104, "trust-node", "blacklisted", {{"device", kKeyB}, {"name", "esp32-02"}, {"round_id", 1}, {"reason", "incoherent_round"}}));
  EXPECT_EQ(m.device("esp32-02")->state, "blacklisted");
  ASSERT_FALSE(m.log("esp32-02").empty());
  EXPECT_EQ(m.log("esp32-02").back().level, "error");
  EXPECT_EQ(m.log("esp32-02").back().text, "blacklisted: incoherent_round");
  // Blacklisting sticks through the device's own state changes.
  m.apply_event(ev(1105, "emu:esp32-02", "state", {{"state", "attached"}}));
  EXPECT_EQ(m.device("esp32-02")->state, "blacklisted");
}

TEST(ViewModel, LedgerTailJoinsTheBlockWithItsRoundAndReputationCountsAgreeingVerdicts) {
  ViewModel m;
  m.apply_hello(hello());
  register_all(m);
  m.apply_event(ev(1200, "trust-node", "round_closed",
                   {{"round_id", 5}, {"height", 1}, {"coherent", false}, {"expected", "valid"},
                    {"verdicts", json::array({json{{"witness", kKeyB}, {"name", "esp32-02"}, {"verdict", "valid"}},
                                              json{{"witness", kKeyC}, {"name", "esp8266-at-01"}, {"verdict", "invalid"}}})}}));
  m.apply_event(ev(1201, "trust-node", "block_finalized",
                   {{"height", 1}, {"hash", "0123456789abcdef"}, {"round_id", 5}, {"miner", kKeyA}, {"tx_count", 3}}));
  const auto tail = m.ledger_tail(5);
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].height, 1);
  EXPECT_EQ(tail[0].miner, "esp32-01");
  EXPECT_EQ(tail[0].coherent, false);
  ASSERT_EQ(tail[0].verdicts.size(), 2u);
  EXPECT_EQ(tail[0].verdicts[1], (std::pair<std::string, std::string>{"esp8266-at-01", "invalid"}));
  EXPECT_EQ(m.device("esp32-01")->blocks_mined, 1);
  EXPECT_EQ(m.device("esp32-02")->reputation(), 100);
  EXPECT_EQ(m.device("esp8266-at-01")->reputation(), 0);
  EXPECT_EQ(m.device("esp32-01")->reputation(), std::nullopt);  // never a witness yet
  EXPECT_EQ(m.status().height, 1);
}

TEST(ViewModel, ResetsSupplyRssiAndFrameErrorsReachTheirRows) {
  ViewModel m;
  m.apply_hello(hello());
  m.apply_event(ev(10, "harness", "link_created", {{"device", "esp32-02"}, {"node_side", "/dev/pts/4"}, {"device_side", "/dev/pts/5"}}));
  m.apply_event(ev(20, "emu:esp32-01", "reset", {{"reset_reason", 3}, {"boot_count", 2}}));
  m.apply_event(ev(30, "emu:esp32-01", "reset", {{"reset_reason", 6}, {"boot_count", 3}, {"cause", "watchdog"}}));
  m.apply_event(ev(40, "emu:dps-01", "rail", {{"event", "brownout"}, {"vin", 3.5}}));
  m.apply_event(ev(50, "emu:esp8266-at-01", "ap_changed", {{"ssid", "lab"}, {"rssi", -71}, {"up", true}}));
  m.apply_event(ev(60, "trust-node", "frame_error", {{"link", "serial:/dev/pts/4"}, {"error", "bad_crc"}}));
  m.apply_event(ev(61, "trust-node", "frame_error", {{"link", "serial:/dev/pts/4"}, {"error", "bad_crc"}, {"count", 4}}));
  EXPECT_EQ(m.device("esp32-01")->resets, 2);
  EXPECT_EQ(m.device("esp32-01")->last_reset, "watchdog");
  EXPECT_EQ(m.device("esp32-01")->state, "booting");
  EXPECT_EQ(m.device("dps-01")->vin, 3.5);
  EXPECT_EQ(m.device("dps-01")->state, "off");
  EXPECT_EQ(m.device("esp8266-at-01")->rssi, -71);
  EXPECT_EQ(m.device("esp32-02")->frame_errors, 5) << "an aggregated line counts its count";
  EXPECT_EQ(ViewModel::age_text(*m.device("esp32-01"), 12030), "12s");
  EXPECT_EQ(ViewModel::age_text(*m.device("esp32-02"), 12030), "-");
}

TEST(ViewModel, FaultScheduleGoesPendingActiveRecoveringDoneWithCountdownAndResult) {
  ViewModel m;
  m.apply_hello(hello());
  m.apply_event(ev(5000, "harness", "step_started", {{"step", "stall for=4s"}, {"line", 34}, {"at_s", 1.0}}));
  m.apply_event(ev(5000, "harness", "fault_started", {{"step", "stall for=4s"}, {"line", 34}, {"fault", "stall"}}));
  const ScheduleRow& row = m.schedule()[1];
  EXPECT_EQ(row.state, "active");
  EXPECT_EQ(ViewModel::countdown(row, 6000), 3.0);
  m.apply_event(ev(9000, "harness", "fault_ended", {{"step", "stall for=4s"}, {"line", 34}, {"fault", "stall"}}));
  EXPECT_EQ(m.schedule()[1].state, "recovering");
  EXPECT_EQ(ViewModel::countdown(m.schedule()[1], 9500), std::nullopt);
  m.apply_event(ev(9400, "harness", "recovery_checked", {{"step", "stall for=4s"}, {"line", 34}, {"check", "link"}, {"pass", false}, {"detail", "no frame"}}));
  EXPECT_EQ(m.schedule()[1].state, "done");
  EXPECT_EQ(m.schedule()[1].pass, false);
  EXPECT_EQ(m.schedule()[1].detail, "no frame");
  EXPECT_EQ(m.status().checks_failed, 1);
  EXPECT_EQ(m.schedule()[0].state, "pending");
  EXPECT_EQ(m.schedule()[0].label, "step 1 (line 30)");
  // What the rig file says of a step (read with the rig loader) replaces its label and gives its countdown.
  m.describe_step("step 1", "step 1 (line 30): fault partition esp32-01", 6.0);
  EXPECT_EQ(m.schedule()[0].label, "step 1 (line 30): fault partition esp32-01");
  m.apply_event(ev(10000, "harness", "fault_started", {{"step", "step 1"}, {"line", 30}, {"fault", "partition"}}));
  EXPECT_EQ(ViewModel::countdown(m.schedule()[0], 11500), 4.5);
  // A console action joins the schedule with its key; its step events name it "console action N".
  m.apply_event(ev(9500, "harness", "console_action",
                   {{"action", 1}, {"key", "s"}, {"device", "esp32-01"}, {"step", "fault stall device=esp32-01 for=10s"}, {"at_s", 4.5}}));
  ASSERT_EQ(m.schedule().size(), 3u);
  EXPECT_EQ(m.schedule()[2].label, "fault stall device=esp32-01 for=10s");
  EXPECT_EQ(m.schedule()[2].detail, "key s");
  EXPECT_EQ(m.schedule()[2].state, "pending");
  m.apply_event(ev(9501, "harness", "step_started", {{"step", "console action 1"}, {"line", 0}, {"at_s", 4.5}}));
  m.apply_event(ev(9502, "harness", "fault_started", {{"step", "console action 1"}, {"line", 0}, {"fault", "stall"}}));
  ASSERT_EQ(m.schedule().size(), 3u);
  EXPECT_EQ(m.schedule()[2].state, "active");
  EXPECT_EQ(ViewModel::countdown(m.schedule()[2], 12502), 7.0);
  // A named inline step keeps its name as its label; a traffic action is done once started; an `end` adds no row.
  m.apply_event(ev(9600, "harness", "console_action", {{"action", 2}, {"step", "fault partition device=esp32-02 name=cut"}}));
  m.apply_event(ev(9601, "harness", "step_started", {{"step", "cut"}, {"line", 0}, {"at_s", 4.6}}));
  m.apply_event(ev(9700, "harness", "console_action", {{"action", 3}, {"step", "traffic pause"}, {"key", "p"}}));
  m.apply_event(ev(9701, "harness", "step_started", {{"step", "console action 3"}, {"line", 0}, {"at_s", 4.7}}));
  m.apply_event(ev(9800, "harness", "console_action", {{"action", 4}, {"ends", 2}}));
  ASSERT_EQ(m.schedule().size(), 5u);
  EXPECT_EQ(m.schedule()[3].state, "active");
  EXPECT_EQ(m.schedule()[4].state, "done");
}

TEST(ViewModel, StatusFromEventsUntilTheHarnessAnswersAndTheVerdictAtTheEnd) {
  ViewModel m;
  m.apply_event(ev(1000, "harness", "rig_started", {{"rig", "smoke"}, {"seed", 3}}));
  m.apply_event(ev(2000, "trust-node", "txs_accepted", {{"count", 10}, {"hashes", json::array()}}));
  m.apply_event(ev(3000, "trust-node", "txs_accepted", {{"count", 10}, {"hashes", json::array()}}));
  EXPECT_EQ(m.status().rig, "smoke");
  EXPECT_EQ(m.status().seed, 3u);
  EXPECT_DOUBLE_EQ(m.status().elapsed_s, 2.0);
  EXPECT_DOUBLE_EQ(m.status().tx_per_s, 10.0);  // 20 txs over the 2 s seen
  m.apply_status(json{{"ok", true}, {"state", "holding"}, {"elapsed_s", 9.5}, {"height", 22}, {"target_blocks", 20},
                      {"tx_per_s", 48.0}, {"traffic_paused", true}, {"verdict", nullptr}});
  EXPECT_EQ(m.status().state, "holding");
  EXPECT_EQ(m.status().height, 22);
  EXPECT_TRUE(m.status().traffic_paused);
  EXPECT_FALSE(m.status().verdict_pass.has_value());
  m.apply_status(json{{"ok", true}, {"state", "finished"}, {"verdict", {{"pass", false}, {"failed", {"coherence_rate_min"}}}}});
  EXPECT_TRUE(m.status().finished);
  EXPECT_EQ(m.status().verdict_pass, false);
  EXPECT_EQ(m.status().failed_criteria, std::vector<std::string>{"coherence_rate_min"});
}

TEST(ViewModel, LogKeepsTenThousandLinesFiltersByLevelAndSearchesBackwards) {
  ViewModel m;
  for (int i = 0; i < 10005; ++i)
    m.apply_event(ev(1000 + i, "emu:esp32-01", "log",
                     {{"level", i % 100 == 0 ? "warn" : "info"}, {"event", "line"}, {"detail", std::to_string(i)}}));
  const auto& log = m.log("esp32-01");
  ASSERT_EQ(log.size(), ViewModel::kLogLines);
  EXPECT_EQ(log.front().text, "line 5");
  EXPECT_EQ(log.back().text, "line 10004");
  LogView v;
  v.timestamps = false;
  v.min_level = LogLevel::warn;
  const auto warn = visible_log(log, v);
  ASSERT_EQ(warn.size(), 100u);  // 100, 200, ..., 10000
  EXPECT_EQ(warn.back(), "W line 10000");
  v.min_level = LogLevel::debug;
  v.timestamps = true;
  const auto all = visible_log(log, v);
  EXPECT_EQ(all.back().substr(0, 13), "00:00:11.004 ");  // UTC time of day of time_ms 11004
  EXPECT_EQ(find_backwards(all, "line 9999", all.size() - 1), 9994u);
  // The pane's tail: the same lines as the whole view, only those formatted.
  EXPECT_EQ(visible_log_tail(log, v, 0, 3), (std::vector<std::string>(all.end() - 3, all.end())));
  EXPECT_EQ(visible_log_tail(log, v, 10, 2), (std::vector<std::string>(all.end() - 12, all.end() - 10)));
  v.min_level = LogLevel::warn;
  const auto warn_ts = visible_log(log, v);
  EXPECT_EQ(visible_log_tail(log, v, 1, 2), (std::vector<std::string>(warn_ts.end() - 3, warn_ts.end() - 1)));
  EXPECT_EQ(visible_log_tail(log, v, 99, 5), (std::vector<std::string>{warn_ts.front()}));
  EXPECT_EQ(find_backwards(all, "no such text", all.size() - 1), std::nullopt);
}

// A stand-in for harness.sock: records requests, answers from a script.
struct FakeRun {
  std::vector<json> requests;
  std::vector<json> later;  // events the next poll after the first brings (what other consoles did meanwhile)
  json reply_for(const json& req) {
    requests.push_back(req);
    const std::string cmd = req.value("cmd", "");
    if (cmd == "hello") return hello();
    if (cmd == "events") {
      if (req.value("since", 0) > 0) {
        json events = json::array();
        for (auto& e : later) events.push_back(std::move(e));
        later.clear();
        return json{{"ok", true}, {"events", events}, {"next", 3}, {"finished", false}};
      }
      return json{{"ok", true},
                  {"events", json::array({ev(1000, "trust-node", "device_registered", {{"device", kKeyA}, {"name", "esp32-01"}}),
                                          ev(1001, "trust-node", "device_registered", {{"device", kKeyB}, {"name", "esp32-02"}}),
                                          ev(1002, "emu:esp32-02", "reset", {{"reset_reason", 3}})})},
                  {"next", 3},
                  {"finished", false}};
    }
    if (cmd == "status") return json{{"ok", true}, {"state", "running"}, {"height", 4}, {"tx_per_s", 1.0}, {"traffic_paused", false}};
    if (cmd == "step") {
      if (req["step"].get<std::string>().rfind("fault serial_corupt", 0) == 0)
        return json{{"ok", false}, {"error", "fault 'serial_corupt' is not a fault kind; allowed: corrupt, ..."}};
      return json{{"ok", true}, {"action", ++actions}, {"toml", "[[steps]]"}};
    }
    if (cmd == "uart") return json{{"ok", true}, {"output", "AT+GMR\r\nAT version:2.2.0.0\r\nOK\r\n"}};
    if (cmd == "write_rig") return json{{"ok", true}, {"path", "/run/session-1.toml"}};
    return json{{"ok", true}};
  }
  int actions = 0;
};

TEST(Controller, LivePollsEventsFromItsCursorAndStatus) {
  FakeRun run;
  Controller c([&](const json& r) { return run.reply_for(r); });
  EXPECT_TRUE(c.tick(10000));
  EXPECT_FALSE(c.tick(10050));  // polls at most every poll_ms
  EXPECT_TRUE(c.tick(10000 + Controller::poll_ms));
  EXPECT_EQ(c.model().device("esp32-02")->resets, 1);
  EXPECT_EQ(c.model().status().height, 4);
  std::vector<std::int64_t> sinces;
  for (const auto& r : run.requests)
    if (r["cmd"] == "events") sinces.push_back(r["since"].get<std::int64_t>());
  EXPECT_EQ(sinces, (std::vector<std::int64_t>{0, 3}));
}

TEST(Controller, DeviceKeysSendTheDocumentedStepsForTheSelectedDevice) {
  FakeRun run;
  Controller c([&](const json& r) { return run.reply_for(r); });
  c.key('j');  // the second device
  ASSERT_EQ(c.selected_device()->name, "esp32-02");
  c.key('r');
  const json& step = run.requests.back();
  EXPECT_EQ(step["cmd"], "step");
  EXPECT_EQ(step["step"], "fault reboot device=esp32-02");
  EXPECT_EQ(step["key"], "r");
  EXPECT_EQ(step["device"], "esp32-02");
  EXPECT_EQ(c.message(), "action 1: fault reboot device=esp32-02");
  c.key('h');
  EXPECT_EQ(run.requests.back()["step"], "fault hang device=esp32-02");
  EXPECT_EQ(run.requests.back()["key"], "h");
  c.key('s');
  EXPECT_EQ(run.requests.back()["step"], "fault stall device=esp32-02 for=10s");
  c.key('c');
  EXPECT_EQ(run.requests.back()["step"], "fault corrupt device=esp32-02 rate=0.02 for=10s");
  c.key('j');  // the AT module: its link is UDP
  c.key('c');
  EXPECT_EQ(run.requests.back()["step"], "fault udp_loss device=esp8266-at-01 rate=0.3 for=10s");
  // b on a device without a DPS: nothing is sent, the message says why.
  const std::size_t sent = run.requests.size();
  c.key('b');
  EXPECT_EQ(run.requests.size(), sent);
  EXPECT_EQ(c.message(), "b: esp8266-at-01 is not DPS-powered");
  c.key('j');
  c.key('b');
  EXPECT_EQ(run.requests.back()["step"], "fault brownout device=dps-01 vin=3.5 for=2s");
  c.key('o');
  EXPECT_EQ(run.requests.back()["step"], "fault power_loss device=dps-01 for=3s");
}

TEST(Controller, PartitionIsEndedByTheSecondX) {
  FakeRun run;
  Controller c([&](const json& r) { return run.reply_for(r); });
  c.key('x');
  EXPECT_EQ(run.requests.back()["step"], "fault partition device=esp32-01");
  c.key('x');
  // The end is a console action too: recorded with its key and device (report.json console_actions).
  EXPECT_EQ(run.requests.back(), (json{{"cmd", "end"}, {"action", 1}, {"key", "x"}, {"device", "esp32-01"}}));
  c.key('x');
  EXPECT_EQ(run.requests.back()["cmd"], "step");
}

TEST(Controller, XHealsAPartitionAnotherConsoleStarted) {
  FakeRun run;
  Controller c([&](const json& r) { return run.reply_for(r); });
  c.tick(10000);
  run.later = {ev(2000, "harness", "console_action",
                  {{"action", 7}, {"key", "x"}, {"device", "esp32-01"}, {"step", "fault partition device=esp32-01"}}),
               ev(2001, "harness", "console_action",
                  {{"action", 8}, {"key", "x"}, {"device", "esp32-02"}, {"step", "fault partition device=esp32-02"}}),
               ev(2002, "harness", "console_action", {{"action", 9}, {"ends", 8}})};
  c.tick(10000 + Controller::poll_ms);
  c.key('x');  // esp32-01: the other console's action 7 is open
  EXPECT_EQ(run.requests.back(), (json{{"cmd", "end"}, {"action", 7}, {"key", "x"}, {"device", "esp32-01"}}));
  c.key('j');
  c.key('x');  // esp32-02: its partition was ended already: a new one
  EXPECT_EQ(run.requests.back()["cmd"], "step");
  EXPECT_EQ(run.requests.back()["step"], "fault partition device=esp32-02");
  // That one (action 1 of this fake) ends by itself as far as this console knows: x starts another.
  run.later = {ev(3000, "harness", "fault_ended", {{"step", "console action 1"}, {"fault", "partition"}})};
  c.tick(10000 + 2 * Controller::poll_ms);
  c.key('x');
  EXPECT_EQ(run.requests.back()["cmd"], "step");
}

TEST(Controller, CommandLineKeepsARefusedStepOpenWithTheError) {
  FakeRun run;
  Controller c([&](const json& r) { return run.reply_for(r); });
  c.key(':');
  for (char ch : std::string("fault serial_corupt device=esp32-01 rate=0.01 for=5s")) c.key(ch);
  c.key(kKeyEnter);
  EXPECT_EQ(run.requests.back(), (json{{"cmd", "step"}, {"step", "fault serial_corupt device=esp32-01 rate=0.01 for=5s"}, {"key", ":"}}))
      << "an inline step names its own devices: the selected row is not sent";
  EXPECT_EQ(c.prompt(), ":");
  EXPECT_EQ(c.input(), "fault serial_corupt device=esp32-01 rate=0.01 for=5s");
  EXPECT_EQ(c.message(), "error: fault 'serial_corupt' is not a fault kind; allowed: corrupt, ...");
  c.key(kKeyEscape);
  EXPECT_EQ(c.prompt(), "");
}

TEST(Controller, UartAnswerLandsInTheDevicesLog) {
  FakeRun run;
  Controller c([&](const json& r) { return run.reply_for(r); });
  c.key('u');  // esp32-01 is on a PTY: not an AT module
  EXPECT_EQ(c.prompt(), "");
  EXPECT_EQ(c.message(), "u: esp32-01 is not an AT-mode module");
  c.key('j');
  c.key('j');
  c.key('u');
  for (char ch : std::string("AT+GMR")) c.key(ch);
  c.key(kKeyEnter);
  EXPECT_EQ(run.requests.back(), (json{{"cmd", "uart"}, {"device", "esp8266-at-01"}, {"data", "AT+GMR"}, {"key", "u"}}));
  const auto& log = c.model().log("esp8266-at-01");
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0].text, "uart> AT+GMR");
  EXPECT_EQ(log[2].text, "uart< AT version:2.2.0.0");
  EXPECT_EQ(log[3].text, "uart< OK");
}

TEST(Controller, TrafficWriteRigQuitAndUnknownKeys) {
  FakeRun run;
  Controller c([&](const json& r) { return run.reply_for(r); });
  c.key('p');
  EXPECT_EQ(run.requests.back(), (json{{"cmd", "traffic"}, {"paused", true}, {"key", "p"}}));
  c.key('p');
  EXPECT_EQ(run.requests.back(), (json{{"cmd", "traffic"}, {"paused", false}, {"key", "p"}}));
  c.key('w');
  EXPECT_EQ(run.requests.back(), (json{{"cmd", "write_rig"}}));
  EXPECT_EQ(c.message(), "session written: /run/session-1.toml");
  const std::size_t sent = run.requests.size();
  EXPECT_EQ(c.key('Z'), Controller::Exit::none);
  EXPECT_EQ(c.message(), "unknown key 'Z' (? for help)");
  EXPECT_EQ(c.key(0x109, "KEY_F(1)"), Controller::Exit::none);  // not printable: named as the terminal names it
  EXPECT_EQ(c.message(), "unknown key KEY_F(1) (? for help)");
  EXPECT_EQ(run.requests.size(), sent);
  EXPECT_EQ(c.key('q'), Controller::Exit::none);  // asks s/d
  EXPECT_EQ(c.key('z'), Controller::Exit::none);  // anything else cancels
  EXPECT_EQ(c.key('q'), Controller::Exit::none);
  EXPECT_EQ(c.key('d'), Controller::Exit::detach);
  EXPECT_EQ(run.requests.size(), sent);  // detaching sends nothing
  c.key('q');
  EXPECT_EQ(c.key('s'), Controller::Exit::stopped);
  EXPECT_EQ(run.requests.back(), (json{{"cmd", "stop"}}));
}

TEST(Controller, LogKeysSearchScrollTimestampsAndLevel) {
  std::vector<json> events;
  for (int i = 0; i < 50; ++i)
    events.push_back(ev(1000 + i, "emu:esp32-01", "log", {{"level", i % 10 == 0 ? "warn" : "info"}, {"event", "n" + std::to_string(i)}}));
  Controller c(events, json());
  EXPECT_TRUE(c.seek_height(1) == false);  // no blocks: the whole run is applied
  ASSERT_EQ(c.model().log("esp32-01").size(), 50u);
  c.key('/');
  for (char ch : std::string("n12")) c.key(ch);
  c.key(kKeyEnter);
  EXPECT_EQ(c.log_view().search, "n12");
  EXPECT_EQ(c.log_scroll(), 37u);  // line 13 of 50: 37 lines back from the newest
  EXPECT_EQ(c.message(), "/n12: line 13 of 50 (n: next older)");
  c.key('/');
  for (char ch : std::string("n1")) c.key(ch);
  c.key(kKeyEnter);
  EXPECT_EQ(c.log_scroll(), 30u);  // n19, the newest match
  c.key('n');
  EXPECT_EQ(c.log_scroll(), 31u);  // n18
  c.key(kKeyEnd);
  EXPECT_EQ(c.log_scroll(), 0u);
  c.key(kKeyPageUp);
  EXPECT_EQ(c.log_scroll(), 10u);
  c.key(kKeyHome);
  EXPECT_EQ(c.log_scroll(), 49u);
  c.key('t');
  EXPECT_FALSE(c.log_view().timestamps);
  c.key('l');
  c.key('l');
  EXPECT_EQ(c.log_view().min_level, LogLevel::warn);
  EXPECT_EQ(c.message(), "log level: warn and above");
  EXPECT_EQ(c.log_scroll(), 0u);
  c.key(kKeyEnter);
  EXPECT_TRUE(c.log_focused());
  c.key(kKeyEscape);
  EXPECT_FALSE(c.log_focused());
  c.key('?');
  EXPECT_TRUE(c.help_shown());
}

std::vector<json> replay_events() {
  std::vector<json> e;
  e.push_back(ev(1000, "harness", "rig_started", {{"rig", "r"}, {"seed", 1}, {"target_blocks", 5}}));
  e.push_back(ev(1000, "trust-node", "device_registered", {{"device", kKeyA}, {"name", "esp32-01"}}));
  for (int h = 1; h <= 5; ++h)
    e.push_back(ev(1000 + 1000 * h, "trust-node", "block_finalized", {{"height", h}, {"hash", "ff"}, {"round_id", h}, {"miner", kKeyA}}));
  return e;
}

TEST(Controller, ReplayPlaysAtItsSpeedStepsAndSeeks) {
  Controller c(replay_events(), json{{"rig", "r"}, {"pass", true}, {"criteria", json::array()}});
  EXPECT_TRUE(c.playing());
  c.tick(50000);  // starts the clock: everything at the first event's time is due
  EXPECT_EQ(c.position(), 2u);
  c.tick(51000);  // one second later at 1x: block 1
  EXPECT_EQ(c.model().status().height, 1);
  EXPECT_EQ(c.model().status().target, 5);  // from rig_started: a replay has no hello
  c.key('+');  // 2x
  c.tick(52000);
  c.tick(53000);  // 1 s at 2x: two more blocks
  EXPECT_EQ(c.model().status().height, 3);
  c.key(' ');
  EXPECT_FALSE(c.playing());
  c.key('.');
  EXPECT_EQ(c.model().status().height, 4);
  EXPECT_FALSE(c.model().status().verdict_pass.has_value());  // not before the end
  c.key('g');
  for (char ch : std::string("2")) c.key(ch);
  c.key(kKeyEnter);
  EXPECT_EQ(c.model().status().height, 2);
  EXPECT_EQ(c.position(), 4u);
  EXPECT_EQ(c.model().devices()[0].blocks_mined, 2);
  EXPECT_EQ(c.message(), "at height 2 (event 4 of 7)");
  EXPECT_FALSE(c.seek_height(99));
  EXPECT_EQ(c.model().status().height, 5);
  EXPECT_EQ(c.model().status().verdict_pass, true);  // the end: the report's verdict
  c.key('r');
  EXPECT_EQ(c.message(), "r: a replay is read-only (keys that poke a run work live only)");
  EXPECT_EQ(c.key('q'), Controller::Exit::detach);
}

TEST(RedrawPacer, AtMostTenRedrawsASecondAndNoneWithoutAChange) {
  RedrawPacer p;
  EXPECT_TRUE(p.due(1000));   // the first screen
  EXPECT_FALSE(p.due(1500));  // nothing changed
  p.changed();
  EXPECT_TRUE(p.due(1500));
  p.changed();
  EXPECT_FALSE(p.due(1550));  // 50 ms after the last: it waits...
  EXPECT_TRUE(p.due(1600));   // ...and is drawn once 100 ms have passed
  // A change every millisecond for a second: ten redraws.
  int draws = 0;
  for (std::int64_t t = 2000; t < 3000; ++t) {
    p.changed();
    draws += p.due(t);
  }
  EXPECT_EQ(draws, 10);
}

}  // namespace
}  // namespace iotw::console
