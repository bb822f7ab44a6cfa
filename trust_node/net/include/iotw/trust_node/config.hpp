// iotw-trust-node configuration (docs/trust-node.md): TOML, every key validated.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "iotw/trust_node/core.hpp"

namespace iotw::tn {

/** A bad config; what() is "FILE:LINE: message" (the daemon prints it and exits 2). */
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ListenConfig {
  std::string host;       ///< IPv4/IPv6 literal or "localhost"
  uint16_t port = 0;      ///< 0 = any free port
  std::string port_file;  ///< empty = none; the bound port is written here (decimal)
  std::string operator_token;  ///< [http] only; non-empty = operator endpoints need "Authorization: Bearer <token>"
};

struct SerialConfig {
  std::string path;
  uint32_t baud = 115200;
};

struct NodeConfig {
  std::string db;
  uint64_t seed = 0;
  std::string events;  ///< empty = stdout
  std::string key;     ///< node key file (32-byte Ed25519 seed; created 0600 if absent); default "<db>.key"
  std::optional<ListenConfig> http;
  std::optional<ListenConfig> udp;
  std::optional<ListenConfig> tcp;  ///< [tcp]: stream links, one per connection, serial framing
  std::vector<SerialConfig> serial;
  ConsensusConfig consensus;
};

/** Parse TOML text; source names the file in messages; relative paths are resolved against base_dir.
 *  Throws ConfigError. */
NodeConfig parse_config(std::string_view text, const std::string &source, const std::string &base_dir);

/** Read and parse a config file (relative paths inside are relative to its directory). Throws ConfigError. */
NodeConfig load_config(const std::string &path);

}  // namespace iotw::tn
