#include "child_configs.hpp"

#include <fstream>
#include <limits>
#include <stdexcept>

#include <toml++/toml.h>

namespace iotw::harness {
namespace {

void write_toml(const std::filesystem::path& file, const toml::table& table) {
  std::ofstream out(file, std::ios::trunc);
  out << table << '\n';
  out.close();
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

}  // namespace

void write_trust_node_config(const RigSpec& spec, std::uint64_t seed, const std::vector<WiredDevice>& devices,
                             const RunLayout& layout) {
  if (seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw std::runtime_error("seed " + std::to_string(seed) + " does not fit a TOML integer (max 2^63-1)");
  toml::array serial;
  for (const auto& d : devices) serial.push_back(toml::table{{"path", d.link.node_side}, {"baud", 115200}});
  const TrustNodeSpec& c = spec.trust_node;
  const toml::table config{
      {"node", toml::table{{"db", layout.ledger_db().string()},
                           {"seed", static_cast<std::int64_t>(seed)},
                           {"events", layout.trust_node_events().string()}}},
      {"http", toml::table{{"listen", "127.0.0.1:0"}, {"port_file", layout.http_port_file().string()}}},
      {"serial", std::move(serial)},
      {"consensus", toml::table{{"witnesses", c.witnesses},
                                {"block_interval_ms", c.block_interval_ms},
                                {"max_txs_per_block", c.max_txs_per_block},
                                {"assignment_timeout_ms", c.assignment_timeout_ms},
                                {"witness_timeout_ms", c.witness_timeout_ms},
                                {"device_timeout_ms", c.device_timeout_ms}}},
  };
  write_toml(layout.trust_node_config(), config);
}

void write_emu_config(const std::vector<WiredDevice>& devices, const RunLayout& layout) {
  toml::array list;
  for (const auto& d : devices) {
    const auto nvs = layout.nvs_dir(d.device.name);
    std::filesystem::create_directories(nvs);
    list.push_back(toml::table{{"name", d.device.name},
                               {"model", d.device.model},
                               {"link", d.link.device_side},
                               {"nvs_dir", nvs.string()},
                               {"behaviour", d.device.behaviour}});
  }
  write_toml(layout.emu_config(), toml::table{{"events", layout.emu_events().string()}, {"device", std::move(list)}});
}

}  // namespace iotw::harness
