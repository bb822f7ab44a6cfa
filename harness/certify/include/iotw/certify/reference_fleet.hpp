// The reference devices around the DUT (docs/certification.md "Reference devices"): honest emulated esp32 devices in
// one `iotw-emu` pool process, each on its own PTY link (harness LinkFabric) to the reference trust node's
// [[serial]], so tests can judge the DUT in real rounds: blocks it mines and blocks it witnesses, read back from the
// node's ledger (GET /v1/blocks) and blacklist (GET /v1/blacklist). Only a run that selects a test needing them
// (CertTest::needs_fleet) creates the links; the pool process runs only while those tests run.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iotw/certify/catalogue.hpp"

namespace iotw::harness {
class LinkFabric;
class TrustNodeClient;
}  // namespace iotw::harness
namespace iotw {
class ProcessSupervisor;
}

namespace iotw::certify {

class ReferenceFleet {
 public:
  static constexpr int kDevices = 3;  ///< reference devices: with the DUT, 4 on the node (witnesses = 3, strict)

  /// Creates the kDevices PTY links (relayed on the fabric's own thread). Throws std::runtime_error when a PTY
  /// cannot be created.
  ReferenceFleet();
  ~ReferenceFleet();
  ReferenceFleet(const ReferenceFleet&) = delete;
  ReferenceFleet& operator=(const ReferenceFleet&) = delete;

  /// The node-side PTY paths, for the trust node's [[serial]] entries.
  std::vector<std::string> node_paths() const;
  /// The device names, "ref-01".."ref-03".
  std::vector<std::string> names() const;

  /// Writes `folder`/emu.toml (every device honest, provisioned with `node_pubkey_hex`, NVS under `folder`/nvs)
  /// and starts `emu_exe --config` on it (its events and log in `folder`); `http_port` is the trust node's
  /// HTTP API on 127.0.0.1, `seed` the run's (transaction payloads). "" when started, else why not.
  std::string start(const std::filesystem::path& emu_exe, const std::filesystem::path& folder,
                    const std::string& node_pubkey_hex, int http_port, std::uint64_t seed);
  /// Stops the pool (SIGTERM, 2 s grace); the node detaches its devices after device_timeout_ms. Idempotent.
  void stop();
  /// True while the pool process runs (reaps it when it has exited on its own).
  bool running();
  /// Why the pool is not running ("" while it runs): it would not start, exited (with its code), or was stopped.
  const std::string& exited() const { return error_; }

  /// The node's HTTP client (valid after start).
  harness::TrustNodeClient& node();
  /// GET `path` on the node's HTTP API: the JSON object of a 200 answer, else nullopt.
  std::optional<nlohmann::json> get(const std::string& path);
  /// The node's pending transactions (GET /v1/health), nullopt when it does not answer.
  std::optional<std::uint64_t> pending_txs();
  /// Transaction payload number n of this fleet (printable ASCII, seeded): what tests submit to make blocks.
  std::string next_payload();

 private:
  std::unique_ptr<harness::LinkFabric> fabric_;
  std::vector<std::string> node_paths_, device_paths_;
  std::unique_ptr<ProcessSupervisor> children_;
  std::unique_ptr<harness::TrustNodeClient> node_;
  int http_port_ = 0;
  std::uint64_t seed_ = 0, tx_counter_ = 0;
  std::string error_;
};

/// `tests` plus the tests that need the fleet (CERT-023, CERT-038, each with a fleet_order), sorted by id:
/// catalogue() is built with it. They read RunContext::fleet (the run starts the pool before them and stops it
/// after the last one).
std::vector<CertTest> with_fleet_tests(std::vector<CertTest> tests);

}  // namespace iotw::certify
