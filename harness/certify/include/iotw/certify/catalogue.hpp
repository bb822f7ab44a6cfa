// The CERT-xxx catalogue as built (docs/certification.md "The test catalogue"): each test is a small function that
// drives the Engine and judges only what the DUT sent on the wire.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/certify/dut_spec.hpp"
#include "iotw/certify/engine.hpp"

namespace iotw::certify {

enum class Verdict { Pass, Fail, NotRun };
const char* verdict_name(Verdict v);  ///< "pass", "fail", "not_run"

/// What a test concluded: the verdict, why (empty for a plain pass), and the values it measured.
struct Outcome {
  Verdict verdict = Verdict::Pass;
  std::string reason;
  nlohmann::json measured = nlohmann::json::object();
};

/// What the tests of one run share.
class ReferenceFleet;

struct RunContext {
  Engine& engine;
  std::mt19937_64 rng;                                       ///< seeded from --seed: nonces, headers, fuzz
  std::optional<std::array<std::uint8_t, 32>> node_seed;     ///< the trust node's key (signs injected Checkpoints)
  std::array<std::uint8_t, 32> dut_pubkey{};                 ///< from the DUT's latest Hello (set before each test)
  std::uint32_t boot_count = 0;                              ///< from the DUT's latest Hello (set before each test)
  double fuzz_s = 20;                                        ///< CERT-070's length
  std::chrono::milliseconds answer{2000};                    ///< bound for an answer the DUT must send
  std::uint32_t deadline_ms = 1000;                          ///< deadline_ms of injected Assignments / requests
  std::uint64_t next_id = 1'000'000'000;                     ///< injected assignment ids and round ids (ascending)
  std::uint64_t next_height = 1'000'000;                     ///< heights of injected headers, seeds and checkpoints
  std::optional<std::string> not_provisioned{};              ///< why, once a probe found the DUT unprovisioned
  std::string wifi_ssid{};                                   ///< --ssid: the AP an AT module joins (empty: none)
  std::string wifi_password{};                               ///< --password (empty: an open network)
  std::optional<ModbusTarget> modbus{};                      ///< --modbus: the DUT's Modbus side (dps); none: not_run
  std::optional<LanTarget> lan{};                            ///< --lan: the DUT's Yeelight LAN side (bulb); none: not_run
  std::chrono::milliseconds usage_period{60000};             ///< --usage-period-s: the DUT's UsageReport period
  ReferenceFleet* fleet = nullptr;                           ///< the reference devices (tests with a fleet_order)
};

/// One catalogue entry.
struct CertTest {
  std::string id;                     ///< "CERT-001"
  std::string title;
  std::vector<std::string> profiles;  ///< e.g. {"soc", "dps", "bulb"}
  std::string rule;                   ///< the pass rule, as docs/certification.md states it
  std::function<Outcome(RunContext&)> run;
  /// 0: the test needs no reference devices. Above 0: it needs the reference fleet (reference_fleet.hpp); such
  /// tests run first, before any injected round id reaches the DUT (a witness answers only round ids above every
  /// one it answered), in ascending fleet_order.
  int fleet_order = 0;
};

/// Every built test, in id order.
const std::vector<CertTest>& catalogue();
/// The profiles `iotw certify --profile` accepts: soc, at-esp, at-realtek, dps, bulb.
const std::vector<std::string>& profiles();
/// The built tests of a profile, in id order (empty for a profile none of whose tests is built).
std::vector<const CertTest*> tests_of(const std::string& profile);

/// The fixed text of a DUT that said nothing: "no response from the DUT within N s".
std::string no_response(std::chrono::milliseconds waited);

}  // namespace iotw::certify
