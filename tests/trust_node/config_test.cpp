// Config validation (docs/trust-node.md): every error names FILE:LINE.
#include <gtest/gtest.h>

#include "iotw/trust_node/admission.hpp"
#include "iotw/trust_node/config.hpp"

namespace iotw::tn {
namespace {

std::string error_of(const std::string &text) {
  try {
    parse_config(text, "rig/tn.toml", "/run");
  } catch (const ConfigError &e) {
    return e.what();
  }
  return "no error";
}

TEST(TrustNodeConfig, DocumentedExampleParses) {
  const NodeConfig c = parse_config(R"(
[node]
db = "ledger.sqlite"
seed = 42
events = "trust_node.events.jsonl"
[http]
listen = "127.0.0.1:0"
port_file = "http.port"
[udp]
listen = "127.0.0.1:5000"
port_file = "/abs/udp.port"
[[serial]]
path = "/dev/pts/5"
baud = 115200
[[serial]]
path = "/dev/ttyUSB0"
[consensus]
witnesses = 5
block_interval_ms = 10
max_txs_per_block = 8
assignment_timeout_ms = 100
witness_timeout_ms = 200
device_timeout_ms = 3000
)",
                                    "tn.toml", "/run");
  EXPECT_EQ(c.db, "/run/ledger.sqlite");
  EXPECT_EQ(c.seed, 42u);
  EXPECT_EQ(c.events, "/run/trust_node.events.jsonl");
  ASSERT_TRUE(c.http && c.udp);
  EXPECT_EQ(c.http->host, "127.0.0.1");
  EXPECT_EQ(c.http->port, 0);
  EXPECT_EQ(c.http->port_file, "/run/http.port");
  EXPECT_EQ(c.udp->port, 5000);
  EXPECT_EQ(c.udp->port_file, "/abs/udp.port");
  ASSERT_EQ(c.serial.size(), 2u);
  EXPECT_EQ(c.serial[1].baud, 115200u);
  EXPECT_EQ(c.consensus.witnesses, 5u);
  EXPECT_EQ(c.consensus.block_interval_ms, 10u);
  EXPECT_EQ(c.consensus.max_txs_per_block, 8u);
  EXPECT_EQ(c.consensus.assignment_timeout_ms, 100u);
  EXPECT_EQ(c.consensus.witness_timeout_ms, 200u);
  EXPECT_EQ(c.consensus.device_timeout_ms, 3000u);
}

TEST(TrustNodeConfig, UnknownKeyNamesFileLineAndAllowedKeys) {
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[consensus]\nwitnesses = 3\nwitness = 4\n"),
            "rig/tn.toml:6: unknown key 'witness' in [consensus]; allowed: witnesses, block_interval_ms, "
            "max_txs_per_block, assignment_timeout_ms, witness_timeout_ms, device_timeout_ms, policy, threshold, "
            "selection, diversity, vrf_suite, claim_window_ms, max_heartbeats_per_s");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[nodes]\n"),
            "rig/tn.toml:4: unknown key 'nodes' in the top level; allowed: node, http, udp, tcp, serial, consensus, rewards, "
            "device_tags, registration, store, mesh");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[[serial]]\npath = \"/dev/pts/1\"\nspeed = 9600\n"),
            "rig/tn.toml:6: unknown key 'speed' in [[serial]]; allowed: path, baud");
}

TEST(TrustNodeConfig, TcpListenerLikeUdp) {
  const NodeConfig c =
      parse_config("[node]\ndb = \"x\"\nseed = 1\n[tcp]\nlisten = \"127.0.0.1:0\"\nport_file = \"tcp.port\"\n", "tn.toml", "/run");
  ASSERT_TRUE(c.tcp);
  EXPECT_EQ(c.tcp->host, "127.0.0.1");
  EXPECT_EQ(c.tcp->port, 0);
  EXPECT_EQ(c.tcp->port_file, "/run/tcp.port");
  EXPECT_FALSE(c.udp);
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[tcp]\nlisten = \"127.0.0.1:0\"\nbacklog = 5\n"),
            "rig/tn.toml:6: unknown key 'backlog' in [tcp]; allowed: listen, port_file");
}

TEST(TrustNodeConfig, HostileInputLimitsHaveDefaultsAndRanges) {
  const NodeConfig d = parse_config("[node]\ndb = \"x\"\nseed = 1\n", "tn.toml", "");
  EXPECT_EQ(d.http_limits.max_connections, 256u);
  EXPECT_EQ(d.http_limits.header_timeout_ms, 10'000u);
  EXPECT_EQ(d.http_limits.body_timeout_ms, 60'000u);
  EXPECT_EQ(d.http_limits.max_header_bytes, 8192u);
  EXPECT_EQ(d.http_limits.max_body_bytes, 16u << 20);
  EXPECT_EQ(d.http_limits.max_json_depth, 16u);
  EXPECT_EQ(d.udp_limits.max_peers, 4096u);
  EXPECT_EQ(d.udp_limits.peer_idle_ms, 0u);  // = 2 x device_timeout_ms
  EXPECT_EQ(d.admission.max_devices, 100'000u);
  EXPECT_EQ(d.admission.max_in_progress, 1024u);
  EXPECT_EQ(d.admission.per_source_per_s, 5u);
  EXPECT_EQ(d.admission.per_source_burst, 20u);
  EXPECT_EQ(d.consensus.max_heartbeats_per_s, 10'000u);
  const NodeConfig c = parse_config(
      "[node]\ndb = \"x\"\nseed = 1\n[http]\nlisten = \"127.0.0.1:0\"\nmax_connections = 8\nheader_timeout_ms = 300\n"
      "body_timeout_ms = 400\nmax_header_bytes = 2048\nmax_body_bytes = 65536\nmax_json_depth = 5\n"
      "[udp]\nlisten = \"127.0.0.1:0\"\nmax_peers = 10\npeer_idle_ms = 700\n"
      "[registration]\nmax_devices = 3\nmax_in_progress = 2\nper_source_per_s = 1\nper_source_burst = 1\n"
      "[consensus]\nmax_heartbeats_per_s = 0\n",
      "tn.toml", "");
  EXPECT_EQ(c.http_limits.max_connections, 8u);
  EXPECT_EQ(c.http_limits.header_timeout_ms, 300u);
  EXPECT_EQ(c.http_limits.body_timeout_ms, 400u);
  EXPECT_EQ(c.http_limits.max_header_bytes, 2048u);
  EXPECT_EQ(c.http_limits.max_body_bytes, 65536u);
  EXPECT_EQ(c.http_limits.max_json_depth, 5u);
  EXPECT_EQ(c.udp_limits.max_peers, 10u);
  EXPECT_EQ(c.udp_limits.peer_idle_ms, 700u);
  EXPECT_EQ(c.admission.max_devices, 3u);
  EXPECT_EQ(c.admission.max_in_progress, 2u);
  EXPECT_EQ(c.admission.per_source_per_s, 1u);
  EXPECT_EQ(c.admission.per_source_burst, 1u);
  EXPECT_EQ(c.consensus.max_heartbeats_per_s, 0u);
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[http]\nlisten = \"127.0.0.1:0\"\nmax_json_depth = 2\n"),
            "rig/tn.toml:6: [http] max_json_depth must be an integer in 3..1000");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[http]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 99999999\n"),
            "rig/tn.toml:6: [http] max_body_bytes must be an integer in 1024..16777216");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[registration]\nrate = 1\n"),
            "rig/tn.toml:5: unknown key 'rate' in [registration]; allowed: max_devices, max_in_progress, "
            "per_source_per_s, per_source_burst");
}

TEST(TrustNodeConfig, BadValuesNameFileAndLine) {
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[consensus]\nwitnesses = 0\n"),
            "rig/tn.toml:5: [consensus] witnesses must be an integer in 1..64");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[consensus]\nblock_interval_ms = \"fast\"\n").substr(0, 14),
            "rig/tn.toml:5:");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = -3\n"), "rig/tn.toml:3: [node] seed must be a non-negative integer");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[http]\nlisten = \"127.0.0.1\"\n"),
            "rig/tn.toml:5: [http] listen must be \"HOST:PORT\", got \"127.0.0.1\"");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[udp]\nlisten = \"0.0.0.0:70000\"\n"),
            "rig/tn.toml:5: [udp] listen port must be 0..65535, got \"70000\"");
}

// device_timeout_ms is 5 heartbeat intervals (Welcome announces device_timeout_ms / 5, docs/protocol.md §6
// "Liveness"): below 500 ms the interval would be under 100 ms, and the key is named.
TEST(TrustNodeConfig, DeviceTimeoutTooShortForTheHeartbeatIntervalIsAnError) {
  const std::string base = "[node]\ndb = \"x\"\nseed = 1\n[consensus]\ndevice_timeout_ms = ";
  EXPECT_EQ(error_of(base + "499\n").substr(0, 63), "rig/tn.toml:5: [consensus] device_timeout_ms must be an integer");
  EXPECT_NE(error_of(base + "5\n").find("500.."), std::string::npos);
  EXPECT_EQ(error_of(base + "500\n"), "no error");
  EXPECT_EQ(parse_config(base + "500\n", "rig/tn.toml", "/run").consensus.heartbeat_interval_ms(), 100u);
}

TEST(TrustNodeConfig, VrfSelectionWithSuiteAndClaimWindow) {
  const NodeConfig c = parse_config(
      "[node]\ndb = \"x\"\nseed = 1\n[consensus]\nselection = \"vrf\"\nvrf_suite = \"ell2\"\nclaim_window_ms = 350\n",
      "tn.toml", "/run");
  EXPECT_EQ(c.consensus.selection, Selection::vrf);
  EXPECT_EQ(c.consensus.vrf_suite, VrfSuite::ell2);
  EXPECT_EQ(c.consensus.claim_window_ms, 350u);
  const NodeConfig d = parse_config("[node]\ndb = \"x\"\nseed = 1\n[consensus]\nselection = \"vrf\"\n", "tn.toml", "/run");
  EXPECT_EQ(d.consensus.vrf_suite, VrfSuite::tai);  // defaults
  EXPECT_EQ(d.consensus.claim_window_ms, 200u);
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[consensus]\nselection = \"vrf\"\nvrf_suite = \"sha\"\n"),
            "rig/tn.toml:6: [consensus] vrf_suite must be \"tai\" or \"ell2\"");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[consensus]\nvrf_suite = \"tai\"\n"),
            "rig/tn.toml:5: [consensus] vrf_suite needs selection = \"vrf\"");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[consensus]\nselection = \"lottery\"\n"),
            "rig/tn.toml:5: [consensus] selection must be \"uniform\", \"reputation\" or \"vrf\"");
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\n[consensus]\nselection = \"vrf\"\nclaim_window_ms = 0\n"),
            "rig/tn.toml:6: [consensus] claim_window_ms must be an integer in 1..60000");
}

TEST(TrustNodeConfig, EtcdStoreAndMesh) {
  const NodeConfig c = parse_config(R"(
[node]
seed = 1
key = "node.key"
[store]
kind = "etcd"
endpoints = ["127.0.0.1:2379", "[::1]:2380"]
prefix = "/iotw/rig/"
timeout_ms = 500
[mesh]
node_id = "tn-1"
lease_ttl_s = 3
)", "tn.toml", "/run");
  EXPECT_EQ(c.store.kind, StoreConfig::Kind::etcd);
  EXPECT_EQ(c.store.endpoints, (std::vector<std::string>{"127.0.0.1:2379", "[::1]:2380"}));
  EXPECT_EQ(c.store.prefix, "/iotw/rig/");
  EXPECT_EQ(c.store.timeout_ms, 500u);
  ASSERT_TRUE(c.mesh);
  EXPECT_EQ(c.mesh->node_id, "tn-1");
  EXPECT_EQ(c.mesh->lease_ttl_s, 3u);
  EXPECT_EQ(c.key, "/run/node.key");
  EXPECT_TRUE(c.db.empty());
  // Without [store] a node is a SQLite node alone, as before.
  EXPECT_EQ(parse_config("[node]\ndb = \"l.sqlite\"\nseed = 1\n", "tn.toml", "/run").store.kind,
            StoreConfig::Kind::sqlite);
}

TEST(TrustNodeConfig, StoreAndMeshErrorsNameFileAndLine) {
  const std::string etcd = "[node]\nseed = 1\nkey = \"k\"\n[store]\nkind = \"etcd\"\n";
  EXPECT_EQ(error_of("[node]\ndb = \"l\"\nseed = 1\n[store]\nkind = \"redis\"\n"),
            "rig/tn.toml:5: [store] kind must be \"sqlite\" or \"etcd\"");
  EXPECT_EQ(error_of(etcd), "rig/tn.toml:4: [store] kind = \"etcd\" needs endpoints = [\"HOST:PORT\", ...]");
  EXPECT_EQ(error_of(etcd + "endpoints = [\"localhost\"]\n"),
            "rig/tn.toml:6: [store] endpoints: each must be \"HOST:PORT\", got \"localhost\"");
  EXPECT_EQ(error_of(etcd + "endpoints = []\n"), "rig/tn.toml:6: [store] endpoints must be an array of 1..16 \"HOST:PORT\" strings");
  EXPECT_EQ(error_of("[node]\ndb = \"l\"\nseed = 1\n[store]\nendpoints = [\"a:1\"]\n"),
            "rig/tn.toml:5: [store] endpoints applies only to kind = \"etcd\"");
  EXPECT_EQ(error_of("[node]\ndb = \"l\"\nseed = 1\n[mesh]\nnode_id = \"tn-0\"\n"),
            "rig/tn.toml:4: [mesh] needs the shared ledger: [store] kind = \"etcd\"");
  const std::string ok = etcd + "endpoints = [\"127.0.0.1:2379\"]\n";
  EXPECT_EQ(error_of(ok + "[mesh]\nnode_id = \"tn 0\"\n"),
            "rig/tn.toml:8: [mesh] node_id must be 1..32 characters of A-Z a-z 0-9 _ . -");
  EXPECT_EQ(error_of(ok + "[mesh]\nlease_ttl_s = 2\n"), "rig/tn.toml:7: [mesh] needs node_id");
  EXPECT_EQ(error_of(ok + "[mesh]\nnode_id = \"a\"\nlease_ttl_s = 0\n"),
            "rig/tn.toml:9: [mesh] lease_ttl_s must be an integer in 1..60");
  EXPECT_EQ(error_of("[node]\nseed = 1\n[store]\nkind = \"etcd\"\nendpoints = [\"a:1\"]\n"),
            "rig/tn.toml:1: [node] needs key (the node key file) with [store] kind = \"etcd\"");
  EXPECT_EQ(error_of("[node]\ndb = \"l\"\nseed = 1\nkey = \"k\"\n[store]\nkind = \"etcd\"\nendpoints = [\"a:1\"]\n"),
            "rig/tn.toml:2: [node] db is the SQLite file: not with [store] kind = \"etcd\"");
}

TEST(TrustNodeConfig, SeedAndDbAreRequired) {
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\n"), "rig/tn.toml:1: missing required key 'seed' in [node]");
  EXPECT_EQ(error_of("\n\n[node]\nseed = 4\n"), "rig/tn.toml:3: missing required key 'db' in [node]");
  EXPECT_EQ(error_of("[http]\nlisten = \"127.0.0.1:0\"\n").substr(0, 14), "rig/tn.toml:1:");
}

TEST(TrustNodeConfig, TomlSyntaxErrorNamesLine) {
  EXPECT_EQ(error_of("[node]\ndb = \"x\"\nseed = 1\nbroken = = 2\n").substr(0, 14), "rig/tn.toml:4:");
}

TEST(TrustNodeConfig, MissingFileIsAConfigError) {
  EXPECT_THROW(load_config("/nonexistent/tn.toml"), ConfigError);
}

TEST(RegistrationAdmission, RateCapsAndKnownKeys) {
  using V = RegistrationAdmission::Verdict;
  RegistrationAdmission a(AdmissionConfig{.max_devices = 10, .max_in_progress = 3, .per_source_per_s = 2,
                                          .per_source_burst = 2});
  EXPECT_EQ(a.check("udp:a", false, 0, 0, 1000), V::admit);
  EXPECT_EQ(a.check("udp:a", false, 0, 0, 1000), V::admit);
  EXPECT_EQ(a.check("udp:a", false, 0, 0, 1000), V::source_rate) << "burst of 2 used up";
  EXPECT_EQ(a.check("udp:b", false, 0, 0, 1000), V::admit) << "another source has its own bucket";
  EXPECT_EQ(a.check("udp:a", false, 0, 0, 1499), V::source_rate);
  EXPECT_EQ(a.check("udp:a", false, 0, 0, 1500), V::admit) << "2 per second: one token after 500 ms";
  EXPECT_EQ(a.check("udp:c", false, 0, 3, 1500), V::in_progress_cap);
  EXPECT_EQ(a.check("udp:c", false, 0, 3, 1500, true), V::admit)
      << "a source whose own registration is open (its Challenge or Prove lost) may start it again";
  EXPECT_EQ(a.check("udp:f", false, 10, 3, 1500, true), V::admit) << "its open registration is counted already";
  EXPECT_EQ(a.check("udp:d", false, 8, 2, 1500), V::device_cap) << "registered + open registrations reach 10";
  EXPECT_EQ(a.check("udp:e", true, 10, 0, 1500), V::admit) << "a known key re-attaches past the device cap";
  EXPECT_EQ(a.sources(), 6u);
  a.forget("udp:a");
  EXPECT_EQ(a.sources(), 5u);
  EXPECT_EQ(a.check("udp:a", false, 0, 0, 1500), V::admit) << "a new link starts with a full bucket";
}

}  // namespace
}  // namespace iotw::tn
