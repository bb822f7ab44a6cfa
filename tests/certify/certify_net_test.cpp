// UDP and TCP DUTs: an AT-mode appliance of iotw-emu (the firmware on an MCU, its link through an ESP-AT module,
// provisioned with the node key) told the certifier's endpoint from `dut must send to: HOST:PORT` passes every
// soc test that applies to its link; the serial-framing tests are not_run on UDP and CERT-013, 014, 080 everywhere
// (an AT appliance cannot be reset through the pool's control channel; no --power-cmd is given), each with its reason.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include "net_dut.hpp"

namespace iotw::test {
namespace {

using json = nlohmann::json;

/// The honest appliance passes every test that runs on its link; returns those that did not run (each with a reason).
std::set<std::string> not_run_of_honest(const std::string& kind, const std::string& spec) {
  const NetDutRun run = run_net_dut(kind, spec);
  EXPECT_EQ(run.code, 0) << run.out;
  const json& report = run.report;
  if (report.is_null()) return {};
  std::set<std::string> not_run;
  for (const auto& t : report["tests"]) {
    EXPECT_NE(t["verdict"], "fail") << t.dump();
    if (t["verdict"] == "not_run") {
      not_run.insert(t["id"].get<std::string>());
      EXPECT_FALSE(t["reason"].get<std::string>().empty()) << t.dump();
    }
  }
  EXPECT_EQ(report["complete"], false);
  EXPECT_EQ(report["dut"]["port"]["kind"], kind);
  return not_run;
}

TEST(CertifyNet, ATcpDutThroughAnEspAtModulePassesEveryTestThatApplies) {
  EXPECT_EQ(not_run_of_honest("tcp", "tcp:127.0.0.1:0"), (std::set<std::string>{"CERT-013", "CERT-014", "CERT-080"}));
}

TEST(CertifyNet, AUdpDutThroughAnEspAtModulePassesEveryTestThatApplies) {
  EXPECT_EQ(not_run_of_honest("udp", "udp:127.0.0.1:0"),
            (std::set<std::string>{"CERT-002", "CERT-003", "CERT-005", "CERT-006", "CERT-013", "CERT-014", "CERT-080"}));
}

}  // namespace
}  // namespace iotw::test
