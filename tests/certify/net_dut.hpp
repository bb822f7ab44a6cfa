// A network DUT of the certification tests: `iotw certify --dut udp:...|tcp:...` is started first, and once it
// prints `dut must send to: 127.0.0.1:PORT` an iotw-emu pool starts one AT-mode appliance (the firmware on an MCU,
// its link through an ESP-AT esp32 module; honest or with a firmware mutant) provisioned with the node key and
// pointed at that endpoint. The run folder's report.json is returned with the certifier's exit code and stdout.
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <array>
#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "iotw/support/hex.hpp"
#include "iotw/support/process.hpp"
#include "iotw_process.hpp"

namespace iotw::test {

struct NetDutRun {
  int code = -1;               ///< iotw certify's exit code (-1: it did not end)
  std::string out;             ///< its stdout
  nlohmann::json report;       ///< run/report.json (null when absent)
};

/// Certifies an AT-mode appliance over `kind` ("udp" or "tcp"; `spec` the --dut, e.g. "udp:127.0.0.1:0") with
/// firmware behaviour `behaviour` ("honest" or a mutant of docs/certification.md), in a fresh scratch folder.
inline NetDutRun run_net_dut(const std::string& kind, const std::string& spec, const std::string& behaviour = "honest") {
  using namespace std::chrono_literals;
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
  NetDutRun run;
  EXPECT_TRUE(std::regex_search(text, m, endpoint)) << text << slurp(dir / "certify.err");
  if (m.empty()) return run;
  std::ofstream(dir / "pool.toml") << "events = \"" << (dir / "emu.events").string() << "\"\n"
                                   << "node_pubkey = \"" << to_hex(pk) << "\"\n"
                                   << "[[device]]\nname = \"dut-01\"\nmodel = \"esp32\"\nmode = \"at\"\n"
                                   << "behaviour = \"" << behaviour << "\"\n"
                                   << "trust_node_" << kind << " = \"127.0.0.1:" << m[1] << "\"\n"
                                   << "nvs_dir = \"" << (dir / "nvs").string() << "\"\n";
  children.start("iotw-emu", IOTW_EMU_EXE, {"--config", (dir / "pool.toml").string()},
                 {.stdout_file = dir / "emu.log", .stderr_file = dir / "emu.log"});
  const auto ended = children.wait("iotw");
  if (ended) run.code = ended->code;
  run.out = slurp(out);
  EXPECT_TRUE(ended) << run.out << slurp(dir / "certify.err");
  if (std::filesystem::exists(dir / "run" / "report.json"))
    run.report = nlohmann::json::parse(slurp(dir / "run" / "report.json"));
  return run;
}

}  // namespace iotw::test
