// The standalone SoC-mode device (iotw-emu MODEL --pty [--mutant NAME]): the reference DUT a partner's certifier
// opens by its PTY path. Three of them (ESP32, ESP8266 with the wrong_hash defect, RTL8710) against the real
// iotw-trust-node on [[serial]] links: all register under their names and models, the honest ones mine finalized
// blocks, and every result of the mutant is rejected as wrong_hash.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "emu_child.hpp"
#include "iotw/support/process.hpp"

namespace iotw::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<json> events_of(const fs::path& file) {
  std::vector<json> out;
  std::ifstream in(file);
  for (std::string l; std::getline(in, l);)
    if (auto e = json::parse(l, nullptr, false); e.is_object()) out.push_back(std::move(e));
  return out;
}

TEST(SocPty, ReferenceDevicesAndAMutantOnPtysAgainstTheRealTrustNode) {
  const fs::path dir = fs::temp_directory_path() / ("iotw-soc-pty-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::vector<std::vector<std::string>> duts = {
      {"esp32", "--pty", "--name", "dut-01"},
      {"esp8266", "--pty", "--name", "dut-02", "--mutant", "wrong_hash"},
      {"rtl8710", "--pty", "--name", "dut-03"}};
  std::vector<std::unique_ptr<EmuChild>> emus;
  std::string serial;
  for (std::size_t i = 0; i < duts.size(); ++i) {
    const fs::path d = dir / ("dut" + std::to_string(i + 1));
    fs::create_directories(d);
    emus.push_back(std::make_unique<EmuChild>(duts[i], 1, d));
    ASSERT_EQ(emus.back()->lines.size(), 1u) << duts[i][0] << ": no PTY path on stdout";
    EXPECT_EQ(emus.back()->lines[0].rfind("/dev/pts/", 0), 0u) << emus.back()->lines[0];
    serial += "[[serial]]\npath = \"" + emus.back()->lines[0] + "\"\n";
  }
  std::ofstream(dir / "tn.toml") << "[consensus]\nwitnesses = 1\nblock_interval_ms = 50\n[http]\nlisten = '127.0.0.1:0'\n"
                                 << "port_file = '" << (dir / "http.port").string() << "'\n[node]\ndb = '"
                                 << (dir / "ledger.sqlite").string() << "'\nevents = '" << (dir / "tn.jsonl").string()
                                 << "'\nseed = 5\n"
                                 << serial;
  ProcessSupervisor node;
  node.start("node", IOTW_TRUST_NODE_BIN, {"--config", (dir / "tn.toml").string()},
             {.stdout_file = dir / "tn.out", .stderr_file = dir / "tn.err"});
  int port = 0;
  for (int i = 0; i < 1000 && port == 0; ++i) {  // a hang guard, not a timing assertion
    std::ifstream in(dir / "http.port");
    in >> port;
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(port, 0) << "the trust node wrote no HTTP port";
  httplib::Client http("127.0.0.1", port);
  std::map<std::string, std::string> model_of;  // name -> model, from device_registered
  std::map<std::string, std::string> name_of;   // device key -> name
  int honest_blocks = 0, mutant_blocks = 0, mutant_rejections = 0, other_rejections = 0;
  for (int i = 0; i < 600 && (honest_blocks < 5 || mutant_rejections < 1); ++i) {  // hang guard: 600 txs
    http.Post("/v1/transactions", json{{"payload", "soc-pty " + std::to_string(i)}}.dump(), "application/json");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    honest_blocks = mutant_blocks = mutant_rejections = other_rejections = 0;
    for (const json& e : events_of(dir / "tn.jsonl")) {
      const json& f = e["fields"];
      if (e["kind"] == "device_registered") {
        model_of[f["name"]] = f["model"];
        name_of[f["device"]] = f["name"];
      } else if (e["kind"] == "block_finalized") {
        (name_of[f["miner"]] == "dut-02" ? mutant_blocks : honest_blocks)++;
      } else if (e["kind"] == "result_rejected") {
        (name_of[f["miner"]] == "dut-02" && f["reason"] == "wrong_hash" ? mutant_rejections : other_rejections)++;
      }
    }
  }
  node.stop("node", std::chrono::seconds(10));
  EXPECT_EQ(model_of["dut-01"], "esp32");
  EXPECT_EQ(model_of["dut-02"], "esp8266");
  EXPECT_EQ(model_of["dut-03"], "rtl8710");
  EXPECT_GE(honest_blocks, 5) << "the reference devices mine";
  EXPECT_GE(mutant_rejections, 1) << "the wrong_hash mutant's results are rejected";
  EXPECT_EQ(mutant_blocks, 0) << "the mutant never mines a finalized block";
  EXPECT_EQ(other_rejections, 0) << "no honest result is rejected";
  for (auto& e : emus) EXPECT_EQ(e->stop(), 0) << "stops cleanly on SIGTERM";
  fs::remove_all(dir);
}

TEST(SocPty, MutantsAreTheDocumentedBehavioursAndNeedSocMode) {
  const fs::path dir = fs::temp_directory_path() / ("iotw-soc-pty-bad-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EmuChild unknown({"esp32", "--pty", "--mutant", "melt"}, 1, dir);
  EXPECT_EQ(unknown.stop(), 2) << "an unknown mutant is a usage error";
  EmuChild at({"esp32", "--at", "--pty", "--mutant", "wrong_hash"}, 1, dir);
  EXPECT_EQ(at.stop(), 2) << "an AT-mode module runs no firmware to mutate";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace iotw::test
