// Rig file loader: every key of docs/rig-format.md, checked for name, type and range; errors carry
// FILE:LINE:COL and the allowed values.
#include "iotw/harness/rig_loader.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <sstream>
#include <toml++/toml.h>
#include "iotw/cli/read_file.hpp"
#include "iotw/harness/fault_registry.hpp"
#include "iotw/harness/score_registry.hpp"
#include "common/device_behaviour.hpp"  // emulators/: the device behaviours a rig may name
#include "common/ram_budget.hpp"  // emulators/: the firmware's static RAM against the chip budget
#include "qemu/qemu_model.hpp"  // emulators/: the qemu-cortex-m3 model

namespace iotw::harness {
namespace {

using Names = std::initializer_list<std::string_view>;

constexpr std::string_view kBaselineKey = "baseline_blocks_per_min";

template <class Range>
std::string join(const Range& names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

std::string_view type_name(const toml::node& v) {
  switch (v.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    default: return "a date/time";
  }
}

/// Validation context: the file name for messages, and typed getters that throw RigError.
class Reader {
 public:
  Reader(std::string file, bool open_ended_faults) : file_(std::move(file)), open_ended_faults_(open_ended_faults) {}

  /// A fault that must heal may lack duration_s (parse_rig's open_ended_faults).
  bool open_ended_faults() const { return open_ended_faults_; }

  [[noreturn]] void fail(const toml::source_region& at, const std::string& msg) const {
    fail_at(at.begin.line, at.begin.column, msg);
  }
  [[noreturn]] void fail_at(std::uint32_t line, std::uint32_t col, const std::string& msg) const {
    throw RigError(fmt::format("{}:{}:{}: {}", file_, std::max<std::uint32_t>(line, 1),
                               std::max<std::uint32_t>(col, 1), msg));
  }

  void check_keys(const toml::table& t, std::string_view where, const std::vector<std::string_view>& allowed) const {
    for (auto&& [k, v] : t) {
      (void)v;
      if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end())
        fail(k.source(), fmt::format("unknown key '{}' in {}; allowed: {}", k.str(), where, join(allowed)));
    }
  }

  /// Integer in lo..hi; returns `def` when absent.
  std::int64_t integer(const toml::table& t, std::string_view where, std::string_view key, std::int64_t lo,
                       std::int64_t hi, std::int64_t def) const {
    const toml::node* v = t.get(key);
    if (!v) return def;
    if (!v->is_integer())
      fail(v->source(), fmt::format("'{}' in {} must be an integer in {}..{}, got {}", key, where, lo, hi,
                                    type_name(*v)));
    std::int64_t x = v->as_integer()->get();
    if (x < lo || x > hi)
      fail(v->source(), fmt::format("'{}' in {} is {}; allowed range {}..{}", key, where, x, lo, hi));
    return x;
  }

  /// Integer or float in lo..hi; returns `def` when absent.
  double number(const toml::table& t, std::string_view where, std::string_view key, double lo, double hi,
                double def) const {
    const toml::node* v = t.get(key);
    if (!v) return def;
    if (!v->is_number())
      fail(v->source(), fmt::format("'{}' in {} must be a number in {}..{}, got {}", key, where, lo, hi,
                                    type_name(*v)));
    double x = v->is_integer() ? static_cast<double>(v->as_integer()->get()) : v->as_floating_point()->get();
    if (!(x >= lo && x <= hi))
      fail(v->source(), fmt::format("'{}' in {} is {}; allowed range {}..{}", key, where, x, lo, hi));
    return x;
  }

  bool boolean(const toml::node& v, std::string_view where, std::string_view key) const {
    if (!v.is_boolean())
      fail(v.source(), fmt::format("'{}' in {} must be true or false, got {}", key, where, type_name(v)));
    return v.as_boolean()->get();
  }

  /// Non-empty string; returns `def` when absent.
  std::string string(const toml::table& t, std::string_view where, std::string_view key,
                     const std::string& def) const {
    const toml::node* v = t.get(key);
    if (!v) return def;
    if (!v->is_string())
      fail(v->source(), fmt::format("'{}' in {} must be a string, got {}", key, where, type_name(*v)));
    return v->as_string()->get();
  }

  /// One of `allowed`; returns `def` when absent.
  std::string choice(const toml::table& t, std::string_view where, std::string_view key,
                     const std::vector<std::string_view>& allowed, const std::string& def) const {
    std::string s = string(t, where, key, def);
    if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
      fail(t.get(key)->source(), fmt::format("unknown {} '{}' in {}; allowed: {}", key, s, where, join(allowed)));
    return s;
  }

  const toml::table* table(const toml::table& root, std::string_view name) const {
    const toml::node* v = root.get(name);
    if (!v) return nullptr;
    if (!v->is_table()) fail(v->source(), fmt::format("'{}' must be a table [{}]", name, name));
    return v->as_table();
  }

 private:
  std::string file_;
  bool open_ended_faults_ = false;
};

void read_rig(const Reader& r, const toml::table& root, RigSpec& spec) {
  const toml::table* t = r.table(root, "rig");
  if (!t) r.fail_at(1, 1, "missing required table [rig] (with at least: name = \"...\")");
  const char* where = "[rig]";
  r.check_keys(*t, where, {"name", "description", "seed", "deadline_s", "monte_carlo"});
  spec.name = r.string(*t, where, "name", "");
  if (spec.name.empty()) r.fail(t->source(), "missing required key 'name' in [rig] (a non-empty string)");
  spec.description = r.string(*t, where, "description", "");
  if (t->contains("seed"))
    spec.seed = static_cast<std::uint64_t>(
        r.integer(*t, where, "seed", 0, std::numeric_limits<std::int64_t>::max(), 0));
  spec.deadline_s = r.number(*t, where, "deadline_s", 1, 86400, spec.deadline_s);
  if (const toml::node* mc = t->get("monte_carlo")) spec.monte_carlo = r.boolean(*mc, where, "monte_carlo");
}

void read_trust_node(const Reader& r, const toml::table& root, TrustNodeSpec& n) {
  const toml::table* t = r.table(root, "trust_node");
  if (!t) return;
  const char* w = "[trust_node]";
  r.check_keys(*t, w,
               {"witnesses", "block_interval_ms", "max_txs_per_block", "assignment_timeout_ms",
                "witness_timeout_ms", "device_timeout_ms", "selection", "vrf_suite"});
  n.selection = r.choice(*t, w, "selection", {"uniform", "reputation", "vrf"}, n.selection);
  n.vrf_suite = r.choice(*t, w, "vrf_suite", {"tai", "ell2"}, n.vrf_suite);
  n.witnesses = static_cast<int>(r.integer(*t, w, "witnesses", 1, 64, n.witnesses));
  n.block_interval_ms = static_cast<int>(r.integer(*t, w, "block_interval_ms", 0, 60000, n.block_interval_ms));
  n.max_txs_per_block = static_cast<int>(r.integer(*t, w, "max_txs_per_block", 1, 10000, n.max_txs_per_block));
  n.assignment_timeout_ms =
      static_cast<int>(r.integer(*t, w, "assignment_timeout_ms", 10, 600000, n.assignment_timeout_ms));
  n.witness_timeout_ms =
      static_cast<int>(r.integer(*t, w, "witness_timeout_ms", 10, 600000, n.witness_timeout_ms));
  n.device_timeout_ms =
      static_cast<int>(r.integer(*t, w, "device_timeout_ms", 500, 600000, n.device_timeout_ms));
}

/// [mesh]: trust_nodes and etcd_members (both required, 1..7), lease_ttl_s (1..60, default 2).
void read_mesh(const Reader& r, const toml::table& root, RigSpec& spec) {
  const toml::table* t = r.table(root, "mesh");
  if (!t) return;
  const char* w = "[mesh]";
  r.check_keys(*t, w, {"trust_nodes", "etcd_members", "lease_ttl_s"});
  MeshSpec m;
  m.line = static_cast<int>(t->source().begin.line);
  for (std::string_view key : {"trust_nodes", "etcd_members"})
    if (!t->contains(key))
      r.fail(t->source(), fmt::format("missing required key '{}' in {} (an integer in 1..7)", key, w));
  m.trust_nodes = static_cast<int>(r.integer(*t, w, "trust_nodes", 1, 7, m.trust_nodes));
  m.etcd_members = static_cast<int>(r.integer(*t, w, "etcd_members", 1, 7, m.etcd_members));
  m.lease_ttl_s = static_cast<int>(r.integer(*t, w, "lease_ttl_s", 1, 60, m.lease_ttl_s));
  spec.mesh = m;
}

/// Checks "A.B.C.D/P": host bits zero, P in lo..hi; otherwise calls `fail` (which throws) with the reason.
template <class Fail>
void check_subnet(const std::string& text, std::string_view where, unsigned lo, unsigned hi, Fail fail) {
  unsigned a = 0, b = 0, c = 0, d = 0, p = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%3u.%3u.%3u.%3u/%2u%c", &a, &b, &c, &d, &p, &tail) != 5 || a > 255 || b > 255 ||
      c > 255 || d > 255)
    return fail(fmt::format("subnet '{}' in {} must be an IPv4 network \"A.B.C.D/P\"", text, where));
  if (p < lo || p > hi)
    return fail(fmt::format("subnet '{}' in {}: prefix /{}; allowed {}..{}", text, where, p, lo, hi));
  const std::uint32_t addr = a << 24 | b << 16 | c << 8 | d, host_mask = (std::uint32_t{1} << (32 - p)) - 1;
  if (addr & host_mask)
    fail(fmt::format("subnet '{}' in {} has host bits set; the network is {}.{}.{}.{}/{}", text, where,
                     (addr & ~host_mask) >> 24, (addr & ~host_mask) >> 16 & 255, (addr & ~host_mask) >> 8 & 255,
                     addr & ~host_mask & 255, p));
}

/// [hosts]: names (exactly two), trust_node (one of them, default the first), latency_ms, jitter_ms, subnet.
void read_hosts(const Reader& r, const toml::table& root, RigSpec& spec) {
  const toml::table* t = r.table(root, "hosts");
  if (!t) return;
  const char* w = "[hosts]";
  r.check_keys(*t, w, {"names", "trust_node", "latency_ms", "jitter_ms", "subnet"});
  HostsSpec h;
  h.line = static_cast<int>(t->source().begin.line);
  const toml::node* names = t->get("names");
  if (!names) r.fail(t->source(), "missing required key 'names' in [hosts] (an array of two host names)");
  const toml::array* list = names->as_array();
  if (!list || list->size() != 2)
    r.fail(names->source(), "'names' in [hosts] must be an array of exactly two host names (one host link joins them)");
  for (const toml::node& n : *list) {
    const std::string name = n.is_string() ? n.as_string()->get() : std::string();
    if (name.empty() || name.size() > 12 || !std::all_of(name.begin(), name.end(), [](unsigned char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        }))
      r.fail(n.source(), "a host name in [hosts] must be 1..12 characters of a-z 0-9 -");
    if (!h.names.empty() && h.names[0] == name) r.fail(n.source(), fmt::format("host '{}' in [hosts] is named twice", name));
    h.names.push_back(name);
  }
  h.trust_node = r.string(*t, w, "trust_node", h.names[0]);
  if (std::find(h.names.begin(), h.names.end(), h.trust_node) == h.names.end())
    r.fail(t->get("trust_node")->source(), fmt::format("unknown host '{}' for 'trust_node' in [hosts]; the rig's hosts: "
                                                       "{}", h.trust_node, fmt::join(h.names, ", ")));
  h.latency_ms = static_cast<int>(r.integer(*t, w, "latency_ms", 0, 10000, 0));
  h.jitter_ms = static_cast<int>(r.integer(*t, w, "jitter_ms", 0, 10000, 0));
  h.subnet = r.string(*t, w, "subnet", h.subnet);
  check_subnet(h.subnet, w, 8, 30, [&](const std::string& msg) { r.fail(t->get("subnet")->source(), msg); });
  if (spec.mesh)
    r.fail(t->source(), fmt::format("[hosts] and [mesh] (line {}) do not combine: a mesh's trust nodes run on one host",
                                    spec.mesh->line));
  spec.hosts = std::move(h);
}

/// A device group's `host` ([hosts] rigs): a host of [hosts]; off the trust node's host only link = "at" modules on
/// UDP (their datagrams cross the host link).
void read_device_host(const Reader& r, const toml::table& t, DeviceGroup& g, const RigSpec& spec) {
  const toml::node* v = t.get("host");
  if (!v) return;
  const char* w = "[[devices]]";
  if (!spec.hosts)
    r.fail(v->source(), fmt::format("'host' in {} needs a [hosts] table naming the rig's hosts", w));
  g.host = r.string(t, w, "host", "");
  const auto& names = spec.hosts->names;
  if (std::find(names.begin(), names.end(), g.host) == names.end())
    r.fail(v->source(), fmt::format("unknown host '{}' in {}; the rig's hosts: {}", g.host, w, fmt::join(names, ", ")));
  if (g.external)
    r.fail(v->source(), fmt::format("'host' in {} does not apply to an external device (it is where it is)", w));
  if (g.host != spec.hosts->trust_node && g.link_kind() != LinkKind::AtUdp)
    r.fail(v->source(), fmt::format("host '{}' in {} is not the trust node's host ('{}'): only link = \"at\" modules "
                                    "on UDP reach the trust node across the host link (this group: link '{}'{})",
                                    g.host, w, spec.hosts->trust_node, g.link,
                                    link_kind_info(g.link_kind()).at_module ? ", at_transport '" + g.at_transport + "'" : std::string()));
}

/// A [hosts] rig runs inside network namespaces of its own: an external device on UDP or TCP would listen where
/// nothing outside can reach it (an external serial device is a file, and fine).
void check_hosts_external(const Reader& r, const RigSpec& spec) {
  if (!spec.hosts) return;
  for (const DeviceGroup& g : spec.devices)
    if (g.external && g.external->port.kind != DeviceSpec::Kind::Serial)
      r.fail_at(static_cast<std::uint32_t>(g.line), 1,
                fmt::format("external = \"{}\" in [[devices]] does not combine with [hosts] (line {}): the harness "
                            "would listen inside the trust node's host, a network namespace nothing outside reaches",
                            g.external->text, spec.hosts->line));
}

/// A [mesh] rig runs emulated PTY devices only: each device gets one PTY link per trust node and moves between them.
void check_mesh_device(const Reader& r, const toml::table& t, const DeviceGroup& g, const RigSpec& spec) {
  if (!spec.mesh) return;
  const auto refuse = [&](std::string_view key, const std::string& what) {
    const toml::node* n = t.get(key);
    r.fail(n ? n->source() : t.source(),
           fmt::format("{} in [[devices]]: a [mesh] rig (line {}) runs only emulated devices with link = \"pty\" (one "
                       "PTY link per trust node; the device moves to the next node's link on failover)",
                       what, spec.mesh->line));
  };
  if (g.external) refuse("external", fmt::format("external device '{}'", g.name_prefix));
  if (g.link_kind() != LinkKind::Pty) refuse("link", fmt::format("link '{}'", g.link));
  if (iotw::emu::is_qemu_model(g.model))
    refuse("model", fmt::format("model '{}' (its UART0 is one PTY link)", g.model));
}

bool valid_prefix(const std::string& p) {
  return !p.empty() && p.size() <= 24 && std::all_of(p.begin(), p.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

/// usage_period_ms, load_ohm and power: only on the models that have a power rail (dps, bulb).
void read_powered(const Reader& r, const toml::table& t, DeviceGroup& g) {
  const char* w = "[[devices]]";
  const bool dps = g.model == "dps", bulb = g.model == "bulb";
  for (auto [key, applies] : {std::pair{"usage_period_ms", dps || bulb}, {"load_ohm", dps}, {"power", dps || bulb}})
    if (!applies && t.contains(key))
      r.fail(t.get(key)->source(), fmt::format("'{}' does not apply to model '{}'; it is for model {}", key, g.model,
                                               std::string_view(key) == "load_ohm" ? "dps" : "dps or bulb"));
  PoweredSettings& p = g.powered;
  if (t.contains("usage_period_ms"))
    p.usage_period_ms = static_cast<int>(r.integer(t, w, "usage_period_ms", 100, 86'400'000, 0));
  if (t.contains("load_ohm")) p.load_ohm = r.number(t, w, "load_ohm", 0.1, 6553.5, 0);
  const toml::node* v = t.get("power");
  if (!v) return;
  const toml::array* steps = v->as_array();
  if (!steps || steps->empty())
    r.fail(v->source(), "'power' in [[devices]] must be a non-empty array of tables { at_ms, vin, ramp_v_per_s }");
  int prev = 0;
  for (const toml::node& sn : *steps) {
    const toml::table* st = sn.as_table();
    if (!st) r.fail(sn.source(), "'power' entries must be inline tables { at_ms, vin, ramp_v_per_s }");
    const char* ws = "a 'power' step";
    r.check_keys(*st, ws, {"at_ms", "vin", "ramp_v_per_s"});
    if (!st->contains("at_ms") || !st->contains("vin"))
      r.fail(st->source(), "a 'power' step needs at_ms and vin (ramp_v_per_s is optional)");
    PowerStep s;
    s.at_ms = static_cast<int>(r.integer(*st, ws, "at_ms", 0, 86'400'000, 0));
    s.vin = r.number(*st, ws, "vin", 0, 60, 0);
    s.ramp_v_per_s = r.number(*st, ws, "ramp_v_per_s", 0, 1e6, 0);
    if (s.at_ms < prev) r.fail(st->source(), fmt::format("'power' steps must be in at_ms order ({} < {})", s.at_ms, prev));
    prev = s.at_ms;
    p.power.push_back(s);
  }
}

/// An external device's group (docs/rig-format.md "External devices"): `external`, `name`, `model` (a label),
/// `behaviour` (what the scores assume), `listen` (udp, tcp), `attach_timeout_s`; no emulator keys.
void read_external(const Reader& r, const toml::table& t, DeviceGroup& g) {
  const char* w = "[[devices]]";
  for (std::string_view k : {"name_prefix", "count", "link", "at_transport", "usage_period_ms", "load_ohm", "power",
                             "ram_budget_kib", "seed"})
    if (const toml::node* n = t.get(k))
      r.fail(n->source(), fmt::format("'{}' in {} does not apply to an external device (the harness does not run it; "
                                      "an external group is one device named by 'name')", k, w));
  ExternalDevice ext;
  ext.text = r.string(t, w, "external", "");
  const toml::node* at = t.get("external");
  if (ext.text == "udp" || ext.text == "tcp") {
    ext.port.kind = ext.text == "udp" ? DeviceSpec::Kind::Udp : DeviceSpec::Kind::Tcp;
    const std::string listen = r.string(t, w, "listen", "127.0.0.1:0");
    try {
      parse_host_port(listen, ext.port);
    } catch (const std::invalid_argument& e) {
      r.fail(t.get("listen")->source(), fmt::format("'listen' in {}: {}", w, e.what()));
    }
  } else if (ext.text.rfind("serial:", 0) == 0) {
    if (const toml::node* n = t.get("listen"))
      r.fail(n->source(), fmt::format("'listen' in {} applies only to external = \"udp\" or \"tcp\" (a serial device "
                                      "is on its port)", w));
    try {
      ext.port = parse_device_spec(ext.text);
    } catch (const std::invalid_argument& e) {
      r.fail(at->source(), fmt::format("'external' in {}: {}", w, e.what()));
    }
  } else {
    r.fail(at->source(), fmt::format("'external' in {} is '{}'; allowed: \"serial:PATH[,baud=N][,parity=..][,flow=..]"
                                     "[,reset=..]\", \"udp\", \"tcp\"", w, ext.text));
  }
  ext.attach_timeout_s = r.number(t, w, "attach_timeout_s", 1, 86400, ext.attach_timeout_s);
  if (!t.contains("name"))
    r.fail(t.source(), fmt::format("an external device in {} needs 'name': the name it announces in its Hello", w));
  g.name_prefix = r.string(t, w, "name", "");
  const std::string& n = g.name_prefix;  // Hello's name holds 32 bytes at most
  if (n.size() > 32 || !valid_prefix(n.substr(0, 24)) || (n.size() > 24 && !valid_prefix(n.substr(24))))
    r.fail(t.get("name")->source(),
           fmt::format("name '{}' must be 1..32 characters of A-Z a-z 0-9 _ -", g.name_prefix));
  g.model = r.choice(t, w, "model", {"external", "esp8266", "esp32", "dps", "bulb", "rtl8710", "rtl8195"}, "external");
  g.behaviour = r.string(t, w, "behaviour", g.behaviour);  // what the scores assume; the harness cannot set it
  if (const auto& all = iotw::emu::device_behaviours(); std::find(all.begin(), all.end(), g.behaviour) == all.end())
    r.fail(t.get("behaviour")->source(), fmt::format("unknown behaviour '{}' in {}; allowed: {}", g.behaviour, w,
                                                     fmt::join(all, ", ")));
  g.link = "external";
  g.count = 1;
  g.external = std::move(ext);
}

void read_devices(const Reader& r, const toml::table& root, RigSpec& spec) {
  const toml::node* v = root.get("devices");
  if (!v) r.fail_at(1, 1, "missing [[devices]]: a rig needs at least one device group");
  if (!v->is_array_of_tables() || v->as_array()->empty())
    r.fail(v->source(), "'devices' must be an array of tables: one [[devices]] per group");
  std::map<std::string, int> prefix_line;
  for (const toml::node& el : *v->as_array()) {
    const toml::table& t = *el.as_table();
    const char* w = "[[devices]]";
    r.check_keys(t, w, {"name_prefix", "model", "link", "behaviour", "count", "usage_period_ms", "load_ohm", "power",
                        "ram_budget_kib", "at_transport", "external", "name", "listen", "attach_timeout_s", "seed",
                        "host"});
    DeviceGroup g;
    g.line = static_cast<int>(t.source().begin.line);
    if (t.contains("external")) {
      read_external(r, t, g);
    } else {
      for (std::string_view k : {"name", "listen", "attach_timeout_s"})
        if (const toml::node* n = t.get(k))
          r.fail(n->source(), fmt::format("'{}' in {} applies only to an external device (external = \"serial:PATH\", "
                                          "\"udp\" or \"tcp\")", k, w));
    }
    if (g.external) {
      read_device_host(r, t, g, spec);
      check_mesh_device(r, t, g, spec);
      auto [it, fresh] = prefix_line.emplace(g.name_prefix, g.line);
      if (!fresh)
        r.fail(t.get("name")->source(), fmt::format("name '{}' is already used by the [[devices]] group at line {}; "
                                                    "device names must be unique across groups", g.name_prefix, it->second));
      spec.devices.push_back(std::move(g));
      continue;
    }
    g.name_prefix = r.string(t, w, "name_prefix", g.name_prefix);
    if (!valid_prefix(g.name_prefix))
      r.fail(t.get("name_prefix")->source(),
             fmt::format("name_prefix '{}' must be 1..24 characters of A-Z a-z 0-9 _ -", g.name_prefix));
    g.model = r.choice(t, w, "model", {"esp8266", "esp32", "dps", "bulb", "rtl8710", "rtl8195",
                                       iotw::emu::kQemuCortexM3Model}, g.model);
    read_powered(r, t, g);
    g.link = r.choice(t, w, "link", {"pty", "at", "tap"}, g.link);
    // qemu-cortex-m3: the firmware's Cortex-M3 image in qemu-system-arm, its UART0 on a PTY link (docs/emulators.md
    // "QEMU Cortex-M devices"); the image runs as built (honest), its RAM is the cross build's measured figure.
    if (iotw::emu::is_qemu_model(g.model)) {
      if (g.link != "pty")
        r.fail(t.get("link")->source(), fmt::format("link '{}' in {}: model '{}' runs on a PTY link only (its UART0)",
                                                    g.link, w, g.model));
      if (const toml::node* n = t.get("behaviour"); n && !(n->is_string() && n->as_string()->get() == "honest"))
        r.fail(n->source(), fmt::format("'behaviour' in {}: model '{}' runs the firmware image as built; only "
                                        "\"honest\"", w, g.model));
      if (const toml::node* n = t.get("ram_budget_kib"))
        r.fail(n->source(), fmt::format("'ram_budget_kib' in {} does not apply to model '{}' (the image's static RAM "
                                        "is measured by the cross build: scripts/cross-build.sh)", w, g.model));
    }
    // link = "at": an appliance MCU drives the model's Wi-Fi module in AT mode; the module reaches the trust
    // node over UDP on loopback (docs/rig-format.md). Realtek modules exist only in AT mode here.
    // link = "tap": SoC mode over TAP, the module's own lwIP stack on a TAP interface in the run's namespace.
    if (g.link != "pty" && (g.model == "dps" || g.model == "bulb"))
      r.fail(t.get("link")->source(), fmt::format("link '{}' in {} needs a Wi-Fi module model (esp8266, esp32, "
                                                  "rtl8710, rtl8195), not '{}'", g.link, w, g.model));
    if (g.link == "pty" && (g.model == "rtl8710" || g.model == "rtl8195"))
      r.fail(t.get("model")->source(), fmt::format("model '{}' in {} runs only in AT mode or over TAP: add link = \"at\" "
                                                   "or link = \"tap\"", g.model, w));
    if (const toml::node* at = t.get("at_transport")) {  // the AT module's link: UDP (default) or TCP
      if (g.link != "at")
        r.fail(at->source(), fmt::format("'at_transport' in {} applies only to link = \"at\" (this group's link is "
                                         "'{}')", w, g.link));
      g.at_transport = r.choice(t, w, "at_transport", {"udp", "tcp"}, g.at_transport);
    }
    // The devices' randomness: "rig" (default), their seed derived from the rig seed and the name; or the OS's.
    g.seed_from_os = r.choice(t, w, "seed", {"rig", "os"}, "rig") == "os";
    if (g.seed_from_os && iotw::emu::is_qemu_model(g.model))
      r.fail(t.get("seed")->source(), fmt::format("seed \"os\" in {}: model '{}' has no randomness but its seed (the "
                                                 "image's DRBG); only \"rig\"", w, g.model));
    g.behaviour = r.string(t, w, "behaviour", g.behaviour);  // the emulator's registry (device_behaviour.hpp)
    if (const auto& all = iotw::emu::device_behaviours(); std::find(all.begin(), all.end(), g.behaviour) == all.end())
      r.fail(t.get("behaviour")->source(), fmt::format("unknown behaviour '{}' in {}; allowed: {}", g.behaviour, w,
                                                       fmt::join(all, ", ")));
    g.count = static_cast<int>(r.integer(t, w, "count", 1, 256, g.count));
    // The firmware's static RAM against the chip's budget (emulators/common/ram_budget.hpp), as iotw-emu checks it
    // at start: refused here already, so `iotw rig check` says so. ram_budget_kib is a what-if knob.
    if (const toml::node* rb = t.get("ram_budget_kib")) {
      if (link_kind_info(g.link_kind()).at_module)
        r.fail(rb->source(), fmt::format("'ram_budget_kib' in {} does not apply to link 'at' (the firmware runs on the "
                                         "appliance MCU, not on the module)", w));
      g.ram_budget_kib = static_cast<int>(r.integer(t, w, "ram_budget_kib", 1, 65536, 0));
    }
    if (const auto c = iotw::emu::is_qemu_model(g.model)
                           ? iotw::emu::RamCheck{}
                           : iotw::emu::check_ram_budget(fmt::format("{}-01", g.name_prefix), g.model,
                                                         link_kind_info(g.link_kind()).at_module ? "at" : "soc",
                                                         static_cast<std::uint32_t>(g.ram_budget_kib));
        !c.fits)
      r.fail(t.contains("ram_budget_kib") ? t.get("ram_budget_kib")->source() : t.source(), c.message);
    check_mesh_device(r, t, g, spec);
    read_device_host(r, t, g, spec);
    auto [it, fresh] = prefix_line.emplace(g.name_prefix, g.line);
    if (!fresh)
      r.fail(t.source(), fmt::format("name_prefix '{}' is already used by the [[devices]] group at line {}; "
                                     "device names must be unique across groups",
                                     g.name_prefix, it->second));
    spec.devices.push_back(std::move(g));
  }
  // An external device's name must not be one an emulated group expands to (e.g. name = "esp-01").
  std::map<std::string, int> name_line;
  for (const DeviceGroup& g : spec.devices)
    for (int i = 1; i <= g.count; ++i) {
      const std::string n = g.external ? g.name_prefix : fmt::format("{}-{:02}", g.name_prefix, i);
      auto [it, fresh] = name_line.emplace(n, g.line);
      if (!fresh)
        r.fail_at(static_cast<std::uint32_t>(g.external ? g.line : it->second), 1,
                  fmt::format("device name '{}' is used by the [[devices]] groups at lines {} and {}; device names "
                              "must be unique", n, std::min(g.line, it->second), std::max(g.line, it->second)));
    }
}

/// [tap] subnet: "A.B.C.D/P", host bits zero, P 8..29, room for the bridge and every link = "tap" device.
void read_tap(const Reader& r, const toml::table& root, RigSpec& spec) {
  std::size_t taps = 0;
  for (const DeviceInstance& d : spec.instances()) taps += d.link_kind() == LinkKind::Tap;
  const toml::table* t = r.table(root, "tap");
  if (t) {
    spec.tap.line = static_cast<int>(t->source().begin.line);
    r.check_keys(*t, "[tap]", {"subnet"});
    if (taps == 0) r.fail(t->source(), "[tap] applies only to a rig with a link = \"tap\" [[devices]] group");
    spec.tap.subnet = r.string(*t, "[tap]", "subnet", spec.tap.subnet);
  }
  if (taps == 0) return;
  if (spec.hosts)
    for (const DeviceGroup& g : spec.devices)
      if (g.link_kind() == LinkKind::Tap)
        r.fail_at(static_cast<std::uint32_t>(g.line), 1, fmt::format("link \"tap\" in [[devices]] does not combine "
                                                                      "with [hosts] (line {}): TAP modules run in the "
                                                                      "TAP rig's own namespace", spec.hosts->line));
  const auto fail = [&](const std::string& msg) {
    if (t && t->contains("subnet")) r.fail(t->get("subnet")->source(), msg);
    for (const DeviceGroup& g : spec.devices)
      if (g.link_kind() == LinkKind::Tap) r.fail_at(static_cast<std::uint32_t>(g.line), 1, msg);
    r.fail_at(1, 1, msg);
  };
  const std::string& text = spec.tap.subnet;
  check_subnet(text, "[tap]", 8, 29, fail);
  unsigned a, b, c, d, p;
  std::sscanf(text.c_str(), "%u.%u.%u.%u/%u", &a, &b, &c, &d, &p);
  const std::uint32_t host_mask = (std::uint32_t{1} << (32 - p)) - 1;
  const std::uint64_t hosts = host_mask - 1;  // minus network and broadcast
  if (taps + 1 > hosts)
    fail(fmt::format("subnet '{}' in [tap] has {} host addresses; the bridge and {} link = \"tap\" devices need {}",
                     text, hosts, taps, taps + 1));
}

void read_traffic_target(const Reader& r, const toml::table& root, RigSpec& spec) {
  if (const toml::table* t = r.table(root, "traffic")) {
    r.check_keys(*t, "[traffic]", {"tx_per_s", "payload_bytes"});
    spec.traffic.tx_per_s = r.number(*t, "[traffic]", "tx_per_s", 0, 10000, spec.traffic.tx_per_s);
    spec.traffic.payload_bytes =
        static_cast<int>(r.integer(*t, "[traffic]", "payload_bytes", 1, 4096, spec.traffic.payload_bytes));
  }
  if (const toml::table* t = r.table(root, "target")) {
    r.check_keys(*t, "[target]", {"blocks"});
    spec.target_blocks = static_cast<int>(r.integer(*t, "[target]", "blocks", 1, 100000, spec.target_blocks));
  }
}

void read_pass(const Reader& r, const toml::table& root, RigSpec& spec) {
  std::vector<std::string_view> names;
  for (const PassKeyDef& p : pass_keys()) names.push_back(p.key);
  const std::string allowed = fmt::format("{}", fmt::join(names, ", "));
  const toml::table* t = r.table(root, "pass");
  if (!t || t->empty() || (t->size() == 1 && t->contains(kBaselineKey)))
    r.fail_at(t ? t->source().begin.line : 1, 1,
              "missing [pass]: a rig needs at least one criterion; allowed keys: " + allowed);
  for (auto&& [k, v] : *t) {
    if (k.str() == kBaselineKey) {
      spec.baseline_blocks_per_min = r.number(*t, "[pass]", kBaselineKey, 1e-6, 1e9, 0);
      continue;
    }
    const PassKeyDef* p = find_pass_key(k.str());
    if (!p)
      r.fail(k.source(), fmt::format("unknown key '{}' in [pass]; allowed: {}, {}", k.str(), allowed, kBaselineKey));
    const Criterion::Kind kind = p->score->kind;
    Criterion c{p->key, std::string(p->score->name), p->op, 0, static_cast<int>(k.source().begin.line), kind};
    switch (kind) {
      case Criterion::Kind::Bool: c.threshold = r.boolean(v, "[pass]", p->key) ? 1 : 0; break;
      case Criterion::Kind::Count:
        c.threshold = static_cast<double>(r.integer(*t, "[pass]", p->key, 0, 1000000000, 0));
        break;
      case Criterion::Kind::Rate: c.threshold = r.number(*t, "[pass]", p->key, 0, 1, 0); break;
      case Criterion::Kind::Number: c.threshold = r.number(*t, "[pass]", p->key, 0, 1e9, 0); break;
    }
    spec.pass.push_back(std::move(c));
  }
  std::stable_sort(spec.pass.begin(), spec.pass.end(),
                   [](const Criterion& a, const Criterion& b) { return a.line < b.line; });
}

const Names kLiveValues = {"height", "devices_attached", "devices_blacklisted", "pending_txs", "rounds"};
const Names kStates = {"hello_sent", "proving", "attached"};

/// "name <op> value" with op >=, <=, ==; value a number or true/false.
Condition parse_condition(const Reader& r, const toml::node& v, std::string_view key, const std::string& where,
                          const std::vector<std::string>& names) {
  if (!v.is_string()) r.fail(v.source(), fmt::format("'{}' in {} must be a string like \"height >= 10\"", key, where));
  Condition c;
  c.text = v.as_string()->get();
  std::istringstream in(c.text);
  std::string op, value, rest;
  in >> c.name >> op >> value >> rest;
  const std::string allowed = fmt::format("{}", fmt::join(names, ", "));
  if (value.empty() || !rest.empty())
    r.fail(v.source(), fmt::format("'{}' in {} must be \"<name> <op> <value>\" (op >=, <= or ==), got \"{}\"", key,
                                   where, c.text));
  if (std::find(names.begin(), names.end(), c.name) == names.end())
    r.fail(v.source(), fmt::format("unknown {} '{}' in {}; allowed: {}", key == "wait" ? "live value" : "score",
                                   c.name, where, allowed));
  if (op == ">=") c.op = Criterion::Op::AtLeast;
  else if (op == "<=") c.op = Criterion::Op::AtMost;
  else if (op == "==") c.op = Criterion::Op::Equals;
  else r.fail(v.source(), fmt::format("unknown operator '{}' in {}; allowed: >=, <=, ==", op, where));
  if (value == "true" || value == "false") {
    c.value = value == "true" ? 1 : 0;
  } else {
    std::size_t used = 0;
    try {
      c.value = std::stod(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size() || !std::isfinite(c.value))
      r.fail(v.source(), fmt::format("'{}' in {}: '{}' is not a number or true/false", key, where, value));
  }
  return c;
}

void read_fault(const Reader& r, const toml::table& t, const std::string& w, const std::set<std::string>& devices,
                const std::set<std::string>& powered, const RigSpec& spec, FaultSpec& f) {
  std::vector<std::string_view> kinds;
  for (const FaultDef& d : fault_registry()) kinds.push_back(d.name);
  f.kind = r.choice(t, w, "fault", kinds, "");
  const FaultDef& def = fault_def(f.kind);
  if (const toml::node* v = t.get("devices")) {
    if (def.targets == FaultTargets::TrustNode || def.targets == FaultTargets::EtcdMember ||
        def.targets == FaultTargets::FarHost)
      r.fail(v->source(), fmt::format("'devices' in {}: fault '{}' acts on {}, not on devices", w, f.kind,
                                      def.targets == FaultTargets::TrustNode   ? "a trust node"
                                      : def.targets == FaultTargets::FarHost ? "the host link (every device of the far host)"
                                                                             : "an etcd member"));
    if (!v->is_array() || v->as_array()->empty())
      r.fail(v->source(), fmt::format("'devices' in {} must be a non-empty array of device names", w));
    for (const toml::node& d : *v->as_array()) {
      if (!d.is_string()) r.fail(d.source(), fmt::format("'devices' in {} must hold strings", w));
      const std::string name = d.as_string()->get();
      if (!devices.count(name))
        r.fail(d.source(), fmt::format("unknown device '{}' in {}; the rig's devices: {}", name, w,
                                       fmt::join(devices, ", ")));
      if (def.targets == FaultTargets::DpsDevices && !powered.count(name))
        r.fail(d.source(), fmt::format("fault '{}' in {} needs a dps device (its supply is set over Modbus); "
                                       "'{}' is not one; the rig's dps devices: {}",
                                       f.kind, w, name, fmt::join(powered, ", ")));
      f.devices.push_back(name);
    }
  }
  if (def.hosts_only && !spec.hosts)
    r.fail(t.get("fault")->source(), fmt::format("fault '{}' in {} needs a [hosts] rig (devices on two hosts joined by "
                                                 "a host link; docs/rig-format.md \"Hosts\")", f.kind, w));
  if (def.mesh_only && !spec.mesh)
    r.fail(t.get("fault")->source(), fmt::format("fault '{}' in {} needs a [mesh] rig (trust nodes on an etcd cluster; "
                                                 "docs/rig-format.md \"Mesh\")", f.kind, w));
  if (def.targets == FaultTargets::DpsDevices && powered.empty())
    r.fail(t.source(), fmt::format("fault '{}' in {} needs at least one model = \"dps\" device", f.kind, w));
  if (def.targets == FaultTargets::DpsDevices && f.devices.empty()) f.devices.assign(powered.begin(), powered.end());
  // Parameters from the registry: the ones this fault does not take, the ones it needs, then their values.
  for (const FaultParam& p : fault_params())
    if (t.contains(p.key) && !def.takes(p.key))
      r.fail(t.get(p.key)->source(),
             fmt::format("'{}' in {} applies only to {} faults", p.key, w, faults_taking(p.key)));
  for (const FaultParam& p : fault_params())
    if (def.needs(p.key) && !t.contains(p.key))
      r.fail(t.source(), fmt::format("fault '{}' in {} needs '{}' ({})", f.kind, w, p.key, p.needs_hint));
  auto value = [&](std::string_view key, double def_value) {
    const FaultParam& p = *std::find_if(fault_params().begin(), fault_params().end(),
                                        [&](const FaultParam& q) { return q.key == key; });
    if (p.type == FaultParam::Type::Integer)
      return static_cast<double>(r.integer(t, w, key, static_cast<std::int64_t>(p.lo), static_cast<std::int64_t>(p.hi),
                                           static_cast<std::int64_t>(def_value)));
    return r.number(t, w, key, p.lo, p.hi, def_value);
  };
  f.rate = value("rate", 0);
  f.per_frame = r.choice(t, w, "per", {"byte", "frame"}, "byte") == "frame";
  f.bytes = static_cast<int>(value("bytes", f.bytes));
  f.delay_ms = static_cast<int>(value("delay_ms", 0));
  f.jitter_ms = static_cast<int>(value("jitter_ms", 0));
  // A supply fault without its own `vin` (power_loss) takes the supply to 0 V.
  f.vin = def.mechanism == FaultMechanism::Supply && !def.takes("vin") ? 0.0 : value("vin", f.vin);
  f.ramp_v_per_s = value("ramp_v_per_s", 0);
  f.offset_ms = static_cast<std::int64_t>(value("offset_ms", 0));
  f.ppm = value("ppm", 0);
  f.rssi = static_cast<int>(value("rssi", f.rssi));
  if (const toml::node* n = t.get("node")) {  // an index of the rig's trust nodes, or "leader"
    const int nodes = spec.trust_nodes();
    if (n->is_string() && n->as_string()->get() == "leader") {
      f.node.leader = true;
    } else if (!n->is_integer()) {
      r.fail(n->source(), fmt::format("'node' in {} must be an integer in 0..{} or \"leader\", got {}", w, nodes - 1,
                                      n->is_string() ? "'" + n->as_string()->get() + "'" : std::string(type_name(*n))));
    } else {
      f.node.index = static_cast<int>(r.integer(t, w, "node", 0, nodes - 1, 0));
    }
  }
  if (t.contains("member"))
    f.member = static_cast<int>(r.integer(t, w, "member", 0, spec.mesh ? spec.mesh->etcd_members - 1 : 0, 0));
  f.from_devices = r.choice(t, w, "from", {"etcd", "devices"}, "etcd") == "devices";
  if (const toml::node* d = t.get("duration_s"); d && def.duration == FaultDuration::Forbidden)
    r.fail(d->source(), fmt::format("'duration_s' in {}: fault '{}' has no duration (the device resets and must "
                                    "register again within recover_within_s)", w, f.kind));
  if (t.contains("duration_s")) f.duration_s = r.number(t, w, "duration_s", 0, 86400, 0);
  if (def.duration == FaultDuration::Required && !f.duration_s && !r.open_ended_faults())
    r.fail(t.source(), fmt::format("fault '{}' in {} needs 'duration_s' ({})", f.kind, w, def.heal_reason));
  f.recover_within_s = r.number(t, w, "recover_within_s", 0.1, 3600, f.recover_within_s);
  if (t.contains("recover_within_s") && !f.duration_s && !def.ends_by_itself()) {
    std::vector<std::string_view> ending;
    for (const FaultDef& d : fault_registry())
      if (d.ends_by_itself()) ending.push_back(d.name);
    r.fail(t.get("recover_within_s")->source(),
           fmt::format("'recover_within_s' in {} applies only to faults that end (with duration_s, or {}) faults", w,
                       fmt::join(ending, ", ")));
  }
  if (def.satisfied && !def.satisfied(f))
    r.fail(t.source(), fmt::format("fault '{}' in {} needs {}", f.kind, w, def.satisfied_text));
}

void read_steps(const Reader& r, const toml::table& root, RigSpec& spec) {
  const toml::node* v = root.get("steps");
  if (!v) return;
  if (!v->is_array_of_tables()) r.fail(v->source(), "'steps' must be an array of tables: one [[steps]] per step");
  std::set<std::string> devices, powered, at_linked, tap_linked, external, qemu;
  std::map<std::string, LinkKind> link_of;  // each device's kind of link (link_kind.hpp)
  unsigned rig_links = 0;                   // the LinkBits of the rig's links: which link faults have a target
  for (const DeviceInstance& d : spec.instances()) {
    const LinkKindInfo& link = link_kind_info(d.link_kind());
    devices.insert(d.name);
    link_of[d.name] = link.kind;
    rig_links |= link.fault_links();
    if (!link.emulated) external.insert(d.name);
    if (d.model == "dps" && link.emulated) powered.insert(d.name);
    if (link.at_module) at_linked.insert(d.name);
    if (link.kind == LinkKind::Tap) tap_linked.insert(d.name);
    if (iotw::emu::is_qemu_model(d.model)) qemu.insert(d.name);
  }
  const auto link = [&](const std::string& d) -> const LinkKindInfo& { return link_kind_info(link_of.at(d)); };
  // Access-point faults: AT modules whose link is UDP (ap_rssi is datagram loss on that link).
  const auto joins_ap = [&](const std::string& d) { return link(d).at_module && link(d).proxy == LinkProxy::Datagram; };
  std::vector<std::string> scores;
  for (const ScoreDef& d : score_registry()) scores.emplace_back(d.name);
  const std::vector<std::string> live(kLiveValues.begin(), kLiveValues.end());
  // A fault's keys: devices, its parameters (the fault registry's), duration_s, recover_within_s.
  std::vector<std::string_view> fault_keys{"devices"};
  for (const FaultParam& p : fault_params()) fault_keys.push_back(p.key);
  fault_keys.insert(fault_keys.end(), {"duration_s", "recover_within_s"});
  std::vector<std::string_view> step_keys{"name", "at_s", "after_block", "when_device", "reaches", "on_incoherent",
                                          "fault", "wait", "expect"};
  step_keys.insert(step_keys.end(), fault_keys.begin(), fault_keys.end());
  step_keys.insert(step_keys.end(), {"deadline_s", "traffic", "uart", "device"});
  for (const toml::node& el : *v->as_array()) {
    const toml::table& t = *el.as_table();
    Step s;
    s.index = static_cast<int>(spec.steps.size()) + 1;
    s.line = static_cast<int>(t.source().begin.line);
    const std::string w = fmt::format("[[steps]] #{}", s.index);
    r.check_keys(t, w, step_keys);
    s.label = r.string(t, w, "name", fmt::format("step {}", s.index));
    int triggers = 0;
    if (t.contains("at_s")) {
      ++triggers;
      s.trigger = Step::Trigger::AtTime;
      s.at_s = r.number(t, w, "at_s", 0, 86400, 0);
    }
    if (t.contains("after_block")) {
      ++triggers;
      s.trigger = Step::Trigger::AfterBlock;
      s.after_block = static_cast<std::uint64_t>(r.integer(t, w, "after_block", 0, 100000, 0));
    }
    if (t.contains("when_device") || t.contains("reaches")) {
      ++triggers;
      s.trigger = Step::Trigger::DeviceState;
      if (!t.contains("when_device") || !t.contains("reaches"))
        r.fail(t.source(), fmt::format("{}: 'when_device' and 'reaches' go together", w));
      s.device = r.string(t, w, "when_device", "");
      if (!devices.count(s.device))
        r.fail(t.get("when_device")->source(), fmt::format("unknown device '{}' in {}; the rig's devices: {}",
                                                           s.device, w, fmt::join(devices, ", ")));
      if (external.count(s.device))
        r.fail(t.get("when_device")->source(), fmt::format("'when_device' in {}: '{}' is an external device; its states "
                                                           "are events of the emulator pool, which does not run it",
                                                           w, s.device));
      if (qemu.count(s.device))
        r.fail(t.get("when_device")->source(), fmt::format("'when_device' in {}: '{}' is a {} device; its firmware's "
                                                           "states are not reported by the pool (its log lines are)",
                                                           w, s.device, iotw::emu::kQemuCortexM3Model));
      s.state = r.choice(t, w, "reaches", kStates, "");
    }
    if (const toml::node* n = t.get("on_incoherent")) {
      if (!r.boolean(*n, w, "on_incoherent")) r.fail(n->source(), fmt::format("'on_incoherent' in {} can only be true", w));
      ++triggers;
      s.trigger = Step::Trigger::Incoherent;
    }
    if (triggers > 1)
      r.fail(t.source(), fmt::format("{} has {} triggers; at most one of at_s, after_block, when_device+reaches, "
                                     "on_incoherent (none = right after the previous step)", w, triggers));
    const int actions = t.contains("fault") + t.contains("wait") + t.contains("expect") + t.contains("traffic") +
                        t.contains("uart");
    if (actions != 1)
      r.fail(t.source(), fmt::format("{} needs exactly one action: fault, wait, expect, traffic or uart", w));
    if (t.contains("device") && !t.contains("uart"))
      r.fail(t.get("device")->source(), fmt::format("'device' in {} applies only to a uart step (faults take "
                                                    "'devices', a list)", w));
    if (t.contains("fault")) {
      s.action = Step::Action::Fault;
      // An external device is only relayed: link faults act on its link; nothing else reaches it.
      if (const toml::node* dn = t.get("devices"); dn && dn->is_array())
        for (const toml::node& e : *dn->as_array())
          if (e.is_string() && external.count(e.as_string()->get()) && t.get("fault") && t.get("fault")->is_string()) {
            const FaultDef* probe = find_fault(t.get("fault")->as_string()->get());  // unknown: read_fault says so
            if (probe && probe->mechanism != FaultMechanism::LinkProxy)
              r.fail(e.source(), fmt::format("fault '{}' in {}: '{}' is an external device (the harness relays its link "
                                             "but does not run it: no control channel, no supply, no process); only "
                                             "link faults apply to it", probe->name, w, e.as_string()->get()));
          }
      read_fault(r, t, w, devices, powered, spec, s.fault);
      // TAP modules' UDP crosses the harness's UDP fault proxy on the bridge (UDP link faults, partition and stall
      // apply), but their lwIP processes have no control channel and no power supply (docs/rig-format.md "TAP links").
      const bool udp_link_fault = s.fault.link_fault() && (s.fault.def().links & kUdpLinks);
      for (const std::string& d : s.fault.devices)
        if (tap_linked.count(d) && !udp_link_fault)
          r.fail(t.get("devices")->source(), fmt::format("fault '{}' in {}: '{}' has link = \"tap\"; a TAP module "
                                                         "takes only UDP link faults (udp_loss, udp_duplicate, "
                                                         "udp_reorder, udp_delay, partition, stall)", s.fault.kind, w, d));
      if (s.fault.serial_fault()) {  // the serial fault proxy: PTY, AT-over-TCP and external serial/tcp links
        for (const std::string& d : s.fault.devices)
          if (!(link(d).fault_links() & kSerialLinks))
            r.fail(t.get("devices")->source(), fmt::format("serial link fault '{}' in {}: '{}' has {} (UDP, "
                                                           "no serial link; its faults are udp_loss, udp_duplicate, "
                                                           "udp_reorder, udp_delay, partition, stall)",
                                                           s.fault.kind, w, d, link(d).rig_text));
        if (s.fault.devices.empty() && !(rig_links & kSerialLinks))
          r.fail(t.source(), fmt::format("serial link fault '{}' in {}: every device has link = \"at\" (UDP, no PTY "
                                         "link for the serial fault proxy)", s.fault.kind, w));
      }
      if (s.fault.control_fault()) {  // reboot/hang/clock_skew: firmware on its own chip; ap_*: AT modules on UDP
        const bool want_at = s.fault.ap_fault();
        for (const std::string& d : s.fault.devices) {
          if (want_at && link(d).at_module && !joins_ap(d))
            r.fail(t.get("devices")->source(),
                   fmt::format("fault '{}' in {}: '{}' has {} (the harness relays its TCP connection; access-point "
                               "faults need at_transport = \"udp\")", s.fault.kind, w, d, link(d).rig_text));
          if (at_linked.count(d) != want_at)
            r.fail(t.get("devices")->source(),
                   want_at ? fmt::format("fault '{}' in {}: '{}' has a PTY link; access-point faults need link = \"at\" "
                                         "(a module that joins the rig's access point)", s.fault.kind, w, d)
                           : fmt::format("fault '{}' in {}: '{}' has link = \"at\" (the firmware runs on the appliance "
                                         "MCU, not on an emulated chip); reboot, hang and clock_skew need a PTY device",
                                         s.fault.kind, w, d));
        }
        // A QEMU machine is reset over QMP; it has no watchdog to bite a hung firmware and no clock of its own to skew.
        const bool qemu_takes = s.fault.def().on_qemu;
        for (const std::string& d : s.fault.devices)
          if (qemu.count(d) && !qemu_takes)
            r.fail(t.get("devices")->source(),
                   fmt::format("fault '{}' in {}: '{}' is a {} device; it takes reboot and every serial link fault, "
                               "'{}' is not supported by {}", s.fault.kind, w, d, iotw::emu::kQemuCortexM3Model,
                               s.fault.kind, iotw::emu::kQemuCortexM3Model));
        if (s.fault.devices.empty())  // AT modules on UDP, or PTY devices (not TAP, not external)
          for (const std::string& d : devices)
            if ((want_at ? joins_ap(d) : link_of.at(d) == LinkKind::Pty) && (qemu_takes || !qemu.count(d)))
              s.fault.devices.push_back(d);
        if (s.fault.devices.empty())
          r.fail(t.source(), fmt::format("fault '{}' in {}: the rig has no {} device", s.fault.kind, w,
                                         want_at ? "link = \"at\"" : "PTY-linked"));
      }
      if (s.fault.udp_fault()) {  // the UDP fault proxy sits on AT-over-UDP, TAP and external udp devices' links
        for (const std::string& d : s.fault.devices)
          if (!(link(d).fault_links() & kUdpLinks))
            r.fail(t.get("devices")->source(),
                   link_of.at(d) == LinkKind::Pty
                       ? fmt::format("UDP link fault '{}' in {}: '{}' has a PTY link (serial; UDP faults need "
                                     "link = \"at\" or \"tap\")", s.fault.kind, w, d)
                       : fmt::format("UDP link fault '{}' in {}: '{}' has a serial link ({}; UDP faults need link = "
                                     "\"at\" on UDP, \"tap\" or external = \"udp\")", s.fault.kind, w, d,
                                     link(d).rig_text));
        if (s.fault.devices.empty() && !(rig_links & kUdpLinks))
          r.fail(t.source(), fmt::format("UDP link fault '{}' in {}: the rig has no link = \"at\" or \"tap\" device "
                                         "(UDP faults act on UDP links)", s.fault.kind, w));
      }
    } else {
      for (std::string_view k : fault_keys)
        if (t.contains(k)) r.fail(t.get(k)->source(), fmt::format("'{}' in {} applies only to a fault step", k, w));
      if (t.contains("traffic")) {
        s.action = Step::Action::Traffic;
        s.traffic_paused = r.choice(t, w, "traffic", {"pause", "resume"}, "") == "pause";
      } else if (t.contains("uart")) {
        s.action = Step::Action::Uart;
        s.uart_data = r.string(t, w, "uart", "");
        if (s.uart_data.empty()) r.fail(t.get("uart")->source(), fmt::format("'uart' in {} must not be empty", w));
        if (const std::size_t typed = s.uart_data.size() + (s.uart_data.ends_with('\n') ? 0 : 2); typed > 256)
          r.fail(t.get("uart")->source(), fmt::format("'uart' in {} is {} bytes with its line end; the emulator "
                                                      "pool's control channel takes at most 256", w, typed));
        if (!t.contains("device"))
          r.fail(t.source(), fmt::format("uart step {} needs 'device' (a link = \"at\" device)", w));
        s.uart_device = r.string(t, w, "device", "");
        if (!devices.count(s.uart_device))
          r.fail(t.get("device")->source(), fmt::format("unknown device '{}' in {}; the rig's devices: {}",
                                                        s.uart_device, w, fmt::join(devices, ", ")));
        if (!at_linked.count(s.uart_device))
          r.fail(t.get("device")->source(), fmt::format("uart step {}: '{}' is not an AT-mode module (link = \"at\"); "
                                                        "the rig's AT-mode devices: {}", w, s.uart_device,
                                                        at_linked.empty() ? std::string("none") : fmt::format("{}", fmt::join(at_linked, ", "))));
      } else if (t.contains("wait")) {
        s.action = Step::Action::Wait;
        s.condition = parse_condition(r, *t.get("wait"), "wait", w, live);
        s.deadline_s = r.number(t, w, "deadline_s", 0.1, 86400, s.deadline_s);
      } else {
        s.action = Step::Action::Expect;
        s.condition = parse_condition(r, *t.get("expect"), "expect", w, scores);
      }
    }
    if (s.action != Step::Action::Wait && t.contains("deadline_s"))
      r.fail(t.get("deadline_s")->source(), fmt::format("'deadline_s' in {} applies only to a wait step", w));
    spec.steps.push_back(std::move(s));
  }
}

}  // namespace

RigSpec parse_rig(std::string_view toml_text, const std::filesystem::path& file, bool open_ended_faults) {
  const Reader r(file.string(), open_ended_faults);
  toml::table root;
  try {
    root = toml::parse(toml_text, file.string());
  } catch (const toml::parse_error& e) {
    r.fail(e.source(), std::string(e.description()));
  }
  const Names top_level = {"rig", "trust_node", "devices", "traffic", "target", "pass", "steps", "tap", "mesh",
                           "hosts"};
  for (auto&& [k, v] : root) {
    (void)v;
    if (std::find(top_level.begin(), top_level.end(), k.str()) == top_level.end())
      r.fail(k.source(), fmt::format("unknown table '{}'; allowed: {}", k.str(), join(top_level)));
  }
  RigSpec spec;
  spec.file = file;
  read_rig(r, root, spec);
  read_trust_node(r, root, spec.trust_node);
  read_mesh(r, root, spec);
  read_hosts(r, root, spec);
  read_devices(r, root, spec);
  check_hosts_external(r, spec);
  read_traffic_target(r, root, spec);
  read_pass(r, root, spec);
  read_steps(r, root, spec);
  read_tap(r, root, spec);

  const auto devices = spec.instances().size();
  if (static_cast<std::size_t>(spec.trust_node.witnesses) + 1 >= devices) {
    const toml::node* w = root.at_path("trust_node.witnesses").node();
    r.fail_at(w ? w->source().begin.line : spec.devices.front().line, w ? w->source().begin.column : 1,
              fmt::format("witnesses = {} needs more than {} devices (the miner and a spare for a silent "
                           "witness are never witnesses); the rig has {}",
                           spec.trust_node.witnesses, spec.trust_node.witnesses + 1, devices));
  }
  return spec;
}

RigSpec load_rig(const std::filesystem::path& file) {
  std::string text;
  try {
    text = cli::read_file(file);
  } catch (const std::system_error& e) {
    throw RigError(fmt::format("{}: cannot read the rig file: {}", file.string(), e.code().message()));
  }
  return parse_rig(text, file);
}

}  // namespace iotw::harness
