#include "iotw/trust_node/config.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "iotw/cli/read_file.hpp"
#include "iotw/trust_node/tx_request.hpp"

namespace iotw::tn {
namespace {

class Checker {
 public:
  explicit Checker(const std::string &source) : source_(source) {}

  [[noreturn]] void fail(const toml::source_region &at, const std::string &msg) const {
    throw ConfigError(fmt::format("{}:{}: {}", source_, at.begin.line ? at.begin.line : 1, msg));
  }

  /** Rejects keys outside allowed, naming the section and the allowed keys. */
  void only(const toml::table &t, const std::string &section, std::initializer_list<std::string_view> allowed) const {
    for (auto &&[k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(k.source(), fmt::format("unknown key '{}' in {}; allowed: {}", k.str(), section, list));
    }
  }

  const toml::table *table(const toml::table &root, std::string_view key) const {
    const toml::node *n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(n->source(), fmt::format("'{}' must be a table [{}]", key, key));
    return n->as_table();
  }

  std::optional<std::string> str(const toml::table &t, std::string_view section, std::string_view key) const {
    const toml::node *n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_string() || n->as_string()->get().empty())
      fail(n->source(), fmt::format("[{}] {} must be a non-empty string", section, key));
    return n->as_string()->get();
  }

  std::optional<uint64_t> uint(const toml::table &t, std::string_view section, std::string_view key, uint64_t min,
                               uint64_t max) const {
    const toml::node *n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_integer() || n->as_integer()->get() < 0 || static_cast<uint64_t>(n->as_integer()->get()) < min ||
        static_cast<uint64_t>(n->as_integer()->get()) > max)
      fail(n->source(), fmt::format("[{}] {} must be an integer in {}..{}", section, key, min, max));
    return static_cast<uint64_t>(n->as_integer()->get());
  }

  ListenConfig listen(const toml::table &t, std::string_view section, const std::string &base) const {
    if (section == "http")
      only(t, "[http]", {"listen", "port_file", "operator_token", "max_connections", "header_timeout_ms",
                         "body_timeout_ms", "max_header_bytes", "max_body_bytes", "max_json_depth"});
    else if (section == "udp")
      only(t, "[udp]", {"listen", "port_file", "max_peers", "peer_idle_ms"});
    else only(t, fmt::format("[{}]", section), {"listen", "port_file"});
    ListenConfig l;
    const auto addr = str(t, section, "listen");
    if (!addr) fail(t.source(), fmt::format("[{}] needs listen = \"HOST:PORT\"", section));
    const size_t colon = addr->rfind(':');
    const toml::node &n = *t.get("listen");
    if (colon == std::string::npos || colon == 0)
      fail(n.source(), fmt::format("[{}] listen must be \"HOST:PORT\", got \"{}\"", section, *addr));
    l.host = addr->substr(0, colon);
    if (l.host.size() > 2 && l.host.front() == '[' && l.host.back() == ']') l.host = l.host.substr(1, l.host.size() - 2);
    const std::string port = addr->substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535)
      fail(n.source(), fmt::format("[{}] listen port must be 0..65535, got \"{}\"", section, port));
    l.port = static_cast<uint16_t>(std::stoul(port));
    if (auto pf = str(t, section, "port_file")) l.port_file = resolve(*pf, base);
    if (auto tok = str(t, section, "operator_token")) l.operator_token = *tok;
    return l;
  }

  static std::string resolve(const std::string &p, const std::string &base) {
    const std::filesystem::path path(p);
    return path.is_absolute() || base.empty() ? p : (std::filesystem::path(base) / path).string();
  }

 private:
  const std::string &source_;
};

constexpr uint64_t kMaxMs = 24ull * 3600 * 1000;

}  // namespace

NodeConfig parse_config(std::string_view text, const std::string &source, const std::string &base_dir) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error &e) {
    throw ConfigError(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
  }
  const Checker c(source);
  c.only(root, "the top level",
         {"node", "http", "udp", "tcp", "serial", "consensus", "rewards", "device_tags", "registration", "store",
          "mesh"});
  NodeConfig cfg;

  const toml::table *node = c.table(root, "node");
  if (!node) c.fail(root.source(), "missing required table [node] (db, seed)");
  c.only(*node, "[node]", {"db", "seed", "events", "key"});
  if (const toml::table *t = c.table(root, "store")) {
    c.only(*t, "[store]", {"kind", "endpoints", "prefix", "timeout_ms"});
    StoreConfig &st = cfg.store;
    if (auto k = c.str(*t, "store", "kind")) {
      if (*k != "sqlite" && *k != "etcd") c.fail(t->get("kind")->source(), "[store] kind must be \"sqlite\" or \"etcd\"");
      st.kind = *k == "etcd" ? StoreConfig::Kind::etcd : StoreConfig::Kind::sqlite;
    }
    const bool etcd = st.kind == StoreConfig::Kind::etcd;
    for (const char *k : {"endpoints", "prefix", "timeout_ms"})
      if (!etcd && t->contains(k))
        c.fail(t->get(k)->source(), fmt::format("[store] {} applies only to kind = \"etcd\"", k));
    if (etcd) {
      const toml::node *ep = t->get("endpoints");
      if (!ep) c.fail(t->source(), "[store] kind = \"etcd\" needs endpoints = [\"HOST:PORT\", ...]");
      const toml::array *arr = ep->as_array();
      if (!arr || arr->empty() || arr->size() > 16)
        c.fail(ep->source(), "[store] endpoints must be an array of 1..16 \"HOST:PORT\" strings");
      for (const toml::node &e : *arr) {
        const auto *sv = e.as_string();
        const std::string v = sv ? sv->get() : std::string();
        const size_t colon = v.rfind(':');
        if (!sv || colon == std::string::npos || colon == 0 || colon + 1 == v.size() ||
            v.find_first_not_of("0123456789", colon + 1) != std::string::npos || v.size() - colon - 1 > 5 ||
            std::stoul(v.substr(colon + 1)) > 65535)
          c.fail(e.source(), "[store] endpoints: each must be \"HOST:PORT\", got " + (sv ? "\"" + v + "\"" : "a non-string"));
        st.endpoints.push_back(v);
      }
      if (auto v = c.str(*t, "store", "prefix")) st.prefix = *v;
      if (auto v = c.uint(*t, "store", "timeout_ms", 50, 60000)) st.timeout_ms = *v;
    }
  }
  if (const toml::table *t = c.table(root, "mesh")) {
    c.only(*t, "[mesh]", {"node_id", "lease_ttl_s"});
    if (cfg.store.kind != StoreConfig::Kind::etcd)
      c.fail(t->source(), "[mesh] needs the shared ledger: [store] kind = \"etcd\"");
    MeshConfig m;
    const auto id = c.str(*t, "mesh", "node_id");
    if (!id) c.fail(t->source(), "[mesh] needs node_id");
    if (id->size() > 32 || id->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
                               std::string::npos)
      c.fail(t->get("node_id")->source(), "[mesh] node_id must be 1..32 characters of A-Z a-z 0-9 _ . -");
    m.node_id = *id;
    if (auto v = c.uint(*t, "mesh", "lease_ttl_s", 1, 60)) m.lease_ttl_s = static_cast<uint32_t>(*v);
    cfg.mesh = m;
  }
  const bool sqlite = cfg.store.kind == StoreConfig::Kind::sqlite;
  const auto db = c.str(*node, "node", "db");
  if (!db && sqlite) c.fail(node->source(), "missing required key 'db' in [node]");
  if (db && !sqlite) c.fail(node->get("db")->source(), "[node] db is the SQLite file: not with [store] kind = \"etcd\"");
  if (!sqlite && !node->contains("key"))
    c.fail(node->source(), "[node] needs key (the node key file) with [store] kind = \"etcd\"");
  if (db) cfg.db = Checker::resolve(*db, base_dir);
  const toml::node *seed = node->get("seed");
  if (!seed) c.fail(node->source(), "missing required key 'seed' in [node]");
  if (!seed->is_integer() || seed->as_integer()->get() < 0)
    c.fail(seed->source(), "[node] seed must be a non-negative integer");
  cfg.seed = static_cast<uint64_t>(seed->as_integer()->get());
  if (auto ev = c.str(*node, "node", "events")) cfg.events = Checker::resolve(*ev, base_dir);
  if (auto key = c.str(*node, "node", "key")) cfg.key = Checker::resolve(*key, base_dir);
  else if (cfg.db != ":memory:") cfg.key = cfg.db + ".key";

  if (const toml::table *t = c.table(root, "http")) {
    cfg.http = c.listen(*t, "http", base_dir);
    HttpLimits &h = cfg.http_limits;
    if (auto v = c.uint(*t, "http", "max_connections", 1, 65536)) h.max_connections = *v;
    if (auto v = c.uint(*t, "http", "header_timeout_ms", 1, kMaxMs)) h.header_timeout_ms = *v;
    if (auto v = c.uint(*t, "http", "body_timeout_ms", 1, kMaxMs)) h.body_timeout_ms = *v;
    if (auto v = c.uint(*t, "http", "max_header_bytes", 1024, 1 << 20)) h.max_header_bytes = *v;
    if (auto v = c.uint(*t, "http", "max_body_bytes", 1024, max_batch_body)) h.max_body_bytes = *v;
    if (auto v = c.uint(*t, "http", "max_json_depth", 3, 1000)) h.max_json_depth = *v;
  }
  if (const toml::table *t = c.table(root, "udp")) {
    cfg.udp = c.listen(*t, "udp", base_dir);
    if (auto v = c.uint(*t, "udp", "max_peers", 1, 1'000'000)) cfg.udp_limits.max_peers = *v;
    if (auto v = c.uint(*t, "udp", "peer_idle_ms", 1, kMaxMs)) cfg.udp_limits.peer_idle_ms = *v;
  }
  if (const toml::table *t = c.table(root, "tcp")) cfg.tcp = c.listen(*t, "tcp", base_dir);

  if (const toml::node *s = root.get("serial")) {
    const toml::array *arr = s->as_array();
    if (!arr || !arr->is_array_of_tables()) c.fail(s->source(), "serial must be an array of tables [[serial]]");
    for (const toml::node &e : *arr) {
      const toml::table &t = *e.as_table();
      c.only(t, "[[serial]]", {"path", "baud"});
      SerialConfig sc;
      const auto path = c.str(t, "serial", "path");
      if (!path) c.fail(t.source(), "[[serial]] needs path");
      sc.path = *path;
      if (auto baud = c.uint(t, "serial", "baud", 50, 4'000'000)) sc.baud = static_cast<uint32_t>(*baud);
      cfg.serial.push_back(sc);
    }
  }

  if (const toml::table *t = c.table(root, "consensus")) {
    c.only(*t, "[consensus]",
           {"witnesses", "block_interval_ms", "max_txs_per_block", "assignment_timeout_ms", "witness_timeout_ms",
            "device_timeout_ms", "policy", "threshold", "selection", "diversity", "vrf_suite", "claim_window_ms",
            "max_heartbeats_per_s"});
    ConsensusConfig &k = cfg.consensus;
    if (auto v = c.uint(*t, "consensus", "witnesses", 1, 64)) k.witnesses = static_cast<uint32_t>(*v);
    if (auto v = c.uint(*t, "consensus", "block_interval_ms", 0, kMaxMs)) k.block_interval_ms = *v;
    if (auto v = c.uint(*t, "consensus", "max_txs_per_block", 1, 10000)) k.max_txs_per_block = static_cast<uint32_t>(*v);
    if (auto v = c.uint(*t, "consensus", "assignment_timeout_ms", 1, kMaxMs)) k.assignment_timeout_ms = *v;
    if (auto v = c.uint(*t, "consensus", "witness_timeout_ms", 1, kMaxMs)) k.witness_timeout_ms = *v;
    // device_timeout_ms = 5 heartbeat intervals (the interval goes out in Welcome): at least 500 ms, so the
    // interval is at least 100 ms (docs/protocol.md §6 "Liveness").
    if (auto v = c.uint(*t, "consensus", "device_timeout_ms", 500, kMaxMs)) k.device_timeout_ms = *v;
    if (auto v = c.uint(*t, "consensus", "max_heartbeats_per_s", 0, 10'000'000))
      k.max_heartbeats_per_s = static_cast<uint32_t>(*v);
    if (auto v = c.str(*t, "consensus", "policy")) {
      if (*v != "strict" && *v != "threshold")
        c.fail(t->get("policy")->source(), "[consensus] policy must be \"strict\" or \"threshold\"");
      k.policy = *v == "strict" ? WitnessPolicy::strict : WitnessPolicy::threshold;
    }
    if (auto v = c.uint(*t, "consensus", "threshold", 1, k.witnesses)) {
      if (k.policy != WitnessPolicy::threshold)
        c.fail(t->get("threshold")->source(), "[consensus] threshold needs policy = \"threshold\"");
      k.threshold = static_cast<uint32_t>(*v);
    }
    if (auto v = c.str(*t, "consensus", "selection")) {
      if (*v != "uniform" && *v != "reputation" && *v != "vrf")
        c.fail(t->get("selection")->source(),
               "[consensus] selection must be \"uniform\", \"reputation\" or \"vrf\"");
      k.selection = *v == "uniform" ? Selection::uniform : *v == "reputation" ? Selection::reputation : Selection::vrf;
    }
    if (auto v = c.str(*t, "consensus", "vrf_suite")) {
      if (*v != "tai" && *v != "ell2")
        c.fail(t->get("vrf_suite")->source(), "[consensus] vrf_suite must be \"tai\" or \"ell2\"");
      if (k.selection != Selection::vrf)
        c.fail(t->get("vrf_suite")->source(), "[consensus] vrf_suite needs selection = \"vrf\"");
      k.vrf_suite = *v == "tai" ? VrfSuite::tai : VrfSuite::ell2;
    }
    if (auto v = c.uint(*t, "consensus", "claim_window_ms", 1, 60000)) {
      if (k.selection != Selection::vrf)
        c.fail(t->get("claim_window_ms")->source(), "[consensus] claim_window_ms needs selection = \"vrf\"");
      k.claim_window_ms = *v;
    }
    if (const toml::node *n = t->get("diversity")) {
      if (!n->is_boolean()) c.fail(n->source(), "[consensus] diversity must be true or false");
      k.diversity = n->as_boolean()->get();
    }
  }

  if (const toml::table *t = c.table(root, "rewards")) {
    c.only(*t, "[rewards]", {"miner", "witness", "usage"});
    constexpr uint64_t kMaxReward = 1ull << 40;  // base units; keeps any sum of credits far from overflow
    RewardsConfig &r = cfg.consensus.rewards;
    if (auto v = c.uint(*t, "rewards", "miner", 0, kMaxReward)) r.miner = *v;
    if (auto v = c.uint(*t, "rewards", "witness", 0, kMaxReward)) r.witness = *v;
    if (auto v = c.uint(*t, "rewards", "usage", 0, kMaxReward)) r.usage = *v;
  }

  if (const toml::table *t = c.table(root, "registration")) {
    c.only(*t, "[registration]", {"max_devices", "max_in_progress", "per_source_per_s", "per_source_burst"});
    AdmissionConfig &a = cfg.admission;
    if (auto v = c.uint(*t, "registration", "max_devices", 1, 100'000'000)) a.max_devices = *v;
    if (auto v = c.uint(*t, "registration", "max_in_progress", 1, 1'000'000)) a.max_in_progress = *v;
    if (auto v = c.uint(*t, "registration", "per_source_per_s", 1, 1'000'000)) a.per_source_per_s = static_cast<uint32_t>(*v);
    if (auto v = c.uint(*t, "registration", "per_source_burst", 1, 1'000'000)) a.per_source_burst = static_cast<uint32_t>(*v);
  }

  if (const toml::node *s = root.get("device_tags")) {
    const toml::array *arr = s->as_array();
    if (!arr || !arr->is_array_of_tables()) c.fail(s->source(), "device_tags must be an array of tables [[device_tags]]");
    for (const toml::node &e : *arr) {
      const toml::table &t = *e.as_table();
      c.only(t, "[[device_tags]]", {"name", "manufacturer", "model", "location"});
      DeviceTagRule rule;
      const auto name = c.str(t, "device_tags", "name");
      if (!name) c.fail(t.source(), "[[device_tags]] needs name = \"<glob>\" (e.g. \"esp-0*\")");
      rule.pattern = *name;
      rule.manufacturer = c.str(t, "device_tags", "manufacturer").value_or("");
      rule.model = c.str(t, "device_tags", "model").value_or("");
      rule.location = c.str(t, "device_tags", "location").value_or("");
      cfg.consensus.device_tags.push_back(std::move(rule));
    }
  }
  return cfg;
}

NodeConfig load_config(const std::string &path) {
  std::string text;
  try {
    text = cli::read_file(path);
  } catch (const std::system_error &e) {
    throw ConfigError(fmt::format("{}: cannot read the config file: {}", path, e.code().message()));
  }
  return parse_config(text, path, std::filesystem::path(path).parent_path().string());
}

}  // namespace iotw::tn
