// rigs/device_faults.toml and rigs/ap_faults.toml through the real binaries: the harness drives device faults
// over iotw-emu's control channel (docs/faults.md "Device faults"). A reboot (software reset reason), two hung
// firmwares reset by their chips' watchdogs (reason, time to bite) and a skewed clock on PTY devices; a weak
// signal and an access point that goes away for AT-mode modules. Every device comes back, nobody is blacklisted,
// the ledger re-verifies, and every recovery check is a passing JUnit testcase.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>

#include "iotw_process.hpp"

namespace iotw::test {
namespace {
using json = nlohmann::json;

std::vector<json> events_of(const std::filesystem::path& run) {
  std::vector<json> out;
  for (const std::string& line : lines_of(run / "events.jsonl")) out.push_back(json::parse(line));
  return out;
}

TEST(RigDeviceFaults, RebootHangAndClockSkewRecoverWithoutFalseBlacklist) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult result = run_iotw(
      {"rig", "run", std::string(IOTW_RIGS_DIR) + "/device_faults.toml", "--out", run.string(), "--seed", "7"}, dir);
  ASSERT_EQ(result.code, 0) << result.out << result.err;
  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_EQ(report["pass"], true);
  EXPECT_EQ(report["ledger_valid"], true);
  EXPECT_GE(report["blocks_finalized"].get<int>(), 80);
  EXPECT_TRUE(report["blacklisted"].empty());
  EXPECT_EQ(report["recoveries_failed"], 0);

  std::map<std::string, std::vector<json>> resets;  // device -> its "reset" events
  std::map<std::string, std::uint64_t> starved;     // device -> watchdog_reset starved_ms
  std::map<std::string, int> registered;
  std::set<std::string> recovered;
  json skew_end;
  for (const json& e : events_of(run)) {
    const json& f = e["fields"];
    const std::string src = e.value("source", "");
    if (e["kind"] == "reset") resets[src.substr(4)].push_back(f);
    if (e["kind"] == "watchdog_reset") starved[src.substr(4)] = f["starved_ms"].get<std::uint64_t>();
    if (e["kind"] == "device_registered") ++registered[f["name"].get<std::string>()];
    if (e["kind"] == "recovery_checked" && f["pass"] == true) recovered.insert(f["step"].get<std::string>());
    if (e["kind"] == "emu_command" && f["request"]["cmd"] == "clock_skew" && f["request"]["ppm"] == 0)
      skew_end = f["reply"]["clock"];
  }
  EXPECT_EQ(recovered, (std::set<std::string>{"reboot esp32-01", "hang esp8266-01", "hang esp32-02",
                                              "skew esp32-03's clock"}));
  ASSERT_EQ(resets["esp32-01"].size(), 1u);
  EXPECT_EQ(resets["esp32-01"][0]["reset_reason"], 3);  // ESP_RST_SW
  ASSERT_EQ(resets["esp8266-01"].size(), 1u);
  EXPECT_EQ(resets["esp8266-01"][0]["reset_reason"], 7);  // the ESP8266 soft WDT (ESP_RST_WDT)
  ASSERT_EQ(resets["esp32-02"].size(), 1u);
  EXPECT_EQ(resets["esp32-02"][0]["reset_reason"], 6);  // ESP_RST_TASK_WDT
  // The watchdogs bit after their timeouts (the pool steps every 20 ms; the upper bounds allow a loaded machine).
  EXPECT_GE(starved["esp8266-01"], 3200u);
  EXPECT_LT(starved["esp8266-01"], 4000u);
  EXPECT_GE(starved["esp32-02"], 5000u);
  EXPECT_LT(starved["esp32-02"], 6000u);
  for (const char* d : {"esp32-01", "esp8266-01", "esp32-02"}) EXPECT_GE(registered[d], 2) << d << " registered again";
  EXPECT_EQ(registered["esp32-03"], 1);  // a skewed clock (3 s step < the 5 s link timeout) costs no re-attach
  // +3 s step, then 5 % fast for 6 s: about 3.3 s ahead when the rate recovered.
  ASSERT_TRUE(skew_end.is_object());
  EXPECT_GE(skew_end["drift_ms"].get<std::int64_t>(), 3250);
  EXPECT_LE(skew_end["drift_ms"].get<std::int64_t>(), 3500);

  const std::string junit = slurp(run / "junit.xml");
  EXPECT_NE(junit.find("hang esp32-02 (line 49): hang recovered"), std::string::npos);
}

TEST(RigApFaults, WeakSignalAndAccessPointLossOnAtModulesRecover) {
  const auto dir = scratch_dir();
  const auto run = dir / "run";
  const IotwResult result = run_iotw(
      {"rig", "run", std::string(IOTW_RIGS_DIR) + "/ap_faults.toml", "--out", run.string(), "--seed", "7"}, dir);
  ASSERT_EQ(result.code, 0) << result.out << result.err;
  const json report = json::parse(slurp(run / "report.json"));
  EXPECT_EQ(report["pass"], true);
  EXPECT_EQ(report["ledger_valid"], true);
  EXPECT_TRUE(report["blacklisted"].empty());
  EXPECT_EQ(report["recoveries_failed"], 0);
  for (const json& l : report["harness"]["links"]) {
    const std::string device = l["device"];
    const auto lost = l["faults"]["lost_datagrams"].get<std::uint64_t>();
    if (device.ends_with("-01"))
      EXPECT_GT(lost, 0u) << device << ": -85 dBm loses datagrams";
    else
      EXPECT_EQ(lost, 0u) << device;
  }
  std::set<std::string> lost_link, down_seen, recovered;
  for (const json& e : events_of(run)) {
    const json& f = e["fields"];
    const std::string src = e.value("source", "");
    if (e["kind"] == "at_link" && (f["event"] == "link_lost" || f["event"] == "send_failed")) lost_link.insert(src.substr(4));
    if (e["kind"] == "ap_changed" && f["up"] == false) down_seen.insert(src.substr(4));
    if (e["kind"] == "recovery_checked" && f["pass"] == true) recovered.insert(f["step"].get<std::string>());
  }
  EXPECT_EQ(down_seen, (std::set<std::string>{"esp8266-at-02", "rtl8710-at-02"}));
  EXPECT_TRUE(lost_link.count("esp8266-at-02"));  // WIFI DISCONNECT -> the driver's link_lost
  EXPECT_TRUE(lost_link.count("rtl8710-at-02"));  // [ATPT] ERROR while the AP is gone
  EXPECT_EQ(recovered, (std::set<std::string>{"weak signal", "access point down"}));
}

}  // namespace
}  // namespace iotw::test
