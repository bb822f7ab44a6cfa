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

/** [http] limits (docs/trust-node.md "HTTP limits"). A connection over max_connections is answered 503 and
 *  closed; a request whose header is not complete header_timeout_ms after the server starts reading it (also
 *  the keep-alive idle time between requests) or whose body is not complete body_timeout_ms after its header
 *  (also the time to write an answer) is dropped without an answer. */
struct HttpLimits {
  size_t max_connections = 256;
  uint64_t header_timeout_ms = 10'000;
  uint64_t body_timeout_ms = 60'000;
  size_t max_header_bytes = 8 * 1024;          ///< request line + header fields; more: 431
  size_t max_body_bytes = 16 * 1024 * 1024;    ///< any body, also chunked; more: 413 (POST /v1/transactions: 32 KiB)
  size_t max_json_depth = 16;                  ///< nesting of arrays/objects in a JSON body; deeper: 400
};

/** [udp] peer table bounds: a source address is a peer (a link) until it has sent nothing for peer_idle_ms
 *  (0 = 2 x [consensus] device_timeout_ms); at most max_peers at once (datagrams from further new sources
 *  are dropped and counted while the table is full of non-idle peers). */
struct UdpLimits {
  size_t max_peers = 4096;
  uint64_t peer_idle_ms = 0;
};

/** [registration] admission (docs/trust-node.md "Registration admission"): a Hello is refused (dropped, counted,
 *  aggregated event) when it names a key the node does not know while max_devices are registered, when
 *  max_in_progress registrations (Hello answered, no Prove yet) are open, or when its source (link address
 *  without the port) exceeds per_source_per_s Hellos per second (token bucket of per_source_burst). */
struct AdmissionConfig {
  size_t max_devices = 100'000;
  size_t max_in_progress = 1024;
  uint32_t per_source_per_s = 5;
  uint32_t per_source_burst = 20;
};

struct SerialConfig {
  std::string path;
  uint32_t baud = 115200;
};

/** [store]: where the ledger lives (docs/trust-node.md "Mesh"). */
struct StoreConfig {
  enum class Kind { sqlite, etcd };
  Kind kind = Kind::sqlite;            ///< sqlite: the file [node] db; etcd: an etcd v3 cluster
  std::vector<std::string> endpoints;  ///< etcd only: client endpoints "HOST:PORT", tried in order (1..16)
  std::string prefix = "/iotw/ledger/";  ///< etcd only: every key of this ledger starts with it
  uint64_t timeout_ms = 2000;          ///< etcd only: per request, 50..60000 ms
};

/** [mesh]: this node's place in a trust-node mesh on one etcd store (needs [store] kind = "etcd"). */
struct MeshConfig {
  std::string node_id;       ///< 1..32 characters of [A-Za-z0-9_.-]; unique in the mesh
  uint32_t lease_ttl_s = 2;  ///< the leadership lease, 1..60 s: a dead leader is replaced within about this
};

struct NodeConfig {
  std::string db;      ///< SQLite file ([store] kind = "sqlite"); may be empty with the etcd store
  uint64_t seed = 0;
  std::string events;  ///< empty = stdout
  std::string key;     ///< node key file (32-byte Ed25519 seed; created 0600 if absent); default "<db>.key"
  std::optional<ListenConfig> http;
  HttpLimits http_limits;
  UdpLimits udp_limits;
  AdmissionConfig admission;
  std::optional<ListenConfig> udp;
  std::optional<ListenConfig> tcp;  ///< [tcp]: stream links, one per connection, serial framing
  std::vector<SerialConfig> serial;
  ConsensusConfig consensus;
  StoreConfig store;
  std::optional<MeshConfig> mesh;
};

/** Parse TOML text; source names the file in messages; relative paths are resolved against base_dir.
 *  Throws ConfigError. */
NodeConfig parse_config(std::string_view text, const std::string &source, const std::string &base_dir);

/** Read and parse a config file (relative paths inside are relative to its directory). Throws ConfigError. */
NodeConfig load_config(const std::string &path);

}  // namespace iotw::tn
