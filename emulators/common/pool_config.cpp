#include "pool_config.hpp"

#include <algorithm>
#include <set>
#include <toml++/toml.h>

#include "iotw/cli/read_file.hpp"
#include "device_behaviour.hpp"
#include "ipv4_endpoint.hpp"
#include "iotw/support/hex.hpp"
#include "common/chip_profile.hpp"
#include "esp_wifi/tap_module.hpp"
#include "qemu/qemu_model.hpp"

namespace iotw::emu {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

[[noreturn]] void fail(const std::filesystem::path& file, const toml::source_region& where, const std::string& msg) {
  throw PoolConfigError(file.string() + ":" + std::to_string(where.begin.line) + ":" +
                        std::to_string(where.begin.column) + ": " + msg);
}

void check_keys(const std::filesystem::path& file, const toml::table& t, const std::vector<std::string>& allowed,
                const std::string& where) {
  for (const auto& [k, node] : t) {
    bool ok = false;
    for (const auto& a : allowed) ok = ok || a == k.str();
    if (!ok)
      fail(file, k.source(), "unknown key '" + std::string(k.str()) + "' in " + where + "; allowed: " + join(allowed));
  }
}

std::string get_string(const std::filesystem::path& file, const toml::table& t, const char* key, bool required,
                       const std::string& fallback) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) fail(file, t.source(), std::string("missing key '") + key + "'");
    return fallback;
  }
  if (!n->is_string()) fail(file, n->source(), std::string("'") + key + "' must be a string");
  return n->as_string()->get();
}

void check_one_of(const std::filesystem::path& file, const toml::table& t, const char* key, const std::string& value,
                  const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (a == value) return;
  fail(file, t.get(key)->source(), "unknown " + std::string(key) + " '" + value + "'; allowed: " + join(allowed));
}

int64_t get_int(const std::filesystem::path& file, const toml::table& t, const char* key, int64_t lo, int64_t hi,
                int64_t fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->is_integer()) fail(file, n->source(), std::string("'") + key + "' must be an integer");
  const int64_t v = n->as_integer()->get();
  if (v < lo || v > hi)
    fail(file, n->source(),
         std::string("'") + key + "' is " + std::to_string(v) + "; allowed range " + std::to_string(lo) + ".." +
             std::to_string(hi));
  return v;
}

double get_number(const std::filesystem::path& file, const toml::table& t, const char* key, double lo, double hi,
                  double fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->is_number()) fail(file, n->source(), std::string("'") + key + "' must be a number");
  const double v = n->is_integer() ? static_cast<double>(n->as_integer()->get()) : n->as_floating_point()->get();
  if (!(v >= lo && v <= hi))
    fail(file, n->source(),
         std::string("'") + key + "' is " + std::to_string(v) + "; allowed range " + std::to_string(lo) + ".." +
             std::to_string(hi));
  return v;
}

// Keys of the powered models (dps, bulb); each is an error on a model that has no use for it.
void read_powered_keys(const std::filesystem::path& file, const toml::table& t, DeviceSpec& d) {
  const bool dps = d.model == "dps", bulb = d.model == "bulb";
  const std::vector<std::pair<const char*, bool>> owners{
      {"usage_period_ms", dps || bulb}, {"power", dps || bulb},       {"modbus_tcp", dps || bulb},
      {"load_ohm", dps},                {"yeelight", bulb},            {"yeelight_discovery", bulb}};
  for (const auto& [key, ok] : owners)
    if (!ok && t.contains(key))
      fail(file, t.get(key)->source(), std::string("'") + key + "' does not apply to model '" + d.model + "'");
  d.usage_period_ms = static_cast<int>(get_int(file, t, "usage_period_ms", 100, 86'400'000, d.usage_period_ms));
  d.load_ohm = get_number(file, t, "load_ohm", 0.1, 6553.5, d.load_ohm);
  for (auto [key, dst] : {std::pair{"modbus_tcp", &d.modbus_tcp}, {"yeelight", &d.yeelight},
                          {"yeelight_discovery", &d.yeelight_discovery}}) {
    *dst = get_string(file, t, key, false, "");
    if (!dst->empty()) {
      try {
        parse_host_port(*dst);
      } catch (const std::exception& e) {
        fail(file, t.get(key)->source(), std::string("'") + key + "': " + e.what());
      }
    }
  }
  const toml::node* p = t.get("power");
  if (!p) return;
  const toml::array* steps = p->as_array();
  if (!steps) fail(file, p->source(), "'power' must be an array of tables {at_ms, vin, ramp_v_per_s}");
  uint64_t prev = 0;
  for (const auto& sn : *steps) {
    const toml::table* s = sn.as_table();
    if (!s) fail(file, sn.source(), "'power' entries must be tables {at_ms, vin, ramp_v_per_s}");
    check_keys(file, *s, {"at_ms", "vin", "ramp_v_per_s"}, "a 'power' step");
    if (!s->contains("at_ms") || !s->contains("vin")) fail(file, s->source(), "a 'power' step needs at_ms and vin");
    DeviceSpec::PowerStep step{static_cast<uint64_t>(get_int(file, *s, "at_ms", 0, 86'400'000, 0)),
                               get_number(file, *s, "vin", 0, 60, 0), get_number(file, *s, "ramp_v_per_s", 0, 1e6, 0)};
    if (step.at_ms < prev) fail(file, s->source(), "'power' steps must be in at_ms order");
    prev = step.at_ms;
    d.power.push_back(step);
  }
}

// `link` (one trust node) or `links` (one serial path per trust node, in failover order; docs/protocol.md §6 "Several
// trust nodes (mesh failover)"): exactly one of the two.
void read_links(const std::filesystem::path& file, const toml::table& t, DeviceSpec& d) {
  const toml::node* many = t.get("links");
  if (!many) {
    d.link = get_string(file, t, "link", false, "");
    if (!t.contains("link"))
      fail(file, t.source(), "missing key 'link' (the device's serial link) or 'links' (one per trust node)");
    return;
  }
  if (const toml::node* one = t.get("link"))
    fail(file, one->source(), "'link' and 'links' exclude each other: 'links' lists every trust node's serial link, "
                              "the first is the one 'link' would name");
  if (is_qemu_model(d.model))
    fail(file, many->source(), "'links' does not apply to model '" + d.model + "' (its image has one UART to one trust node)");
  const toml::array* arr = many->as_array();
  if (!arr || arr->empty() || arr->size() > 255)
    fail(file, many->source(), "'links' must be an array of 1..255 serial paths (one per trust node, in failover order)");
  std::set<std::string> seen;
  for (const toml::node& n : *arr) {
    if (!n.is_string() || n.as_string()->get().empty())
      fail(file, n.source(), "'links' entries must be non-empty strings (serial paths)");
    const std::string path = n.as_string()->get();
    if (!seen.insert(path).second) fail(file, n.source(), "'links' names '" + path + "' twice");
    d.links.push_back(path);
  }
  d.link = d.links.front();
}

}  // namespace

PoolConfig load_pool_config(const std::filesystem::path& file) {
  std::string text;
  try {
    text = cli::read_file(file);
  } catch (const std::system_error& e) {
    throw PoolConfigError(file.string() + ": cannot read the pool file: " + e.code().message());
  }
  toml::table root;
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    fail(file, e.source(), std::string(e.description()));
  }
  check_keys(file, root, {"events", "node_pubkey", "access_point", "device", "control", "collusion", "start_spread_ms"},
             "the pool file");
  uint32_t collusion_witnesses = 0;  // [collusion]: the colluding group's knowledge (collude_all_slots devices)
  uint64_t collusion_window_ms = 50;
  if (const toml::node* c = root.get("collusion")) {
    const toml::table* ct = c->as_table();
    if (!ct) fail(file, c->source(), "'collusion' must be a table");
    check_keys(file, *ct, {"witnesses", "window_ms"}, "[collusion]");
    collusion_witnesses = static_cast<uint32_t>(get_int(file, *ct, "witnesses", 1, 64, 0));
    collusion_window_ms = static_cast<uint64_t>(get_int(file, *ct, "window_ms", 1, 60000, 50));
  }
  PoolConfig cfg;
  cfg.events = get_string(file, root, "events", false, "");
  cfg.control = get_string(file, root, "control", false, "");
  cfg.start_spread_ms = static_cast<uint32_t>(get_int(file, root, "start_spread_ms", 0, 600000, 0));
  if (const toml::node* pk = root.get("node_pubkey")) {
    const auto key = from_hex<32>(get_string(file, root, "node_pubkey", false, ""), HexCase::any);
    if (!key)
      fail(file, pk->source(), "'node_pubkey' must be 64 hex characters (the trust node's Ed25519 public key, "
                               "iotw-trust-node --print-node-pubkey)");
    cfg.node_pubkey = *key;
  }
  if (const toml::node* apn = root.get("access_point")) {
    const toml::table* ap = apn->as_table();
    if (!ap) fail(file, apn->source(), "[access_point] must be a table");
    check_keys(file, *ap, {"ssid", "password", "channel", "rssi"}, "[access_point]");
    cfg.access_point.ssid = get_string(file, *ap, "ssid", false, cfg.access_point.ssid);
    cfg.access_point.password = get_string(file, *ap, "password", false, cfg.access_point.password);
    if (cfg.access_point.ssid.empty() || cfg.access_point.ssid.size() > 32)
      fail(file, ap->source(), "ssid must be 1..32 characters");
    if (!cfg.access_point.password.empty() &&
        (cfg.access_point.password.size() < 8 || cfg.access_point.password.size() > 64))
      fail(file, ap->get("password")->source(), "password must be empty (open) or 8..64 characters (WPA2)");
    cfg.access_point.channel = static_cast<int>(get_int(file, *ap, "channel", 1, 14, cfg.access_point.channel));
    cfg.access_point.rssi = static_cast<int>(get_int(file, *ap, "rssi", -120, 0, cfg.access_point.rssi));
  }
  const toml::array* devices = root["device"].as_array();
  if (!devices || devices->empty()) fail(file, root.source(), "no [[device]] tables");
  std::set<std::string> names;
  for (const auto& node : *devices) {
    const toml::table* t = node.as_table();
    if (!t) fail(file, node.source(), "[[device]] must be a table");
    check_keys(file, *t,
               {"name", "model", "mode", "link", "links", "trust_node_udp", "trust_node_tcp", "nvs_dir", "behaviour", "baud", "usage_period_ms",
                "modbus_tcp", "load_ohm", "yeelight", "yeelight_discovery", "power", "tap", "ip", "mac",
                "ram_budget_kib", "image", "seed"},
               "[[device]]");
    DeviceSpec d;
    d.name = get_string(file, *t, "name", true, "");
    d.model = get_string(file, *t, "model", true, "");
    d.mode = get_string(file, *t, "mode", false, "soc");
    if (t->contains("mode")) check_one_of(file, *t, "mode", d.mode, {"soc", "at"});
    const bool tap = t->contains("tap");  // SoC mode over TAP: lwIP on a TAP interface (esp_wifi/tap_module.hpp)
    if (tap && d.mode == "at") fail(file, t->get("tap")->source(), "'tap' does not apply to mode 'at'");
    std::vector<std::string> models = d.mode == "at" ? at_models() : tap ? tap_models() : serial_soc_models();
    if (d.mode != "at" && !tap) models.insert(models.end(), {"dps", "bulb", kQemuCortexM3Model});
    if (d.model == kQemuCortexM3Model && (d.mode == "at" || tap))
      fail(file, t->get(d.mode == "at" ? "mode" : "tap")->source(),
           "model '" + d.model + "' runs only on a serial link (its UART0 on 'link'), not in mode 'at' or over TAP");
    if (d.mode != "at" && !tap && (d.model == "rtl8710" || d.model == "rtl8195"))
      fail(file, t->get("model")->source(), "model '" + d.model + "' runs only in AT mode or over TAP: add mode = \"at\" or tap");
    if (t->contains("model")) check_one_of(file, *t, "model", d.model, models);
    read_powered_keys(file, *t, d);
    if (d.mode == "at") {  // the appliance MCU talks to its module in memory; the module's socket: UDP or TCP
      for (const char* key : {"link", "links"})
        if (t->contains(key))
          fail(file, t->get(key)->source(), std::string("'") + key + "' does not apply to mode 'at' (the module reaches "
                                            "one trust node over UDP or TCP: trust_node_udp / trust_node_tcp)");
      // exactly one of trust_node_udp (UDP link) and trust_node_tcp (TCP link, serial framing)
      const bool tcp = t->contains("trust_node_tcp");
      if (tcp && t->contains("trust_node_udp"))
        fail(file, t->get("trust_node_tcp")->source(), "'trust_node_tcp' and 'trust_node_udp' exclude each other (one link per device)");
      const char* key = tcp ? "trust_node_tcp" : "trust_node_udp";
      (tcp ? d.trust_node_tcp : d.trust_node_udp) = get_string(file, *t, key, true, "");
      try {
        std::string ip;
        const auto [host, port] = parse_host_port(tcp ? d.trust_node_tcp : d.trust_node_udp);
        if (!at_loopback_host(host, &ip) || port == 0) throw std::invalid_argument("must be a loopback IPv4 address and a port 1..65535");
      } catch (const std::exception& e) {
        fail(file, t->get(key)->source(), std::string("'") + key + "': " + e.what());
      }
      d.baud = 0;  // the module's default unless 'baud' says otherwise
    } else if (tap) {  // the module's own MAC and address on its TAP interface; real UDP to the trust node
      for (const char* key : {"link", "links"})
        if (t->contains(key))
          fail(file, t->get(key)->source(), std::string("'") + key + "' does not apply to a TAP module (its link is 'tap')");
      if (t->contains("trust_node_tcp"))
        fail(file, t->get("trust_node_tcp")->source(), "'trust_node_tcp' applies only to mode = \"at\" (TAP modules use UDP)");
      d.tap = get_string(file, *t, "tap", true, "");
      d.tap_ip = get_string(file, *t, "ip", true, "");
      d.tap_mac = get_string(file, *t, "mac", true, "");
      d.trust_node_udp = get_string(file, *t, "trust_node_udp", true, "");
      if (d.tap.empty() || d.tap.size() > 15) fail(file, t->get("tap")->source(), "'tap' must be 1..15 characters");
      for (auto [key, check] : std::initializer_list<std::pair<const char*, void (*)(const std::string&)>>{
               {"ip", [](const std::string& v) { parse_ipv4_cidr(v); }},
               {"mac", [](const std::string& v) { parse_mac(v); }},
               {"trust_node_udp", [](const std::string& v) {
                  if (parse_host_port(v).second == 0) throw std::invalid_argument("port must be 1..65535");
                }}}) {
        try {
          check(get_string(file, *t, key, true, ""));
        } catch (const std::exception& e) {
          fail(file, t->get(key)->source(), std::string("'") + key + "': " + e.what());
        }
      }
    } else {
      for (const char* key : {"ip", "mac"})
        if (t->contains(key)) fail(file, t->get(key)->source(), std::string("'") + key + "' applies only to a TAP module (tap = \"...\")");
      if (t->contains("trust_node_tcp"))
        fail(file, t->get("trust_node_tcp")->source(), "'trust_node_tcp' applies only to mode = \"at\"");
      if (const toml::node* udp = t->get("trust_node_udp")) {  // a SoC module over UDP: its Wi-Fi socket, no UART
        const auto& socs = serial_soc_models();
        if (std::find(socs.begin(), socs.end(), d.model) == socs.end())
          fail(file, udp->source(), "'trust_node_udp' applies to mode = \"at\", a TAP module, or a SoC module (model "
                                    "esp8266 | esp32) reaching the trust node over UDP; not to model '" + d.model + "'");
        for (const char* key : {"link", "links"})
          if (t->contains(key))
            fail(file, t->get(key)->source(), std::string("'") + key + "' and 'trust_node_udp' exclude each other (a SoC "
                                              "module reaches its trust node over its serial link or over UDP)");
        d.trust_node_udp = get_string(file, *t, "trust_node_udp", true, "");
        try {
          const auto [host, port] = parse_host_port(d.trust_node_udp);
          if (port == 0) throw std::invalid_argument("port must be 1..65535");
        } catch (const std::exception& e) {
          fail(file, udp->source(), std::string("'trust_node_udp': ") + e.what());
        }
      } else {
        read_links(file, *t, d);
      }
    }
    d.nvs_dir = get_string(file, *t, "nvs_dir", true, "");
    d.behaviour = get_string(file, *t, "behaviour", false, "honest");
    if (t->contains("behaviour")) {
      check_one_of(file, *t, "behaviour", d.behaviour, device_behaviours());
      const bool firmware = d.mode == "at" || !d.tap.empty() || !d.link.empty() || !d.trust_node_udp.empty();
      if (const std::string why = behaviour_mismatch(d.behaviour, d.model, d.tap.empty() ? d.mode : "tap", firmware);
          !why.empty())
        fail(file, t->get("behaviour")->source(), why);
    }
    if (const toml::node* b = t->get("baud")) {
      if (!b->is_integer()) fail(file, b->source(), "'baud' must be an integer");
      d.baud = static_cast<int>(b->as_integer()->get());
      if (d.mode == "at" && (d.baud < 300 || d.baud > 4'000'000))
        fail(file, b->source(), "'baud' is " + std::to_string(d.baud) + "; allowed range 300..4000000");
    }
    if (is_qemu_model(d.model)) {  // the image QEMU runs and the seed its identity comes from
      for (const char* key : {"ram_budget_kib", "baud"})
        if (const toml::node* n = t->get(key))
          fail(file, n->source(), std::string("'") + key + "' does not apply to model '" + d.model +
                                      "' (the image's RAM is its own, measured by the cross build; QEMU's UART has no "
                                      "line rate)");
      if (d.behaviour != "honest")
        fail(file, t->get("behaviour")->source(), "model '" + d.model + "' runs the firmware image as built: behaviour "
                                                  "must be \"honest\"");
      d.image = get_string(file, *t, "image", true, "");
    } else if (const toml::node* n = t->get("image")) {
      fail(file, n->source(), std::string("'image' applies only to model '") + kQemuCortexM3Model + "'");
    }
    d.seed = get_string(file, *t, "seed", is_qemu_model(d.model), "");  // the device's seed ("" = OS randomness)
    if (t->contains("seed") && !from_hex<32>(d.seed, HexCase::any))
      fail(file, t->get("seed")->source(), "'seed' must be 64 hex characters (the device's seed)");
    if (const toml::node* rb = t->get("ram_budget_kib")) {  // a what-if knob: the chip's application RAM budget
      if (d.mode == "at")
        fail(file, rb->source(), "'ram_budget_kib' does not apply to mode 'at' (the firmware runs on the appliance MCU, "
                                 "not on the module)");
      d.ram_budget_kib = static_cast<uint32_t>(get_int(file, *t, "ram_budget_kib", 1, 65536, 0));
    }
    if (d.name.empty() || d.name.size() > 31) fail(file, t->source(), "name must be 1..31 characters");
    if (!names.insert(d.name).second) fail(file, t->source(), "duplicate device name '" + d.name + "'");
    d.node_pubkey = cfg.node_pubkey;
    d.collusion_witnesses = collusion_witnesses;
    d.collusion_window_ms = collusion_window_ms;
    cfg.devices.push_back(std::move(d));
  }
  return cfg;
}

}  // namespace iotw::emu
