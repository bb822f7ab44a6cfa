// A validated rig: what `iotw rig run` needs to set up, drive and judge one scenario.
// Produced by load_rig() (rig_loader.hpp) from a TOML file; every key is documented in docs/rig-format.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace iotw::harness {

/// A group of identical devices: [[devices]] in the rig file.
struct DeviceGroup {
  std::string name_prefix = "esp";  ///< devices are named "<prefix>-01", "<prefix>-02", ...; unique per rig
  std::string model = "esp32";      ///< "esp8266" | "esp32"
  std::string link = "pty";         ///< "pty" (a PTY pair per device, through the harness's link proxy)
  std::string behaviour = "honest"; ///< "honest" | "invert_verdict" | "wrong_hash"
  int count = 1;                    ///< 1..256
  int line = 0;                     ///< line of the [[devices]] table in the rig file
};

/// One expanded device.
struct DeviceInstance {
  std::string name;  ///< unique in the rig, e.g. "esp-03"
  std::string model;
  std::string link;
  std::string behaviour;
  bool byzantine() const { return behaviour != "honest"; }
};

/// A pass criterion from [pass]: measured score <op> threshold.
struct Criterion {
  enum class Op { AtLeast, AtMost, Equals };
  std::string name;   ///< the [pass] key, e.g. "coherence_rate_min"
  std::string score;  ///< the score it reads, e.g. "coherence_rate" (docs/rig-format.md lists them)
  Op op = Op::AtLeast;
  double threshold = 0;  ///< booleans are 1.0 / 0.0
  int line = 0;
};

struct TrustNodeSpec {
  int witnesses = 3;
  int block_interval_ms = 50;
  int max_txs_per_block = 64;
  int assignment_timeout_ms = 1500;
  int witness_timeout_ms = 1500;
  int device_timeout_ms = 5000;
};

struct TrafficSpec {
  double tx_per_s = 50;    ///< transactions submitted per second over HTTP
  int payload_bytes = 48;  ///< 1..4096
};

struct RigSpec {
  std::filesystem::path file;
  std::string name;
  std::string description;
  std::optional<std::uint64_t> seed;  ///< --seed overrides; absent = random, printed
  double deadline_s = 120;            ///< wall-clock limit of the run, seconds
  TrustNodeSpec trust_node;
  std::vector<DeviceGroup> devices;
  TrafficSpec traffic;
  int target_blocks = 20;             ///< [target] blocks: stop once this many blocks are finalized
  std::vector<Criterion> pass;

  /// Devices in file order, groups expanded: "<prefix>-NN", NN from 01 (at least two digits) per group.
  std::vector<DeviceInstance> instances() const;
};

}  // namespace iotw::harness
