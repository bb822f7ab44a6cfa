// UDP and TCP DUTs: an AT-mode appliance of iotw-emu (the firmware on an MCU, its link through an ESP-AT module,
// provisioned with the node key) told the certifier's endpoint from `dut must send to: HOST:PORT` passes every
// soc test that applies to its link; the serial-framing tests are not_run on UDP and CERT-013 everywhere (an AT
// appliance cannot be reset through the pool's control channel), each with its reason.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "iotw/support/hex.hpp"
#include "iotw/support/process.hpp"
#include "iotw_process.hpp"

namespace iotw::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::set<std::string> run_net_dut(const std::string& kind, const std::string& spec) {
  const auto dir = scratch_dir() / kind;
  std::filesystem::create_directories(dir);
  std::array<std::uint8_t, 32> seed{}, pk{};
  std::array<std::uint8_t, 64> sk{};
  EXPECT_GE(sodium_init(), 0);
  randombytes_buf(seed.data(), seed.size());
  crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  std::ofstream(dir / "node.key", std::ios::binary).write(reinterpret_cast<const char*>(seed.data()), 32);
  ProcessSupervisor children;
  const auto out = dir / "certify.out";
  children.start("iotw", IOTW_EXE,
                 {"certify", "--dut", spec, "--out", (dir / "run").string(), "--node-key", (dir / "node.key").string(),
                  "--seed", "9", "--fuzz-s", "1"},
                 {.stdout_file = out, .stderr_file = dir / "certify.err"});
  std::smatch m;
  std::string text;
  const std::regex endpoint(R"(dut must send to: 127\.0\.0\.1:([0-9]+))");
  for (auto deadline = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < deadline;) {
    text = slurp(out);
    if (std::regex_search(text, m, endpoint)) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(std::regex_search(text, m, endpoint)) << text << slurp(dir / "certify.err");
  if (m.empty()) return {};
  std::ofstream(dir / "pool.toml") << "events = \"" << (dir / "emu.events").string() << "\"\n"
                                   << "node_pubkey = \"" << to_hex(pk) << "\"\n"
                                   << "[[device]]\nname = \"dut-01\"\nmodel = \"esp32\"\nmode = \"at\"\n"
                                   << "trust_node_" << kind << " = \"127.0.0.1:" << m[1] << "\"\n"
                                   << "nvs_dir = \"" << (dir / "nvs").string() << "\"\n";
  children.start("iotw-emu", IOTW_EMU_EXE, {"--config", (dir / "pool.toml").string()},
                 {.stdout_file = dir / "emu.log", .stderr_file = dir / "emu.log"});
  const auto ended = children.wait("iotw");
  EXPECT_TRUE(ended && ended->code == 0) << slurp(out) << slurp(dir / "certify.err");
  const json report = json::parse(slurp(dir / "run" / "report.json"));
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
  EXPECT_EQ(run_net_dut("tcp", "tcp:127.0.0.1:0"), (std::set<std::string>{"CERT-013"}));
}

TEST(CertifyNet, AUdpDutThroughAnEspAtModulePassesEveryTestThatApplies) {
  EXPECT_EQ(run_net_dut("udp", "udp:127.0.0.1:0"),
            (std::set<std::string>{"CERT-002", "CERT-003", "CERT-005", "CERT-006", "CERT-013"}));
}

}  // namespace
}  // namespace iotw::test
