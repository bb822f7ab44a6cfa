// The iotw-emu pool file (docs/emulators.md), validated.
#pragma once
#include <array>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "device_runtime.hpp"
#include "esp_wifi/at_engine.hpp"

namespace iotw::emu {

struct PoolConfig {
  std::string events;               ///< event file; empty = stdout
  std::string control;              ///< control channel: a UNIX-domain socket path ("" = none; pool_control.hpp)
  std::vector<DeviceSpec> devices;  ///< at least one
  AccessPoint access_point;         ///< [access_point]: the simulated AP every AT-mode module joins
  /// node_pubkey (64 hex, top level): the trust node's public key, copied into every device (light verification)
  std::optional<std::array<uint8_t, 32>> node_pubkey;
  /// start_spread_ms (top level, 0..600000): the devices start evenly spread over this many ms, in the file's order
  /// (a building's devices powering on over a minute rather than in one millisecond); 0 = all at once.
  uint32_t start_spread_ms = 0;
};

/// Thrown by load_pool_config; what() is "FILE:LINE:COL: message" naming the allowed keys or values.
struct PoolConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Parses and validates a pool file. Relative nvs_dir paths are kept as given (relative to the cwd).
PoolConfig load_pool_config(const std::filesystem::path& file);

}  // namespace iotw::emu
