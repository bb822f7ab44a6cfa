#include "pool_config.hpp"

#include <set>
#include <toml++/toml.h>

#include "esp_wifi/esp_chip_profile.hpp"

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

}  // namespace

PoolConfig load_pool_config(const std::filesystem::path& file) {
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    fail(file, e.source(), std::string(e.description()));
  } catch (const std::exception& e) {
    throw PoolConfigError(file.string() + ": " + e.what());
  }
  check_keys(file, root, {"events", "device"}, "the pool file");
  PoolConfig cfg;
  cfg.events = get_string(file, root, "events", false, "");
  const toml::array* devices = root["device"].as_array();
  if (!devices || devices->empty()) fail(file, root.source(), "no [[device]] tables");
  std::set<std::string> names;
  for (const auto& node : *devices) {
    const toml::table* t = node.as_table();
    if (!t) fail(file, node.source(), "[[device]] must be a table");
    check_keys(file, *t, {"name", "model", "link", "nvs_dir", "behaviour", "baud"}, "[[device]]");
    DeviceSpec d;
    d.name = get_string(file, *t, "name", true, "");
    d.model = get_string(file, *t, "model", true, "");
    check_one_of(file, *t, "model", d.model, esp_models());
    d.link = get_string(file, *t, "link", true, "");
    d.nvs_dir = get_string(file, *t, "nvs_dir", true, "");
    d.behaviour = get_string(file, *t, "behaviour", false, "honest");
    if (t->contains("behaviour")) check_one_of(file, *t, "behaviour", d.behaviour, device_behaviours());
    if (const toml::node* b = t->get("baud")) {
      if (!b->is_integer()) fail(file, b->source(), "'baud' must be an integer");
      d.baud = static_cast<int>(b->as_integer()->get());
    }
    if (d.name.empty() || d.name.size() > 31) fail(file, t->source(), "name must be 1..31 characters");
    if (!names.insert(d.name).second) fail(file, t->source(), "duplicate device name '" + d.name + "'");
    cfg.devices.push_back(std::move(d));
  }
  return cfg;
}

}  // namespace iotw::emu
